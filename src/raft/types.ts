/**
 * The vocabulary of the Raft core: log entries, messages between nodes, the events the core
 * consumes and the actions it returns. Names follow the Raft paper (Ongaro & Ousterhout, 2014).
 *
 * The core never performs I/O. The node driver (src/server) and the simulator (test/sim) execute
 * actions under one contract, the ordering rule below.
 *
 * ORDERING RULE for the actions returned by one `step` (and by all steps whose actions are batched
 * into one storage write):
 *   1. `PersistHardState`, `PersistEntries`, `CompactLog` and `StoreSnapshotChunk` are written
 *      durably, in order: snapshot-file work first (`StoreSnapshotChunk`, and the snapshot file a
 *      `CompactLog` names made durable under its final name), then one atomic storage write of
 *      the hard state, entries and log compactions.
 *   2. Then `Send` actions are executed. Exception: a `Send` of an `AppendEntries` message may be
 *      executed before step 1 completes (Raft §10.2.1: the leader writes its log in parallel with
 *      replicating it); the core accounts for this by counting the leader's own log toward
 *      commitment only after the driver reports `Persisted`.
 *   3. Then `RestoreSnapshot` and `Apply` actions (committed entries, in index order), in the
 *      order given: a `RestoreSnapshot` replaces the state machine before any later `Apply`.
 *   4. Then `ReadReady`, `ReadFailed`, `ProposeRejected` and `RoleChanged` notifications.
 *   A driver may run 3 and 4 at once, without waiting for the write, as long as it keeps their
 *   order among themselves: an applied entry is committed, so it is already durable on a majority
 *   (on a leader, its own copy included, through `Persisted`), and the state machine is rebuilt
 *   from the log on restart. Waiting would hold every reply behind writes of unrelated, newer
 *   entries.
 * When the durable write of step 1 completes, the driver steps `{type: 'Persisted', ...}` with
 * the last entry (index and term) that the write made durable, if it held any entries.
 */
import type { LogIndex, NodeId, Term } from '../util/types.js';

/** What a log entry is for. `Noop` is the entry a new leader appends to commit its term (§8). */
export enum EntryType {
  Command = 0,
  Noop = 1,
}

/** One replicated log entry. `data` is opaque to the core (the file server encodes commands). */
export interface LogEntry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state Raft requires to be on stable storage before answering (Raft Figure 2). */
export interface HardState {
  readonly currentTerm: Term;
  /** The candidate voted for in `currentTerm`, or 0 for none. */
  readonly votedFor: NodeId;
}

/** RequestVote RPC (Raft §5.2) and its pre-vote variant (Raft thesis §9.6). */
export interface RequestVote {
  readonly type: 'RequestVote';
  readonly from: NodeId;
  readonly to: NodeId;
  /** For a pre-vote, the term the candidate would campaign in (its currentTerm + 1). */
  readonly term: Term;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly preVote: boolean;
}

export interface RequestVoteResponse {
  readonly type: 'RequestVoteResponse';
  readonly from: NodeId;
  readonly to: NodeId;
  /** The responder's currentTerm; for a granted pre-vote, the term of the request. */
  readonly term: Term;
  readonly voteGranted: boolean;
  readonly preVote: boolean;
}

/** AppendEntries RPC (Raft §5.3), also the heartbeat and the quorum round for reads. */
export interface AppendEntries {
  readonly type: 'AppendEntries';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly LogEntry[];
  readonly leaderCommit: LogIndex;
  /**
   * The leader's quorum-round counter at sending time, echoed in the response. A read registered
   * before round r is safe once a majority has answered round r or later (ReadIndex, thesis §6.4).
   */
  readonly round: number;
}

export interface AppendEntriesResponse {
  readonly type: 'AppendEntriesResponse';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly success: boolean;
  /** On success: the index of the last entry the follower now holds from this request. */
  readonly matchIndex: LogIndex;
  /**
   * On failure: a hint for the leader's next probe, the follower's last index + 1 or the first
   * index of the conflicting term (Raft §5.3, "the leader can decrement nextIndex ... faster").
   */
  readonly conflictIndex: LogIndex;
  /** The `round` of the request being answered. */
  readonly round: number;
}

/**
 * InstallSnapshot RPC (Raft §7): one chunk of the leader's snapshot stream, bytes
 * [offset, offset + length). The core emits it with `data` empty and `length` the most it asks
 * for; the driver fills `data` from the stream just before sending, with exactly `length` bytes
 * unless the stream ends within them: then with the rest, and `done` set (the driver tells the
 * core the stream's length with `SnapshotStreamEnded`). The core never reads `data`: snapshot
 * bytes stay in the driver. `totalBytes` is the snapshot's `bytes`, constant for one stream (0
 * when its length is only known once generated).
 */
export interface InstallSnapshot {
  readonly type: 'InstallSnapshot';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  /** The snapshot replaces every entry up to and including this one (Raft §7). */
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  /** The snapshot's `bytes` (0: a stream whose length is known once generated). */
  readonly totalBytes: number;
  /** Byte offset of this chunk in the snapshot file. */
  readonly offset: number;
  /** Bytes in this chunk (equals data.length once the driver has filled it). */
  readonly length: number;
  /** True for the last chunk of the stream. */
  readonly done: boolean;
  readonly data: Uint8Array;
}

/** The answer to one InstallSnapshot chunk. */
export interface InstallSnapshotResponse {
  readonly type: 'InstallSnapshotResponse';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  /** The snapshot this answer is about. */
  readonly lastIncludedIndex: LogIndex;
  /** Bytes of it the follower has stored, in order from 0: the leader sends from here next. */
  readonly bytesStored: number;
  /** The follower has installed the snapshot, or already held every entry it covers. */
  readonly installed: boolean;
}

export type RaftMessage = RequestVote | RequestVoteResponse | AppendEntries | AppendEntriesResponse | InstallSnapshot | InstallSnapshotResponse;

/**
 * Where a snapshot stands in the log, and its stream's length when known in advance (0 when the
 * driver generates the stream and learns its length at the end). The core never sees its bytes.
 */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly bytes: number;
}

/** The last compacted entry: the log holds entries from `index + 1`; `term` is that entry's term. */
export interface LogBase {
  readonly index: LogIndex;
  readonly term: Term;
}

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

/** Inputs to `RaftMachine.step`. */
export type RaftEvent =
  /** One unit of logical time passed (the driver ticks every `tickMs`). */
  | { readonly type: 'Tick' }
  /** A message arrived from another node. */
  | { readonly type: 'Receive'; readonly message: RaftMessage }
  /** Client commands to append (leader only). Answered by `Proposed` or `ProposeRejected`. */
  | { readonly type: 'Propose'; readonly commands: readonly Uint8Array[] }
  /** A linearizable read (leader only). Answered by `ReadReady` or `ReadFailed`. */
  | { readonly type: 'ReadIndex'; readonly requestId: number }
  /** The driver finished a durable write that held entries up to this one. */
  | { readonly type: 'Persisted'; readonly index: LogIndex; readonly term: Term }
  /**
   * The driver durably wrote a snapshot of the state machine at applied index `index` (whose
   * entry has term `term`), `bytes` long. The core compacts its log and emits `CompactLog`.
   */
  | { readonly type: 'SnapshotTaken'; readonly snapshot: SnapshotMeta }
  /**
   * The driver finished receiving the snapshot of a `StoreSnapshotChunk` with `done`: the file
   * is durable and `valid` says whether its checksums and contents held. Answered by installing
   * it (`CompactLog`, `RestoreSnapshot`) or by asking the leader to start over.
   */
  | { readonly type: 'SnapshotReceived'; readonly snapshot: SnapshotMeta; readonly valid: boolean }
  /**
   * The driver cannot produce the chunk a request named (the snapshot is gone, or the chunk is
   * older than what it keeps for resending): start `to` over from byte 0 with the newest snapshot.
   */
  | { readonly type: 'SnapshotUnavailable'; readonly to: NodeId; readonly index: LogIndex }
  /** The stream of snapshot `index` to `to` ends after `bytes` bytes: ask for nothing past it. */
  | { readonly type: 'SnapshotStreamEnded'; readonly to: NodeId; readonly index: LogIndex; readonly bytes: number };

/** Outputs of `RaftMachine.step`, executed by the driver under the ordering rule above. */
export type RaftAction =
  | { readonly type: 'PersistHardState'; readonly hardState: HardState }
  /**
   * Delete every stored entry with index >= `truncateFrom` (if given), then store `entries`.
   * Entries are contiguous and, when `truncateFrom` is given, start at it.
   */
  | { readonly type: 'PersistEntries'; readonly truncateFrom?: LogIndex; readonly entries: readonly LogEntry[] }
  /**
   * Record `snapshot` as the latest snapshot and delete every stored entry up to `base.index`
   * (with `discardLog`, every stored entry), so the log starts after `base`. The snapshot file
   * must be durable before this write is (the driver promotes a received one first).
   */
  | { readonly type: 'CompactLog'; readonly base: LogBase; readonly snapshot: SnapshotMeta; readonly discardLog: boolean }
  /**
   * Store the chunk of the InstallSnapshot being stepped (its bytes are the driver's) in the
   * incoming snapshot file: offset 0 starts a new file; `done` makes it durable, after which the
   * driver checks it and steps `SnapshotReceived`.
   */
  | {
      readonly type: 'StoreSnapshotChunk';
      readonly from: NodeId;
      readonly snapshot: SnapshotMeta;
      readonly offset: number;
      readonly length: number;
      readonly done: boolean;
    }
  | { readonly type: 'Send'; readonly message: RaftMessage }
  /** Replace the state machine with the received snapshot at `snapshot.index` (before any later Apply). */
  | { readonly type: 'RestoreSnapshot'; readonly snapshot: SnapshotMeta }
  /** Newly committed entries, contiguous and in order, to apply to the state machine. */
  | { readonly type: 'Apply'; readonly entries: readonly LogEntry[] }
  /** The commands of a `Propose` were appended at indexes first..first+count-1 in `term`. */
  | { readonly type: 'Proposed'; readonly firstIndex: LogIndex; readonly term: Term; readonly count: number }
  /** The commands of a `Propose` were not appended: this node is not leader (hint: `leaderId`, 0 if unknown) or is overloaded. */
  | { readonly type: 'ProposeRejected'; readonly leaderId: NodeId; readonly reason: 'not_leader' | 'overloaded' }
  /** These reads are linearizable once the state machine has applied up to `readIndex`. */
  | { readonly type: 'ReadReady'; readonly requestIds: readonly number[]; readonly readIndex: LogIndex }
  /** These reads cannot be served here (not leader, or leadership was lost). */
  | { readonly type: 'ReadFailed'; readonly requestIds: readonly number[]; readonly leaderId: NodeId }
  /** The role, term or known leader changed; the driver logs it and fails waiting clients on loss of leadership. */
  | { readonly type: 'RoleChanged'; readonly role: Role; readonly term: Term; readonly leaderId: NodeId };

/** Tunables of the core, all in ticks or counts. */
export interface RaftOptions {
  readonly id: NodeId;
  /** Every voting member, including `id`. */
  readonly members: readonly NodeId[];
  /** A follower campaigns after a random timeout in [electionTimeoutTicks, 2 * electionTimeoutTicks). */
  readonly electionTimeoutTicks: number;
  /** A leader sends heartbeats this often; must be well below electionTimeoutTicks. */
  readonly heartbeatIntervalTicks: number;
  /** Entries per AppendEntries message. */
  readonly appendEntriesMax: number;
  /** Payload bytes per AppendEntries message (one entry is always allowed). */
  readonly appendBytesMax: number;
  /** AppendEntries in flight per follower in the replicate state. */
  readonly inflightAppendsMax: number;
  /** Proposed-but-uncommitted entries the leader holds before refusing with `overloaded`. */
  readonly pendingProposalsMax: number;
  /** Reads waiting for a quorum round before refusing. */
  readonly pendingReadsMax: number;
  /**
   * Entries kept before a new snapshot's index when compacting, so that a follower lagging by
   * fewer entries catches up from the log rather than a whole snapshot.
   */
  readonly compactionKeepEntries: number;
  /**
   * ... and at most this many bytes of entry data: an entry may carry many commands, so a count
   * alone would not bound the memory and disk the kept entries take.
   */
  readonly compactionKeepBytes: number;
  /** Bytes per InstallSnapshot chunk. */
  readonly snapshotChunkBytesMax: number;
  /** InstallSnapshot chunks in flight to one follower. */
  readonly snapshotChunksInflightMax: number;
  /** An unanswered InstallSnapshot chunk is sent again after this many ticks. */
  readonly snapshotRetransmitTicks: number;
}

/** What a node restarts from (loaded from RaftStorage). */
export interface RaftInitialState {
  readonly hardState: HardState;
  /** The latest durable snapshot; the state machine starts from it. Absent: none yet. */
  readonly snapshot?: SnapshotMeta;
  /** The last compacted entry; absent means none (the log starts at index 1). */
  readonly base?: LogBase;
  /** The stored log, contiguous from base.index + 1. */
  readonly entries: readonly LogEntry[];
}
