/**
 * Where a node keeps its file-system state (README "Where a node keeps its data"):
 *
 *   <stateDir>/CURRENT            the name of the state in use, written atomically
 *   <stateDir>/state-<n>/db/      its KvStore (LevelDB): attributes, entries, small contents, ...
 *   <stateDir>/state-<n>/content/ its ContentStore: one sparse file per large file
 *
 * A state received from a leader is built beside the one in use, as another state-<n>, and
 * switched to by rewriting CURRENT (temp file, fsync, rename, fsync of the directory): a crash at
 * any point leaves either the old state or the new one named, never half of one. Anything CURRENT
 * does not name is a leftover of a crash or of a switch and is deleted at start.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ContentStore, KvStore, KvWrite } from '../fs/stores.js';
import { FileContentStore, syncDirectory, type SparseFileOps } from './file_content_store.js';
import { LevelKvStore } from './level_kv_store.js';
import { StorageCorruptError } from './raft_storage.js';

/** One state's stores. */
export interface StateStores {
  readonly name: string;
  readonly kv: KvStore;
  readonly content: ContentStore;
}

/** A state being received: its stores, and a batch writer for the stream parser. */
export interface IncomingStores extends StateStores {
  write(batch: readonly KvWrite[]): Promise<void>;
}

/**
 * What the node driver needs of the place states live: the one in use, a new one to receive
 * into, and the atomic switch. Implemented on disk here and in memory by the tests and simulator.
 */
export interface StateHost {
  readonly current: StateStores;
  createIncoming(): Promise<IncomingStores>;
  /** Makes `incoming` complete and durable (its last writes synced). */
  seal(incoming: IncomingStores): Promise<void>;
  /** Durably names `incoming` as the state in use; from now on a restart opens it. */
  promote(incoming: IncomingStores): Promise<void>;
  /** After promote: `incoming` becomes `current`; the previous state is closed and removed. */
  adopt(incoming: IncomingStores): Promise<void>;
  /** Throws an incoming state away. */
  discard(incoming: IncomingStores): Promise<void>;
  close(): Promise<void>;
}

/**
 * The steps of the switch at which a crash test stops the node (fsraft-node's
 * FSRAFT_TEST_KILL_AT): the new CURRENT written and synced under its temp name, and renamed into
 * place (the directory synced) before the log records the switch.
 */
export type SwitchStep = 'pointer-synced' | 'pointer-renamed';

const currentFile = 'CURRENT';
const statePrefix = 'state-';

interface DiskStores extends IncomingStores {
  readonly kv: LevelKvStore;
  readonly content: FileContentStore;
}

/** The states of one node under its stateDir. */
export class StateDirectory implements StateHost {
  private currentStores: DiskStores;
  private nextNumber: number;

  private constructor(
    readonly directory: string,
    private readonly native: SparseFileOps | undefined,
    current: DiskStores,
    nextNumber: number,
    private readonly onSwitchStep: ((step: SwitchStep) => void) | undefined,
  ) {
    this.currentStores = current;
    this.nextNumber = nextNumber;
  }

  /**
   * Opens the state CURRENT names (creating an empty one on first start) and deletes leftovers.
   * Throws StorageCorruptError for a directory written by an older fsraft or a CURRENT naming a
   * missing state. `onSwitchStep` is called at each step of a switch (crash tests only).
   */
  static async open(directory: string, native: SparseFileOps | undefined, onSwitchStep?: (step: SwitchStep) => void): Promise<StateDirectory> {
    const absolute = path.resolve(directory);
    mkdirSync(absolute, { recursive: true });
    const names = readdirSync(absolute);
    if (names.some((name) => /^snapshot-\d+\.snap$/.test(name) || name === 'incoming.snap.tmp')) {
      throw new StorageCorruptError(
        `${absolute} holds snapshot files of an older fsraft, which kept the whole tree in memory; this version keeps it on disk and cannot read them. Move this node's logDir and stateDir aside and start it again: it receives the state from the leader`,
      );
    }
    let currentName: string;
    const pointer = path.join(absolute, currentFile);
    if (existsSync(pointer)) {
      currentName = readFileSync(pointer, 'utf8').trim();
      if (!/^state-\d+$/.test(currentName) || !existsSync(path.join(absolute, currentName))) {
        throw new StorageCorruptError(`${pointer} names '${currentName}', which is not a state directory here`);
      }
    } else {
      currentName = `${statePrefix}1`;
      mkdirSync(path.join(absolute, currentName), { recursive: true });
      writePointer(absolute, currentName);
    }
    let highest = 1;
    for (const name of readdirSync(absolute)) {
      const number = /^state-(\d+)/.exec(name);
      if (number !== null) highest = Math.max(highest, Number(number[1]));
      if (name === currentName || name === currentFile) continue;
      // A received state never switched to, a replaced one not yet removed, a temp pointer.
      rmSync(path.join(absolute, name), { recursive: true, force: true });
    }
    const current = await openStores(absolute, currentName, native);
    return new StateDirectory(absolute, native, current, highest + 1, onSwitchStep);
  }

  get current(): StateStores {
    return this.currentStores;
  }

  async createIncoming(): Promise<IncomingStores> {
    const name = `${statePrefix}${this.nextNumber++}`;
    rmSync(path.join(this.directory, name), { recursive: true, force: true });
    return openStores(this.directory, name, this.native);
  }

  async seal(incoming: IncomingStores): Promise<void> {
    const stores = incoming as DiskStores;
    await stores.content.sync();
    // An empty synced batch makes every earlier unsynced batch durable (one LevelDB log).
    await stores.kv.write([], true);
  }

  async promote(incoming: IncomingStores): Promise<void> {
    writePointer(this.directory, incoming.name, this.onSwitchStep);
  }

  async adopt(incoming: IncomingStores): Promise<void> {
    const previous = this.currentStores;
    this.currentStores = incoming as DiskStores;
    await closeStores(previous);
    rmSync(path.join(this.directory, previous.name), { recursive: true, force: true });
  }

  async discard(incoming: IncomingStores): Promise<void> {
    await closeStores(incoming as DiskStores);
    rmSync(path.join(this.directory, incoming.name), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await closeStores(this.currentStores);
  }
}

async function openStores(directory: string, name: string, native: SparseFileOps | undefined): Promise<DiskStores> {
  const root = path.join(directory, name);
  const kv = await LevelKvStore.openDirectory(path.join(root, 'db'));
  const content = new FileContentStore(path.join(root, 'content'), native);
  return { name, kv, content, write: (batch) => kv.write(batch, false) };
}

async function closeStores(stores: DiskStores): Promise<void> {
  stores.content.close();
  await stores.kv.close();
}

/** Writes CURRENT atomically and durably. */
function writePointer(directory: string, name: string, onStep?: (step: SwitchStep) => void): void {
  const temporary = path.join(directory, `${currentFile}.tmp`);
  writeFileSync(temporary, `${name}\n`);
  const fd = openSync(temporary, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  onStep?.('pointer-synced');
  renameSync(temporary, path.join(directory, currentFile));
  syncDirectory(directory);
  onStep?.('pointer-renamed');
}
