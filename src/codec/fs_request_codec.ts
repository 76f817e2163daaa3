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
import { assert } from '../util/assert.js';
import { validatePath } from '../fs/names.js';
import type { FsCommand, FsCommandOp, FsOwner, FsRequest, FsSpecialKind, RenameMode, Timespec, XattrSetMode } from '../fs/types.js';

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
  setattr: 26,
  link: 18,
  symlink: 19,
  mknod: 20,
  setxattr: 21,
  removexattr: 22,
  fallocate: 23,
  hold: 24,
  reap: 25,
};
/** The setattr layout of entries written before times had nanoseconds. */
const legacySetattrCode = 17;
/** The layouts of create, mkdir and rename with their newer fields. */
const createOwnedCode = 27;
const mkdirOwnedCode = 28;
const renameModeCode = 29;
const opsByCode = new Map<number, FsCommandOp>([
  ...Object.entries(opCodes).map(([op, code]) => [code, op as FsCommandOp] as const),
  [legacySetattrCode, 'setattr'],
  [createOwnedCode, 'create'],
  [mkdirOwnedCode, 'mkdir'],
  [renameModeCode, 'rename'],
]);

/** The op code a command is written with: the newer layout only when it carries the newer fields. */
function opCodeOf(command: FsCommand): number {
  if (command.op === 'create' && command.owner !== undefined) return createOwnedCode;
  if (command.op === 'mkdir' && command.owner !== undefined) return mkdirOwnedCode;
  if (command.op === 'rename' && (command.mode !== undefined || command.ifVersion !== undefined)) return renameModeCode;
  return opCodes[command.op];
}
const legacySetattrFields = ['mode', 'uid', 'gid', 'atimeMs', 'mtimeMs'] as const;
const setattrBits = { mode: 0, uid: 1, gid: 2, size: 3, atime: 4, mtime: 5, atimeNow: 6, mtimeNow: 7, exptime: 8 } as const;
const specialKindCodes: Readonly<Record<FsSpecialKind, number>> = { fifo: 4, socket: 5, chr: 6, blk: 7 };
const specialKinds = new Map<number, FsSpecialKind>(Object.entries(specialKindCodes).map(([kind, code]) => [code, kind as FsSpecialKind]));
const renameModes: readonly RenameMode[] = ['replace', 'noreplace', 'exchange'];
const xattrModes: readonly XattrSetMode[] = ['any', 'create', 'replace'];
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
  writer.u8(opCodeOf(command));
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
      if (command.owner !== undefined) writeOwner(writer, command.owner);
      return;
    case 'mkdir':
      writer.f64(command.mode);
      if (command.owner !== undefined) writeOwner(writer, command.owner);
      return;
    case 'rename':
      writer.bytes(encoder.encode(command.to));
      if (command.mode === undefined && command.ifVersion === undefined) return;
      writer.u8(renameModes.indexOf(command.mode ?? 'replace'));
      writer.f64(command.ifVersion ?? -1);
      return;
    case 'truncate':
      writer.f64(command.size);
      return;
    case 'writeat':
      writer.f64(command.offset);
      writer.bytes(command.content);
      return;
    case 'setattr':
      encodeSetattr(writer, command);
      return;
    case 'link':
      writer.bytes(encoder.encode(command.to));
      return;
    case 'symlink':
      writer.bytes(command.target);
      writeOptionalOwner(writer, command.owner);
      return;
    case 'mknod':
      writer.u8(specialKindCodes[command.kind]);
      writer.f64(command.mode);
      writer.f64(command.rdev);
      writeOptionalOwner(writer, command.owner);
      return;
    case 'setxattr':
      writer.bytes(encoder.encode(command.attr));
      writer.bytes(command.value);
      writer.u8(xattrModes.indexOf(command.mode));
      return;
    case 'removexattr':
      writer.bytes(encoder.encode(command.attr));
      return;
    case 'fallocate':
      writer.f64(command.offset);
      writer.f64(command.length);
      writer.u8((command.punch ? 1 : 0) | (command.keepSize ? 2 : 0));
      return;
    case 'hold':
      writer.f64(command.holder);
      writer.u8(command.delta === 1 ? 1 : command.delta === -1 ? 2 : 0);
      return;
    case 'reap':
      writer.u32(command.expired.length);
      for (const target of command.expired) {
        writer.f64(target.ino);
        writer.f64(target.expiresAtMs);
      }
      writer.u32(command.orphans.length);
      for (const ino of command.orphans) writer.f64(ino);
      writer.u32(command.holders.length);
      for (const holder of command.holders) writer.f64(holder);
      return;
    case 'delete':
    case 'rmdir':
      return;
  }
}

function writeOwner(writer: Writer, owner: FsOwner): void {
  writer.f64(owner.uid);
  writer.f64(owner.gid);
}

function writeOptionalOwner(writer: Writer, owner: FsOwner | undefined): void {
  writer.u8(owner === undefined ? 0 : 1);
  if (owner !== undefined) writeOwner(writer, owner);
}

function encodeSetattr(writer: Writer, command: Extract<FsCommand, { op: 'setattr' }>): void {
  const fields: Array<[keyof typeof setattrBits, number | Timespec | undefined]> = [
    ['mode', command.mode],
    ['uid', command.uid],
    ['gid', command.gid],
    ['size', command.size],
    ['atime', command.atime === 'now' ? undefined : command.atime],
    ['mtime', command.mtime === 'now' ? undefined : command.mtime],
    ['exptime', command.exptimeSeconds],
  ];
  let mask = 0;
  for (const [field, value] of fields) if (value !== undefined) mask |= 1 << setattrBits[field];
  if (command.atime === 'now') mask |= 1 << setattrBits.atimeNow;
  if (command.mtime === 'now') mask |= 1 << setattrBits.mtimeNow;
  writer.u16(mask);
  for (const [, value] of fields) {
    if (value === undefined) continue;
    if (typeof value === 'number') writer.f64(value);
    else {
      writer.f64(value.sec);
      writer.f64(value.nsec);
    }
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
  const command = decodeCommand(reader, op, name, opCode!);
  if (typeof command === 'string') return failure(command);
  if (command === undefined) return failure(reader.error ?? 'truncated fs request');
  if (!reader.atEnd()) return failure('trailing bytes after fs request');
  return { ok: true, request: { clientId, sequence, stampMs, command } };
}

/** The command, undefined when the bytes ran out, or why a field is invalid. */
function decodeCommand(reader: Reader, op: FsCommandOp, name: string, opCode: number): FsCommand | string | undefined {
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
      const command = { op, name, mode, exclusive: exclusive === 1 } as const;
      return opCode === createOwnedCode ? withOwner(reader, command, true) : command;
    }
    case 'mkdir': {
      const mode = reader.f64();
      if (mode === undefined) return undefined;
      if (!isCount(mode)) return 'mkdir mode not a safe non-negative integer';
      return opCode === mkdirOwnedCode ? withOwner(reader, { op, name, mode }, true) : { op, name, mode };
    }
    case 'rename':
      return decodeRename(reader, name, opCode === renameModeCode);
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
      return opCode === legacySetattrCode ? decodeLegacySetattr(reader, name) : decodeSetattr(reader, name);
    case 'link': {
      const to = reader.utf8();
      if (to === undefined) return undefined;
      const toError = validatePath(to, true);
      return toError === null ? { op, name, to } : `invalid link name: ${toError}`;
    }
    case 'symlink': {
      const target = reader.bytes();
      if (target === undefined) return undefined;
      return withOwner(reader, { op, name, target }, false);
    }
    case 'mknod': {
      const kind = specialKinds.get(reader.u8() ?? -1);
      const mode = reader.f64();
      const rdev = reader.f64();
      if (mode === undefined || rdev === undefined) return undefined;
      if (kind === undefined) return 'mknod kind unknown';
      if (!isCount(mode) || !isCount(rdev)) return 'mknod mode or rdev not a safe non-negative integer';
      return withOwner(reader, { op, name, kind, mode, rdev }, false);
    }
    case 'setxattr': {
      const attr = reader.utf8();
      const value = reader.bytes();
      const mode = xattrModes[reader.u8() ?? -1];
      if (attr === undefined || value === undefined) return undefined;
      return mode === undefined ? 'setxattr mode unknown' : { op, name, attr, value, mode };
    }
    case 'removexattr': {
      const attr = reader.utf8();
      return attr === undefined ? undefined : { op, name, attr };
    }
    case 'fallocate': {
      const offset = reader.f64();
      const length = reader.f64();
      const flags = reader.u8();
      if (offset === undefined || length === undefined || flags === undefined) return undefined;
      if (!isCount(offset) || !isCount(length) || flags > 3) return 'fallocate fields out of range';
      return { op, name, offset, length, punch: (flags & 1) !== 0, keepSize: (flags & 2) !== 0 };
    }
    case 'hold': {
      const holder = reader.f64();
      const delta = reader.u8();
      if (holder === undefined || delta === undefined) return undefined;
      if (!isCount(holder) || delta > 2) return 'hold fields out of range';
      return { op, name, holder, delta: delta === 1 ? 1 : delta === 2 ? -1 : 0 };
    }
    case 'reap':
      return decodeReap(reader, name);
  }
}

/** The owner that follows: always (`required`), or after a presence byte. */
function withOwner<C extends FsCommand>(reader: Reader, command: C, required: boolean): C | string | undefined {
  if (!required) {
    const present = reader.u8();
    if (present === undefined) return undefined;
    if (present > 1) return 'owner presence not 0 or 1';
    if (present === 0) return command;
  }
  const uid = reader.f64();
  const gid = reader.f64();
  if (uid === undefined || gid === undefined) return undefined;
  if (!isCount(uid) || !isCount(gid) || uid > 0xffff_ffff || gid > 0xffff_ffff) return 'owner out of range';
  return { ...command, owner: { uid, gid } };
}

function decodeRename(reader: Reader, name: string, withMode: boolean): FsCommand | string | undefined {
  const to = reader.utf8();
  if (to === undefined) return undefined;
  const toError = validatePath(to, true);
  if (toError !== null) return `invalid rename target: ${toError}`;
  if (!withMode) return { op: 'rename', name, to };
  const mode = renameModes[reader.u8() ?? -1];
  const ifVersion = reader.f64();
  if (ifVersion === undefined) return undefined;
  if (mode === undefined) return 'rename mode unknown';
  if (ifVersion !== -1 && !isCount(ifVersion)) return 'rename ifVersion out of range';
  return { op: 'rename', name, to, mode, ...(ifVersion === -1 ? {} : { ifVersion }) };
}

function decodeReap(reader: Reader, name: string): FsCommand | string | undefined {
  const expired: Array<{ ino: number; expiresAtMs: number }> = [];
  const orphans: number[] = [];
  const holders: number[] = [];
  const expiredCount = reader.u32();
  if (expiredCount === undefined) return undefined;
  for (let k = 0; k < expiredCount; k++) {
    const ino = reader.f64();
    const expiresAtMs = reader.f64();
    if (ino === undefined || expiresAtMs === undefined) return undefined;
    if (!isCount(ino) || Number.isNaN(expiresAtMs)) return 'reap target out of range';
    expired.push({ ino, expiresAtMs });
  }
  for (const list of [orphans, holders]) {
    const count = reader.u32();
    if (count === undefined) return undefined;
    for (let k = 0; k < count; k++) {
      const value = reader.f64();
      if (value === undefined) return undefined;
      if (!isCount(value)) return 'reap id out of range';
      list.push(value);
    }
  }
  return { op: 'reap', name, expired, orphans, holders };
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

/** setattr as written before times had nanoseconds: times in whole ms. */
function decodeLegacySetattr(reader: Reader, name: string): FsCommand | string | undefined {
  const mask = reader.u8();
  if (mask === undefined) return undefined;
  if (mask >= 1 << legacySetattrFields.length) return `setattr mask ${mask} has unknown bits`;
  const values: Record<(typeof legacySetattrFields)[number], number | undefined> = { mode: undefined, uid: undefined, gid: undefined, atimeMs: undefined, mtimeMs: undefined };
  for (const [bit, field] of legacySetattrFields.entries()) {
    if ((mask & (1 << bit)) === 0) continue;
    const value = reader.f64();
    if (value === undefined) return undefined;
    if (!isCount(value)) return `setattr ${field} not a safe non-negative integer`;
    values[field] = value;
  }
  const { mode, uid, gid, atimeMs, mtimeMs } = values;
  return {
    op: 'setattr',
    name,
    ...(mode === undefined ? {} : { mode }),
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(atimeMs === undefined ? {} : { atime: timeOfMs(atimeMs) }),
    ...(mtimeMs === undefined ? {} : { mtime: timeOfMs(mtimeMs) }),
  };
}

function decodeSetattr(reader: Reader, name: string): FsCommand | string | undefined {
  const mask = reader.u16();
  if (mask === undefined) return undefined;
  if (mask >= 1 << 9) return `setattr mask ${mask} has unknown bits`;
  const has = (bit: number): boolean => (mask & (1 << bit)) !== 0;
  const numbers: Partial<Record<'mode' | 'uid' | 'gid' | 'size' | 'exptimeSeconds', number>> = {};
  const times: Partial<Record<'atime' | 'mtime', Timespec | 'now'>> = {};
  const order: Array<['mode' | 'uid' | 'gid' | 'size' | 'atime' | 'mtime' | 'exptimeSeconds', number]> = [
    ['mode', setattrBits.mode],
    ['uid', setattrBits.uid],
    ['gid', setattrBits.gid],
    ['size', setattrBits.size],
    ['atime', setattrBits.atime],
    ['mtime', setattrBits.mtime],
    ['exptimeSeconds', setattrBits.exptime],
  ];
  for (const [field, bit] of order) {
    if (!has(bit)) continue;
    if (field === 'atime' || field === 'mtime') {
      const sec = reader.f64();
      const nsec = reader.f64();
      if (sec === undefined || nsec === undefined) return undefined;
      if (!Number.isSafeInteger(sec) || !Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) return `setattr ${field} out of range`;
      times[field] = { sec, nsec };
      continue;
    }
    const value = reader.f64();
    if (value === undefined) return undefined;
    if (field === 'exptimeSeconds' ? !Number.isSafeInteger(value) : !isCount(value)) return `setattr ${field} out of range`;
    numbers[field] = value;
  }
  if (has(setattrBits.atimeNow)) times.atime = 'now';
  if (has(setattrBits.mtimeNow)) times.mtime = 'now';
  return { op: 'setattr', name, ...numbers, ...times };
}

function timeOfMs(ms: number): Timespec {
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
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

  u16(value: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
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

  u16(): number | undefined {
    if (this.offset + 2 > this.data.length) return undefined;
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(): number | undefined {
    if (this.offset + 4 > this.data.length) return undefined;
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
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
    case 'mknod':
      assert(isCount(command.mode), `${command.op} mode ${command.mode} not encodable`);
      assertOwner(command.owner);
      if (command.op === 'mknod') assert(isCount(command.rdev), `mknod rdev ${command.rdev} not encodable`);
      return;
    case 'symlink':
      assertOwner(command.owner);
      return;
    case 'rename':
    case 'link':
      assert(validatePath(command.to, true) === null, `${command.op} target not encodable`);
      if (command.op === 'rename') assert(command.ifVersion === undefined || isCount(command.ifVersion), 'rename ifVersion not encodable');
      return;
    case 'truncate':
      assert(isCount(command.size), `truncate size ${command.size} not encodable`);
      return;
    case 'writeat':
      assert(isCount(command.offset) || command.offset === -1, `writeat offset ${command.offset} not encodable`);
      return;
    case 'fallocate':
      assert(isCount(command.offset) && isCount(command.length), 'fallocate range not encodable');
      return;
    case 'setattr':
      for (const value of [command.mode, command.uid, command.gid, command.size]) {
        assert(value === undefined || isCount(value), `setattr field ${String(value)} not encodable`);
      }
      for (const time of [command.atime, command.mtime]) {
        assert(time === undefined || time === 'now' || (Number.isSafeInteger(time.sec) && Number.isInteger(time.nsec) && time.nsec >= 0 && time.nsec <= 999_999_999), 'setattr time not encodable');
      }
      assert(command.exptimeSeconds === undefined || Number.isSafeInteger(command.exptimeSeconds), 'setattr exptime not encodable');
      return;
    case 'reap':
      assert([...command.orphans, ...command.holders, ...command.expired.map((target) => target.ino)].every(isCount), 'reap ids not encodable');
      return;
    case 'hold':
      assert(isCount(command.holder), 'hold holder not encodable');
      return;
    case 'delete':
    case 'rmdir':
    case 'setxattr':
    case 'removexattr':
      return;
  }
}

function assertOwner(owner: FsOwner | undefined): void {
  assert(owner === undefined || (isCount(owner.uid) && isCount(owner.gid) && owner.uid <= 0xffff_ffff && owner.gid <= 0xffff_ffff), 'owner not encodable');
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
