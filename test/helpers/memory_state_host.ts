/**
 * A StateHost in memory (memory-level and MemoryContentStore) for the driver's unit tests and the
 * simulator: received states are built beside the current one and switched to, as on disk.
 */
import type { IncomingStores, StateHost, StateStores } from '../../src/storage/state_directory.js';
import { LevelKvStore } from '../../src/storage/level_kv_store.js';
import { MemoryContentStore } from '../../src/storage/memory_content_store.js';
import { memoryLevel } from './fs_state.js';

/** States in memory. */
export class MemoryStateHost implements StateHost {
  private next = 2;
  /** The name the last promote made current (what a restart would open). */
  promotedName: string;

  private constructor(public current: StateStores) {
    this.promotedName = current.name;
  }

  static async create(): Promise<MemoryStateHost> {
    return new MemoryStateHost(await stores('state-1'));
  }

  async createIncoming(): Promise<IncomingStores> {
    return stores(`state-${this.next++}`);
  }

  async seal(): Promise<void> {
    // Memory stores hold everything written at once.
  }

  async promote(incoming: IncomingStores): Promise<void> {
    this.promotedName = incoming.name;
  }

  async adopt(incoming: IncomingStores): Promise<void> {
    const previous = this.current;
    this.current = incoming;
    await previous.kv.close();
  }

  async discard(incoming: IncomingStores): Promise<void> {
    await incoming.kv.close();
  }

  async close(): Promise<void> {
    await this.current.kv.close();
  }
}

async function stores(name: string): Promise<IncomingStores> {
  const kv = new LevelKvStore(await memoryLevel(), name);
  return { name, kv, content: new MemoryContentStore(), write: (batch) => kv.write(batch, false) };
}
