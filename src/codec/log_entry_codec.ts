/**
 * How one log entry and the hard state are stored on disk, each as a self-checking record.
 *
 * Entry record (format version 1), big-endian:
 *   u32 crc32c of every following byte | u8 version (= 1) | u8 kind (= 1, entry) |
 *   u8 entry type | u64 index | u64 term | data (the rest of the record)
 * Hard state record (format version 1):
 *   u32 crc32c of every following byte | u8 version (= 1) | u8 kind (= 2, hard state) |
 *   u64 currentTerm | u32 votedFor
 * Snapshot record (format version 1): the latest snapshot and where the stored log starts:
 *   u32 crc32c of every following byte | u8 version (= 1) | u8 kind (= 3, snapshot) |
 *   u64 snapshot index | u64 snapshot term | u64 snapshot file bytes | u64 base index | u64 base term
 * Segment entry reference (format version 1): an entry record kept in a segment file instead
 * (level_storage.ts, large entries):
 *   u32 crc32c of every following byte | u8 version (= 1) | u8 kind (= 4, segment entry) |
 *   u64 index | u32 segment number | u64 offset in the segment | u32 length of the entry record
 *
 * Why a checksum on top of LevelDB's own: LevelDB verifies its blocks only when asked
 * (`verify_checksums` is off for ordinary reads), and a record written by a buggy or older
 * version, or copied under the wrong key, passes its checks. Without ours, a flipped bit in a
 * stored term would be served to a follower as committed history. The index is stored inside
 * the record and compared with the index the caller expects (taken from the key), so a value
 * under the wrong key is caught too; the kind byte keeps one record type from passing as another.
 *
 * ALIASING: a decoded entry's `data` is a subarray view of the input record, not a copy.
 *
 * Pure: no Node APIs, no Buffer.
 */
import { EntryType } from '../raft/types.js';
import type { HardState, LogBase, LogEntry, SnapshotMeta } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { asLogIndex, asNodeId, asTerm, type LogIndex } from '../util/types.js';
import { dataViewOf, isU32, isU64, readU64, writeU64 } from '../util/binary.js';
import { crc32c } from '../util/crc32.js';

/** The version byte of stored records; bumped when their layout changes incompatibly. */
export const storageRecordFormatVersion = 1;

const kindEntry = 1;
const kindHardState = 2;
const kindSnapshot = 3;
const kindSegmentEntry = 4;
const segmentEntryRefBytes = 30;
const snapshotRecordBytes = 46;
const checksumBytes = 4;
const entryHeaderBytes = 23;
const hardStateBytes = 18;

/** The result of decoding a stored record: the value, or a reason naming what is wrong. */
export type DecodeRecordResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Encodes `entry` as a checksummed record. Asserts that its fields are in range. */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  assert(isU64(entry.index) && entry.index > 0, `log entry index ${entry.index} must be a positive u64`);
  assert(isU64(entry.term), `log entry ${entry.index}: term ${entry.term} must be u64`);
  assert(entry.type === EntryType.Command || entry.type === EntryType.Noop, `log entry ${entry.index}: unknown type`);
  return sealedRecord(entryHeaderBytes + entry.data.length, kindEntry, (view, bytes) => {
    view.setUint8(6, entry.type);
    writeU64(view, 7, entry.index);
    writeU64(view, 15, entry.term);
    bytes.set(entry.data, entryHeaderBytes);
  });
}

/**
 * Decodes a stored entry record and checks that it is the entry at `expectedIndex`. Errors say
 * which of: truncated, checksum mismatch, unknown version/kind/type, wrong index. Never throws.
 */
export function decodeLogEntry(bytes: Uint8Array, expectedIndex: LogIndex): DecodeRecordResult<LogEntry> {
  const header = recordHeaderProblem(bytes, entryHeaderBytes, kindEntry, 'log entry');
  if (header !== null) return { ok: false, error: header };
  const view = dataViewOf(bytes);
  const type = view.getUint8(6);
  const index = readU64(view, 7);
  const term = readU64(view, 15);
  if (type !== EntryType.Command && type !== EntryType.Noop) return { ok: false, error: `unknown entry type ${type}` };
  if (index !== expectedIndex) return { ok: false, error: `wrong index: record holds ${index}, expected ${expectedIndex}` };
  if (term < 0) return { ok: false, error: 'term exceeds 2^53-1' };
  return { ok: true, value: { index: asLogIndex(index), term: asTerm(term), type: type as EntryType, data: bytes.subarray(entryHeaderBytes) } };
}

/** Where a log entry record stored outside LevelDB lies: a segment file's number, an offset and a length. */
export interface SegmentEntryRef {
  readonly index: LogIndex;
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

/** True if a stored entry value is a reference to a segment file rather than the entry itself. */
export function isSegmentEntryRef(bytes: Uint8Array): boolean {
  return bytes.length === segmentEntryRefBytes && bytes[5] === kindSegmentEntry;
}

/** Encodes a reference to an entry record in a segment file. Asserts that its fields are in range. */
export function encodeSegmentEntryRef(ref: SegmentEntryRef): Uint8Array {
  assert(isU64(ref.index) && ref.index > 0 && isU32(ref.segment) && isU64(ref.offset) && isU32(ref.length), 'segment entry reference fields out of range');
  return sealedRecord(segmentEntryRefBytes, kindSegmentEntry, (view) => {
    writeU64(view, 6, ref.index);
    view.setUint32(14, ref.segment);
    writeU64(view, 18, ref.offset);
    view.setUint32(26, ref.length);
  });
}

/** Decodes a segment entry reference and checks that it names `expectedIndex`. Never throws. */
export function decodeSegmentEntryRef(bytes: Uint8Array, expectedIndex: LogIndex): DecodeRecordResult<SegmentEntryRef> {
  const header = recordHeaderProblem(bytes, segmentEntryRefBytes, kindSegmentEntry, 'segment entry reference');
  if (header !== null) return { ok: false, error: header };
  const view = dataViewOf(bytes);
  const index = readU64(view, 6);
  const offset = readU64(view, 18);
  if (index !== expectedIndex) return { ok: false, error: `wrong index: reference names ${index}, expected ${expectedIndex}` };
  if (offset < 0) return { ok: false, error: 'segment offset exceeds 2^53-1' };
  return { ok: true, value: { index: asLogIndex(index), segment: view.getUint32(14), offset, length: view.getUint32(26) } };
}

/** Encodes the hard state as a checksummed record. Asserts that its fields are in range. */
export function encodeHardState(hardState: HardState): Uint8Array {
  assert(isU64(hardState.currentTerm), `hard state currentTerm ${hardState.currentTerm} must be u64`);
  assert(isU32(hardState.votedFor), `hard state votedFor ${hardState.votedFor} must be a node id or 0`);
  return sealedRecord(hardStateBytes, kindHardState, (view) => {
    writeU64(view, 6, hardState.currentTerm);
    view.setUint32(14, hardState.votedFor);
  });
}

/** Decodes a stored hard state record. Never throws. */
export function decodeHardState(bytes: Uint8Array): DecodeRecordResult<HardState> {
  const header = recordHeaderProblem(bytes, hardStateBytes, kindHardState, 'hard state');
  if (header !== null) return { ok: false, error: header };
  if (bytes.length !== hardStateBytes) {
    return { ok: false, error: `hard state record of ${bytes.length} bytes, expected ${hardStateBytes}` };
  }
  const view = dataViewOf(bytes);
  const currentTerm = readU64(view, 6);
  const votedFor = view.getUint32(14);
  if (currentTerm < 0) return { ok: false, error: 'currentTerm exceeds 2^53-1' };
  return { ok: true, value: { currentTerm: asTerm(currentTerm), votedFor: asNodeId(votedFor) } };
}

/** The stored snapshot record: the latest durable snapshot, and the log's base after compaction. */
export interface SnapshotRecord {
  readonly snapshot: SnapshotMeta;
  readonly base: LogBase;
}

/** Encodes the snapshot record; asserts that its fields are in range and base <= snapshot. */
export function encodeSnapshotRecord(record: SnapshotRecord): Uint8Array {
  const { snapshot, base } = record;
  assert([snapshot.index, snapshot.term, snapshot.bytes, base.index, base.term].every(isU64), 'snapshot record fields must be u64');
  assert(base.index <= snapshot.index, `log base ${base.index} beyond snapshot ${snapshot.index}`);
  return sealedRecord(snapshotRecordBytes, kindSnapshot, (view) => {
    writeU64(view, 6, snapshot.index);
    writeU64(view, 14, snapshot.term);
    writeU64(view, 22, snapshot.bytes);
    writeU64(view, 30, base.index);
    writeU64(view, 38, base.term);
  });
}

/** Decodes a stored snapshot record. Never throws. */
export function decodeSnapshotRecord(bytes: Uint8Array): DecodeRecordResult<SnapshotRecord> {
  const header = recordHeaderProblem(bytes, snapshotRecordBytes, kindSnapshot, 'snapshot');
  if (header !== null) return { ok: false, error: header };
  if (bytes.length !== snapshotRecordBytes) return { ok: false, error: `snapshot record of ${bytes.length} bytes, expected ${snapshotRecordBytes}` };
  const view = dataViewOf(bytes);
  const fields = [6, 14, 22, 30, 38].map((offset) => readU64(view, offset));
  if (fields.some((field) => field < 0)) return { ok: false, error: 'snapshot record field exceeds 2^53-1' };
  const [index, term, fileBytes, baseIndex, baseTerm] = fields as [number, number, number, number, number];
  if (baseIndex > index) return { ok: false, error: `log base ${baseIndex} beyond snapshot index ${index}` };
  return { ok: true, value: { snapshot: { index: asLogIndex(index), term: asTerm(term), bytes: fileBytes }, base: { index: asLogIndex(baseIndex), term: asTerm(baseTerm) } } };
}

/** A record of `length` bytes of `kind`: `fill` writes the fields after the kind byte, then the checksum is set. */
function sealedRecord(length: number, kind: number, fill: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = new Uint8Array(length);
  const view = dataViewOf(bytes);
  view.setUint8(4, storageRecordFormatVersion);
  view.setUint8(5, kind);
  fill(view, bytes);
  view.setUint32(0, crc32c(bytes.subarray(checksumBytes)));
  return bytes;
}

/** Checks length, checksum, version and kind, in that order, so the first failure is reported. */
function recordHeaderProblem(bytes: Uint8Array, minimumBytes: number, kind: number, name: string): string | null {
  if (bytes.length < minimumBytes) return `truncated ${name} record: ${bytes.length} of at least ${minimumBytes} bytes`;
  const view = dataViewOf(bytes);
  const stored = view.getUint32(0);
  const computed = crc32c(bytes.subarray(checksumBytes));
  if (stored !== computed) {
    return `checksum mismatch in ${name} record: stored ${hex32(stored)}, computed ${hex32(computed)}`;
  }
  const version = view.getUint8(4);
  if (version !== storageRecordFormatVersion) return `unknown ${name} record format version ${version}`;
  const recordKind = view.getUint8(5);
  if (recordKind !== kind) return `record of kind ${recordKind} where a ${name} (kind ${kind}) was expected`;
  return null;
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
