/**
 * One simulated node: a RaftMachine, a disk that loses unsynced writes on a crash, and a driver
 * that executes actions under the ORDERING RULE of src/raft/types.ts exactly as the real node
 * driver must: one storage write in flight at a time, later steps' actions queued behind it,
 * sends after the write (except the leader's AppendEntries), then applies, then notifications,
 * and a `Persisted` event when a write with entries completes.
 */
import { RaftMachine } from '../../src/raft/raft_machine.js';
import type { HardState, LogBase, LogEntry, RaftAction, RaftEvent, RaftInitialState, RaftOptions, SnapshotMeta } from '../../src/raft/types.js';
import { isCompactOp, type LogOp } from '../../src/storage/raft_storage.js';
import type { Random } from '../../src/util/prng.js';
import { indexPlus, indexZero, noNode, termZero, type LogIndex, type NodeId, type Term } from '../../src/util/types.js';

/** A snapshot file: the simulated state machine (a digest of the applied entries) at meta.index, as bytes. */
export interface SimSnapshotFile {
  readonly meta: SnapshotMeta;
  readonly digest: number;
  readonly bytes: Uint8Array;
}

/** Snapshot-file work of a write, done before its log write (as the real driver does). */
type FileOp =
  | { readonly kind: 'chunk'; readonly offset: number; readonly data: Uint8Array; readonly snapshot: SnapshotMeta }
  | { readonly kind: 'promote'; readonly file: SimSnapshotFile };

/** The actions of one or more steps: their persists form one atomic write, the rest run after it. */
interface WriteBatch {
  hardState: HardState | undefined;
  fileOps: FileOp[];
  ops: LogOp[];
  after: RaftAction[];
  /** The received snapshot whose last chunk this write stores: checked when it completes. */
  received: SnapshotMeta | null;
  /** When the write finishes; null until the batch reaches the head of the queue. */
  completeTick: number | null;
}

/** What the cluster does with the effects of a node's actions (network, clients, checkers). */
export interface NodeEffects {
  /** Called with every step's actions as the core returned them, before any are executed. */
  stepped(node: SimNode, event: RaftEvent, actions: readonly RaftAction[]): void;
  send(node: SimNode, action: Extract<RaftAction, { type: 'Send' }>): void;
  apply(node: SimNode, entries: readonly LogEntry[]): void;
  notify(node: SimNode, action: RaftAction): void;
  /** The node's state machine now starts from a snapshot at `index` (at start or by install). */
  restored(node: SimNode, index: LogIndex, digest: number, how: 'start' | 'install'): void;
}

/** How long writes take. */
export interface DiskTiming {
  /** Probability that a write stalls (an fsync hiccup) instead of taking 1-3 ticks. */
  readonly stallRate: number;
  /** A stalled write takes up to this many ticks. */
  readonly stallTicksMax: number;
}

/** When the simulated driver snapshots, and how its snapshot files behave. */
export interface SnapshotTiming {
  /** Snapshot once this many entries were applied since the last snapshot; 0 never. */
  readonly everyEntries: number;
  /** Writing a snapshot takes 1..writeTicksMax ticks (a crash meanwhile loses it). */
  readonly writeTicksMax: number;
  /** Snapshot files are padded by up to this many bytes, so they span several chunks. */
  readonly paddingBytesMax: number;
  /** Probability that a received snapshot fails its check (a damaged transfer or disk). */
  readonly corruptRate: number;
}

const snapshotHeaderBytes = 12;

/** The bytes of a simulated snapshot file: index, term and digest, then padding. */
export function encodeSimSnapshot(meta: { index: LogIndex; term: Term }, digest: number, paddingBytes: number): Uint8Array {
  const bytes = new Uint8Array(snapshotHeaderBytes + paddingBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, meta.index);
  view.setUint32(4, meta.term);
  view.setUint32(8, digest);
  for (let k = snapshotHeaderBytes; k < bytes.length; k++) bytes[k] = (k * 7 + digest) & 0xff;
  return bytes;
}

/** Stable storage: only completed writes reach it. Snapshot files are durable once written or promoted. */
export class SimDisk {
  hardState: HardState = { currentTerm: termZero, votedFor: noNode };
  base: LogBase = { index: indexZero, term: termZero };
  /** Entries after base. */
  entries: LogEntry[] = [];
  snapshot: SnapshotMeta | null = null;
  readonly files = new Map<LogIndex, SimSnapshotFile>();

  get lastIndex(): LogIndex {
    return indexPlus(this.base.index, this.entries.length);
  }

  write(hardState: HardState | undefined, ops: readonly LogOp[]): void {
    if (hardState !== undefined) this.hardState = hardState;
    for (const op of ops) {
      if (isCompactOp(op)) {
        this.compact(op.compact.base, op.compact.snapshot, op.compact.discardLog);
        continue;
      }
      if (op.truncateFrom !== undefined) {
        if (op.truncateFrom > this.lastIndex + 1 || op.truncateFrom <= this.base.index) throw new Error(`disk: truncateFrom ${op.truncateFrom} outside ${this.base.index + 1}..${this.lastIndex + 1}`);
        if (op.entries[0] !== undefined && op.entries[0].index !== op.truncateFrom) throw new Error('disk: entries do not start at truncateFrom');
        this.entries.length = op.truncateFrom - this.base.index - 1;
      }
      for (const entry of op.entries) {
        if (entry.index !== this.lastIndex + 1) throw new Error(`disk: entry ${entry.index} is not contiguous after ${this.lastIndex}`);
        this.entries.push(entry);
      }
    }
  }

  private compact(base: LogBase, snapshot: SnapshotMeta, discardLog: boolean): void {
    // The record is the commit point of a snapshot: naming a file that is not durable would make
    // the node unable to restart.
    const file = this.files.get(snapshot.index);
    if (file === undefined || file.meta.term !== snapshot.term || file.meta.bytes !== snapshot.bytes) {
      throw new Error(`disk: snapshot record names snapshot ${snapshot.index}, whose file is not durable`);
    }
    if (base.index < this.base.index) throw new Error(`disk: compaction to ${base.index} below base ${this.base.index}`);
    if (!discardLog && base.index > this.lastIndex) throw new Error(`disk: compaction to ${base.index} beyond ${this.lastIndex}`);
    this.entries = discardLog ? [] : this.entries.slice(base.index - this.base.index);
    this.base = base;
    this.snapshot = snapshot;
  }

  load(): RaftInitialState {
    if (this.snapshot === null) return { hardState: this.hardState, entries: [...this.entries] };
    return { hardState: this.hardState, snapshot: this.snapshot, base: this.base, entries: [...this.entries] };
  }
}

/** Execution order inside a batch (ORDERING RULE phases 2-4). */
function phaseOf(action: RaftAction): number {
  if (action.type === 'Send') return 0;
  if (action.type === 'Apply' || action.type === 'RestoreSnapshot') return 1;
  return 2;
}

function isPersist(action: RaftAction): boolean {
  return action.type === 'PersistHardState' || action.type === 'PersistEntries' || action.type === 'CompactLog' || action.type === 'StoreSnapshotChunk';
}

/** One step of the digest of applied entries: the simulated state machine's whole state. */
export function digestStep(digest: number, entry: LogEntry): number {
  let h = Math.imul(digest ^ entry.index, 16777619) ^ entry.term;
  for (const byte of entry.data) h = Math.imul(h ^ byte, 16777619);
  return h >>> 0;
}

/** A node of the simulated cluster. */
export class SimNode {
  machine: RaftMachine | null = null;
  /** Bumped at every restart; a crash ends an incarnation. */
  incarnation = 0;
  readonly disk = new SimDisk();
  /** Queued writes; only the head may be in flight. */
  private batches: WriteBatch[] = [];
  /** When a crashed node comes back. */
  restartTick = 0;
  /** The index of the last entry this incarnation's state machine holds (from its snapshot, or applied). */
  appliedCount: LogIndex = indexZero;
  /** The state machine: a digest of every entry up to appliedCount. */
  digest = 0;
  /** commitIndex after the previous step of this incarnation. */
  lastCommitIndex = 0;
  /** Snapshots this node wrote, and received snapshots it installed. */
  snapshotsTaken = 0;
  snapshotsInstalled = 0;

  private nowTick = 0;
  /** The snapshot being written, lost on a crash. */
  private writingSnapshot: { file: SimSnapshotFile; completeTick: number } | null = null;
  /** The incoming snapshot file (a temp file: deleted on restart). */
  private incoming: Uint8Array | null = null;
  /** A received, checked snapshot waiting for the core; then the one being installed. */
  private received: SimSnapshotFile | null = null;
  private installing: SimSnapshotFile | null = null;
  /** Events to step at the next advance (a driver learns these asynchronously). */
  private deferred: RaftEvent[] = [];

  constructor(
    readonly id: NodeId,
    private readonly random: Random,
    private readonly effects: NodeEffects,
    private readonly timing: DiskTiming,
    private readonly snapshotTiming: SnapshotTiming,
  ) {}

  get up(): boolean {
    return this.machine !== null;
  }

  /** True while a storage write is in flight (a crash now may or may not keep it). */
  get writing(): boolean {
    return (this.batches[0]?.completeTick !== null && this.batches.length > 0) || this.writingSnapshot !== null;
  }

  /** True when no storage write is queued or in flight. */
  get idle(): boolean {
    return this.batches.length === 0;
  }

  /** Builds a new machine from what the disk holds; the state machine starts from the snapshot. */
  start(options: RaftOptions, random: Random): void {
    this.machine = new RaftMachine(options, this.disk.load(), random);
    this.incarnation++;
    const snapshot = this.disk.snapshot;
    this.appliedCount = snapshot?.index ?? indexZero;
    this.digest = snapshot === null ? 0 : this.disk.files.get(snapshot.index)!.digest;
    this.lastCommitIndex = this.machine.commitIndex;
    // Leftovers of a crash: only the file the record names counts.
    for (const index of [...this.disk.files.keys()]) if (index !== snapshot?.index) this.disk.files.delete(index);
    if (snapshot !== null) this.effects.restored(this, snapshot.index, this.digest, 'start');
  }

  /**
   * Loses all volatile state. A write in flight may not have reached the disk, or only its
   * snapshot-file work, or all of it (the sync may have finished without being acknowledged);
   * queued writes never did. A snapshot being written or received is lost.
   */
  crash(): void {
    const head = this.batches[0];
    if (head !== undefined && head.completeTick !== null) {
      const draw = this.random.nextFloat();
      if (draw >= 1 / 3) this.applyFileOps(head.fileOps);
      if (draw >= 2 / 3) this.disk.write(head.hardState, head.ops);
    }
    this.batches = [];
    this.machine = null;
    this.writingSnapshot = null;
    this.incoming = null;
    this.received = null;
    this.installing = null;
    this.deferred = [];
  }

  /** Steps the machine and executes (or queues) the resulting actions. */
  step(event: RaftEvent, nowTick: number): void {
    const machine = this.machine;
    if (machine === null) throw new Error(`step on crashed node ${this.id}`);
    this.nowTick = nowTick;
    // The bytes of a stepped InstallSnapshot, for the StoreSnapshotChunk it yields.
    const chunk = event.type === 'Receive' && event.message.type === 'InstallSnapshot' ? event.message.data : null;
    const actions = machine.step(event);
    this.effects.stepped(this, event, actions);
    this.execute(actions, nowTick, chunk);
  }

  private execute(actions: readonly RaftAction[], nowTick: number, chunk: Uint8Array | null): void {
    const rest: RaftAction[] = [];
    let persists = false;
    for (const action of actions) {
      // ORDERING RULE exception (Raft §10.2.1): the leader's AppendEntries need not wait for its own write.
      if (action.type === 'Send' && action.message.type === 'AppendEntries') this.effects.send(this, action);
      // A leader's snapshot chunks depend on no write of its own.
      else if (action.type === 'Send' && action.message.type === 'InstallSnapshot') this.sendChunk(action);
      else {
        rest.push(action);
        persists ||= isPersist(action);
      }
    }
    if (this.batches.length === 0 && !persists) {
      this.runAfter(rest);
      return;
    }
    this.enqueue(rest, nowTick, chunk);
  }

  private sendChunk(action: Extract<RaftAction, { type: 'Send' }>): void {
    const message = action.message;
    if (message.type !== 'InstallSnapshot') return;
    const file = this.disk.files.get(message.lastIncludedIndex);
    if (file === undefined) {
      this.deferred.push({ type: 'SnapshotUnavailable', to: message.to, index: message.lastIncludedIndex });
      return;
    }
    const data = file.bytes.subarray(message.offset, message.offset + message.length);
    this.effects.send(this, { type: 'Send', message: { ...message, data } });
  }

  private enqueue(actions: readonly RaftAction[], nowTick: number, chunk: Uint8Array | null): void {
    let tail = this.batches[this.batches.length - 1];
    if (tail === undefined || tail.completeTick !== null) {
      tail = { hardState: undefined, fileOps: [], ops: [], after: [], received: null, completeTick: null };
      this.batches.push(tail);
    }
    for (const action of actions) {
      if (action.type === 'PersistHardState') tail.hardState = action.hardState;
      else if (action.type === 'PersistEntries') tail.ops.push({ truncateFrom: action.truncateFrom, entries: action.entries });
      else if (action.type === 'CompactLog') this.enqueueCompaction(tail, action);
      else if (action.type === 'StoreSnapshotChunk') this.enqueueChunk(tail, action, chunk);
      else tail.after.push(action);
    }
    this.startHead(nowTick);
  }

  private enqueueCompaction(tail: WriteBatch, action: Extract<RaftAction, { type: 'CompactLog' }>): void {
    const received = this.received;
    if (received !== null && received.meta.index === action.snapshot.index) {
      tail.fileOps.push({ kind: 'promote', file: received });
      this.installing = received;
      this.received = null;
    }
    tail.ops.push({ compact: { base: action.base, snapshot: action.snapshot, discardLog: action.discardLog } });
  }

  private enqueueChunk(tail: WriteBatch, action: Extract<RaftAction, { type: 'StoreSnapshotChunk' }>, data: Uint8Array | null): void {
    if (data === null || data.length !== action.length) throw new Error('StoreSnapshotChunk outside its InstallSnapshot');
    tail.fileOps.push({ kind: 'chunk', offset: action.offset, data, snapshot: action.snapshot });
    if (action.done) tail.received = action.snapshot;
  }

  /** Starts the head write if it is not running; a batch without persists completes at once. */
  private startHead(nowTick: number): void {
    for (;;) {
      const head = this.batches[0];
      if (head === undefined || head.completeTick !== null) return;
      if (head.hardState !== undefined || head.ops.length > 0 || head.fileOps.length > 0) {
        const stalled = this.random.nextFloat() < this.timing.stallRate;
        head.completeTick = nowTick + 1 + this.random.nextInt(stalled ? this.timing.stallTicksMax : 3);
        return;
      }
      this.batches.shift();
      this.runAfter(head.after);
    }
  }

  /** Completes what is due: the snapshot being written, events learned, and the head write. */
  advance(nowTick: number): void {
    this.nowTick = nowTick;
    this.finishSnapshot(nowTick);
    const deferred = this.deferred;
    this.deferred = [];
    for (const event of deferred) if (this.machine !== null) this.step(event, nowTick);
    const head = this.batches[0];
    if (head === undefined || head.completeTick === null || head.completeTick > nowTick) return;
    this.applyFileOps(head.fileOps);
    this.disk.write(head.hardState, head.ops);
    this.batches.shift();
    this.runAfter(head.after);
    this.startHead(nowTick);
    this.removeOldFiles(head.ops);
    if (head.received !== null && this.machine !== null) this.checkReceived(head.received, nowTick);
    const last = lastEntryOf(head.ops);
    if (last !== undefined && this.machine !== null) this.step({ type: 'Persisted', index: last.index, term: last.term }, nowTick);
  }

  private applyFileOps(fileOps: readonly FileOp[]): void {
    for (const op of fileOps) {
      if (op.kind === 'promote') {
        this.disk.files.set(op.file.meta.index, op.file);
        continue;
      }
      if (op.offset === 0) this.incoming = new Uint8Array(op.snapshot.bytes);
      if (this.incoming === null || this.incoming.length !== op.snapshot.bytes) throw new Error(`chunk at ${op.offset} without its incoming file`);
      this.incoming.set(op.data, op.offset);
    }
  }

  /** Once the log's record names a snapshot durably, older snapshot files go. */
  private removeOldFiles(ops: readonly LogOp[]): void {
    for (const op of ops) {
      if (!isCompactOp(op)) continue;
      for (const index of [...this.disk.files.keys()]) if (index < op.compact.snapshot.index) this.disk.files.delete(index);
    }
  }

  /** Checks the whole received file, as the driver does, and tells the core. */
  private checkReceived(snapshot: SnapshotMeta, nowTick: number): void {
    const bytes = this.incoming;
    this.incoming = null;
    let valid = bytes !== null && bytes.length === snapshot.bytes && this.random.nextFloat() >= this.snapshotTiming.corruptRate;
    let digest = 0;
    if (valid) {
      const view = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
      valid = view.getUint32(0) === snapshot.index && view.getUint32(4) === snapshot.term;
      digest = view.getUint32(8);
      const expected = encodeSimSnapshot(snapshot, digest, snapshot.bytes - snapshotHeaderBytes);
      valid &&= expected.every((byte, k) => bytes![k] === byte);
    }
    this.received = valid ? { meta: snapshot, digest, bytes: bytes! } : null;
    this.step({ type: 'SnapshotReceived', snapshot, valid }, nowTick);
    // Not installed (already committed here): the file is dropped.
    this.received = null;
  }

  /** Takes a snapshot when enough entries were applied since the last one. */
  private maybeSnapshot(): void {
    const machine = this.machine;
    const every = this.snapshotTiming.everyEntries;
    if (machine === null || every === 0 || this.writingSnapshot !== null) return;
    const index = this.appliedCount;
    if (index - (machine.snapshot?.index ?? 0) < every) return;
    const term = machine.entryAt(index)?.term;
    if (term === undefined) return;
    const padding = this.random.nextInt(this.snapshotTiming.paddingBytesMax + 1);
    const bytes = encodeSimSnapshot({ index, term }, this.digest, padding);
    const file: SimSnapshotFile = { meta: { index, term, bytes: bytes.length }, digest: this.digest, bytes };
    this.writingSnapshot = { file, completeTick: this.nowTick + 1 + this.random.nextInt(this.snapshotTiming.writeTicksMax) };
  }

  private finishSnapshot(nowTick: number): void {
    const writing = this.writingSnapshot;
    if (writing === null || writing.completeTick > nowTick || this.machine === null) return;
    this.writingSnapshot = null;
    this.disk.files.set(writing.file.meta.index, writing.file);
    this.snapshotsTaken++;
    this.step({ type: 'SnapshotTaken', snapshot: writing.file.meta }, nowTick);
  }

  private runAfter(actions: readonly RaftAction[]): void {
    const ordered = [...actions].sort((a, b) => phaseOf(a) - phaseOf(b));
    for (const action of ordered) {
      if (this.machine === null) return;
      if (action.type === 'Send') this.effects.send(this, action);
      else if (action.type === 'Apply') {
        this.effects.apply(this, action.entries);
        this.maybeSnapshot();
      } else if (action.type === 'RestoreSnapshot') this.restore(action.snapshot);
      else this.effects.notify(this, action);
    }
  }

  private restore(snapshot: SnapshotMeta): void {
    const installing = this.installing;
    if (installing === null || installing.meta.index !== snapshot.index) throw new Error(`RestoreSnapshot at ${snapshot.index} without that snapshot received`);
    this.installing = null;
    this.appliedCount = snapshot.index;
    this.digest = installing.digest;
    this.snapshotsInstalled++;
    this.effects.restored(this, snapshot.index, this.digest, 'install');
  }
}

function lastEntryOf(ops: readonly LogOp[]): { index: LogIndex; term: Term } | undefined {
  for (let k = ops.length - 1; k >= 0; k--) {
    const op = ops[k]!;
    if (isCompactOp(op)) continue;
    const last = op.entries[op.entries.length - 1];
    if (last !== undefined) return last;
  }
  return undefined;
}
