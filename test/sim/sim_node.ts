/**
 * One simulated node: a RaftMachine, a disk that loses unsynced writes on a crash, and a driver
 * that executes actions under the ORDERING RULE of src/raft/types.ts exactly as the real node
 * driver must: one storage write in flight at a time, later steps' actions queued behind it,
 * sends after the write (except the leader's AppendEntries), then applies, then notifications,
 * and a `Persisted` event when a write with entries completes.
 */
import { RaftMachine } from '../../src/raft/raft_machine.js';
import type { HardState, LogEntry, RaftAction, RaftEvent, RaftInitialState, RaftOptions } from '../../src/raft/types.js';
import type { Random } from '../../src/util/prng.js';
import type { LogIndex, NodeId, Term } from '../../src/util/types.js';

/** One entry operation of a storage write. */
interface EntryOp {
  readonly truncateFrom?: LogIndex;
  readonly entries: readonly LogEntry[];
}

/** The actions of one or more steps: their persists form one atomic write, the rest run after it. */
interface WriteBatch {
  hardState: HardState | undefined;
  ops: EntryOp[];
  after: RaftAction[];
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
}

/** How long writes take. */
export interface DiskTiming {
  /** Probability that a write stalls (an fsync hiccup) instead of taking 1-3 ticks. */
  readonly stallRate: number;
  /** A stalled write takes up to this many ticks. */
  readonly stallTicksMax: number;
}

/** Stable storage: only completed writes reach it. */
export class SimDisk {
  hardState: HardState = { currentTerm: 0, votedFor: 0 };
  entries: LogEntry[] = [];

  write(hardState: HardState | undefined, ops: readonly EntryOp[]): void {
    if (hardState !== undefined) this.hardState = hardState;
    for (const op of ops) {
      if (op.truncateFrom !== undefined) {
        if (op.truncateFrom > this.entries.length + 1) throw new Error(`disk: truncateFrom ${op.truncateFrom} beyond ${this.entries.length}`);
        if (op.entries[0] !== undefined && op.entries[0].index !== op.truncateFrom) throw new Error('disk: entries do not start at truncateFrom');
        this.entries.length = op.truncateFrom - 1;
      }
      for (const entry of op.entries) {
        if (entry.index !== this.entries.length + 1) throw new Error(`disk: entry ${entry.index} is not contiguous after ${this.entries.length}`);
        this.entries.push(entry);
      }
    }
  }

  load(): RaftInitialState {
    return { hardState: this.hardState, entries: [...this.entries] };
  }
}

/** Execution order inside a batch (ORDERING RULE phases 2-4). */
function phaseOf(action: RaftAction): number {
  if (action.type === 'Send') return 0;
  if (action.type === 'Apply') return 1;
  return 2;
}

function isPersist(action: RaftAction): boolean {
  return action.type === 'PersistHardState' || action.type === 'PersistEntries';
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
  /** Entries this incarnation's driver has applied (it re-applies from index 1 after a restart). */
  appliedCount = 0;
  /** commitIndex after the previous step of this incarnation. */
  lastCommitIndex = 0;

  constructor(
    readonly id: NodeId,
    private readonly random: Random,
    private readonly effects: NodeEffects,
    private readonly timing: DiskTiming,
  ) {}

  get up(): boolean {
    return this.machine !== null;
  }

  /** True while a storage write is in flight (a crash now may or may not keep it). */
  get writing(): boolean {
    return this.batches[0]?.completeTick !== null && this.batches.length > 0;
  }

  /** True when no storage write is queued or in flight. */
  get idle(): boolean {
    return this.batches.length === 0;
  }

  /** Builds a new machine from what the disk holds. */
  start(options: RaftOptions, random: Random): void {
    this.machine = new RaftMachine(options, this.disk.load(), random);
    this.incarnation++;
    this.appliedCount = 0;
    this.lastCommitIndex = 0;
  }

  /**
   * Loses all volatile state. A write in flight may or may not have reached the disk before the
   * crash (the sync may have finished without being acknowledged); queued writes never did.
   */
  crash(): void {
    const head = this.batches[0];
    if (head !== undefined && head.completeTick !== null && this.random.nextFloat() < 0.5) {
      this.disk.write(head.hardState, head.ops);
    }
    this.batches = [];
    this.machine = null;
  }

  /** Steps the machine and executes (or queues) the resulting actions. */
  step(event: RaftEvent, nowTick: number): void {
    const machine = this.machine;
    if (machine === null) throw new Error(`step on crashed node ${this.id}`);
    const actions = machine.step(event);
    this.effects.stepped(this, event, actions);
    this.execute(actions, nowTick);
  }

  private execute(actions: readonly RaftAction[], nowTick: number): void {
    const rest: RaftAction[] = [];
    let persists = false;
    for (const action of actions) {
      // ORDERING RULE exception (Raft §10.2.1): the leader's AppendEntries need not wait for its own write.
      if (action.type === 'Send' && action.message.type === 'AppendEntries') this.effects.send(this, action);
      else {
        rest.push(action);
        persists ||= isPersist(action);
      }
    }
    if (this.batches.length === 0 && !persists) {
      this.runAfter(rest);
      return;
    }
    this.enqueue(rest, nowTick);
  }

  private enqueue(actions: readonly RaftAction[], nowTick: number): void {
    let tail = this.batches[this.batches.length - 1];
    if (tail === undefined || tail.completeTick !== null) {
      tail = { hardState: undefined, ops: [], after: [], completeTick: null };
      this.batches.push(tail);
    }
    for (const action of actions) {
      if (action.type === 'PersistHardState') tail.hardState = action.hardState;
      else if (action.type === 'PersistEntries') tail.ops.push({ truncateFrom: action.truncateFrom, entries: action.entries });
      else tail.after.push(action);
    }
    this.startHead(nowTick);
  }

  /** Starts the head write if it is not running; a batch without persists completes at once. */
  private startHead(nowTick: number): void {
    for (;;) {
      const head = this.batches[0];
      if (head === undefined || head.completeTick !== null) return;
      if (head.hardState !== undefined || head.ops.length > 0) {
        const stalled = this.random.nextFloat() < this.timing.stallRate;
        head.completeTick = nowTick + 1 + this.random.nextInt(stalled ? this.timing.stallTicksMax : 3);
        return;
      }
      this.batches.shift();
      this.runAfter(head.after);
    }
  }

  /** Completes the head write if it is due: disk, then its actions, then `Persisted`. */
  advance(nowTick: number): void {
    const head = this.batches[0];
    if (head === undefined || head.completeTick === null || head.completeTick > nowTick) return;
    this.disk.write(head.hardState, head.ops);
    this.batches.shift();
    this.runAfter(head.after);
    this.startHead(nowTick);
    const last = lastEntryOf(head.ops);
    if (last !== undefined && this.machine !== null) this.step({ type: 'Persisted', index: last.index, term: last.term }, nowTick);
  }

  private runAfter(actions: readonly RaftAction[]): void {
    const ordered = [...actions].sort((a, b) => phaseOf(a) - phaseOf(b));
    for (const action of ordered) {
      if (this.machine === null) return;
      if (action.type === 'Send') this.effects.send(this, action);
      else if (action.type === 'Apply') this.effects.apply(this, action.entries);
      else this.effects.notify(this, action);
    }
  }
}

function lastEntryOf(ops: readonly EntryOp[]): { index: LogIndex; term: Term } | undefined {
  for (let k = ops.length - 1; k >= 0; k--) {
    const entries = ops[k]!.entries;
    const last = entries[entries.length - 1];
    if (last !== undefined) return last;
  }
  return undefined;
}
