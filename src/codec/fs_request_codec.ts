/**
 * FsRequest <-> bytes: the payload of a Raft log entry. Every replica decodes the same bytes into
 * the same request, so the layout is fixed and versioned, and decoding never throws: a corrupt or
 * foreign entry becomes an error value the driver can report instead of a crash loop.
 *
 * Layout (little-endian):
 *   u8  formatVersion (= 1)
 *   u8  op            (1 write, 2 cas, 3 delete; the tree commands: 11 create, 12 mkdir, 13 rmdir,
 *                      14 rename, 15 truncate, 16 writeat, 17 setattr (ms times, read only),
 *                      18 link, 19 symlink, 20 mknod, 21 setxattr, 22 removexattr, 23 fallocate,
 *                      24 hold, 25 reap, 26 setattr (ns times), 27 create with an owner, 28 mkdir
 *                      with an owner, 29 rename with a mode)
 *   f64 clientId      (non-negative safe integer)
 *   f64 sequence      (non-negative safe integer)
 *   f64 stampMs       (finite)
 *   u32 nameBytes, then the name in UTF-8
 *   then per op:
 *     write     f64 exptimeSeconds (finite integer), u32 contentBytes, content
 *     cas       f64 version, f64 exptimeSeconds, u32 contentBytes, content
 *     delete    nothing
 *     create    f64 mode, u8 exclusive (0 or 1); (27) then an owner
 *     mkdir     f64 mode; (28) then an owner
 *     rmdir     nothing
 *     rename    u32 toBytes, then the target name in UTF-8; (29) then u8 mode (0 replace,
 *               1 noreplace, 2 exchange), f64 ifVersion (-1: none)
 *     truncate  f64 size
 *     writeat   f64 offset (-1 = append), u32 contentBytes, content
 *     setattr   (17) u8 mask (bit 0 mode, 1 uid, 2 gid, 3 atimeMs, 4 mtimeMs), then one f64 per set bit
 *     setattr   (26) u16 mask (bit 0 mode, 1 uid, 2 gid, 3 size, 4 atime, 5 mtime, 6 atime now,
 *               7 mtime now, 8 exptime), then per set bit of 0-3 and 8 one f64, of 4-5 a time
 *     link      u32 toBytes, then the new name in UTF-8
 *     symlink   u32 targetBytes, target, u8 owner present (0 or 1) [, owner]
 *     mknod     u8 kind (4 fifo, 5 socket, 6 chr, 7 blk), f64 mode, f64 rdev, u8 owner present [, owner]
 *     setxattr  u32 + attribute name in UTF-8, u32 valueBytes, value, u8 mode (0 any, 1 create, 2 replace)
 *     removexattr  u32 + attribute name in UTF-8
 *     fallocate f64 offset, f64 length, u8 flags (bit 0 punch hole, bit 1 keep size)
 *     hold      f64 holder, u8 delta (1: +1, 2: -1, 0: renew the lease only)
 *     reap      u32 n, n x (f64 ino, f64 expiresAtMs); u32 n, n x f64 ino; u32 n, n x f64 holder
 *   owner: f64 uid, f64 gid (absent: root); a time: f64 seconds, f64 nanoseconds
 * Integers travel as float64 because clientId and sequence may reach 2^53, beyond u32.
 * New commands and new fields of old commands came as new op codes of format 1, so entries
 * written before them decode exactly as they always did, and no proper prefix of an encoding is
 * itself a valid request.
 */
import { validatePath } from '../fs/names.js';
import type { FsRequest } from '../fs/types.js';
import { decodeCommand } from './fs_request_decoder.js';
import { assertEncodable, encodeBody } from './fs_request_encoder.js';
import { encoder, opCodeOf, opsByCode, rootAllowed } from './fs_request_format.js';
import { isCount, Reader, Writer } from './fs_request_io.js';

/** The layout version written in byte 0; bump it when the layout of existing ops changes. */
export const fsRequestFormatVersion = 1;

/** The decoder's answer: a request, or why the bytes are not one. */
export type FsRequestDecodeResult =
  | { readonly ok: true; readonly request: FsRequest }
  | { readonly ok: false; readonly error: string };

/**
 * Encodes a request for the log. The request must be well formed (the leader built it from a
 * parsed command); a malformed one is a bug and fails an assertion rather than being written
 * into the replicated log where every replica would trip over it.
 */
export function encodeFsRequest(request: FsRequest): Uint8Array {
  assertEncodable(request);
  const command = request.command;
  const writer = new Writer();
  writer.u8(fsRequestFormatVersion);
  writer.u8(opCodeOf(command));
  writer.f64(request.clientId);
  writer.f64(request.sequence);
  writer.f64(request.stampMs);
  writer.bytes(encoder.encode(command.name));
  encodeBody(writer, command);
  return writer.finish();
}

/**
 * Decodes a log payload. Never throws: truncated, oversized or garbage input yields ok:false.
 * The returned content is a view into `bytes` (no copy); the state machine copies what it keeps.
 */
export function decodeFsRequest(bytes: Uint8Array): FsRequestDecodeResult {
  const reader = new Reader(bytes);
  const formatVersion = reader.u8();
  if (formatVersion === undefined) return failure('empty fs request');
  if (formatVersion !== fsRequestFormatVersion) return failure(`unknown fs request format ${formatVersion}`);
  const opCode = reader.u8();
  const clientId = reader.f64();
  const sequence = reader.f64();
  const stampMs = reader.f64();
  const name = reader.utf8();
  if (name === undefined || stampMs === undefined) return failure(reader.error ?? 'truncated fs request');
  if (!isCount(clientId) || !isCount(sequence)) return failure('clientId/sequence not a safe non-negative integer');
  if (!Number.isFinite(stampMs)) return failure('stampMs not finite');
  const op = opCode === undefined ? undefined : opsByCode.get(opCode);
  if (op === undefined) return failure(`unknown fs op ${String(opCode)}`);
  const nameError = validatePath(name, rootAllowed(op));
  if (nameError !== null) return failure(`invalid name: ${nameError}`);
  const command = decodeCommand(reader, op, name, opCode!);
  if (typeof command === 'string') return failure(command);
  if (command === undefined) return failure(reader.error ?? 'truncated fs request');
  if (!reader.atEnd()) return failure('trailing bytes after fs request');
  return { ok: true, request: { clientId, sequence, stampMs, command } };
}

function failure(error: string): FsRequestDecodeResult {
  return { ok: false, error };
}

/** The format byte of a log payload that carries several requests, applied in order. */
export const fsBatchFormat = 2;

/** Encodes already-encoded requests as one log payload: u8 2 | u32 count | (u32 length | request)*. */
export function encodeFsBatch(requests: readonly Uint8Array[]): Uint8Array {
  let bytes = 5;
  for (const request of requests) bytes += 4 + request.length;
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  out[0] = fsBatchFormat;
  view.setUint32(1, requests.length, true);
  let offset = 5;
  for (const request of requests) {
    view.setUint32(offset, request.length, true);
    out.set(request, offset + 4);
    offset += 4 + request.length;
  }
  return out;
}

/** The requests of a log payload: one (format 1) or several (format 2). Never throws. */
export type FsEntryDecodeResult = { readonly ok: true; readonly requests: readonly FsRequest[] } | { readonly ok: false; readonly error: string };

export function decodeFsEntry(bytes: Uint8Array): FsEntryDecodeResult {
  if (bytes[0] !== fsBatchFormat) {
    const single = decodeFsRequest(bytes);
    return single.ok ? { ok: true, requests: [single.request] } : single;
  }
  if (bytes.length < 5) return { ok: false, error: 'truncated fs batch' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(1, true);
  const requests: FsRequest[] = [];
  let offset = 5;
  for (let k = 0; k < count; k++) {
    if (offset + 4 > bytes.length) return { ok: false, error: 'truncated fs batch' };
    const length = view.getUint32(offset, true);
    if (length > bytes.length - offset - 4) return { ok: false, error: 'truncated fs batch' };
    const decoded = decodeFsRequest(bytes.subarray(offset + 4, offset + 4 + length));
    if (!decoded.ok) return { ok: false, error: `request ${k} of the batch: ${decoded.error}` };
    requests.push(decoded.request);
    offset += 4 + length;
  }
  if (offset !== bytes.length) return { ok: false, error: 'trailing bytes after the fs batch' };
  return { ok: true, requests };
}
