/**
 * Large log entry records, kept in append-only segment files in `<log directory>/segments/`
 * instead of LevelDB. LevelDB copies every value it holds several times: into its own log, into
 * its memory table, into a table file when that fills, and again at each compaction, with a
 * checksum at every step. For a 1 MiB write that was about 3 bytes written to disk per byte of
 * entry on every node, and LevelDB's checksums alone took about an eighth of each node's CPU.
 * A segment file holds each record once; LevelDB keeps only a small reference to it
 * (log_entry_codec.ts, SegmentEntryRef), written in the same atomic batch as before.
 *
 * Crash safety: the records are written and fdatasync'ed (and a new file's directory entry
 * synced) BEFORE the LevelDB batch that references them, so a durable reference always points at
 * durable bytes. Whatever a crash leaves beyond the last referenced record (a torn tail, records
 * whose batch never committed) is never read: after a restart, appends go to a new segment, and
 * segments no stored reference names are deleted by `removeUnreferenced`. Every record keeps its
 * own CRC-32C and index, checked when it is read back, so damage in a segment is reported as
 * corruption naming the entry, never served.
 *
 * Reclaiming space: each segment remembers the highest entry index written into it; once the
 * log's base (after a compaction) reaches that index, no live entry can be in it, and it is
 * deleted after the batch recording the compaction is durable. Truncated entries stay in their
 * segment until then, which only delays that segment's deletion.
 *
 * Not thread-safe; one writer, serialized by LevelRaftStorage.
 */
import { open, readdir, rm, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { SegmentEntryRef } from '../codec/log_entry_codec.js';
import { assert } from '../util/assert.js';
import { asLogIndex, type LogIndex } from '../util/types.js';

/** Defaults: entry records of at least this many bytes go to segments. */
export const segmentEntryBytesMinDefault = 64 * 1024;
/** Defaults: a segment is closed and a new one started once it holds this many bytes. */
export const segmentBytesMaxDefault = 64 * 1024 * 1024;

const segmentNamePattern = /^(\d{10})\.seg$/;

/** Sizes of EntrySegments (tests make them small). */
export interface EntrySegmentLimits {
  /** Entry records of at least this many bytes are stored in segments. */
  readonly entryBytesMin: number;
  /** A new segment is started once the current one holds this many bytes. */
  readonly segmentBytesMax: number;
}

/** One record to store: the entry's index and its encoded record. */
export interface SegmentRecord {
  readonly index: LogIndex;
  readonly bytes: Uint8Array;
}

interface OpenSegment {
  readonly number: number;
  readonly handle: FileHandle;
  size: number;
}

/** The segment files of one log directory. */
export class EntrySegments {
  readonly directory: string;
  readonly limits: EntrySegmentLimits;
  private current: OpenSegment | undefined;
  /** Highest segment number seen on disk or created; new segments take the next. */
  private lastNumber = 0;
  /** Highest entry index stored in each existing segment. */
  private readonly highestIndex = new Map<number, LogIndex>();
  /** Handles opened for reading during load, closed by `endLoad`. */
  private readonly readers = new Map<number, FileHandle>();

  private constructor(directory: string, limits: EntrySegmentLimits) {
    this.directory = directory;
    this.limits = limits;
  }

  /** Creates `<logDirectory>/segments` if needed. */
  static async open(logDirectory: string, limits: EntrySegmentLimits): Promise<EntrySegments> {
    assert(limits.entryBytesMin >= 1 && limits.segmentBytesMax >= 1, 'bad segment limits');
    const directory = join(logDirectory, 'segments');
    await mkdir(directory, { recursive: true });
    await syncDirectory(logDirectory);
    const segments = new EntrySegments(directory, limits);
    for (const number of await segments.numbersOnDisk()) segments.lastNumber = Math.max(segments.lastNumber, number);
    return segments;
  }

  /** True if an entry record of `bytes` bytes belongs in a segment. */
  holds(bytes: number): boolean {
    return bytes >= this.limits.entryBytesMin;
  }

  /**
   * Appends `records` to the current segment (starting a new one when it is full) and makes them
   * durable; returns where each one lies, in order. Call before the batch that references them.
   */
  async append(records: readonly SegmentRecord[]): Promise<SegmentEntryRef[]> {
    if (records.length === 0) return [];
    if (this.current === undefined || this.current.size >= this.limits.segmentBytesMax) await this.startSegment();
    const segment = this.current as OpenSegment;
    const refs: SegmentEntryRef[] = [];
    let offset = segment.size;
    for (const record of records) {
      refs.push({ index: record.index, segment: segment.number, offset, length: record.bytes.length });
      offset += record.bytes.length;
    }
    const total = offset - segment.size;
    const { bytesWritten } = await segment.handle.writev(
      records.map((record) => record.bytes),
      segment.size,
    );
    if (bytesWritten !== total) throw new Error(`short write to segment ${this.fileName(segment.number)}: ${bytesWritten} of ${total} bytes`);
    segment.size = offset;
    await segment.handle.datasync();
    const highest = asLogIndex(Math.max(this.highestIndex.get(segment.number) ?? 0, ...records.map((record) => record.index)));
    this.highestIndex.set(segment.number, highest);
    return refs;
  }

  /**
   * Reads the record `ref` names (for load). Returns undefined if the segment is missing or too
   * short to hold it; the caller reports that as corruption.
   */
  async read(ref: SegmentEntryRef): Promise<Uint8Array | undefined> {
    let handle = this.readers.get(ref.segment);
    if (handle === undefined) {
      try {
        handle = await open(join(this.directory, this.fileName(ref.segment)), 'r');
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
        throw error;
      }
      this.readers.set(ref.segment, handle);
    }
    const bytes = new Uint8Array(ref.length);
    const { bytesRead } = await handle.read(bytes, 0, ref.length, ref.offset);
    if (bytesRead !== ref.length) return undefined;
    this.highestIndex.set(ref.segment, asLogIndex(Math.max(this.highestIndex.get(ref.segment) ?? 0, ref.index)));
    return bytes;
  }

  /** After load: closes the read handles and deletes every segment no stored entry references. */
  async removeUnreferenced(): Promise<void> {
    for (const handle of this.readers.values()) await handle.close();
    this.readers.clear();
    for (const number of await this.numbersOnDisk()) {
      if (!this.highestIndex.has(number)) await rm(join(this.directory, this.fileName(number)), { force: true });
    }
  }

  /**
   * Deletes every segment (but the one being appended to) whose entries are all at or below
   * `baseIndex`. Call once the batch that deleted their references is durable.
   */
  async removeThrough(baseIndex: LogIndex): Promise<void> {
    for (const [number, highest] of this.highestIndex) {
      if (highest > baseIndex || number === this.current?.number) continue;
      this.highestIndex.delete(number);
      await rm(join(this.directory, this.fileName(number)), { force: true });
    }
  }

  async close(): Promise<void> {
    for (const handle of this.readers.values()) await handle.close();
    this.readers.clear();
    await this.current?.handle.close();
    this.current = undefined;
  }

  fileName(number: number): string {
    return `${String(number).padStart(10, '0')}.seg`;
  }

  private async startSegment(): Promise<void> {
    await this.current?.handle.close();
    this.current = undefined;
    const number = ++this.lastNumber;
    const handle = await open(join(this.directory, this.fileName(number)), 'wx');
    this.current = { number, handle, size: 0 };
    // The new name must survive a crash as surely as the records written into the file.
    await syncDirectory(this.directory);
  }

  private async numbersOnDisk(): Promise<number[]> {
    const numbers: number[] = [];
    for (const name of await readdir(this.directory)) {
      const match = segmentNamePattern.exec(name);
      if (match !== null) numbers.push(Number(match[1]));
    }
    return numbers;
  }
}

/** fsync of a directory, so the names created in it are durable. */
async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
