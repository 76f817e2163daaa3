/**
 * RaftStorage on one LevelDB database (the `level` package).
 *
 * Keys:
 *   'h'                       the hard state record (log_entry_codec.ts)
 *   'e' + u64 big-endian index one log entry record; big-endian so that LevelDB's byte order is
 *                             index order and the log is one contiguous key range
 *   's'                       the snapshot record (log_entry_codec.ts): the latest snapshot and
 *                             the log's base; absent until the first snapshot
 * Other first bytes are reserved. An entry record of 64 KiB or more is kept in a segment file
 * (entry_segments.ts) and its key holds a reference to it, written in the same batch.
 *
 * Compaction: the snapshot record and the deletion of the entries it covers are one batch, so
 * the stored log always starts right after the recorded base. The snapshot itself is the node's
 * file-system state (state_directory.ts: the state CURRENT names); the record only says how far
 * the log was compacted and may lag that state by one sync point (server/startup.ts).
 *
 * Durability: every write() is ONE LevelDB batch written with `sync: true` (fdatasync of the
 * LevelDB log before the promise resolves), so a crash leaves either all or none of a batch:
 * never a vote without its term, or a truncation without the entries that replace it.
 *
 * Every record carries a CRC-32C, and load() checks indexes are contiguous from 1 and terms never
 * decrease, so damage is reported as StorageCorruptError naming the directory and key instead of
 * being replicated to followers as committed history.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Level } from 'level';
import { dataViewOf, readU64, writeU64 } from '../util/binary.js';
import {
  decodeHardState,
  decodeLogEntry,
  decodeSegmentEntryRef,
  decodeSnapshotRecord,
  encodeHardState,
  encodeLogEntry,
  encodeSegmentEntryRef,
  encodeSnapshotRecord,
  isSegmentEntryRef,
  type SnapshotRecord,
} from '../codec/log_entry_codec.js';
import type { HardState, LogBase, LogEntry, RaftInitialState } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { asLogIndex, indexPlus, indexZero, noNode, termZero, type LogIndex, type Term } from '../util/types.js';
import { EntrySegments, segmentBytesMaxDefault, segmentEntryBytesMinDefault, type EntrySegmentLimits } from './entry_segments.js';
import { StorageCorruptError } from './raft_storage.js';
import { isCompactOp, type CompactOp, type RaftStorage, type StorageWrite } from './raft_storage.js';

const keyPrefixHardState = 0x68; // 'h'
const keyPrefixEntry = 0x65; // 'e'
const keyPrefixSnapshot = 0x73; // 's'
const entryKeyBytes = 9;
const hardStateKey = Uint8Array.of(keyPrefixHardState);
const snapshotKey = Uint8Array.of(keyPrefixSnapshot);
/** The entry key range: every key starting with 'e', i.e. ['e', 'f'). */
const entryKeyRange = { gte: Uint8Array.of(keyPrefixEntry), lt: Uint8Array.of(keyPrefixEntry + 1) } as const;

/** Entries read per iterator call in load(). */
const loadBatchEntries = 1024;

/** The hard state of a node that has never written one (Raft Figure 2: term 0, no vote). */
const initialHardState: HardState = { currentTerm: termZero, votedFor: noNode };

/** Why LevelRaftStorage.open failed: the directory is in use by another process, or other. */
export type StorageOpenErrorCode = 'STORAGE_LOCKED' | 'STORAGE_OPEN_FAILED';

/** The storage directory could not be opened; the message names the directory and the cause. */
export class StorageOpenError extends Error {
  readonly code: StorageOpenErrorCode;
  constructor(code: StorageOpenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageOpenError';
    this.code = code;
  }
}

/** A durable write did not complete; the node must exit and recover from disk. */
export class StorageWriteError extends Error {
  readonly code = 'STORAGE_WRITE_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageWriteError';
  }
}

type Database = Level<Uint8Array, Uint8Array>;
/** classic-level's manual compaction of a key range (LevelDB CompactRange). */
interface CompactableDatabase {
  compactRange(start: Uint8Array, end: Uint8Array): Promise<void>;
}
type BatchOperation =
  | { readonly type: 'put'; readonly key: Uint8Array; value: Uint8Array; readonly index?: LogIndex }
  | { readonly type: 'del'; readonly key: Uint8Array };

/** The key of the log entry at `index`: 'e' followed by the index as a big-endian u64. */
export function entryKey(index: LogIndex): Uint8Array {
  const key = new Uint8Array(entryKeyBytes);
  key[0] = keyPrefixEntry;
  writeU64(dataViewOf(key), 1, index);
  return key;
}

/**
 * The Raft log and hard state in one LevelDB at `directory`.
 *
 * Usage: `open()`, then `load()` exactly once, then any number of `write()`s, each awaited before
 * the next is issued (the driver serializes writes), then `close()`.
 */
export class LevelRaftStorage implements RaftStorage {
  /** The absolute path of the database directory, for error messages. */
  readonly directory: string;
  private readonly db: Database;
  private readonly segments: EntrySegments;
  /** The index of the last stored entry (the base when none); null until load() has read the log. */
  private lastIndex: LogIndex | null = null;
  /** The last compacted index: stored entries start after it. */
  private baseIndex: LogIndex = indexZero;
  private writing = false;
  private failed = false;
  /** A LevelDB compaction of the deleted log prefix in progress, if any (see reclaimCompacted). */
  private reclaiming: Promise<void> | null = null;

  private constructor(directory: string, db: Database, segments: EntrySegments) {
    this.directory = directory;
    this.db = db;
    this.segments = segments;
  }

  /**
   * Creates `directory` (and its parents) if needed and opens the database in it. Throws
   * StorageOpenError: code STORAGE_LOCKED when another process holds the LevelDB lock (two nodes
   * pointed at one directory would corrupt each other's logs), STORAGE_OPEN_FAILED otherwise.
   */
  static async open(directory: string, segmentLimits?: Partial<EntrySegmentLimits>): Promise<LevelRaftStorage> {
    const absolute = resolve(directory);
    try {
      await mkdir(absolute, { recursive: true });
    } catch (error) {
      throw new StorageOpenError('STORAGE_OPEN_FAILED', `cannot create the storage directory ${absolute}: ${describe(error)}`, {
        cause: error,
      });
    }
    const db: Database = new Level<Uint8Array, Uint8Array>(absolute, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (error) {
      if (causeCode(error) === 'LEVEL_LOCKED') {
        throw new StorageOpenError(
          'STORAGE_LOCKED',
          `another fsraft-node seems to be using ${absolute} (its LevelDB lock is held); stop that node or choose another directory`,
          { cause: error },
        );
      }
      throw new StorageOpenError('STORAGE_OPEN_FAILED', `cannot open the LevelDB in ${absolute}: ${describe(error)}`, {
        cause: error,
      });
    }
    let segments: EntrySegments;
    try {
      segments = await EntrySegments.open(absolute, {
        entryBytesMin: segmentLimits?.entryBytesMin ?? segmentEntryBytesMinDefault,
        segmentBytesMax: segmentLimits?.segmentBytesMax ?? segmentBytesMaxDefault,
      });
    } catch (error) {
      await db.close();
      throw new StorageOpenError('STORAGE_OPEN_FAILED', `cannot open the segment files in ${absolute}: ${describe(error)}`, { cause: error });
    }
    return new LevelRaftStorage(absolute, db, segments);
  }

  /**
   * Reads the hard state (term 0, no vote if never written), the snapshot record and the log
   * after its base, verifying every checksum, that indexes run contiguously from the base, that
   * terms never decrease, that the log reaches the snapshot, and that no entry is newer than
   * currentTerm. Throws StorageCorruptError naming the directory and key on damage.
   */
  async load(): Promise<RaftInitialState> {
    assert(!this.writing, 'load() while a write() is in flight');
    const hardState = await this.loadHardState();
    const record = await this.loadSnapshotRecord();
    const base: LogBase = record?.base ?? { index: indexZero, term: termZero };
    const entries = await this.loadEntries(base);
    await this.segments.removeUnreferenced();
    const last = entries[entries.length - 1];
    const lastIndex = last?.index ?? base.index;
    if (last !== undefined && last.term > hardState.currentTerm) {
      // A node adopts a term before it accepts entries from that term's leader, in the same or an
      // earlier batch; a log newer than currentTerm means the hard state record was lost.
      throw this.corrupt(`log entry ${last.index} has term ${last.term}, above the stored currentTerm ${hardState.currentTerm}`);
    }
    if (record !== undefined) this.checkSnapshotInLog(record, entries, lastIndex);
    this.lastIndex = lastIndex;
    this.baseIndex = base.index;
    if (record === undefined) return { hardState, entries };
    return { hardState, snapshot: record.snapshot, base, entries };
  }

  /** The snapshot's index must be the base or a stored entry of the snapshot's term. */
  private checkSnapshotInLog(record: SnapshotRecord, entries: readonly LogEntry[], lastIndex: LogIndex): void {
    const { snapshot, base } = record;
    if (snapshot.index > lastIndex) throw this.corrupt(`snapshot record (key "s") names index ${snapshot.index}, but the log ends at ${lastIndex}`);
    const term = snapshot.index === base.index ? base.term : entries[snapshot.index - base.index - 1]!.term;
    if (term !== snapshot.term) throw this.corrupt(`snapshot record (key "s") names term ${snapshot.term} at index ${snapshot.index}, the log has term ${term}`);
  }

  /**
   * Applies `write` as one atomic LevelDB batch with `sync: true`: the entry operations in order
   * (a truncation deletes every stored entry from `truncateFrom` to the last), then the hard
   * state. Large entry records are first appended to a segment file and synced, and the batch
   * holds references to them. Resolves once the batch is on stable storage; rejects with StorageWriteError naming
   * the directory (the driver then exits).
   *
   * The caller must await each write before starting the next: two batches in flight could reach
   * disk in either order, and the in-memory last index would no longer describe the disk.
   */
  async write(write: StorageWrite): Promise<void> {
    assert(this.lastIndex !== null, `${this.directory}: write() before load()`);
    assert(!this.writing, `${this.directory}: overlapping write() calls; the caller must serialize writes`);
    // After a failed batch we do not know what reached the disk; appending more could leave a gap.
    assert(!this.failed, `${this.directory}: write() after a failed write`);
    const operations: BatchOperation[] = [];
    const { lastIndex, baseIndex } = this.logOperations(write, operations);
    if (write.hardState !== undefined) {
      operations.push({ type: 'put', key: hardStateKey, value: encodeHardState(write.hardState) });
    }
    if (operations.length === 0) return;
    this.writing = true;
    let where = 'the segment files';
    try {
      await this.moveLargeEntriesToSegments(operations);
      where = 'the LevelDB';
      // A chained batch rather than batch(array): the same single atomic WriteBatch, but the
      // array form validates and re-encodes every operation in JavaScript first, which cost
      // about 20 µs per entry (0.46 ms for a typical 23-entry follower write) on the event loop.
      const batch = this.db.batch();
      for (const operation of operations) {
        if (operation.type === 'put') batch.put(operation.key, operation.value);
        else batch.del(operation.key);
      }
      await batch.write({ sync: true });
    } catch (error) {
      this.failed = true;
      throw new StorageWriteError(`durable write to ${where} in ${this.directory} failed: ${describe(error)}${systemErrorText(error)}`, { cause: error });
    } finally {
      this.writing = false;
    }
    const compacted = baseIndex > this.baseIndex;
    this.lastIndex = lastIndex;
    this.baseIndex = baseIndex;
    if (compacted) {
      this.reclaimCompacted(baseIndex);
      // A segment left behind (the removal failed) is removed at the next load.
      await this.segments.removeThrough(baseIndex).catch(() => undefined);
    }
  }

  /** Stores the large entry records of `operations` in a segment and puts references in their place. */
  private async moveLargeEntriesToSegments(operations: BatchOperation[]): Promise<void> {
    const large = operations.filter((operation) => operation.type === 'put' && operation.index !== undefined && this.segments.holds(operation.value.length));
    const puts = large as Array<Extract<BatchOperation, { type: 'put' }>>;
    const refs = await this.segments.append(puts.map((put) => ({ index: put.index as LogIndex, bytes: put.value })));
    refs.forEach((ref, i) => {
      (puts[i] as Extract<BatchOperation, { type: 'put' }>).value = encodeSegmentEntryRef(ref);
    });
  }

  /** Closes the database, releasing its lock. */
  async close(): Promise<void> {
    await this.reclaiming;
    await this.segments.close();
    await this.db.close();
  }

  /**
   * LevelDB keeps deleted entries (and their tombstones) in its files until a compaction reaches
   * them, so the on-disk size would creep up with every log compaction. Compacting the deleted
   * key range in the background reclaims it, keeping the disk flat. One at a time: the next one
   * covers whatever was deleted meanwhile. A failure only leaves the space for LevelDB's own
   * compactions, so it is not an error.
   */
  private reclaimCompacted(baseIndex: LogIndex): void {
    // The `level` package's types leave out classic-level's compactRange, which Node's backend has.
    const db = this.db as unknown as Partial<CompactableDatabase>;
    if (this.reclaiming !== null || db.compactRange === undefined) return;
    this.reclaiming = db
      .compactRange(entryKey(asLogIndex(1)), entryKey(baseIndex))
      .catch(() => undefined)
      .finally(() => {
        this.reclaiming = null;
      });
  }

  /** Translates entryOps into batch operations; returns the last and base indexes after them. */
  private logOperations(write: StorageWrite, operations: BatchOperation[]): { lastIndex: LogIndex; baseIndex: LogIndex } {
    let lastIndex = this.lastIndex!;
    let baseIndex = this.baseIndex;
    for (const entryOp of write.entryOps) {
      if (isCompactOp(entryOp)) {
        ({ lastIndex, baseIndex } = this.compactOperations(entryOp, lastIndex, baseIndex, operations));
        continue;
      }
      const truncateFrom = entryOp.truncateFrom;
      if (truncateFrom !== undefined) {
        assert(
          Number.isSafeInteger(truncateFrom) && truncateFrom > baseIndex && truncateFrom <= lastIndex + 1,
          `${this.directory}: truncateFrom ${truncateFrom} outside ${baseIndex + 1}..${lastIndex + 1}`,
        );
        for (let index = truncateFrom; index <= lastIndex; index++) operations.push({ type: 'del', key: entryKey(index) });
        lastIndex = indexPlus(truncateFrom, -1);
      }
      for (const entry of entryOp.entries) {
        // A gap written here would only be found at the next restart, as a corrupt log.
        assert(entry.index === lastIndex + 1, `${this.directory}: appending entry ${entry.index} after ${lastIndex}`);
        operations.push({ type: 'put', key: entryKey(entry.index), value: encodeLogEntry(entry), index: entry.index });
        lastIndex = entry.index;
      }
    }
    return { lastIndex, baseIndex };
  }

  /**
   * Deletes the entries up to the new base (every entry with `discardLog`) and records the
   * snapshot, in the same batch, so the stored log always starts right after the recorded base.
   */
  private compactOperations(op: CompactOp, lastIndexBefore: LogIndex, baseIndexBefore: LogIndex, operations: BatchOperation[]): { lastIndex: LogIndex; baseIndex: LogIndex } {
    const { base, snapshot, discardLog } = op.compact;
    assert(base.index >= baseIndexBefore, `${this.directory}: compaction to ${base.index} below the base ${baseIndexBefore}`);
    assert(discardLog || base.index <= lastIndexBefore, `${this.directory}: compaction to ${base.index} beyond the log's end ${lastIndexBefore}`);
    const deleteThrough = discardLog ? lastIndexBefore : base.index;
    for (let index = indexPlus(baseIndexBefore, 1); index <= deleteThrough; index++) operations.push({ type: 'del', key: entryKey(index) });
    operations.push({ type: 'put', key: snapshotKey, value: encodeSnapshotRecord({ snapshot, base }) });
    return { lastIndex: discardLog ? base.index : lastIndexBefore, baseIndex: base.index };
  }

  private async loadHardState(): Promise<HardState> {
    const stored = await this.readOrCorrupt(() => this.db.get(hardStateKey), 'hard state (key "h")');
    if (stored === undefined) return initialHardState;
    const decoded = decodeHardState(plainBytes(stored));
    if (!decoded.ok) throw this.corrupt(`hard state (key "h"): ${decoded.error}`);
    return decoded.value;
  }

  private async loadSnapshotRecord(): Promise<SnapshotRecord | undefined> {
    const stored = await this.readOrCorrupt(() => this.db.get(snapshotKey), 'snapshot record (key "s")');
    if (stored === undefined) return undefined;
    const decoded = decodeSnapshotRecord(plainBytes(stored));
    if (!decoded.ok) throw this.corrupt(`snapshot record (key "s"): ${decoded.error}`);
    return decoded.value;
  }

  /**
   * Reads every entry key in order and checks each against its predecessor. The first problem
   * throws; tail recovery (dropping a torn last entry) would instead stop at it and truncate.
   */
  private async loadEntries(base: LogBase): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    const firstIndex = base.index + 1;
    let expectedIndex = firstIndex;
    let previousTerm: Term = base.term;
    const iterator = this.db.iterator(entryKeyRange);
    try {
      for (;;) {
        // Batches of entries per call: one promise per entry made loading a long log slow.
        const batch = await this.readOrCorrupt(() => iterator.nextv(loadBatchEntries), `log entries after index ${expectedIndex - 1}`);
        if (batch.length === 0) break;
        for (const [key, value] of batch) {
          const index = this.entryIndexOfKey(key);
          if (index !== expectedIndex) {
            throw this.corrupt(
              expectedIndex === firstIndex
                ? `log starts at index ${index} (key ${keyName(key)}), expected ${firstIndex}`
                : `log is not contiguous: entry ${index} (key ${keyName(key)}) follows entry ${expectedIndex - 1}`,
            );
          }
          const decoded = decodeLogEntry(await this.entryRecord(plainBytes(value), index, key), index);
          if (!decoded.ok) throw this.corrupt(`log entry ${index} (key ${keyName(key)}${this.segmentNote(value, index)}): ${decoded.error}`);
          if (decoded.value.term < previousTerm) {
            throw this.corrupt(`log entry ${index} has term ${decoded.value.term}, below term ${previousTerm} of entry ${index - 1}`);
          }
          entries.push(decoded.value);
          previousTerm = decoded.value.term;
          expectedIndex++;
        }
      }
    } finally {
      await iterator.close();
    }
    return entries;
  }

  /** The entry record a stored value holds, read from its segment if the value is a reference. */
  private async entryRecord(value: Uint8Array, index: LogIndex, key: Uint8Array): Promise<Uint8Array> {
    if (!isSegmentEntryRef(value)) return value;
    const ref = decodeSegmentEntryRef(value, index);
    if (!ref.ok) throw this.corrupt(`log entry ${index} (key ${keyName(key)}): ${ref.error}`);
    const record = await this.segments.read(ref.value);
    if (record === undefined) {
      const { segment, offset, length } = ref.value;
      throw this.corrupt(`log entry ${index} (key ${keyName(key)}): segment ${this.segments.fileName(segment)} has no ${length}-byte record at offset ${offset}`);
    }
    return record;
  }

  /** ", in segment <file>" when a stored value is a segment reference, for messages. */
  private segmentNote(value: Uint8Array, index: LogIndex): string {
    const ref = isSegmentEntryRef(value) ? decodeSegmentEntryRef(value, index) : undefined;
    return ref?.ok === true ? `, in segment ${this.segments.fileName(ref.value.segment)} at offset ${ref.value.offset}` : '';
  }

  private entryIndexOfKey(key: Uint8Array): LogIndex {
    const index = key.length === entryKeyBytes ? readU64(dataViewOf(key), 1) : -1;
    if (index < 1) throw this.corrupt(`malformed key ${keyName(key)} in the log key range`);
    return asLogIndex(index);
  }

  /** Runs a LevelDB read, reporting LevelDB's own corruption errors as StorageCorruptError. */
  private async readOrCorrupt<T>(read: () => Promise<T>, what: string): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (errorCode(error) === 'LEVEL_CORRUPTION') throw this.corrupt(`${what}: LevelDB reports ${describe(error)}`);
      throw new Error(`reading ${what} from the LevelDB in ${this.directory} failed: ${describe(error)}`, { cause: error });
    }
  }

  private corrupt(detail: string): StorageCorruptError {
    return new StorageCorruptError(`corrupt Raft storage in ${this.directory}: ${detail}`);
  }
}

/**
 * A plain Uint8Array view of a value LevelDB returned (a Buffer), so that entry data handed to
 * the core and the state machine behave like every other Uint8Array (e.g. in deep equality).
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A key for messages: quoted when it is printable ASCII (e.g. "h"), else hex (0x65...03). */
function keyName(key: Uint8Array): string {
  if (key.every((byte) => byte >= 0x20 && byte <= 0x7e)) return `"${String.fromCharCode(...key)}"`;
  return `0x${Array.from(key, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** abstract-level wraps the binding's error: LEVEL_DATABASE_NOT_OPEN with cause LEVEL_LOCKED. */
function causeCode(error: unknown): unknown {
  const cause = typeof error === 'object' && error !== null ? (error as { cause?: unknown }).cause : undefined;
  return errorCode(cause) ?? errorCode(error);
}

/**
 * The C library's wording of a Node system error's code, for the errors an operator acts on
 * (Node's own message is libuv's lower-case one); LevelDB's errors already carry it.
 */
function systemErrorText(error: unknown): string {
  const texts: Record<string, string> = { ENOSPC: 'No space left on device', EDQUOT: 'Disk quota exceeded', EIO: 'Input/output error', EROFS: 'Read-only file system' };
  const code = errorCode(error);
  return typeof code === 'string' && texts[code] !== undefined ? ` (${texts[code]})` : '';
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
