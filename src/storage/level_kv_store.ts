/**
 * The state machine's KvStore (src/fs/stores.ts) over an abstract-level database: classic-level
 * (LevelDB, through the `level` package) on a node, memory-level in the unit tests and the
 * simulator. Both implement getSync and explicit snapshots, which the state machine needs: point
 * reads inside an apply must not yield to other work, and a follower must be sent the state of
 * one sync point while the leader moves on.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Level } from 'level';
import type { KvRange, KvSnapshot, KvStore, KvWrite } from '../fs/stores.js';
import { StorageOpenError, StorageWriteError } from './level_storage.js';

/** An explicit snapshot of an abstract-level database (only what is used here). */
interface LevelSnapshot {
  close(): Promise<void>;
}

interface ReadOptions {
  readonly snapshot?: LevelSnapshot;
}

interface IteratorOptions extends ReadOptions {
  readonly gte?: Uint8Array;
  readonly gt?: Uint8Array;
  readonly lt: Uint8Array;
  readonly limit: number;
}

interface LevelIterator {
  nextv(size: number): Promise<Array<[Uint8Array, Uint8Array]>>;
  close(): Promise<void>;
}

type BatchOperation = { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: Uint8Array };

/** The part of the abstract-level API this store uses, with Uint8Array ('view') keys and values. */
export interface ByteLevel {
  getSync(key: Uint8Array, options?: ReadOptions): Uint8Array | undefined;
  iterator(options: IteratorOptions): LevelIterator;
  batch(operations: BatchOperation[], options: { sync: boolean }): Promise<void>;
  snapshot(): LevelSnapshot;
  close(): Promise<void>;
}

/** A KvStore over one abstract-level database opened with 'view' encodings. */
export class LevelKvStore implements KvStore {
  constructor(
    private readonly db: ByteLevel,
    /** Names the database in errors. */
    private readonly label: string,
  ) {}

  /**
   * Opens (creating if needed) the LevelDB at `directory`. Throws StorageOpenError (STORAGE_LOCKED
   * when another process holds it).
   */
  static async openDirectory(directory: string): Promise<LevelKvStore> {
    const absolute = resolve(directory);
    await mkdir(absolute, { recursive: true });
    const db = new Level<Uint8Array, Uint8Array>(absolute, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (error) {
      const code = (error as { cause?: { code?: unknown }; code?: unknown }).cause?.code ?? (error as { code?: unknown }).code;
      if (code === 'LEVEL_LOCKED') {
        throw new StorageOpenError('STORAGE_LOCKED', `another fsraft-node seems to be using ${absolute} (its LevelDB lock is held)`, { cause: error });
      }
      throw new StorageOpenError('STORAGE_OPEN_FAILED', `cannot open the LevelDB in ${absolute}: ${(error as Error).message}`, { cause: error });
    }
    return new LevelKvStore(db as unknown as ByteLevel, absolute);
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.getSync(key) ?? undefined;
  }

  range(range: KvRange): Promise<Array<readonly [Uint8Array, Uint8Array]>> {
    return readRange(this.db, range, undefined);
  }

  async write(batch: readonly KvWrite[], sync: boolean): Promise<void> {
    const operations: BatchOperation[] = batch.map((write) =>
      write.value === undefined ? { type: 'del', key: write.key } : { type: 'put', key: write.key, value: write.value },
    );
    try {
      await this.db.batch(operations, { sync });
    } catch (error) {
      throw new StorageWriteError(`${this.label}: state write of ${operations.length} records failed: ${(error as Error).message}`, { cause: error });
    }
  }

  snapshot(): KvSnapshot {
    const snapshot = this.db.snapshot();
    const db = this.db;
    return {
      get: (key) => db.getSync(key, { snapshot }) ?? undefined,
      range: (range) => readRange(db, range, snapshot),
      release: () => snapshot.close(),
    };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

async function readRange(db: ByteLevel, range: KvRange, snapshot: LevelSnapshot | undefined): Promise<Array<readonly [Uint8Array, Uint8Array]>> {
  const options: IteratorOptions = {
    ...(range.gte !== undefined ? { gte: range.gte } : {}),
    ...(range.gt !== undefined ? { gt: range.gt } : {}),
    lt: range.lt,
    limit: range.limit,
    ...(snapshot !== undefined ? { snapshot } : {}),
  };
  const iterator = db.iterator(options);
  try {
    const rows: Array<readonly [Uint8Array, Uint8Array]> = [];
    while (rows.length < range.limit) {
      const page = await iterator.nextv(Math.min(range.limit - rows.length, 1024));
      if (page.length === 0) break;
      rows.push(...page);
    }
    return rows;
  } finally {
    await iterator.close();
  }
}
