/**
 * The file-system state machine over memory stores (memory-level and MemoryContentStore), the way
 * the unit tests and the simulator run it: the same code a node runs over LevelDB and sparse files.
 */
import { MemoryLevel } from 'memory-level';
import { FsStateMachine, type FsStateMachineOptions } from '../../src/fs/fs_state_machine.js';
import type { FsApplied, FsQuery, FsQueryResult, FsReadResult, FsRequest, FsResult } from '../../src/fs/types.js';
import { LevelKvStore, type ByteLevel } from '../../src/storage/level_kv_store.js';
import { MemoryContentStore } from '../../src/storage/memory_content_store.js';

/** A fresh memory-level database with byte keys and values. */
export async function memoryLevel(): Promise<ByteLevel> {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  return db as unknown as ByteLevel;
}

/** A state machine over new memory stores, and the stores (to reopen it over the same ones). */
export interface MemoryState {
  readonly machine: FsStateMachine;
  readonly kv: LevelKvStore;
  readonly content: MemoryContentStore;
}

/** Opens a state machine over new memory stores. */
export async function openMemoryState(options: FsStateMachineOptions = {}): Promise<MemoryState> {
  const kv = new LevelKvStore(await memoryLevel(), 'memory');
  const content = new MemoryContentStore();
  return { machine: await FsStateMachine.open(kv, content, options), kv, content };
}

/** `ok` results without the node they touched: the shape most assertions compare. */
export function withoutIno(result: FsResult): FsResult {
  return result.type === 'ok' ? ({ type: 'ok', version: result.version } as unknown as FsResult) : result;
}

/**
 * A state machine that applies each request as a log entry of its own (index 1, 2, ...), for
 * tests that think in requests rather than entries.
 */
export class TestState {
  private constructor(
    readonly machine: FsStateMachine,
    readonly stores: MemoryState,
  ) {}

  static async create(options: FsStateMachineOptions = {}): Promise<TestState> {
    const stores = await openMemoryState(options);
    return new TestState(stores.machine, stores);
  }

  /** Applies `request` as the next entry; `ok` results without `ino` (see applyFull). */
  async apply(request: FsRequest): Promise<FsResult> {
    return withoutIno((await this.applyFull(request)).result);
  }

  /** Applies `request` as the next entry (indexes are taken at call time, so concurrent calls queue in order). */
  async applyFull(request: FsRequest): Promise<FsApplied> {
    this.lastIndex = Math.max(this.lastIndex, this.machine.appliedIndex) + 1;
    const [applied] = await this.machine.applyEntry(this.lastIndex, 1, [request]);
    return applied!;
  }

  private lastIndex = 0;

  /** The whole file `name` as of `nowMs`. */
  async read(name: string, nowMs: number): Promise<FsReadResult> {
    return (await this.machine.query({ op: 'read', name, bytesMax: Number.MAX_SAFE_INTEGER }, nowMs)) as FsReadResult;
  }

  query(query: FsQuery, nowMs: number): Promise<FsQueryResult> {
    return this.machine.query(query, nowMs);
  }

  get lastVersion(): number {
    return this.machine.lastVersion;
  }

  get sessionCount(): number {
    return this.machine.sessionCount;
  }
}
