/**
 * The header of a snapshot file: what the file claims to be, and checksums to prove it.
 *
 * Layout (format version 1), big-endian, 44 bytes, followed by the body (the state machine's
 * serialized snapshot):
 *   8 bytes magic "FSRSNAP\0" | u32 version (= 1) | u64 index | u64 term | u64 bodyBytes |
 *   u32 crc32c of the body | u32 crc32c of the 40 header bytes before it
 *
 * The same bytes, header included, are what a leader streams to a follower (InstallSnapshot), so
 * a snapshot is checked end to end: on the disk that wrote it, over the network, and on the disk
 * that received it. The header has its own checksum so a damaged length or index is never
 * believed before the body is read.
 *
 * Pure: no Node APIs, no Buffer.
 */
import { assert } from '../util/assert.js';
import type { LogIndex, Term } from '../util/types.js';
import { dataViewOf, isU32, isU64, readU64, writeU64 } from '../util/binary.js';
import { crc32c } from '../util/crc32.js';
import type { DecodeRecordResult } from './log_entry_codec.js';

/** The version field of snapshot files; bumped when the header layout changes incompatibly. */
export const snapshotFileFormatVersion = 1;

/** Bytes of the header at the start of every snapshot file. */
export const snapshotHeaderBytes = 44;

const magic = Uint8Array.of(0x46, 0x53, 0x52, 0x53, 0x4e, 0x41, 0x50, 0x00); // "FSRSNAP\0"

/** What a snapshot file's header says about its body. */
export interface SnapshotHeader {
  /** The log index the snapshot was taken at (every entry up to it is in it). */
  readonly index: LogIndex;
  /** The term of the entry at `index`. */
  readonly term: Term;
  readonly bodyBytes: number;
  /** CRC-32C of the body. */
  readonly bodyCrc: number;
}

/** Encodes a header; asserts that its fields are in range. */
export function encodeSnapshotHeader(header: SnapshotHeader): Uint8Array {
  assert(isU64(header.index) && header.index > 0, `snapshot index ${header.index} must be a positive u64`);
  assert(isU64(header.term) && isU64(header.bodyBytes) && isU32(header.bodyCrc), 'snapshot header fields out of range');
  const bytes = new Uint8Array(snapshotHeaderBytes);
  const view = dataViewOf(bytes);
  bytes.set(magic, 0);
  view.setUint32(8, snapshotFileFormatVersion);
  writeU64(view, 12, header.index);
  writeU64(view, 20, header.term);
  writeU64(view, 28, header.bodyBytes);
  view.setUint32(36, header.bodyCrc);
  view.setUint32(40, crc32c(bytes.subarray(0, 40)));
  return bytes;
}

/**
 * Decodes the header at the start of `bytes` (which may be longer). Errors say which of:
 * truncated, not a snapshot file, header checksum, version, fields out of range. Never throws.
 */
export function decodeSnapshotHeader(bytes: Uint8Array): DecodeRecordResult<SnapshotHeader> {
  const fail = (error: string): DecodeRecordResult<SnapshotHeader> => ({ ok: false, error });
  if (bytes.length < snapshotHeaderBytes) return fail(`truncated snapshot header: ${bytes.length} of ${snapshotHeaderBytes} bytes`);
  if (!magic.every((byte, k) => bytes[k] === byte)) return fail('not a snapshot file (bad magic)');
  const view = dataViewOf(bytes);
  const stored = view.getUint32(40);
  const computed = crc32c(bytes.subarray(0, 40));
  if (stored !== computed) return fail(`snapshot header checksum mismatch: stored ${hex32(stored)}, computed ${hex32(computed)}`);
  const version = view.getUint32(8);
  if (version !== snapshotFileFormatVersion) return fail(`unknown snapshot format version ${version}`);
  const index = readU64(view, 12);
  const term = readU64(view, 20);
  const bodyBytes = readU64(view, 28);
  if (index < 1 || term < 0 || bodyBytes < 0) return fail('snapshot header field out of range');
  return { ok: true, value: { index, term, bodyBytes, bodyCrc: view.getUint32(36) } };
}

/** `0x` and eight hex digits, for checksum messages. */
export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
