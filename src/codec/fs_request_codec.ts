/**
 * FsRequest <-> bytes: the payload of a Raft log entry. Every replica decodes the same bytes into
 * the same request, so the layout is fixed and versioned, and decoding never throws: a corrupt or
 * foreign entry becomes an error value the driver can report instead of a crash loop.
 *
 * Layout (little-endian):
 *   u8  formatVersion (= 1)
 *   u8  op            (1 write, 2 cas, 3 delete; the tree commands: 11 create, 12 mkdir, 13 rmdir,
 *                      14 rename, 15 truncate, 16 writeat, 17 setattr)
 *   f64 clientId      (non-negative safe integer)
 *   f64 sequence      (non-negative safe integer)
 *   f64 stampMs       (finite)
 *   u32 nameBytes, then the name in UTF-8
 *   then per op:
 *     write     f64 exptimeSeconds (finite integer), u32 contentBytes, content
 *     cas       f64 version, f64 exptimeSeconds, u32 contentBytes, content
 *     delete    nothing
 *     create    f64 mode, u8 exclusive (0 or 1)
 *     mkdir     f64 mode
 *     rmdir     nothing
 *     rename    u32 toBytes, then the target name in UTF-8
 *     truncate  f64 size
 *     writeat   f64 offset (-1 = append), u32 contentBytes, content
 *     setattr   u8 mask (bit 0 mode, 1 uid, 2 gid, 3 atimeMs, 4 mtimeMs), then one f64 per set bit
 * Integers travel as float64 because clientId and sequence may reach 2^53, beyond u32.
 * The tree commands were added as new op codes of format 1, so entries written before them
 * decode exactly as they always did.
 */
import { assert } from '../util/assert.js';
import { validatePath } from '../fs/names.js';
import type { FsCommand, FsCommandOp, FsRequest } from '../fs/types.js';

/** The layout version written in byte 0; bump it when the layout of existing ops changes. */
export const fsRequestFormatVersion = 1;

const opCodes: Readonly<Record<FsCommandOp, number>> = {
  write: 1,
  cas: 2,
  delete: 3,
  create: 11,
  mkdir: 12,
  rmdir: 13,
  rename: 14,
  truncate: 15,
  writeat: 16,
  setattr: 17,
};
const opsByCode = new Map<number, FsCommandOp>(Object.entries(opCodes).map(([op, code]) => [code, op as FsCommandOp]));
const setattrFields = ['mode', 'uid', 'gid', 'atimeMs', 'mtimeMs'] as const;
const headerBytes = 1 + 1 + 8 + 8 + 8 + 4;
const u32Max = 0xffffffff;

const encoder = new TextEncoder();
// fatal: a name that is not valid UTF-8 must be refused, not silently altered with U+FFFD.
// ignoreBOM: otherwise a name starting with U+FEFF would lose that character on decode.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
  writer.u8(opCodes[command.op]);
  writer.f64(request.clientId);
  writer.f64(request.sequence);
  writer.f64(request.stampMs);
  writer.bytes(encoder.encode(command.name));
  encodeBody(writer, command);
  return writer.finish();
}

function encodeBody(writer: Writer, command: FsCommand): void {
  switch (command.op) {
    case 'write':
    case 'cas':
      // cas is write's layout with its version in front.
      if (command.op === 'cas') writer.f64(command.version);
      writer.f64(command.exptimeSeconds);
      writer.bytes(command.content);
      return;
    case 'create':
      writer.f64(command.mode);
      writer.u8(command.exclusive ? 1 : 0);
      return;
    case 'mkdir':
      writer.f64(command.mode);
      return;
    case 'rename':
      writer.bytes(encoder.encode(command.to));
      return;
    case 'truncate':
      writer.f64(command.size);
      return;
    case 'writeat':
      writer.f64(command.offset);
      writer.bytes(command.content);
      return;
    case 'setattr': {
      const present = setattrFields.filter((field) => command[field] !== undefined);
      writer.u8(present.reduce((mask, field) => mask | (1 << setattrFields.indexOf(field)), 0));
      for (const field of present) writer.f64(command[field] ?? 0);
      return;
    }
    case 'delete':
    case 'rmdir':
      return;
  }
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
  const command = decodeCommand(reader, op, name);
  if (typeof command === 'string') return failure(command);
  if (command === undefined) return failure(reader.error ?? 'truncated fs request');
  if (!reader.atEnd()) return failure('trailing bytes after fs request');
  return { ok: true, request: { clientId, sequence, stampMs, command } };
}

/** The command, undefined when the bytes ran out, or why a field is invalid. */
function decodeCommand(reader: Reader, op: FsCommandOp, name: string): FsCommand | string | undefined {
  switch (op) {
    case 'delete':
    case 'rmdir':
      return { op, name };
    case 'write':
    case 'cas':
      return decodeContentCommand(reader, op, name);
    case 'create': {
      const mode = reader.f64();
      const exclusive = reader.u8();
      if (mode === undefined || exclusive === undefined) return undefined;
      if (!isCount(mode)) return 'create mode not a safe non-negative integer';
      if (exclusive > 1) return 'create exclusive flag not 0 or 1';
      return { op, name, mode, exclusive: exclusive === 1 };
    }
    case 'mkdir': {
      const mode = reader.f64();
      if (mode === undefined) return undefined;
      return isCount(mode) ? { op, name, mode } : 'mkdir mode not a safe non-negative integer';
    }
    case 'rename': {
      const to = reader.utf8();
      if (to === undefined) return undefined;
      const toError = validatePath(to, true);
      return toError === null ? { op, name, to } : `invalid rename target: ${toError}`;
    }
    case 'truncate': {
      const size = reader.f64();
      if (size === undefined) return undefined;
      return isCount(size) ? { op, name, size } : 'truncate size not a safe non-negative integer';
    }
    case 'writeat': {
      const offset = reader.f64();
      const content = reader.bytes();
      if (offset === undefined || content === undefined) return undefined;
      return isCount(offset) || offset === -1 ? { op, name, offset, content } : 'writeat offset not -1 or a safe non-negative integer';
    }
    case 'setattr':
      return decodeSetattr(reader, name);
  }
}

function decodeContentCommand(reader: Reader, op: 'write' | 'cas', name: string): FsCommand | string | undefined {
  const version = op === 'cas' ? reader.f64() : 0;
  const exptimeSeconds = reader.f64();
  const content = reader.bytes();
  if (version === undefined || exptimeSeconds === undefined || content === undefined) return undefined;
  if (!isCount(version)) return 'cas version not a safe non-negative integer';
  if (!Number.isSafeInteger(exptimeSeconds)) return 'exptimeSeconds not a safe integer';
  if (op === 'write') return { op: 'write', name, content, exptimeSeconds };
  return { op: 'cas', name, version, content, exptimeSeconds };
}

function decodeSetattr(reader: Reader, name: string): FsCommand | string | undefined {
  const mask = reader.u8();
  if (mask === undefined) return undefined;
  if (mask >= 1 << setattrFields.length) return `setattr mask ${mask} has unknown bits`;
  const values: Record<(typeof setattrFields)[number], number | undefined> = { mode: undefined, uid: undefined, gid: undefined, atimeMs: undefined, mtimeMs: undefined };
  for (const [bit, field] of setattrFields.entries()) {
    if ((mask & (1 << bit)) === 0) continue;
    const value = reader.f64();
    if (value === undefined) return undefined;
    if (!isCount(value)) return `setattr ${field} not a safe non-negative integer`;
    values[field] = value;
  }
  return { op: 'setattr', name, ...values };
}

/**
 * Only course write and cas keep refusing the root outright, as they always did; the others carry
 * it so the state machine can answer ERR_INVALID (or, for setattr, change the root).
 */
function rootAllowed(op: FsCommandOp): boolean {
  return op !== 'write' && op !== 'cas';
}

/** The scratch buffer encodings are built in; it grows to the largest request up to this size. */
const scratchBytesMax = 1024 * 1024;
let scratch: Uint8Array = new Uint8Array(64 * 1024);
let scratchView: DataView = new DataView(scratch.buffer);

/**
 * Appends fields to a scratch buffer shared by all encodings (encoding is synchronous, so one is
 * enough) and copies the result out once: one allocation per request instead of one per field.
 * A request larger than scratchBytesMax gets a buffer of its own, so one huge write does not pin
 * its size in memory for good.
 */
class Writer {
  private buffer: Uint8Array = scratch;
  private view: DataView = scratchView;
  private length = 0;

  u8(value: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
  }

  f64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** A u32 length then the bytes. */
  bytes(value: Uint8Array): void {
    assert(value.length <= u32Max, 'fs request field too long');
    this.reserve(4 + value.length);
    this.view.setUint32(this.length, value.length, true);
    this.buffer.set(value, this.length + 4);
    this.length += 4 + value.length;
  }

  finish(): Uint8Array {
    assert(this.length >= headerBytes, 'fs request shorter than its header');
    return this.buffer.slice(0, this.length);
  }

  private reserve(more: number): void {
    const needed = this.length + more;
    if (needed <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.buffer.length * 2));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
    if (grown.length <= scratchBytesMax) {
      scratch = grown;
      scratchView = this.view;
    }
  }
}

/** A bounds-checked cursor: every read returns undefined instead of running off the end. */
class Reader {
  private offset = 0;
  private readonly view: DataView;
  /** Why the last read failed, when it was not plain truncation. */
  error: string | undefined;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  atEnd(): boolean {
    return this.offset === this.data.length;
  }

  u8(): number | undefined {
    if (this.offset + 1 > this.data.length) return undefined;
    return this.view.getUint8(this.offset++);
  }

  f64(): number | undefined {
    if (this.offset + 8 > this.data.length) return undefined;
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** A u32 length then that many bytes, as a view into the input. */
  bytes(): Uint8Array | undefined {
    if (this.offset + 4 > this.data.length) return undefined;
    const length = this.view.getUint32(this.offset, true);
    // Compare before slicing: a garbage length must not be trusted to size anything.
    if (length > this.data.length - this.offset - 4) return undefined;
    const start = this.offset + 4;
    this.offset = start + length;
    return this.data.subarray(start, start + length);
  }

  utf8(): string | undefined {
    const raw = this.bytes();
    if (raw === undefined) return undefined;
    try {
      return decoder.decode(raw);
    } catch {
      this.error = 'name is not valid UTF-8';
      return undefined;
    }
  }
}

function isCount(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0;
}

function failure(error: string): FsRequestDecodeResult {
  return { ok: false, error };
}

function assertEncodable(request: FsRequest): void {
  assert(isCount(request.clientId), `fs request clientId ${request.clientId} not encodable`);
  assert(isCount(request.sequence), `fs request sequence ${request.sequence} not encodable`);
  assert(Number.isFinite(request.stampMs), `fs request stampMs ${request.stampMs} not encodable`);
  const command = request.command;
  const nameError = validatePath(command.name, rootAllowed(command.op));
  assert(nameError === null, `fs request name not encodable: ${nameError ?? ''}`);
  // Decoding checks every field; encoding through it proves the bytes are ones every replica accepts.
  switch (command.op) {
    case 'cas':
      assert(isCount(command.version), `cas version ${command.version} not encodable`);
      assert(Number.isSafeInteger(command.exptimeSeconds), `exptimeSeconds ${command.exptimeSeconds} not encodable`);
      return;
    case 'write':
      assert(Number.isSafeInteger(command.exptimeSeconds), `exptimeSeconds ${command.exptimeSeconds} not encodable`);
      return;
    case 'create':
    case 'mkdir':
      assert(isCount(command.mode), `${command.op} mode ${command.mode} not encodable`);
      return;
    case 'rename':
      assert(validatePath(command.to, true) === null, 'rename target not encodable');
      return;
    case 'truncate':
      assert(isCount(command.size), `truncate size ${command.size} not encodable`);
      return;
    case 'writeat':
      assert(isCount(command.offset) || command.offset === -1, `writeat offset ${command.offset} not encodable`);
      return;
    case 'setattr':
      for (const field of setattrFields) {
        const value = command[field];
        assert(value === undefined || isCount(value), `setattr ${field} ${String(value)} not encodable`);
      }
      return;
    case 'delete':
    case 'rmdir':
      return;
  }
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
