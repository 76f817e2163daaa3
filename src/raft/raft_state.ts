/**
 * One node's consensus state (Raft Figure 2 and the bookkeeping of the thesis extensions), shared
 * by the files that each do one job of the core: election.ts, append_receiver.ts,
 * append_sender.ts, replication.ts, read_index.ts, snapshot_sender.ts, snapshot_receiver.ts,
 * log_compaction.ts, durability.ts and actions.ts. Those are functions of a RaftState passed as
 * their first parameter; RaftMachine owns the one instance and is the core's only public door.
 *
 * Whatever a step produces is collected here (`persistActions`, `sendActions`, `noticeActions`,
 * `restored`) and handed out, in ORDERING RULE phase order (./types.ts), by actions.ts.
 */
import { assert } from '../util/assert.js';
import type { Random } from '../util/prng.js';
import { indexZero, noNode, type LogIndex, type NodeId, type Term } from '../util/types.js';
import type { Progress } from './progress.js';
import { RaftLog } from './raft_log.js';
import { ReadIndexQueue } from './read_index.js';
import type { HardState, RaftAction, RaftInitialState, RaftMessage, RaftOptions, Role, SnapshotMeta } from './types.js';

/** The (index, term) of the newest entry that any write issued before the latest truncation held. */
export interface PersistBarrier {
  readonly index: LogIndex;
  readonly term: Term;
}

/** A snapshot this node (as follower) is receiving from a leader, chunk by chunk. */
export interface IncomingSnapshot {
  readonly leaderId: NodeId;
  readonly leaderTerm: Term;
  readonly snapshot: SnapshotMeta;
  /** Bytes stored so far, contiguous from 0. */
  receivedBytes: number;
  /** Every byte is stored; waiting for the driver's `SnapshotReceived`. */
  awaitingCheck: boolean;
}

/** The mutable state of one Raft node's core; see the file comment for who changes what. */
export class RaftState {
  readonly options: RaftOptions;
  readonly random: Random;
  readonly peers: readonly NodeId[];
  readonly peerSet: ReadonlySet<NodeId>;
  /** Votes or acknowledgements needed, counting this node: a majority of members. */
  readonly quorum: number;
  readonly log: RaftLog;

  /** Latest term this node has seen (Raft Figure 2). */
  currentTerm: Term;
  /** Candidate that received this node's vote in currentTerm, 0 for none (Raft Figure 2). */
  votedFor: NodeId;
  role: Role = 'follower';
  /** The leader of currentTerm as far as this node knows; 0 when unknown. */
  leaderId: NodeId = noNode;
  /** Highest index known to be committed (Raft Figure 2). */
  commitIndex: LogIndex = indexZero;
  /**
   * Highest index handed to the driver in an `Apply` or `RestoreSnapshot`; a restarted node
   * starts from its snapshot's index and re-applies the log after it.
   */
  appliedIndex: LogIndex = indexZero;
  /** The latest durable snapshot of this node (taken here or installed from a leader). */
  snapshot: SnapshotMeta | null;
  /** The snapshot being received from a leader, if any. */
  incoming: IncomingSnapshot | null = null;
  /** A received snapshot installed by this step: the driver must restore it before later applies. */
  restored: SnapshotMeta | null = null;

  /**
   * Highest index of this node's log known to be durable. The leader counts itself toward
   * commitment only up to here, because it sends entries before its own write finishes (§10.2.1):
   * counting unwritten entries could "commit" an entry held durably by a minority only.
   */
  persistedIndex: LogIndex;
  /** Highest index and term of any entry this incarnation asked to write (or loaded). */
  writtenIndexMax: LogIndex;
  writtenTermMax: Term;
  /**
   * Set by a truncation, cleared by the first `Persisted` that must come from a later write. An
   * entry (i, t) can be written, truncated away, then written again; a `Persisted {i, t}` from the
   * first write would otherwise claim durability while the truncating write is still pending.
   */
  persistBarrier: PersistBarrier | null = null;
  /** The hard state as last handed to the driver, to emit `PersistHardState` only on change. */
  persistedHardState: HardState;

  /** Ticks since construction; the clock for presuming pipelined messages lost. */
  nowTick = 0;
  electionElapsedTicks = 0;
  electionTimeoutTicksRandomized = 0;
  /** Ticks since an AppendEntries from the current leader (follower only): the leader lease. */
  leaderSilentTicks = 0;
  heartbeatElapsedTicks = 0;
  checkQuorumElapsedTicks = 0;

  /** Answers received in the current pre-vote or election; the first answer of a voter counts. */
  votes = new Map<NodeId, boolean>();

  progress = new Map<NodeId, Progress>();
  /** The last quorum round the leader started (ReadIndex, thesis §6.4); carried in every AppendEntries. */
  round = 0;
  /** The last round a majority has answered. */
  confirmedRound = 0;
  reads = new ReadIndexQueue();

  /** The role, term and leader last reported in a `RoleChanged`. */
  reported: { role: Role; term: Term; leaderId: NodeId };
  persistActions: RaftAction[] = [];
  sendActions: RaftAction[] = [];
  noticeActions: RaftAction[] = [];

  constructor(options: RaftOptions, initial: RaftInitialState, random: Random) {
    validateOptions(options);
    this.options = options;
    this.random = random;
    this.peers = options.members.filter((member) => member !== options.id);
    this.peerSet = new Set(this.peers);
    this.quorum = Math.floor(options.members.length / 2) + 1;
    this.log = new RaftLog(initial.entries, initial.base);
    this.snapshot = initial.snapshot ?? null;
    validateInitialSnapshot(this.log, this.snapshot);
    // The state machine starts from the snapshot, so everything in it is committed and applied.
    this.commitIndex = this.snapshot?.index ?? indexZero;
    this.appliedIndex = this.commitIndex;
    this.currentTerm = initial.hardState.currentTerm;
    this.votedFor = initial.hardState.votedFor;
    assert(this.votedFor === noNode || options.members.includes(this.votedFor), `votedFor ${this.votedFor} is not a member`);
    assert(this.log.lastTerm <= this.currentTerm, `log term ${this.log.lastTerm} above currentTerm ${this.currentTerm}`);
    this.persistedHardState = initial.hardState;
    // Entries loaded from storage are durable by definition.
    this.persistedIndex = this.log.lastIndex;
    this.writtenIndexMax = this.log.lastIndex;
    this.writtenTermMax = this.log.lastTerm;
    this.reported = { role: this.role, term: this.currentTerm, leaderId: this.leaderId };
  }

  /** This node's id. */
  get id(): NodeId {
    return this.options.id;
  }

  /** Queues a message for the send phase. */
  send(message: RaftMessage): void {
    this.sendActions.push({ type: 'Send', message });
  }

  /** Queues a notification for the last phase. */
  notice(action: RaftAction): void {
    this.noticeActions.push(action);
  }
}

/** A loaded snapshot must sit between the log's base and its last entry, and match its term. */
function validateInitialSnapshot(log: RaftLog, snapshot: SnapshotMeta | null): void {
  if (snapshot === null) {
    assert(log.baseIndex === indexZero, `log compacted to ${log.baseIndex} without a snapshot`);
    return;
  }
  assert(snapshot.index >= log.baseIndex && snapshot.index <= log.lastIndex, `snapshot at ${snapshot.index} outside the log ${log.baseIndex}..${log.lastIndex}`);
  assert(log.termAt(snapshot.index) === snapshot.term, `snapshot at ${snapshot.index} has term ${snapshot.term}, the log ${log.termAt(snapshot.index)}`);
}

function validateOptions(options: RaftOptions): void {
  assert(options.members.includes(options.id), `id ${options.id} is not among members`);
  assert(new Set(options.members).size === options.members.length, 'duplicate members');
  assert(options.members.every((member) => Number.isInteger(member) && member > 0), 'member ids must be positive integers');
  assert(options.heartbeatIntervalTicks >= 1, 'heartbeatIntervalTicks must be >= 1');
  // A heartbeat must arrive well within every follower's timeout or followers campaign needlessly.
  assert(options.electionTimeoutTicks > options.heartbeatIntervalTicks, 'electionTimeoutTicks must exceed heartbeatIntervalTicks');
  assert(options.appendEntriesMax >= 1 && options.appendBytesMax >= 1, 'append limits must be >= 1');
  assert(options.inflightAppendsMax >= 1, 'inflightAppendsMax must be >= 1');
  assert(options.pendingProposalsMax >= 1 && options.pendingReadsMax >= 1, 'pending limits must be >= 1');
  assert(options.compactionKeepEntries >= 0, 'compactionKeepEntries must be >= 0');
  assert(options.compactionKeepBytes >= 0, 'compactionKeepBytes must be >= 0');
  assert(options.snapshotChunkBytesMax >= 1 && options.snapshotChunksInflightMax >= 1, 'snapshot chunk limits must be >= 1');
  assert(options.snapshotRetransmitTicks >= 1, 'snapshotRetransmitTicks must be >= 1');
}
