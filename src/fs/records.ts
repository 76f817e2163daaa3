/**
 * The records the file-system state machine keeps in its KvStore, their keys and their binary
 * layouts. Keys are byte strings ordered as LevelDB orders them, so that related records are one
 * contiguous range: all entries of a directory, all extended attributes of a node, all expiries
 * in time order.
 *
 * Keys (u64 = 8 bytes big-endian, so byte order is numeric order):
 *   'm'                          Meta: applied index and term, version counter, last stamp, ...
 *   'i' u64 ino                  Inode
 *   'd' u64 dir  name(UTF-8)     Dirent: the entry `name` of directory `dir`
 *   'k' u64 dir  u64 cookie      name(UTF-8): the entry with that readdir cookie
 *   'b' u64 ino                  the content of an inline file, or a symlink's target
 *   'x' u64 ino  name(UTF-8)     an extended attribute's value
 *   'e' u64 ceil(expiresAtMs) u64 ino   (empty) the file expires then
 *   'p' u64 ino  u64 dir  name(UTF-8)    (empty) a name of the node: dir's entry `name` leads to it
 *   'o' u64 ino                  (empty) a node with no names left that someone holds open
 *   'h' u64 ino  u64 holder      u32 count: the holder (a mount) holds the node open
 *   'g' u64 holder u64 ino       (empty) the same hold, found from the holder's side
 *   'l' u64 holder               Lease: when the holder was last heard of, and its hold count
 *   's' u64 clientId             Session: the last answer given to an exactly-once client
 * Every value starts with a format byte; decoding checks lengths and refuses anything else with
 * StateCorruptError naming the key, so damage stops a node instead of being served.
 *
 * Pure: no Node APIs.
 */
import { dataViewOf, readU64, writeU64 } from '../util/binary.js';
import type { FsNodeKind, FsResult, Timespec } from './types.js';

/** The root directory's inode number (FUSE_ROOT_ID); others count up from it and are never reused. */
export const rootIno = 1;

/** A node's attributes and bookkeeping. Immutable: a change writes a new record. */
export interface Inode {
  readonly ino: number;
  readonly kind: FsNodeKind;
  /** Permission bits with setuid, setgid and sticky: 0..0o7777. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Names of this node (a directory: 2 + subdirectories, as POSIX counts '.' and '..'). */
  readonly nlink: number;
  readonly rdev: number;
  /** Content bytes (a symlink: its target's length; others 0). */
  readonly size: number;
  readonly version: number;
  readonly atime: Timespec;
  readonly mtime: Timespec;
  readonly ctime: Timespec;
  /** Files only: when it expires (the leader's stamp scale); Infinity for never. */
  readonly expiresAtMs: number;
  /** Files: the content is in the KvStore ('b') rather than the ContentStore. Symlinks: always. */
  readonly inline: boolean;
  /** Directories: the directory holding this one (the root: itself); 0 for the others. */
  readonly parent: number;
  /** Directories: entries held (expired files not yet removed included). */
  readonly entries: number;
  /** Directories: entries that are directories. */
  readonly subdirs: number;
  /** Directories: the cookie the next new entry takes (readdir order is creation order). */
  readonly nextCookie: number;
  /** Bytes of extended attribute names and values. */
  readonly xattrBytes: number;
  /** Clients holding the node open; a node with no names left lives while this is above 0. */
  readonly holds: number;
}

/** A directory entry: the node a name leads to. */
export interface Dirent {
  readonly ino: number;
  readonly kind: FsNodeKind;
  /** Its position in readdir order within the directory; stable while the entry exists. */
  readonly cookie: number;
}

/** The last answer given to one exactly-once session, and when it was last used. */
export interface Session {
  readonly lastSequence: number;
  readonly lastResult: FsResult;
  /** Orders sessions by recency: a counter of the state, larger is more recent. */
  readonly usedAt: number;
}

/** A holder's lease: its holds lapse holdLeaseMs after it was last heard of. */
export interface Lease {
  readonly seenAtMs: number;
  /** Nodes it holds. */
  readonly holds: number;
}

/** The state's counters. */
export interface Meta {
  /** The last log entry applied (index, term). */
  readonly appliedIndex: number;
  readonly appliedTerm: number;
  /** The version given to the latest successful change; 0 before the first. */
  readonly version: number;
  /** The latest stamp applied; -Infinity before the first. */
  readonly stampMs: number;
  readonly nextIno: number;
  /** Session recency counter. */
  readonly sessionClock: number;
  /** Running digest of every change applied (see digest.ts), as two 32-bit halves. */
  readonly digestHigh: number;
  readonly digestLow: number;
  /** Nodes that exist (for statfs). */
  readonly inodes: number;
}

/** Stored state that cannot be decoded; the message names the key. */
export class StateCorruptError extends Error {
  readonly code = 'STATE_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'StateCorruptError';
  }
}

// -------------------------------------------------------------------------------------------
// Keys

export const keyPrefix = {
  meta: 0x6d,
  inode: 0x69,
  dirent: 0x64,
  cookie: 0x6b,
  data: 0x62,
  xattr: 0x78,
  expiry: 0x65,
  backlink: 0x70,
  orphan: 0x6f,
  hold: 0x68,
  holder: 0x67,
  lease: 0x6c,
  session: 0x73,
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The meta record's key. */
export const metaKey = Uint8Array.of(keyPrefix.meta);

/** prefix, then each number as u64, then an optional string in UTF-8. */
export function makeKey(prefix: number, numbers: readonly number[], text?: string): Uint8Array {
  const textBytes = text === undefined ? undefined : encoder.encode(text);
  const key = new Uint8Array(1 + 8 * numbers.length + (textBytes?.length ?? 0));
  key[0] = prefix;
  const view = dataViewOf(key);
  numbers.forEach((value, position) => writeU64(view, 1 + 8 * position, value));
  if (textBytes !== undefined) key.set(textBytes, 1 + 8 * numbers.length);
  return key;
}

/** The smallest key after every key starting with `prefix` bytes (for range ends). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let position = end.length - 1; position >= 0; position--) {
    if (end[position]! < 0xff) {
      end[position]! += 1;
      return end.subarray(0, position + 1);
    }
  }
  // All 0xff: no key is past it but the end of the key space.
  return Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
}

/** The u64 at `position` (0-based, after the prefix byte) of a key. */
export function keyNumber(key: Uint8Array, position: number): number {
  return readU64(dataViewOf(key), 1 + 8 * position);
}

/** The UTF-8 text after `numbers` u64s of a key. */
export function keyText(key: Uint8Array, numbers: number): string {
  return decoder.decode(key.subarray(1 + 8 * numbers));
}

// -------------------------------------------------------------------------------------------
// Values

const formatVersion = 1;
const kindCodes: Readonly<Record<FsNodeKind, number>> = { file: 1, dir: 2, symlink: 3, fifo: 4, socket: 5, chr: 6, blk: 7 };
const kindsByCode = new Map<number, FsNodeKind>(Object.entries(kindCodes).map(([kind, code]) => [code, kind as FsNodeKind]));

/** The code of a kind in records and in the snapshot stream. */
export function kindCode(kind: FsNodeKind): number {
  return kindCodes[kind];
}

/** The kind of a code, or undefined for an unknown one. */
export function kindOfCode(code: number): FsNodeKind | undefined {
  return kindsByCode.get(code);
}

/** Fixed-layout writer over a preallocated buffer. */
class Out {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = dataViewOf(this.bytes);
  }
  u8(value: number): this {
    this.view.setUint8(this.at, value);
    this.at += 1;
    return this;
  }
  u32(value: number): this {
    this.view.setUint32(this.at, value);
    this.at += 4;
    return this;
  }
  f64(value: number): this {
    this.view.setFloat64(this.at, value);
    this.at += 8;
    return this;
  }
  time(value: Timespec): this {
    return this.f64(value.sec).u32(value.nsec);
  }
  raw(value: Uint8Array): this {
    this.bytes.set(value, this.at);
    this.at += value.length;
    return this;
  }
}

/** Fixed-layout reader; `ok` turns false on any overrun. */
class In {
  private readonly view: DataView;
  private at = 0;
  ok = true;
  constructor(private readonly bytes: Uint8Array) {
    this.view = dataViewOf(bytes);
  }
  private take(size: number): number {
    if (this.at + size > this.bytes.length) {
      this.ok = false;
      return -1;
    }
    const at = this.at;
    this.at += size;
    return at;
  }
  u8(): number {
    const at = this.take(1);
    return at < 0 ? 0 : this.view.getUint8(at);
  }
  u32(): number {
    const at = this.take(4);
    return at < 0 ? 0 : this.view.getUint32(at);
  }
  f64(): number {
    const at = this.take(8);
    return at < 0 ? 0 : this.view.getFloat64(at);
  }
  time(): Timespec {
    return { sec: this.f64(), nsec: this.u32() };
  }
  rest(): Uint8Array {
    const at = this.at;
    this.at = this.bytes.length;
    return this.bytes.subarray(at);
  }
  atEnd(): boolean {
    return this.ok && this.at === this.bytes.length;
  }
}

const inodeBytes = 1 + 1 + 1 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 3 * 12 + 8 + 8 + 8 + 8 + 8 + 8 + 4;

/** An Inode's value bytes. */
export function encodeInode(inode: Inode): Uint8Array {
  const out = new Out(inodeBytes)
    .u8(formatVersion)
    .u8(kindCodes[inode.kind])
    .u8(inode.inline ? 1 : 0)
    .u32(inode.mode)
    .u32(inode.uid)
    .u32(inode.gid)
    .u32(inode.nlink)
    .f64(inode.rdev)
    .f64(inode.size)
    .f64(inode.version)
    .time(inode.atime)
    .time(inode.mtime)
    .time(inode.ctime)
    .f64(inode.expiresAtMs)
    .f64(inode.parent)
    .f64(inode.entries)
    .f64(inode.subdirs)
    .f64(inode.nextCookie)
    .f64(inode.xattrBytes)
    .u32(inode.holds);
  return out.bytes;
}

/** Decodes an inode record (`ino` from its key); throws StateCorruptError on bad bytes. */
export function decodeInode(ino: number, bytes: Uint8Array): Inode {
  const input = new In(bytes);
  const format = input.u8();
  const kind = kindsByCode.get(input.u8());
  const inline = input.u8() === 1;
  const inode: Inode = {
    ino,
    kind: kind ?? 'file',
    inline,
    mode: input.u32(),
    uid: input.u32(),
    gid: input.u32(),
    nlink: input.u32(),
    rdev: input.f64(),
    size: input.f64(),
    version: input.f64(),
    atime: input.time(),
    mtime: input.time(),
    ctime: input.time(),
    expiresAtMs: input.f64(),
    parent: input.f64(),
    entries: input.f64(),
    subdirs: input.f64(),
    nextCookie: input.f64(),
    xattrBytes: input.f64(),
    holds: input.u32(),
  };
  if (format !== formatVersion || kind === undefined || !input.atEnd() || !Number.isSafeInteger(inode.size) || inode.size < 0) {
    throw new StateCorruptError(`inode ${ino}: bad record (${bytes.length} bytes, format ${format})`);
  }
  return inode;
}

/** A Dirent's value bytes. */
export function encodeDirent(dirent: Dirent): Uint8Array {
  return new Out(1 + 8 + 1 + 8).u8(formatVersion).f64(dirent.ino).u8(kindCodes[dirent.kind]).f64(dirent.cookie).bytes;
}

/** Decodes a dirent record; `where` names it in the error. */
export function decodeDirent(bytes: Uint8Array, where: string): Dirent {
  const input = new In(bytes);
  const format = input.u8();
  const ino = input.f64();
  const kind = kindsByCode.get(input.u8());
  const cookie = input.f64();
  if (format !== formatVersion || kind === undefined || !input.atEnd() || !Number.isSafeInteger(ino) || ino < 1) {
    throw new StateCorruptError(`directory entry ${where}: bad record`);
  }
  return { ino, kind, cookie };
}

/** Result codes in stored session answers (and nowhere else). */
const resultCodes: Readonly<Record<FsResult['type'], number>> = {
  ok: 1,
  deleted: 2,
  done: 3,
  version_mismatch: 4,
  stale_request: 5,
  not_found: 6,
  exists: 7,
  not_dir: 8,
  is_dir: 9,
  not_empty: 10,
  invalid: 11,
  too_large: 12,
  not_permitted: 13,
  name_too_long: 14,
  no_data: 15,
  range: 16,
  too_many_links: 17,
  no_space: 18,
  past_end: 19,
  not_supported: 20,
};
const resultTypes = new Map<number, FsResult['type']>(Object.entries(resultCodes).map(([type, code]) => [code, type as FsResult['type']]));

/** A Session's value bytes. */
export function encodeSession(session: Session): Uint8Array {
  const result = session.lastResult;
  const first = result.type === 'ok' ? result.version : result.type === 'version_mismatch' ? result.currentVersion : 0;
  const second = result.type === 'ok' ? result.ino : 0;
  return new Out(1 + 8 + 1 + 8 + 8 + 8)
    .u8(formatVersion)
    .f64(session.lastSequence)
    .u8(resultCodes[result.type])
    .f64(first)
    .f64(second)
    .f64(session.usedAt).bytes;
}

/** Decodes a session record. */
export function decodeSession(bytes: Uint8Array, where: string): Session {
  const input = new In(bytes);
  const format = input.u8();
  const lastSequence = input.f64();
  const type = resultTypes.get(input.u8());
  const first = input.f64();
  const second = input.f64();
  const usedAt = input.f64();
  if (format !== formatVersion || type === undefined || !input.atEnd()) throw new StateCorruptError(`session ${where}: bad record`);
  const lastResult: FsResult =
    type === 'ok' ? { type, version: first, ino: second } : type === 'version_mismatch' ? { type, currentVersion: first } : ({ type } as FsResult);
  return { lastSequence, lastResult, usedAt };
}

/** The Meta record's value bytes. */
export function encodeMeta(meta: Meta): Uint8Array {
  return new Out(1 + 8 * 7 + 4 + 4)
    .u8(formatVersion)
    .f64(meta.appliedIndex)
    .f64(meta.appliedTerm)
    .f64(meta.version)
    .f64(meta.stampMs)
    .f64(meta.nextIno)
    .f64(meta.sessionClock)
    .f64(meta.inodes)
    .u32(meta.digestHigh)
    .u32(meta.digestLow).bytes;
}

/** Decodes the meta record. */
export function decodeMeta(bytes: Uint8Array): Meta {
  const input = new In(bytes);
  const format = input.u8();
  const meta: Meta = {
    appliedIndex: input.f64(),
    appliedTerm: input.f64(),
    version: input.f64(),
    stampMs: input.f64(),
    nextIno: input.f64(),
    sessionClock: input.f64(),
    inodes: input.f64(),
    digestHigh: input.u32(),
    digestLow: input.u32(),
  };
  if (format !== formatVersion || !input.atEnd() || !Number.isSafeInteger(meta.appliedIndex) || !Number.isSafeInteger(meta.nextIno)) {
    throw new StateCorruptError('meta record: bad record');
  }
  return meta;
}

/** A Lease's value bytes. */
export function encodeLease(lease: Lease): Uint8Array {
  return new Out(1 + 8 + 4).u8(formatVersion).f64(lease.seenAtMs).u32(lease.holds).bytes;
}

/** Decodes a lease record. */
export function decodeLease(bytes: Uint8Array, where: string): Lease {
  const input = new In(bytes);
  const format = input.u8();
  const seenAtMs = input.f64();
  const holds = input.u32();
  if (format !== formatVersion || !input.atEnd()) throw new StateCorruptError(`lease ${where}: bad record`);
  return { seenAtMs, holds };
}

/** A hold count's value bytes. */
export function encodeCount(count: number): Uint8Array {
  return new Out(5).u8(formatVersion).u32(count).bytes;
}

/** Decodes a hold count. */
export function decodeCount(bytes: Uint8Array, where: string): number {
  const input = new In(bytes);
  const format = input.u8();
  const count = input.u32();
  if (format !== formatVersion || !input.atEnd()) throw new StateCorruptError(`hold ${where}: bad record`);
  return count;
}

/** Encodes UTF-8 text (names in values). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8 text stored by utf8(); throws StateCorruptError naming `where` on bad bytes. */
export function fromUtf8(bytes: Uint8Array, where: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new StateCorruptError(`${where}: not UTF-8`);
  }
}

/** Empty value of the marker records ('e', 'o', 'g', 'p'). */
export const emptyValue = new Uint8Array(0);
