/**
 * The node driver: the thin I/O shell around the pure Raft core and the file-server state
 * machine. It feeds the core ticks, messages, proposals and reads, and executes the actions it
 * returns under the ordering rule of src/raft/types.ts: votes and acks leave only after the write
 * that they depend on is durable; committed entries are applied and clients answered at once.
 *
 * Steps taken while a write is in flight accumulate into the next write, so many client commands
 * share one fsync (group commit). A leader's AppendEntries go out at once, in parallel with its own
 * write (Raft §10.2.1); the core counts the leader's log only after `Persisted`. The commands a
 * leader proposes together travel in one log entry (up to batchEntryBytesMax), applied in order:
 * one record, checksum and LevelDB put on every node instead of one per command. While proposed
 * commands are uncommitted, new ones wait and go out together once they commit; then, briefly,
 * they also wait for the clients just answered to send their next commands (see holdForAnswered).
 *
 * Snapshots (Raft §7): once the log since the last snapshot passes the policy's entries or
 * bytes, the driver captures the state machine (cheap, synchronous), writes it piece by piece
 * with async I/O while clients keep being served, and reports it to the core, which compacts.
 * It fills the leader's InstallSnapshot chunks from the snapshot file, and stores a follower's
 * received chunks, checks the whole file and restores the state machine from it.
 */
import type { Clock } from '../clock/clock.js';
import type { RequestId } from '../codec/client_protocol.js';
import { decodeFsEntry, encodeFsBatch, encodeFsRequest } from '../codec/fs_request_codec.js';
import { FileServerState, type FileServerOptions } from '../fs/file_server.js';
import type { FsCommand, FsQuery, FsQueryResult, FsResult } from '../fs/types.js';
import type { RaftMachine } from '../raft/raft_machine.js';
import {
  EntryType,
  type HardState,
  type InstallSnapshot,
  type LogEntry,
  type RaftAction,
  type RaftEvent,
  type RaftMessage,
  type Role,
  type SnapshotMeta,
} from '../raft/types.js';
import type { LogOp, RaftStorage, StorageWrite } from '../storage/raft_storage.js';
import type { SnapshotStore } from '../storage/snapshot_store.js';
import type { Transport } from '../transport/transport.js';
import { assert } from '../util/assert.js';
import { ByteBudget } from '../util/byte_budget.js';
import { limits } from '../util/limits.js';
import type { LogIndex, NodeId, Term } from '../util/types.js';
import { NoSpaceError, NodeStoppedError, NotLeaderError, OutcomeUnknownError, OverloadedError } from './node_errors.js';

/** Snapshot bounds are staggered over this many node ids, each id this share lower (see maybeSnapshot). */
const snapshotStaggerNodes = 5;
const snapshotStaggerStep = 0.1;

/** When a node snapshots: the log applied since the last snapshot passes either bound (at most). */
export interface SnapshotPolicy {
  readonly logEntriesMax: number;
  readonly logBytesMax: number;
}

/** Everything a RaftNode drives; built by the CLI (or a test). */
export interface RaftNodeOptions {
  readonly machine: RaftMachine;
  readonly storage: RaftStorage;
  readonly transport: Transport;
  readonly clock: Clock;
  /** The state machine as restored from the latest snapshot (or empty). */
  readonly fileServer: FileServerState;
  /** This replica's state-machine tuning, for states restored from a received snapshot. */
  readonly fileServerOptions: FileServerOptions;
  readonly snapshots: SnapshotStore;
  readonly snapshotPolicy: SnapshotPolicy;
  readonly tickMs: number;
  /** Receives one line per event worth logging, already prefixed `[n2 t7 leader]`. */
  readonly log: (line: string) => void;
  /** Called when the node can no longer be trusted to continue (a failed durable write). */
  readonly onFatal: (error: Error) => void;
  /** True while this node's disks are nearly full: commands that add data are refused. Default never. */
  readonly diskSpaceLow?: () => boolean;
  /** Bytes of submitted commands not yet answered above which `acceptingCommands` is false (see there). */
  readonly pendingBytesMax: number;
}

interface Deferred<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

/** A proposal waiting to be stepped into the core (collected for one `Propose`). */
interface QueuedProposal extends Deferred<FsResult> {
  readonly data: Uint8Array;
}

/** A log entry this leader appended at a known (index, term), waiting to be applied. */
interface AppendedProposal {
  readonly term: Term;
  /** The clients waiting for the entry's requests, in the entry's order. */
  readonly waiters: ReadonlyArray<Deferred<FsResult>>;
}

/** Requests proposed together as one log entry, up to this many bytes (one request may be larger). */
const batchEntryBytesMax = 256 * 1024;
/** Queued commands of at least this many bytes are proposed even while earlier ones are uncommitted. */
const proposeEarlyBytes = 1024 * 1024;
/** The longest a leader holds commands for the clients it has just answered (see holdForAnswered). */
const answeredHoldMsMax = 10;

interface PendingRead extends Deferred<FsQueryResult> {
  readonly query: FsQuery;
}

interface ReadyRead extends PendingRead {
  readonly readIndex: LogIndex;
}

/** Snapshot-file work of a batch, done in order before its storage write. */
type FileOp =
  | { readonly kind: 'chunk'; readonly offset: number; readonly data: Uint8Array; readonly done: boolean }
  | { readonly kind: 'promote'; readonly snapshot: SnapshotMeta }
  | { readonly kind: 'discard' };

/** Persist actions and the messages that must wait for them (votes and acks). */
interface Batch {
  hardState: HardState | undefined;
  fileOps: FileOp[];
  entryOps: LogOp[];
  sends: RaftMessage[];
  /** A received snapshot whose last chunk this batch stores: checked once it is durable. */
  received: SnapshotMeta | null;
}

/** A received snapshot, checked and decoded, waiting for the core to install it. */
interface ReceivedSnapshot {
  readonly snapshot: SnapshotMeta;
  readonly state: FileServerState;
}

/** The identity of a request without exactly-once semantics (the plain course protocol). */
const noSession: RequestId = { clientId: 0, sequence: 0 };

const emptyBatch = (): Batch => ({ hardState: undefined, fileOps: [], entryOps: [], sends: [], received: null });

/** One fsraft node: a Raft member serving the replicated file-server state machine. */
export class RaftNode {
  private readonly options: RaftNodeOptions;
  private readonly machine: RaftMachine;
  private open: Batch = emptyBatch();
  /** AppendEntries of the current step, sent as soon as its write has been started. */
  private earlySends: RaftMessage[] = [];
  private writeInFlight = false;
  private stopped = false;
  private stopTicks: (() => void) | undefined;

  private queuedProposals: QueuedProposal[] = [];
  /** The bytes of queuedProposals' commands. */
  private queuedBytes = 0;
  /** Bytes of the commands submitted and not yet answered (queued, or in the log and unapplied). */
  private readonly pending: ByteBudget;
  private proposeScheduled = false;
  /** While queuedProposals are fewer than this, they wait for more (see holdForAnswered); 0 = no hold. */
  private holdTarget = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  /** performance.now() when the latest Propose was stepped, to time how long commits take. */
  private proposedAtMs = 0;
  /** Proposals appended to the log, by index. Invariant: all belong to the current leader term. */
  private readonly appended = new Map<LogIndex, AppendedProposal>();

  private nextReadId = 1;
  private readonly pendingReads = new Map<number, PendingRead>();
  private readyReads: ReadyRead[] = [];

  private appliedIndex: LogIndex;
  private readonly leaderListeners = new Set<() => void>();

  private fileServer: FileServerState;
  /** Applied since the last snapshot (or restart), to decide when to take the next. */
  private entriesSinceSnapshot = 0;
  private bytesSinceSnapshot = 0;
  /** A snapshot is being written; one at a time. */
  private snapshotting = false;
  /** This node's share of the policy's bounds (see the constructor). */
  private readonly snapshotBounds: { readonly entries: number; readonly bytes: number };
  /** The chunk bytes of the InstallSnapshot being stepped (the core sees only its metadata). */
  private steppingChunk: Uint8Array | null = null;
  private received: ReceivedSnapshot | null = null;

  constructor(options: RaftNodeOptions) {
    this.options = options;
    this.pending = new ByteBudget(options.pendingBytesMax);
    this.machine = options.machine;
    this.fileServer = options.fileServer;
    // The state machine starts from the snapshot the core starts from.
    this.appliedIndex = options.machine.lastAppliedIndex;
    // Nodes apply the same entries at about the same moment, so equal bounds would have every
    // node capture, encode and fsync a snapshot at once, stalling client writes on all of them
    // (one 1.7 MB snapshot on five nodes of one machine held every write ~200 ms). Each node uses
    // a share of the bounds from 60% to 100% by its id, so the bounds stay maxima.
    const share = 1 - snapshotStaggerStep * ((options.machine.id - 1) % snapshotStaggerNodes);
    this.snapshotBounds = { entries: options.snapshotPolicy.logEntriesMax * share, bytes: options.snapshotPolicy.logBytesMax * share };
  }

  /** Starts ticking and receiving. */
  async start(): Promise<void> {
    await this.options.transport.start((message) => this.receive(message));
    this.stopTicks = this.options.clock.every(this.options.tickMs, () => this.step({ type: 'Tick' }));
    const { baseIndex, lastIndex } = this.machine;
    const snapshotIndex = this.machine.snapshot?.index ?? 0;
    const entries = lastIndex > baseIndex ? `log entries ${baseIndex + 1}..${lastIndex}` : 'no log entries';
    this.log(`started with ${entries}${snapshotIndex > 0 ? `, state from the snapshot at ${snapshotIndex}` : ''}`);
  }

  /** Stops ticking and fails everything that waits; in-flight writes are left to finish. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTicks?.();
    const error = new NodeStoppedError();
    this.failProposals(error);
    for (const read of this.pendingReads.values()) read.reject(error);
    for (const read of this.readyReads) read.reject(error);
    this.pendingReads.clear();
    this.readyReads = [];
    await this.options.transport.close();
  }

  get id(): NodeId {
    return this.machine.id;
  }

  get role(): Role {
    return this.machine.role;
  }

  get leaderId(): NodeId {
    return this.machine.leaderId;
  }

  get currentTerm(): Term {
    return this.machine.currentTerm;
  }

  /**
   * Replicates `command` and resolves with its result once it is committed and applied here.
   * Rejects with NotLeaderError, OverloadedError, OutcomeUnknownError or NodeStoppedError.
   */
  submit(command: FsCommand, session: RequestId = noSession): Promise<FsResult> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    if (this.machine.role !== 'leader') return Promise.reject(new NotLeaderError(this.machine.leaderId));
    if (addsData(command) && this.options.diskSpaceLow?.() === true) return Promise.reject(new NoSpaceError());
    // The stamp decides expiry on every replica; the state machine never lets its time go back,
    // so a new leader whose clock is behind cannot revive an expired file.
    const data = encodeFsRequest({ ...session, stampMs: this.options.clock.nowMs(), command });
    this.pending.change(data.length);
    return new Promise<FsResult>((resolve, reject) => {
      this.queuedProposals.push({
        data,
        resolve: (result) => {
          this.pending.change(-data.length);
          resolve(result);
        },
        reject: (error) => {
          this.pending.change(-data.length);
          reject(error);
        },
      });
      this.queuedBytes += data.length;
      this.scheduleProposals();
    });
  }

  /**
   * False while the commands submitted and not yet answered hold pendingBytesMax bytes or more,
   * until they fall to half of that. The client handler stops reading new commands meanwhile (see
   * onRoom), so clients that pipeline large writes faster than the cluster commits them wait in
   * their TCP windows instead of in this process's memory.
   */
  get acceptingCommands(): boolean {
    return !this.pending.full;
  }

  /** Calls `listener` each time acceptingCommands turns true again; returns a function that stops it. */
  onRoom(listener: () => void): () => void {
    return this.pending.onRoom(listener);
  }

  /** A linearizable read (read, readat, stat, list; ReadIndex, Raft thesis §6.4), answered by the leader only. */
  query(query: FsQuery): Promise<FsQueryResult> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    if (this.machine.role !== 'leader') return Promise.reject(new NotLeaderError(this.machine.leaderId));
    const requestId = this.nextReadId++;
    return new Promise<FsQueryResult>((resolve, reject) => {
      this.pendingReads.set(requestId, { query, resolve, reject });
      this.step({ type: 'ReadIndex', requestId });
    });
  }

  /**
   * Resolves with the leader's id as soon as one is known (possibly this node), or 0 after
   * `timeoutMs`. Used by followers that must redirect a client but know no leader yet.
   */
  waitForLeader(timeoutMs: number): Promise<NodeId> {
    if (this.machine.leaderId !== 0 || this.stopped) return Promise.resolve(this.machine.leaderId);
    return new Promise<NodeId>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.leaderListeners.delete(check);
        resolve(this.machine.leaderId);
      };
      const check = (): void => {
        if (this.machine.leaderId !== 0 || this.stopped) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.leaderListeners.add(check);
    });
  }

  private receive(message: RaftMessage): void {
    if (message.type !== 'InstallSnapshot') {
      this.step({ type: 'Receive', message });
      return;
    }
    // The bytes stay here; the core decides from the metadata whether and where to store them.
    this.steppingChunk = message.data;
    this.step({ type: 'Receive', message: { ...message, data: noBytes } });
    this.steppingChunk = null;
  }

  /** Feeds one event to the core and schedules the resulting actions. */
  private step(event: RaftEvent): void {
    if (this.stopped) return;
    let actions: RaftAction[];
    try {
      actions = this.machine.step(event);
    } catch (error) {
      this.options.onFatal(error as Error);
      return;
    }
    const later: RaftAction[] = [];
    for (const action of actions) if (!this.routeWrite(action)) later.push(action);
    // The critical path of a commit runs through the followers (message, their write, the ack),
    // so their AppendEntries leave first; this node's own write starts next, and applying
    // committed entries (ordering rule steps 3 and 4, which need neither) comes last.
    for (const message of this.earlySends) this.options.transport.send(message);
    this.earlySends = [];
    this.flush();
    for (const action of later) this.route(action);
    this.serveReadyReads();
  }

  /**
   * Sorts a persist or send action into the open batch (or the early sends) and returns true;
   * returns false for every other action, which `route` executes after the write has started.
   */
  private routeWrite(action: RaftAction): boolean {
    switch (action.type) {
      case 'PersistHardState':
        this.open.hardState = action.hardState;
        return true;
      case 'PersistEntries':
        this.open.entryOps.push(action.truncateFrom === undefined ? { entries: action.entries } : { truncateFrom: action.truncateFrom, entries: action.entries });
        return true;
      case 'CompactLog':
        // A received snapshot gets its final name, durably, before the log's record names it.
        if (this.received?.snapshot.index === action.snapshot.index) this.open.fileOps.push({ kind: 'promote', snapshot: action.snapshot });
        this.open.entryOps.push({ compact: { base: action.base, snapshot: action.snapshot, discardLog: action.discardLog } });
        return true;
      case 'StoreSnapshotChunk':
        this.storeChunk(action);
        return true;
      case 'Send':
        // Raft §10.2.1: the leader may replicate before its own write completes.
        if (action.message.type === 'AppendEntries') this.earlySends.push(action.message);
        else if (action.message.type === 'InstallSnapshot') this.sendChunk(action.message);
        else this.open.sends.push(action.message);
        return true;
      default:
        return false;
    }
  }

  /** Executes an action that needs no write, in the order the core gave (ordering rule steps 3 and 4). */
  private route(action: RaftAction): void {
    switch (action.type) {
      case 'RestoreSnapshot':
        this.restore(action.snapshot);
        return;
      case 'Proposed':
      case 'ProposeRejected':
        // Bookkeeping only: nothing is promised to a client until the entry is applied.
        this.onProposeOutcome(action);
        return;
      case 'Apply':
        // Committed means durable on a majority: no need to wait for this node's newer writes
        // (see the ordering rule in src/raft/types.ts).
        this.apply(action.entries);
        return;
      default:
        this.notify(action);
    }
  }

  /** Starts the next durable write, or sends what needs none, if no write is in flight. */
  private flush(): void {
    while (!this.writeInFlight) {
      const batch = this.open;
      const needsWrite = batch.hardState !== undefined || batch.entryOps.length > 0 || batch.fileOps.length > 0;
      if (!needsWrite && batch.sends.length === 0) return;
      this.open = emptyBatch();
      if (!needsWrite) {
        this.sendAll(batch.sends);
        continue;
      }
      this.writeInFlight = true;
      this.write(batch).then(
        () => this.onWritten(batch),
        (error: unknown) => this.options.onFatal(error as Error),
      );
      return;
    }
  }

  /** Snapshot-file work first, then one atomic storage write (ORDERING RULE step 1). */
  private async write(batch: Batch): Promise<void> {
    const snapshots = this.options.snapshots;
    for (const op of batch.fileOps) {
      if (op.kind === 'chunk') {
        await snapshots.writeIncoming(op.offset, op.data);
        if (op.done) await snapshots.finishIncoming();
      } else if (op.kind === 'promote') {
        await snapshots.promoteIncoming(op.snapshot);
      } else {
        await snapshots.discardIncoming();
      }
    }
    if (batch.hardState === undefined && batch.entryOps.length === 0) return;
    const write: StorageWrite = batch.hardState === undefined ? { entryOps: batch.entryOps } : { hardState: batch.hardState, entryOps: batch.entryOps };
    await this.options.storage.write(write);
  }

  private onWritten(batch: Batch): void {
    this.writeInFlight = false;
    if (this.stopped) return;
    this.sendAll(batch.sends);
    const compacted = lastCompaction(batch);
    // Only now does the log's record name the new snapshot: older files are no longer needed.
    if (compacted !== undefined) void this.removeSnapshotsBefore(compacted.index);
    if (batch.received !== null) void this.checkReceived(batch.received);
    const last = lastEntry(batch);
    if (last !== undefined) this.step({ type: 'Persisted', index: last.index, term: last.term });
    else this.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots

  /** Takes a snapshot when the log applied since the last one passes the policy's bounds. */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.stopped) return;
    if (this.entriesSinceSnapshot < this.snapshotBounds.entries && this.bytesSinceSnapshot < this.snapshotBounds.bytes) return;
    const index = this.appliedIndex;
    const entry = this.machine.entryAt(index);
    if (entry === undefined || index <= (this.machine.snapshot?.index ?? 0)) return;
    this.snapshotting = true;
    this.entriesSinceSnapshot = 0;
    this.bytesSinceSnapshot = 0;
    // O(state) references, no copies of contents: clients keep being served while it is written.
    const capture = this.fileServer.captureSnapshot();
    const startedMs = this.options.clock.nowMs();
    this.options.snapshots.write(index, entry.term, capture.encode(limits.snapshotPieceBytesMax)).then(
      (snapshot) => {
        this.snapshotting = false;
        this.log(`snapshot at index ${index}: ${snapshot.bytes} bytes in ${Math.round(this.options.clock.nowMs() - startedMs)} ms`);
        this.step({ type: 'SnapshotTaken', snapshot });
      },
      (error: unknown) => {
        // Nothing is lost: the log still holds everything; the next bound tries again.
        this.snapshotting = false;
        this.log(`snapshot at index ${index} failed: ${(error as Error).message}`);
      },
    );
  }

  private async removeSnapshotsBefore(index: LogIndex): Promise<void> {
    try {
      await this.options.snapshots.removeOlderThan(index);
    } catch (error) {
      this.log(`removing snapshots before ${index} failed: ${(error as Error).message}`);
    }
  }

  /** Fills an InstallSnapshot chunk from the snapshot file and sends it. */
  private sendChunk(message: InstallSnapshot): void {
    this.options.snapshots.readChunk(message.lastIncludedIndex, message.offset, message.length).then(
      (data) => {
        if (this.stopped) return;
        if (data === null) this.step({ type: 'SnapshotUnavailable', to: message.to, index: message.lastIncludedIndex });
        else this.options.transport.send({ ...message, data });
      },
      (error: unknown) => this.log(`reading snapshot ${message.lastIncludedIndex} for n${message.to} failed: ${(error as Error).message}`),
    );
  }

  private storeChunk(action: Extract<RaftAction, { type: 'StoreSnapshotChunk' }>): void {
    const data = this.steppingChunk;
    assert(data !== null && data.length === action.length, 'StoreSnapshotChunk outside the InstallSnapshot it belongs to');
    this.open.fileOps.push({ kind: 'chunk', offset: action.offset, data, done: action.done });
    if (action.done) this.open.received = action.snapshot;
  }

  /**
   * The last chunk is durable: check the whole file and decode the state machine from it, then
   * tell the core. A bad file is thrown away and the leader sends it again.
   */
  private async checkReceived(snapshot: SnapshotMeta): Promise<void> {
    let state: FileServerState | null = null;
    try {
      const check = await this.options.snapshots.checkIncoming(snapshot);
      if (check.ok) state = FileServerState.fromSnapshot(check.body, this.options.fileServerOptions);
      else this.log(`received snapshot at ${snapshot.index} is unusable: ${check.error}`);
    } catch (error) {
      this.log(`received snapshot at ${snapshot.index} is unusable: ${(error as Error).message}`);
    }
    if (this.stopped) return;
    this.received = state === null ? null : { snapshot, state };
    this.step({ type: 'SnapshotReceived', snapshot, valid: state !== null });
    if (this.received !== null || state === null) {
      // Not installed (everything in it is already committed here) or unusable: drop the file.
      this.received = null;
      this.open.fileOps.push({ kind: 'discard' });
      this.flush();
    }
  }

  /** Replaces the state machine by the received snapshot (the core installed it). */
  private restore(snapshot: SnapshotMeta): void {
    const received = this.received;
    assert(received !== null && received.snapshot.index === snapshot.index, `RestoreSnapshot at ${snapshot.index} without that snapshot received`);
    this.received = null;
    this.fileServer = received.state;
    this.appliedIndex = snapshot.index;
    this.entriesSinceSnapshot = 0;
    this.bytesSinceSnapshot = 0;
    this.log(`installed snapshot at index ${snapshot.index} (${snapshot.bytes} bytes) from the leader`);
  }

  private sendAll(messages: readonly RaftMessage[]): void {
    for (const message of messages) this.options.transport.send(message);
  }

  private notify(action: RaftAction): void {
    switch (action.type) {
      case 'ReadReady':
        for (const requestId of action.requestIds) {
          const read = this.pendingReads.get(requestId);
          if (read === undefined) continue;
          this.pendingReads.delete(requestId);
          this.readyReads.push({ ...read, readIndex: action.readIndex });
        }
        return;
      case 'ReadFailed':
        for (const requestId of action.requestIds) {
          this.pendingReads.get(requestId)?.reject(new NotLeaderError(action.leaderId));
          this.pendingReads.delete(requestId);
        }
        return;
      case 'RoleChanged':
        this.onRoleChanged(action.role, action.term, action.leaderId);
        return;
      default:
        return;
    }
  }

  private onRoleChanged(role: Role, term: Term, leaderId: NodeId): void {
    this.options.log(`[n${this.machine.id} t${term} ${role}] ${role === 'leader' ? 'became leader' : leaderId === 0 ? 'no known leader' : `following n${leaderId}`}`);
    const leadingTerm = this.appended.values().next().value?.term;
    if (role !== 'leader' || (leadingTerm !== undefined && leadingTerm !== term)) {
      this.failProposals(new OutcomeUnknownError('leadership was lost before the command committed'));
    }
    for (const listener of [...this.leaderListeners]) listener();
  }

  private onProposeOutcome(action: Extract<RaftAction, { type: 'Proposed' | 'ProposeRejected' }>): void {
    const groups = this.proposing;
    this.proposing = [];
    if (action.type === 'ProposeRejected') {
      const error = action.reason === 'overloaded' ? new OverloadedError() : new NotLeaderError(action.leaderId);
      for (const group of groups) for (const proposal of group) proposal.reject(error);
      return;
    }
    assert(action.count === groups.length, `Proposed count ${action.count} != ${groups.length} entries`);
    groups.forEach((group, offset) => {
      this.appended.set(action.firstIndex + offset, { term: action.term, waiters: group });
    });
  }

  /** The proposals of the `Propose` being stepped right now, grouped by the entry that carries them. */
  private proposing: QueuedProposal[][] = [];

  /**
   * Proposes the queued commands on the next turn, unless commands proposed earlier are still
   * uncommitted: then they wait for that commit (see apply), unless they already fill
   * proposeEarlyBytes. Followers write one batch at a time anyway, so a command proposed while
   * another batch is in flight would rarely commit sooner; waiting makes the batches as large as
   * the clients' concurrency allows, and every batch costs each node a message, a write and an
   * fsync. Large commands (FUSE writes of 1 MiB) fill the bound alone and stay pipelined.
   */
  private scheduleProposals(): void {
    if (this.proposeScheduled) return;
    if (this.queuedBytes < proposeEarlyBytes && (this.appended.size > 0 || this.queuedProposals.length < this.holdTarget)) return;
    this.endHold();
    this.proposeScheduled = true;
    // setImmediate lets every command that arrived in this I/O turn join one Propose: one entry
    // (or a few, for large commands), one fsync, one AppendEntries per follower for all of them.
    setImmediate(() => {
      this.proposeScheduled = false;
      const batch = this.queuedProposals;
      this.queuedProposals = [];
      this.queuedBytes = 0;
      if (batch.length === 0) return;
      if (this.stopped) {
        for (const proposal of batch) proposal.reject(new NodeStoppedError());
        return;
      }
      const groups = groupProposals(batch);
      this.proposing = groups;
      this.proposedAtMs = performance.now();
      this.step({ type: 'Propose', commands: groups.map((group) => (group.length === 1 ? group[0]!.data : encodeFsBatch(group.map((proposal) => proposal.data)))) });
      // A core that answered neither Proposed nor ProposeRejected would strand these clients.
      assert(this.proposing.length === 0, 'Propose was not answered');
    });
  }

  /**
   * Called when every proposed command has been answered: the clients just answered typically
   * send their next command within a loopback round trip and an event-loop turn or two. Proposing
   * the commands already queued at once would send them as a batch of their own, and the
   * answered clients' commands would then wait for that batch to commit: the clients would split
   * into two groups taking turns, each batch half the size the concurrency allows. Every batch
   * costs each node a message, a write and an fsync, so on a busy machine the halves cost up to a
   * third of the throughput. Instead the queued commands wait until as many more have arrived as
   * clients were answered, or for as long as the last batch took to commit (at most
   * answeredHoldMsMax), whichever comes first: at worst a held command waits one commit's time
   * more, when the answered clients send nothing. (Half that bound cut batches at 64
   * clients to about 52 commands, the clients' turnaround on a busy machine being longer; the
   * whole of it lets them reach about 61.) A lone client is not held: its next command meets the
   * target on arrival.
   */
  private holdForAnswered(answered: number): void {
    this.endHold();
    this.holdTarget = this.queuedProposals.length + answered;
    const holdMs = Math.min(answeredHoldMsMax, performance.now() - this.proposedAtMs);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.holdTarget = 0;
      if (this.queuedProposals.length > 0) this.scheduleProposals();
    }, holdMs);
  }

  private endHold(): void {
    this.holdTarget = 0;
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  private failProposals(error: Error): void {
    this.endHold();
    for (const appended of this.appended.values()) for (const waiter of appended.waiters) waiter.reject(error);
    this.appended.clear();
    for (const proposal of this.queuedProposals) proposal.reject(error);
    this.queuedProposals = [];
    this.queuedBytes = 0;
  }

  /** Applies committed entries in order and answers the clients waiting for them. */
  private apply(entries: readonly LogEntry[]): void {
    let answered = 0;
    for (const entry of entries) {
      assert(entry.index === this.appliedIndex + 1, `apply gap: applied ${this.appliedIndex}, got ${entry.index}`);
      this.appliedIndex = entry.index;
      this.entriesSinceSnapshot++;
      this.bytesSinceSnapshot += entry.data.byteLength;
      const results = entry.type === EntryType.Command ? this.applyCommands(entry) : undefined;
      const appended = this.appended.get(entry.index);
      if (appended === undefined) continue;
      this.appended.delete(entry.index);
      answered += appended.waiters.length;
      appended.waiters.forEach((waiter, position) => {
        const result = results?.[position];
        if (appended.term === entry.term && result !== undefined) waiter.resolve(result);
        else waiter.reject(new OutcomeUnknownError('another leader overwrote the entry'));
      });
    }
    // The commands held back while earlier ones were in flight go out now (scheduleProposals),
    // with the next commands of the clients just answered (holdForAnswered).
    if (this.appended.size === 0) {
      if (answered > 0) this.holdForAnswered(answered);
      if (this.queuedProposals.length > 0) this.scheduleProposals();
    }
    this.maybeSnapshot();
  }

  private applyCommands(entry: LogEntry): FsResult[] | undefined {
    const decoded = decodeFsEntry(entry.data);
    if (!decoded.ok) {
      // Every replica holds the same bytes, so every replica skips this entry alike.
      this.log(`skipping undecodable entry ${entry.index}: ${decoded.error}`);
      return undefined;
    }
    return decoded.requests.map((request) => this.fileServer.apply(request));
  }

  private serveReadyReads(): void {
    if (this.readyReads.length === 0) return;
    const waiting: ReadyRead[] = [];
    const nowMs = this.options.clock.nowMs();
    for (const read of this.readyReads) {
      if (read.readIndex <= this.appliedIndex) read.resolve(this.fileServer.query(read.query, nowMs));
      else waiting.push(read);
    }
    this.readyReads = waiting;
  }

  private log(message: string): void {
    this.options.log(`[n${this.machine.id} t${this.machine.currentTerm} ${this.machine.role}] ${message}`);
  }
}

const noBytes = new Uint8Array(0);

/**
 * Commands refused while disk space is low: those that store content or add entries. Deleting
 * frees space and renaming or changing attributes keeps it, so users can make room.
 */
function addsData(command: FsCommand): boolean {
  return command.op !== 'delete' && command.op !== 'rmdir' && command.op !== 'rename' && command.op !== 'setattr';
}

/** Splits proposals, in order, into groups of at most batchEntryBytesMax bytes (a larger one alone). */
function groupProposals(proposals: readonly QueuedProposal[]): QueuedProposal[][] {
  const groups: QueuedProposal[][] = [];
  let group: QueuedProposal[] = [];
  let bytes = 0;
  for (const proposal of proposals) {
    // Each request takes its bytes plus a u32 length in the batch (encodeFsBatch).
    if (group.length > 0 && bytes + 4 + proposal.data.length > batchEntryBytesMax) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(proposal);
    bytes += proposal.data.length + 4;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function lastEntry(batch: Batch): LogEntry | undefined {
  for (let position = batch.entryOps.length - 1; position >= 0; position--) {
    const op = batch.entryOps[position]!;
    if ('compact' in op) continue;
    const last = op.entries[op.entries.length - 1];
    if (last !== undefined) return last;
  }
  return undefined;
}

/** The snapshot of the batch's last compaction, if it has one. */
function lastCompaction(batch: Batch): SnapshotMeta | undefined {
  for (let position = batch.entryOps.length - 1; position >= 0; position--) {
    const op = batch.entryOps[position]!;
    if ('compact' in op) return op.compact.snapshot;
  }
  return undefined;
}
