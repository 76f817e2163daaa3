/**
 * FsRequest <-> bytes: the payload of a Raft log entry. Every replica decodes the same bytes into
 * the same request, so the layout is fixed and versioned, and decoding never throws: a corrupt or
 * foreign entry becomes an error value the driver can report instead of a crash loop.
 *
 * Layout (little-endian):
 *   u8  formatVersion (= 1)
 *   u8  op            (1 write, 2 cas, 3 delete)
 *   f64 clientId      (non-negative safe integer)
 *   f64 sequence      (non-negative safe integer)
 *   f64 stampMs       (finite)
 *   u32 nameBytes, then the name in UTF-8
 *   cas only:          f64 version (non-negative safe integer)
 *   write and cas:     f64 exptimeSeconds (finite integer), u32 contentBytes, then the content
 * Integers travel as float64 because clientId and sequence may reach 2^53, beyond u32.
 */
import { assert } from '../util/assert.js';
import { validateName } from '../fs/names.js';
import type { FsCommand, FsRequest } from '../fs/types.js';

/** The layout version written in byte 0; bump it when the layout changes. */
export const fsRequestFormatVersion = 1;

const opWrite = 1;
const opCas = 2;
const opDelete = 3;
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
  const name = encoder.encode(command.name);
  const content = command.op === 'delete' ? undefined : command.content;
  assert(name.length <= u32Max && (content?.length ?? 0) <= u32Max, 'fs request field too long');
  const total = headerBytes + name.length + bodyBytes(command);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, fsRequestFormatVersion);
  view.setUint8(1, opCode(command));
  view.setFloat64(2, request.clientId, true);
  view.setFloat64(10, request.sequence, true);
  view.setFloat64(18, request.stampMs, true);
  view.setUint32(26, name.length, true);
  bytes.set(name, headerBytes);
  let offset = headerBytes + name.length;
  if (command.op === 'cas') {
    view.setFloat64(offset, command.version, true);
    offset += 8;
  }
  if (command.op !== 'delete') {
    view.setFloat64(offset, command.exptimeSeconds, true);
    view.setUint32(offset + 8, command.content.length, true);
    bytes.set(command.content, offset + 12);
    offset += 12 + command.content.length;
  }
  assert(offset === total, 'fs request encoding length mismatch');
  return bytes;
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
  const op = reader.u8();
  const clientId = reader.f64();
  const sequence = reader.f64();
  const stampMs = reader.f64();
  const name = reader.utf8();
  if (name === undefined || stampMs === undefined) return failure(reader.error ?? 'truncated fs request');
  if (!isCount(clientId) || !isCount(sequence)) return failure('clientId/sequence not a safe non-negative integer');
  if (!Number.isFinite(stampMs)) return failure('stampMs not finite');
  const nameError = validateName(name);
  if (nameError !== null) return failure(`invalid name: ${nameError}`);
  const command = decodeCommand(reader, op, name);
  if (typeof command === 'string') return failure(command);
  if (!reader.atEnd()) return failure('trailing bytes after fs request');
  return { ok: true, request: { clientId, sequence, stampMs, command } };
}

function decodeCommand(reader: Reader, op: number | undefined, name: string): FsCommand | string {
  if (op === opDelete) return { op: 'delete', name };
  if (op !== opWrite && op !== opCas) return `unknown fs op ${String(op)}`;
  const version = op === opCas ? reader.f64() : 0;
  const exptimeSeconds = reader.f64();
  const content = reader.bytes();
  if (version === undefined || exptimeSeconds === undefined || content === undefined) {
    return reader.error ?? 'truncated fs request';
  }
  if (!isCount(version)) return 'cas version not a safe non-negative integer';
  if (!Number.isSafeInteger(exptimeSeconds)) return 'exptimeSeconds not a safe integer';
  if (op === opWrite) return { op: 'write', name, content, exptimeSeconds };
  return { op: 'cas', name, version, content, exptimeSeconds };
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

function opCode(command: FsCommand): number {
  if (command.op === 'write') return opWrite;
  return command.op === 'cas' ? opCas : opDelete;
}

function bodyBytes(command: FsCommand): number {
  if (command.op === 'delete') return 0;
  return (command.op === 'cas' ? 8 : 0) + 8 + 4 + command.content.length;
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
  const nameError = validateName(command.name);
  assert(nameError === null, `fs request name not encodable: ${nameError ?? ''}`);
  if (command.op === 'cas') assert(isCount(command.version), `cas version ${command.version} not encodable`);
  if (command.op !== 'delete') {
    assert(Number.isSafeInteger(command.exptimeSeconds), `exptimeSeconds ${command.exptimeSeconds} not encodable`);
  }
}
