/**
 * The node driver: the thin I/O shell around the pure Raft core and the file-system state
 * machine. It feeds the core ticks, messages, proposals and reads, and executes the actions it
 * returns under the ordering rule of src/raft/types.ts: votes and acks leave only after the write
 * that they depend on is durable; committed entries are applied, in order, and clients answered.
 *
 * Steps taken while a write is in flight accumulate into the next write, so many client commands
 * share one fsync (group commit). A leader's AppendEntries go out at once, in parallel with its own
 * write (Raft §10.2.1); the core counts the leader's log only after `Persisted`. Client commands
 * are batched into log entries by the Proposer (proposals.ts).
 *
 * Applying is asynchronous (the state lives on disk, fs/fs_state_machine.ts) but strictly in log
 * order: one chain of applies and restores; a linearizable read is answered once the state has
 * applied its read index.
 *
 * Snapshots (Raft §7): the state machine's sync points are the snapshots. Once the log since the
 * last one passes the policy's entries or bytes (or the state holds too many changes in memory),
 * the driver takes a sync point and reports it to the core, which compacts the log. A follower
 * that needs the leader's state is sent it as a stream, and builds it beside its own state
 * (snapshot_transfer.ts).
 */
import type { Clock, DeadlineClock } from '../clock/clock.js';
import type { RequestId } from '../codec/client_protocol.js';
import { decodeFsEntry, encodeFsRequest } from '../codec/fs_request_codec.js';
import { FsStateMachine, type FsStateMachineOptions, type StateView } from '../fs/fs_state_machine.js';
import type { FsApplied, FsCommand, FsQuery, FsQueryResult } from '../fs/types.js';
import type { RaftMachine } from '../raft/raft_machine.js';
import {
  EntryType,
  type HardState,
  type LogEntry,
  type RaftAction,
  type RaftEvent,
  type RaftMessage,
  type Role,
  type SnapshotMeta,
} from '../raft/types.js';
import type { LogOp, RaftStorage, StorageWrite } from '../storage/raft_storage.js';
import type { StateHost } from '../storage/state_directory.js';
import type { Transport } from '../transport/transport.js';
import { assert } from '../util/assert.js';
import { asLogIndex, asTerm, noNode, type LogIndex, type NodeId, type Term } from '../util/types.js';
import { NoSpaceError, NodeStoppedError, NotLeaderError, OutcomeUnknownError } from './node_errors.js';
import { Proposer, type Deferred, type ProposeOutcome } from './proposals.js';
import { SnapshotReceiver, SnapshotSender } from './snapshot_transfer.js';

/** Snapshot bounds are staggered over this many node ids, each id this share lower (see takeSyncPointIfDue). */
const snapshotStaggerNodes = 5;
const snapshotStaggerStep = 0.1;
/** How often a leader looks for expired files and lapsed holds to sweep (a `reap` proposal). */
const housekeepingIntervalMs = 1000;

/** When a node takes a sync point: the log applied since the last one passes either bound (at most). */
export interface SnapshotPolicy {
  readonly logEntriesMax: number;
  readonly logBytesMax: number;
}

/** Everything a RaftNode drives; built by the CLI (or a test). */
export interface RaftNodeOptions {
  readonly machine: RaftMachine;
  readonly storage: RaftStorage;
  readonly transport: Transport;
  readonly clock: Clock & DeadlineClock;
  /** The state machine over the host's current stores (its applied index is the core's snapshot). */
  readonly state: FsStateMachine;
  /** This replica's state-machine tuning, for states received from a leader. */
  readonly stateOptions: FsStateMachineOptions;
  /** Where states live: the current one, and received ones. */
  readonly host: StateHost;
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

interface PendingRead extends Deferred<FsQueryResult> {
  readonly query: FsQuery;
}

interface ReadyRead extends PendingRead {
  readonly readIndex: LogIndex;
}

/** Snapshot work of a batch, done in order before its storage write. */
type FileOp =
  | { readonly kind: 'chunk'; readonly snapshot: SnapshotMeta; readonly offset: number; readonly data: Uint8Array; readonly done: boolean }
  | { readonly kind: 'promote'; readonly snapshot: SnapshotMeta }
  | { readonly kind: 'discard' };

/** Persist actions and the messages that must wait for them (votes and acks). */
interface Batch {
  hardState: HardState | undefined;
  fileOps: FileOp[];
  entryOps: LogOp[];
  sends: RaftMessage[];
  /** A received snapshot whose last chunk this batch stores: checked once it is written. */
  received: SnapshotMeta | null;
}

/** The identity of a request without exactly-once semantics (the plain course protocol). */
const noSession: RequestId = { clientId: 0, sequence: 0 };

const emptyBatch = (): Batch => ({ hardState: undefined, fileOps: [], entryOps: [], sends: [], received: null });

/** One fsraft node: a Raft member serving the replicated file-system state machine. */
export class RaftNode {
  private readonly options: RaftNodeOptions;
  private readonly machine: RaftMachine;
  private open: Batch = emptyBatch();
  /** AppendEntries of the current step, sent as soon as its write has been started. */
  private earlySends: RaftMessage[] = [];
  private writeInFlight = false;
  private stopped = false;
  private stopTicks: (() => void) | undefined;
  private stopHousekeeping: (() => void) | undefined;
  private readonly proposer: Proposer;

  private nextReadId = 1;
  private readonly pendingReads = new Map<number, PendingRead>();
  private readyReads: ReadyRead[] = [];

  /** The state machine in use (replaced by a received snapshot). */
  private state: FsStateMachine;
  /** Applies and restores, in order. */
  private applyChain: Promise<void> = Promise.resolve();
  /** The index the state machine has applied; the core may be ahead (applies are queued). */
  private appliedIndex: LogIndex;
  private readonly leaderListeners = new Set<() => void>();

  /** Applied since the last sync point (or restart), to decide when to take the next. */
  private entriesSinceSyncPoint = 0;
  private bytesSinceSyncPoint = 0;
  private syncing = false;
  /** This node's share of the policy's bounds (see the constructor). */
  private readonly snapshotBounds: { readonly entries: number; readonly bytes: number };
  private readonly sender: SnapshotSender;
  private readonly receiver: SnapshotReceiver;
  private housekeepingInFlight = false;

  constructor(options: RaftNodeOptions) {
    this.options = options;
    this.machine = options.machine;
    this.state = options.state;
    assert(options.state.appliedIndex === options.machine.lastAppliedIndex, `the state is at ${options.state.appliedIndex}, the core starts from ${options.machine.lastAppliedIndex}`);
    this.appliedIndex = asLogIndex(options.state.appliedIndex);
    this.proposer = new Proposer({ propose: (commands) => this.propose(commands), clock: options.clock, isStopped: () => this.stopped }, options.pendingBytesMax);
    // Nodes apply the same entries at about the same moment, so equal bounds would have every
    // node take a sync point at once, stalling client writes on all of them. Each node uses a
    // share of the bounds from 60% to 100% by its id, so the bounds stay maxima.
    const share = 1 - snapshotStaggerStep * ((options.machine.id - 1) % snapshotStaggerNodes);
    this.snapshotBounds = { entries: options.snapshotPolicy.logEntriesMax * share, bytes: options.snapshotPolicy.logBytesMax * share };
    this.sender = new SnapshotSender({
      view: (index) => this.view(index),
      send: (message) => this.options.transport.send(message),
      step: (event) => this.step(event),
      log: (line) => this.log(line),
    });
    this.receiver = new SnapshotReceiver(options.host);
  }

  /** Starts ticking and receiving. */
  async start(): Promise<void> {
    await this.options.transport.start((message) => this.receive(message));
    this.stopTicks = this.options.clock.every(this.options.tickMs, () => this.step({ type: 'Tick' }));
    this.stopHousekeeping = this.options.clock.every(housekeepingIntervalMs, () => void this.housekeeping());
    const { baseIndex, lastIndex } = this.machine;
    const entries = lastIndex > baseIndex ? `log entries ${baseIndex + 1}..${lastIndex}` : 'no log entries';
    this.log(`started with ${entries}, state at index ${this.appliedIndex}`);
  }

  /**
   * Stops ticking and fails everything that waits, then makes the state durable (so a restart
   * replays nothing) and closes it. In-flight writes are left to finish.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTicks?.();
    this.stopHousekeeping?.();
    const error = new NodeStoppedError();
    this.proposer.failAll(error);
    for (const read of this.pendingReads.values()) read.reject(error);
    for (const read of this.readyReads) read.reject(error);
    this.pendingReads.clear();
    this.readyReads = [];
    await this.options.transport.close();
    await this.sender.closeAll();
    await this.applyChain.catch(() => undefined);
    try {
      await this.state.syncPoint();
    } catch (failure) {
      this.log(`final sync point failed: ${(failure as Error).message}`);
    }
    await this.state.close();
    await this.receiver.discard().catch(() => undefined);
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

  /** This node's applied index and state digest (replicas that applied the same entries agree). */
  get digest(): { readonly appliedIndex: number; readonly digest: string } {
    return { appliedIndex: this.state.appliedIndex, digest: this.state.digest };
  }

  /** Nodes in this node's state. */
  get inodeCount(): number {
    return this.state.inodeCount;
  }

  /**
   * Replicates `command` and resolves with its result (and this node's view of the node it
   * touched) once it is committed and applied here. Rejects with NotLeaderError, OverloadedError,
   * OutcomeUnknownError, NoSpaceError or NodeStoppedError.
   */
  submit(command: FsCommand, session: RequestId = noSession): Promise<FsApplied> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    if (this.machine.role !== 'leader') return Promise.reject(new NotLeaderError(this.machine.leaderId));
    if (addsData(command) && this.options.diskSpaceLow?.() === true) return Promise.reject(new NoSpaceError());
    // The stamp decides expiry on every replica; the state machine never lets its time go back,
    // so a new leader whose clock is behind cannot revive an expired file.
    return this.proposer.submit(encodeFsRequest({ ...session, stampMs: this.options.clock.nowMs(), command }));
  }

  /**
   * False while the commands submitted and not yet answered hold pendingBytesMax bytes or more,
   * until they fall to half of that. The client handler stops reading new commands meanwhile (see
   * onRoom), so clients that pipeline large writes faster than the cluster commits them wait in
   * their TCP windows instead of in this process's memory.
   */
  get acceptingCommands(): boolean {
    return !this.proposer.pending.full;
  }

  /** Calls `listener` each time acceptingCommands turns true again; returns a function that stops it. */
  onRoom(listener: () => void): () => void {
    return this.proposer.pending.onRoom(listener);
  }

  /** A linearizable read (ReadIndex, Raft thesis §6.4), answered by the leader only. */
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
        cancel();
        this.leaderListeners.delete(check);
        resolve(this.machine.leaderId);
      };
      const check = (): void => {
        if (this.machine.leaderId !== 0 || this.stopped) finish();
      };
      const cancel = this.options.clock.after(timeoutMs, finish);
      this.leaderListeners.add(check);
    });
  }

  private receive(message: RaftMessage): void {
    if (message.type !== 'InstallSnapshot') {
      this.step({ type: 'Receive', message });
      return;
    }
    // The bytes stay here; the core decides from the metadata whether and where to store them.
    this.step({ type: 'Receive', message: { ...message, data: noBytes } }, message.data);
  }

  /**
   * Feeds one event to the core and schedules the resulting actions. `chunk`: the bytes of the
   * InstallSnapshot being received, for its StoreSnapshotChunk.
   */
  private step(event: RaftEvent, chunk?: Uint8Array): void {
    if (this.stopped) return;
    let actions: RaftAction[];
    try {
      actions = this.machine.step(event);
    } catch (error) {
      this.options.onFatal(error as Error);
      return;
    }
    this.execute(actions, chunk);
  }

  /** Steps a Propose and returns the core's answer to it; the other actions are executed as usual. */
  private propose(commands: readonly Uint8Array[]): ProposeOutcome {
    let actions: RaftAction[];
    try {
      actions = this.machine.step({ type: 'Propose', commands });
    } catch (error) {
      this.options.onFatal(error as Error);
      return { type: 'ProposeRejected', leaderId: noNode, reason: 'not_leader' };
    }
    const outcome = actions.find((action): action is ProposeOutcome => action.type === 'Proposed' || action.type === 'ProposeRejected');
    // A core that answered neither Proposed nor ProposeRejected would strand these clients.
    assert(outcome !== undefined, 'Propose was not answered');
    this.execute(actions.filter((action) => action !== outcome));
    return outcome;
  }

  private execute(actions: readonly RaftAction[], chunk?: Uint8Array): void {
    const later: RaftAction[] = [];
    for (const action of actions) if (!this.routeWrite(action, chunk)) later.push(action);
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
  private routeWrite(action: RaftAction, chunk: Uint8Array | undefined): boolean {
    switch (action.type) {
      case 'PersistHardState':
        this.open.hardState = action.hardState;
        return true;
      case 'PersistEntries':
        this.open.entryOps.push(action.truncateFrom === undefined ? { entries: action.entries } : { truncateFrom: action.truncateFrom, entries: action.entries });
        return true;
      case 'CompactLog':
        // A received state is named the node's own, durably, before the log's record names it.
        if (this.receiver.received !== undefined && this.isReceived(action.snapshot)) {
          this.open.fileOps.push({ kind: 'promote', snapshot: action.snapshot });
        }
        this.open.entryOps.push({ compact: { base: action.base, snapshot: action.snapshot, discardLog: action.discardLog } });
        return true;
      case 'StoreSnapshotChunk':
        assert(chunk !== undefined && chunk.length === action.length, 'StoreSnapshotChunk outside the InstallSnapshot it belongs to');
        this.open.fileOps.push({ kind: 'chunk', snapshot: action.snapshot, offset: action.offset, data: chunk, done: action.done });
        if (action.done) this.open.received = action.snapshot;
        return true;
      case 'Send':
        // Raft §10.2.1: the leader may replicate before its own write completes.
        if (action.message.type === 'AppendEntries') this.earlySends.push(action.message);
        else if (action.message.type === 'InstallSnapshot') this.sender.fill(action.message);
        else this.open.sends.push(action.message);
        return true;
      default:
        return false;
    }
  }

  /** The snapshot a CompactLog names is the one just received (not a sync point of this node's). */
  private receivedSnapshot: SnapshotMeta | null = null;

  private isReceived(snapshot: SnapshotMeta): boolean {
    return this.receivedSnapshot?.index === snapshot.index && this.receivedSnapshot.term === snapshot.term;
  }

  /** Executes an action that needs no write, in the order the core gave (ordering rule steps 3 and 4). */
  private route(action: RaftAction): void {
    switch (action.type) {
      case 'RestoreSnapshot':
        this.enqueueRestore(action.snapshot);
        return;
      case 'Apply':
        // Committed means durable on a majority: no need to wait for this node's newer writes
        // (see the ordering rule in src/raft/types.ts).
        this.enqueueApply(action.entries);
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

  /** Snapshot work first, then one atomic storage write (ORDERING RULE step 1). */
  private async write(batch: Batch): Promise<void> {
    for (const op of batch.fileOps) {
      if (op.kind === 'chunk') {
        if (op.offset === 0) this.log(`receiving snapshot at index ${op.snapshot.index} from the leader`);
        await this.receiver.store(op.snapshot, op.offset, op.data);
      }
      else if (op.kind === 'promote') await this.options.host.promote(this.receiver.received!);
      else await this.receiver.discard();
    }
    if (batch.hardState === undefined && batch.entryOps.length === 0) return;
    const write: StorageWrite = batch.hardState === undefined ? { entryOps: batch.entryOps } : { hardState: batch.hardState, entryOps: batch.entryOps };
    await this.options.storage.write(write);
  }

  private onWritten(batch: Batch): void {
    this.writeInFlight = false;
    if (this.stopped) return;
    this.sendAll(batch.sends);
    if (batch.received !== null) void this.checkReceived(batch.received);
    const last = lastEntry(batch);
    if (last !== undefined) this.step({ type: 'Persisted', index: last.index, term: last.term });
    else this.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Applying

  private enqueueApply(entries: readonly LogEntry[]): void {
    this.applyChain = this.applyChain.then(() => this.applyEntries(entries)).catch((error: unknown) => this.options.onFatal(error as Error));
  }

  /** Applies committed entries in order and answers the clients waiting for them. */
  private async applyEntries(entries: readonly LogEntry[]): Promise<void> {
    let answered = 0;
    for (const entry of entries) {
      if (this.stopped) return;
      assert(entry.index === this.appliedIndex + 1, `apply gap: applied ${this.appliedIndex}, got ${entry.index}`);
      const results = await this.applyEntry(entry);
      this.appliedIndex = entry.index;
      this.entriesSinceSyncPoint++;
      this.bytesSinceSyncPoint += entry.data.byteLength;
      answered += this.proposer.applied(entry.index, entry.term, results);
    }
    this.proposer.afterApplied(answered);
    this.serveReadyReads();
    this.takeSyncPointIfDue();
  }

  private async applyEntry(entry: LogEntry): Promise<FsApplied[] | undefined> {
    if (entry.type !== EntryType.Command) {
      await this.state.skipEntry(entry.index, entry.term);
      return undefined;
    }
    const decoded = decodeFsEntry(entry.data);
    if (!decoded.ok) {
      // Every replica holds the same bytes, so every replica skips this entry alike.
      this.log(`skipping undecodable entry ${entry.index}: ${decoded.error}`);
      await this.state.skipEntry(entry.index, entry.term);
      return undefined;
    }
    return this.state.applyEntry(entry.index, entry.term, decoded.requests);
  }

  /** Replaces the state machine by the received state (the core installed it), before any later apply. */
  private enqueueRestore(snapshot: SnapshotMeta): void {
    this.applyChain = this.applyChain.then(() => this.restore(snapshot)).catch((error: unknown) => this.options.onFatal(error as Error));
  }

  private async restore(snapshot: SnapshotMeta): Promise<void> {
    const incoming = this.receiver.received;
    assert(incoming !== undefined && this.isReceived(snapshot), `RestoreSnapshot at ${snapshot.index} without that state received`);
    const previous = this.state;
    await previous.close();
    await this.options.host.adopt(incoming);
    this.receiver.release();
    this.receivedSnapshot = null;
    this.state = await FsStateMachine.open(incoming.kv, incoming.content, this.options.stateOptions);
    assert(this.state.appliedIndex === snapshot.index, `received state is at ${this.state.appliedIndex}, the snapshot at ${snapshot.index}`);
    this.appliedIndex = snapshot.index;
    this.entriesSinceSyncPoint = 0;
    this.bytesSinceSyncPoint = 0;
    this.log(`installed snapshot at index ${snapshot.index} from the leader (${this.state.inodeCount} nodes)`);
  }

  /**
   * The last chunk of a received state is stored: check it and make it durable, then tell the
   * core. A bad one is thrown away and the leader sends it again.
   */
  private async checkReceived(snapshot: SnapshotMeta): Promise<void> {
    const outcome = await this.receiver.finish(snapshot);
    if (this.stopped) return;
    if (!outcome.ok) this.log(`received state at ${snapshot.index} is unusable: ${outcome.error}`);
    this.receivedSnapshot = outcome.ok ? snapshot : null;
    this.step({ type: 'SnapshotReceived', snapshot, valid: outcome.ok });
    if (!outcome.ok || this.receivedSnapshot === null) return;
    // Not installed: everything in it was already committed here. Throw it away.
    if (!this.installPending(snapshot)) {
      this.receivedSnapshot = null;
      this.open.fileOps.push({ kind: 'discard' });
      this.flush();
    }
  }

  /** True when the core kept the received snapshot to install (a RestoreSnapshot of it is queued). */
  private installPending(snapshot: SnapshotMeta): boolean {
    return this.machine.snapshot?.index === snapshot.index && this.machine.snapshot.term === snapshot.term;
  }

  // ---------------------------------------------------------------------------------------------
  // Sync points (snapshots)

  /** Takes a sync point when the log applied since the last one passes the policy's bounds. */
  private takeSyncPointIfDue(): void {
    if (this.syncing || this.stopped) return;
    const due = this.entriesSinceSyncPoint >= this.snapshotBounds.entries || this.bytesSinceSyncPoint >= this.snapshotBounds.bytes || this.state.syncPointDue;
    if (!due || this.appliedIndex <= (this.machine.snapshot?.index ?? 0)) return;
    this.syncing = true;
    this.entriesSinceSyncPoint = 0;
    this.bytesSinceSyncPoint = 0;
    const startedMs = this.options.clock.monotonicMs();
    const state = this.state;
    state.syncPoint().then(
      (point) => {
        this.syncing = false;
        if (this.stopped || state !== this.state) return;
        this.log(`sync point at index ${point.index} in ${Math.round(this.options.clock.monotonicMs() - startedMs)} ms`);
        this.step({ type: 'SnapshotTaken', snapshot: { index: asLogIndex(point.index), term: asTerm(point.term), bytes: 0 } });
      },
      (error: unknown) => this.options.onFatal(error as Error),
    );
  }

  /** The state at sync point `index` for a follower, or null when it is no longer kept. */
  private view(index: number): StateView | null {
    return this.state.view(index);
  }

  // ---------------------------------------------------------------------------------------------
  // Housekeeping (leader)

  /** Proposes a sweep of expired files, orphaned nodes and lapsed holds when there is one to do. */
  private async housekeeping(): Promise<void> {
    if (this.stopped || this.housekeepingInFlight || this.machine.role !== 'leader') return;
    this.housekeepingInFlight = true;
    try {
      const command = await this.state.housekeeping(this.options.clock.nowMs());
      if (command !== null && this.machine.role === 'leader') await this.submit(command);
    } catch (error) {
      // Lost leadership or overload: the next round tries again.
      if (!(error instanceof NotLeaderError || error instanceof OutcomeUnknownError || error instanceof NodeStoppedError)) {
        this.log(`housekeeping failed: ${(error as Error).message}`);
      }
    } finally {
      this.housekeepingInFlight = false;
    }
  }

  // ---------------------------------------------------------------------------------------------

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
    const leadingTerm = this.proposer.appendedTerm;
    if (role !== 'leader' || (leadingTerm !== undefined && leadingTerm !== term)) {
      this.proposer.failAll(new OutcomeUnknownError('leadership was lost before the command committed'));
    }
    if (role !== 'leader') void this.sender.closeAll();
    for (const listener of [...this.leaderListeners]) listener();
  }

  private serveReadyReads(): void {
    if (this.readyReads.length === 0) return;
    const waiting: ReadyRead[] = [];
    const nowMs = this.options.clock.nowMs();
    for (const read of this.readyReads) {
      if (read.readIndex <= this.appliedIndex) this.state.query(read.query, nowMs).then(read.resolve, read.reject);
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
  switch (command.op) {
    case 'delete':
    case 'rmdir':
    case 'rename':
    case 'setattr':
    case 'removexattr':
    case 'hold':
    case 'reap':
      return false;
    case 'fallocate':
      return !command.punch;
    default:
      return true;
  }
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

