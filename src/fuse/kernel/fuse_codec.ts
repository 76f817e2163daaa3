/**
 * Bytes of /dev/fuse <-> typed requests and replies (layouts in fuse_abi.ts). Decoding is
 * bounds-checked: a request that is too short, lies about its length, lacks a name's NUL or
 * carries a number this process cannot represent becomes a FuseDecodeError with the errno to
 * answer (EINVAL), never an exception that escapes the session or a read past the buffer.
 */
import {
  AttrField, AttrOutField, DirentField, EntryOutField, FUSE_GETATTR_FH, FUSE_FSYNC_FDATASYNC, InHeader, InitInField, InitOutField, Opcode,
  OutHeader, ReadInField, SetattrInField, SetattrValid, Size, StatfsField, direntAlign, direntType,
} from './fuse_abi.js';
import type { FuseAttr, FuseDirEntry, FuseEntry, FuseSetattr, FuseStatfs, FuseTimespec } from './fuse_file_system.js';

/** A request the session cannot decode; `errno` (positive) is what to answer, if it can answer at all. */
export class FuseDecodeError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'FuseDecodeError';
  }
}

/** EINVAL, as Linux numbers it; the codec needs no node:os for one constant. */
const EINVAL = 22;

/** A cursor over one request's argument bytes; every read checks the bounds first. */
export class ArgReader {
  private position = 0;

  constructor(private readonly bytes: Buffer) {}

  /** Bytes not yet read. */
  get remaining(): number {
    return this.bytes.length - this.position;
  }

  private need(count: number, what: string): number {
    if (count > this.remaining) throw new FuseDecodeError(EINVAL, `${what}: needs ${count} bytes, ${this.remaining} left`);
    const at = this.position;
    this.position += count;
    return at;
  }

  /** Skips a fixed struct of `size` bytes and returns its start, to read fields at offsets. */
  struct(size: number, what: string): number {
    return this.need(size, what);
  }

  u32At(base: number, offset: number): number {
    return this.bytes.readUInt32LE(base + offset);
  }

  u16At(base: number, offset: number): number {
    return this.bytes.readUInt16LE(base + offset);
  }

  /** A u64 field as a bigint (request uniques). */
  u64BigAt(base: number, offset: number): bigint {
    return this.bytes.readBigUInt64LE(base + offset);
  }

  /** A u64 field as a JS number; above 2^53 it cannot be represented exactly, so it is refused. */
  u64At(base: number, offset: number, what: string): number {
    const value = this.bytes.readBigUInt64LE(base + offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FuseDecodeError(EINVAL, `${what} ${value} is above 2^53`);
    return Number(value);
  }

  /** An s64 field as a JS number; beyond ±2^53 it cannot be represented exactly, so it is refused. */
  i64At(base: number, offset: number, what: string): number {
    const value = this.bytes.readBigInt64LE(base + offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new FuseDecodeError(EINVAL, `${what} ${value} is beyond 2^53`);
    return Number(value);
  }

  /** A NUL-terminated name (the NUL is consumed, not returned); a copy, so it outlives the buffer. */
  name(what: string): Uint8Array {
    const end = this.bytes.indexOf(0, this.position);
    if (end === -1) throw new FuseDecodeError(EINVAL, `${what}: no NUL terminator`);
    const name = Buffer.from(this.bytes.subarray(this.position, end));
    this.position = end + 1;
    return name;
  }

  /** `count` raw bytes, as a view into the request buffer (the caller decides whether to copy). */
  raw(count: number, what: string): Buffer {
    const at = this.need(count, what);
    return this.bytes.subarray(at, at + count);
  }
}

/** struct fuse_in_header, decoded. */
export interface RequestHeader {
  readonly len: number;
  readonly opcode: number;
  readonly unique: bigint;
  readonly nodeid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/**
 * The header of a request, or null if the bytes are too short to hold one or disagree with its
 * `len` (then there is no trustworthy `unique` to answer, and the request is dropped).
 */
export function decodeHeader(bytes: Buffer): RequestHeader | null {
  if (bytes.length < Size.IN_HEADER) return null;
  const len = bytes.readUInt32LE(InHeader.len);
  if (len !== bytes.length) return null;
  const nodeid = bytes.readBigUInt64LE(InHeader.nodeid);
  return {
    len,
    opcode: bytes.readUInt32LE(InHeader.opcode),
    unique: bytes.readBigUInt64LE(InHeader.unique),
    // A node id above 2^53 is none we handed out; 0 stands for it and fails every lookup.
    nodeid: nodeid > BigInt(Number.MAX_SAFE_INTEGER) ? 0 : Number(nodeid),
    uid: bytes.readUInt32LE(InHeader.uid),
    gid: bytes.readUInt32LE(InHeader.gid),
    pid: bytes.readUInt32LE(InHeader.pid),
  };
}

/** The argument bytes after the header, extension area excluded. */
export function argumentReader(bytes: Buffer): ArgReader {
  const extensionBytes = bytes.readUInt16LE(InHeader.totalExtlen) * 8;
  const end = Math.max(Size.IN_HEADER, bytes.length - extensionBytes);
  return new ArgReader(bytes.subarray(Size.IN_HEADER, end));
}

/** FUSE_INIT's arguments. */
export interface InitIn {
  readonly major: number;
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
}

export function decodeInit(args: ArgReader): InitIn {
  const at = args.struct(Size.INIT_IN_COMPAT, 'init_in');
  return {
    major: args.u32At(at, InitInField.major),
    minor: args.u32At(at, InitInField.minor),
    maxReadahead: args.u32At(at, InitInField.maxReadahead),
    flags: args.u32At(at, InitInField.flags),
  };
}

/** What fuse_init_out carries back. */
export interface InitOut {
  readonly major: number;
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
  readonly maxBackground: number;
  readonly congestionThreshold: number;
  readonly maxWrite: number;
  readonly timeGranNs: number;
  readonly maxPages: number;
}

export function encodeInitOut(init: InitOut): Buffer {
  const out = Buffer.alloc(Size.INIT_OUT);
  out.writeUInt32LE(init.major, InitOutField.major);
  out.writeUInt32LE(init.minor, InitOutField.minor);
  out.writeUInt32LE(init.maxReadahead, InitOutField.maxReadahead);
  out.writeUInt32LE(init.flags >>> 0, InitOutField.flags);
  out.writeUInt16LE(init.maxBackground, InitOutField.maxBackground);
  out.writeUInt16LE(init.congestionThreshold, InitOutField.congestionThreshold);
  out.writeUInt32LE(init.maxWrite, InitOutField.maxWrite);
  out.writeUInt32LE(init.timeGranNs, InitOutField.timeGran);
  out.writeUInt16LE(init.maxPages, InitOutField.maxPages);
  return out;
}

/** fuse_getattr_in: the open file handle, when the kernel sends one (fstat). */
export function decodeGetattr(args: ArgReader): { fh: number | undefined } {
  const at = args.struct(Size.GETATTR_IN, 'getattr_in');
  const flags = args.u32At(at, 0);
  return { fh: (flags & FUSE_GETATTR_FH) !== 0 ? args.u64At(at, 8, 'getattr fh') : undefined };
}

function timespecAt(args: ArgReader, at: number, secondsOffset: number, nanosecondsOffset: number, what: string): FuseTimespec {
  // Signed: before the epoch the kernel sends negative seconds (its time64_t in the u64 field).
  return { sec: args.i64At(at, secondsOffset, what), nsec: args.u32At(at, nanosecondsOffset) };
}

/** fuse_setattr_in -> the changes, with absent fields left out. */
export function decodeSetattr(args: ArgReader): FuseSetattr {
  const at = args.struct(Size.SETATTR_IN, 'setattr_in');
  const valid = args.u32At(at, SetattrInField.valid);
  const has = (bit: number): boolean => (valid & bit) !== 0;
  const changes: {
    -readonly [K in keyof FuseSetattr]: FuseSetattr[K];
  } = {};
  if (has(SetattrValid.MODE)) changes.mode = args.u32At(at, SetattrInField.mode);
  if (has(SetattrValid.UID)) changes.uid = args.u32At(at, SetattrInField.uid);
  if (has(SetattrValid.GID)) changes.gid = args.u32At(at, SetattrInField.gid);
  if (has(SetattrValid.SIZE)) changes.size = args.u64At(at, SetattrInField.size, 'setattr size');
  if (has(SetattrValid.ATIME_NOW)) changes.atime = 'now';
  else if (has(SetattrValid.ATIME)) changes.atime = timespecAt(args, at, SetattrInField.atime, SetattrInField.atimensec, 'setattr atime');
  if (has(SetattrValid.MTIME_NOW)) changes.mtime = 'now';
  else if (has(SetattrValid.MTIME)) changes.mtime = timespecAt(args, at, SetattrInField.mtime, SetattrInField.mtimensec, 'setattr mtime');
  if (has(SetattrValid.CTIME)) changes.ctime = timespecAt(args, at, SetattrInField.ctime, SetattrInField.ctimensec, 'setattr ctime');
  if (has(SetattrValid.FH)) changes.fh = args.u64At(at, SetattrInField.fh, 'setattr fh');
  if (has(SetattrValid.KILL_SUIDGID)) changes.killSuidgid = true;
  return changes;
}

/** fuse_read_in (READ, READDIR, READDIRPLUS). */
export interface ReadIn {
  readonly fh: number;
  readonly offset: number;
  readonly size: number;
  readonly flags: number;
}

export function decodeRead(args: ArgReader): ReadIn {
  const at = args.struct(Size.READ_IN, 'read_in');
  return {
    fh: args.u64At(at, ReadInField.fh, 'read fh'),
    offset: args.u64At(at, ReadInField.offset, 'read offset'),
    size: args.u32At(at, ReadInField.size),
    flags: args.u32At(at, ReadInField.flags),
  };
}

/** fuse_write_in and the data after it; the data must be exactly `size` bytes. */
export function decodeWrite(args: ArgReader): ReadIn & { data: Buffer } {
  const at = args.struct(Size.WRITE_IN, 'write_in');
  const size = args.u32At(at, ReadInField.size);
  if (args.remaining !== size) throw new FuseDecodeError(EINVAL, `write: size ${size} but ${args.remaining} data bytes`);
  return {
    fh: args.u64At(at, ReadInField.fh, 'write fh'),
    offset: args.u64At(at, ReadInField.offset, 'write offset'),
    size,
    flags: args.u32At(at, ReadInField.flags),
    data: args.raw(size, 'write data'),
  };
}

/** fuse_open_in (OPEN, OPENDIR): the open(2) flags. */
export function decodeOpen(args: ArgReader): { flags: number } {
  const at = args.struct(Size.OPEN_IN, 'open_in');
  return { flags: args.u32At(at, 0) };
}

/** fuse_create_in and the new name. */
export function decodeCreate(args: ArgReader): { flags: number; mode: number; umask: number; name: Uint8Array } {
  const at = args.struct(Size.CREATE_IN, 'create_in');
  return { flags: args.u32At(at, 0), mode: args.u32At(at, 4), umask: args.u32At(at, 8), name: args.name('create name') };
}

/** fuse_mknod_in and the new name. */
export function decodeMknod(args: ArgReader): { mode: number; rdev: number; umask: number; name: Uint8Array } {
  const at = args.struct(Size.MKNOD_IN, 'mknod_in');
  return { mode: args.u32At(at, 0), rdev: args.u32At(at, 4), umask: args.u32At(at, 8), name: args.name('mknod name') };
}

/** fuse_mkdir_in and the new name. */
export function decodeMkdir(args: ArgReader): { mode: number; umask: number; name: Uint8Array } {
  const at = args.struct(Size.MKDIR_IN, 'mkdir_in');
  return { mode: args.u32At(at, 0), umask: args.u32At(at, 4), name: args.name('mkdir name') };
}

/** SYMLINK: the new entry's name, then the link's target. */
export function decodeSymlink(args: ArgReader): { name: Uint8Array; target: Uint8Array } {
  const name = args.name('symlink name');
  return { name, target: args.name('symlink target') };
}

/** RENAME (flags 0) and RENAME2. */
export function decodeRename(args: ArgReader, withFlags: boolean): { newParent: number; flags: number; name: Uint8Array; newName: Uint8Array } {
  const at = args.struct(withFlags ? Size.RENAME2_IN : Size.RENAME_IN, 'rename_in');
  const newParent = args.u64At(at, 0, 'rename newdir');
  const flags = withFlags ? args.u32At(at, 8) : 0;
  const name = args.name('rename name');
  return { newParent, flags, name, newName: args.name('rename new name') };
}

/** LINK: the existing inode and the new name (the header's nodeid is the new parent). */
export function decodeLink(args: ArgReader): { ino: number; newName: Uint8Array } {
  const at = args.struct(Size.LINK_IN, 'link_in');
  return { ino: args.u64At(at, 0, 'link oldnodeid'), newName: args.name('link name') };
}

/** fuse_release_in (RELEASE, RELEASEDIR). */
export function decodeRelease(args: ArgReader): { fh: number; flags: number } {
  const at = args.struct(Size.RELEASE_IN, 'release_in');
  return { fh: args.u64At(at, 0, 'release fh'), flags: args.u32At(at, 8) };
}

/** fuse_flush_in. */
export function decodeFlush(args: ArgReader): { fh: number } {
  const at = args.struct(Size.FLUSH_IN, 'flush_in');
  return { fh: args.u64At(at, 0, 'flush fh') };
}

/** fuse_fsync_in (FSYNC, FSYNCDIR). */
export function decodeFsync(args: ArgReader): { fh: number; datasync: boolean } {
  const at = args.struct(Size.FSYNC_IN, 'fsync_in');
  return { fh: args.u64At(at, 0, 'fsync fh'), datasync: (args.u32At(at, 8) & FUSE_FSYNC_FDATASYNC) !== 0 };
}

/** fuse_forget_in. */
export function decodeForget(args: ArgReader): { nlookup: number } {
  const at = args.struct(Size.FORGET_IN, 'forget_in');
  return { nlookup: args.u64At(at, 0, 'forget nlookup') };
}

/** fuse_batch_forget_in and its fuse_forget_one entries. */
export function decodeBatchForget(args: ArgReader): Array<{ ino: number; nlookup: number }> {
  const at = args.struct(Size.BATCH_FORGET_IN, 'batch_forget_in');
  const count = args.u32At(at, 0);
  if (count * Size.FORGET_ONE > args.remaining) throw new FuseDecodeError(EINVAL, `batch_forget: ${count} entries do not fit in ${args.remaining} bytes`);
  const forgets: Array<{ ino: number; nlookup: number }> = [];
  for (let index = 0; index < count; index++) {
    const one = args.struct(Size.FORGET_ONE, 'forget_one');
    forgets.push({ ino: args.u64At(one, 0, 'forget nodeid'), nlookup: args.u64At(one, 8, 'forget nlookup') });
  }
  return forgets;
}

/** fuse_setxattr_in (compat layout), the name and the value. */
export function decodeSetxattr(args: ArgReader): { flags: number; name: string; value: Buffer } {
  const at = args.struct(Size.SETXATTR_IN, 'setxattr_in');
  const size = args.u32At(at, 0);
  const flags = args.u32At(at, 4);
  const name = xattrName(args.name('setxattr name'));
  return { flags, name, value: Buffer.from(args.raw(size, 'setxattr value')) };
}

/** fuse_getxattr_in and the name (GETXATTR); LISTXATTR has no name. */
export function decodeGetxattr(args: ArgReader, withName: boolean): { size: number; name: string } {
  const at = args.struct(Size.GETXATTR_IN, 'getxattr_in');
  const size = args.u32At(at, 0);
  return { size, name: withName ? xattrName(args.name('getxattr name')) : '' };
}

/** REMOVEXATTR: the name. */
export function decodeRemovexattr(args: ArgReader): { name: string } {
  return { name: xattrName(args.name('removexattr name')) };
}

/** Attribute names are text ("user.foo"); bytes that are not UTF-8 are refused rather than mangled. */
function xattrName(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new FuseDecodeError(EINVAL, 'xattr name is not UTF-8');
  return text;
}

/** fuse_access_in. */
export function decodeAccess(args: ArgReader): { mask: number } {
  const at = args.struct(Size.ACCESS_IN, 'access_in');
  return { mask: args.u32At(at, 0) };
}

/** fuse_interrupt_in: the unique of the request to interrupt. */
export function decodeInterrupt(args: ArgReader): { unique: bigint } {
  const at = args.struct(Size.INTERRUPT_IN, 'interrupt_in');
  return { unique: args.u64BigAt(at, 0) };
}

/** fuse_fallocate_in. */
export function decodeFallocate(args: ArgReader): { fh: number; offset: number; length: number; mode: number } {
  const at = args.struct(Size.FALLOCATE_IN, 'fallocate_in');
  return {
    fh: args.u64At(at, 0, 'fallocate fh'),
    offset: args.u64At(at, 8, 'fallocate offset'),
    length: args.u64At(at, 16, 'fallocate length'),
    mode: args.u32At(at, 24),
  };
}

/** fuse_lseek_in. */
export function decodeLseek(args: ArgReader): { fh: number; offset: number; whence: number } {
  const at = args.struct(Size.LSEEK_IN, 'lseek_in');
  return { fh: args.u64At(at, 0, 'lseek fh'), offset: args.u64At(at, 8, 'lseek offset'), whence: args.u32At(at, 16) };
}

/* ---------- replies ---------- */

/** A reply's out header for `payloadBytes` of arguments; error is 0 or a negative errno. */
export function encodeOutHeader(unique: bigint, error: number, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(Size.OUT_HEADER);
  header.writeUInt32LE(Size.OUT_HEADER + payloadBytes, OutHeader.len);
  header.writeInt32LE(error, OutHeader.error);
  header.writeBigUInt64LE(unique, OutHeader.unique);
  return header;
}

/** Splits milliseconds into the kernel's (seconds, nanoseconds) validity pair. */
function validity(milliseconds: number): { sec: number; nsec: number } {
  const clamped = Math.max(0, milliseconds);
  const sec = Math.floor(clamped / 1000);
  return { sec, nsec: Math.round((clamped - sec * 1000) * 1e6) };
}

/** Writes struct fuse_attr at `at`. */
export function writeAttr(out: Buffer, at: number, attr: FuseAttr): void {
  out.writeBigUInt64LE(BigInt(attr.ino), at + AttrField.ino);
  out.writeBigUInt64LE(BigInt(attr.size), at + AttrField.size);
  out.writeBigUInt64LE(BigInt(attr.blocks), at + AttrField.blocks);
  // Signed, as the kernel reads them (time64_t): negative before the epoch.
  out.writeBigInt64LE(BigInt(attr.atime.sec), at + AttrField.atime);
  out.writeBigInt64LE(BigInt(attr.mtime.sec), at + AttrField.mtime);
  out.writeBigInt64LE(BigInt(attr.ctime.sec), at + AttrField.ctime);
  out.writeUInt32LE(attr.atime.nsec, at + AttrField.atimensec);
  out.writeUInt32LE(attr.mtime.nsec, at + AttrField.mtimensec);
  out.writeUInt32LE(attr.ctime.nsec, at + AttrField.ctimensec);
  out.writeUInt32LE(attr.mode >>> 0, at + AttrField.mode);
  out.writeUInt32LE(attr.nlink >>> 0, at + AttrField.nlink);
  out.writeUInt32LE(attr.uid >>> 0, at + AttrField.uid);
  out.writeUInt32LE(attr.gid >>> 0, at + AttrField.gid);
  out.writeUInt32LE(attr.rdev >>> 0, at + AttrField.rdev);
  out.writeUInt32LE(attr.blksize >>> 0, at + AttrField.blksize);
  out.writeUInt32LE(0, at + AttrField.flags);
}

/** Writes struct fuse_entry_out at `at`; `entry` null writes node id 0 ("no attributes for this one"). */
export function writeEntryOut(out: Buffer, at: number, entry: FuseEntry | null): void {
  if (entry === null) {
    out.fill(0, at, at + Size.ENTRY_OUT);
    return;
  }
  const entryValid = validity(entry.entryTimeoutMs);
  const attrValid = validity(entry.attrTimeoutMs);
  out.writeBigUInt64LE(BigInt(entry.ino), at + EntryOutField.nodeid);
  out.writeBigUInt64LE(BigInt(entry.generation), at + EntryOutField.generation);
  out.writeBigUInt64LE(BigInt(entryValid.sec), at + EntryOutField.entryValid);
  out.writeBigUInt64LE(BigInt(attrValid.sec), at + EntryOutField.attrValid);
  out.writeUInt32LE(entryValid.nsec, at + EntryOutField.entryValidNsec);
  out.writeUInt32LE(attrValid.nsec, at + EntryOutField.attrValidNsec);
  writeAttr(out, at + EntryOutField.attr, entry.attr);
}

export function encodeEntryOut(entry: FuseEntry): Buffer {
  const out = Buffer.alloc(Size.ENTRY_OUT);
  writeEntryOut(out, 0, entry);
  return out;
}

export function encodeAttrOut(attr: FuseAttr, attrTimeoutMs: number): Buffer {
  const out = Buffer.alloc(Size.ATTR_OUT);
  const valid = validity(attrTimeoutMs);
  out.writeBigUInt64LE(BigInt(valid.sec), AttrOutField.attrValid);
  out.writeUInt32LE(valid.nsec, AttrOutField.attrValidNsec);
  writeAttr(out, AttrOutField.attr, attr);
  return out;
}

export function encodeOpenOut(fh: number, openFlags: number): Buffer {
  const out = Buffer.alloc(Size.OPEN_OUT);
  out.writeBigUInt64LE(BigInt(fh), 0);
  out.writeUInt32LE(openFlags >>> 0, 8);
  return out;
}

export function encodeWriteOut(size: number): Buffer {
  const out = Buffer.alloc(Size.WRITE_OUT);
  out.writeUInt32LE(size >>> 0, 0);
  return out;
}

/** fuse_getxattr_out: the size a getxattr/listxattr probe (size 0) asks for. */
export function encodeXattrSizeOut(size: number): Buffer {
  const out = Buffer.alloc(Size.GETXATTR_OUT);
  out.writeUInt32LE(size >>> 0, 0);
  return out;
}

export function encodeLseekOut(offset: number): Buffer {
  const out = Buffer.alloc(Size.LSEEK_OUT);
  out.writeBigUInt64LE(BigInt(offset), 0);
  return out;
}

export function encodeStatfsOut(statfs: FuseStatfs): Buffer {
  const out = Buffer.alloc(Size.STATFS_OUT);
  out.writeBigUInt64LE(BigInt(statfs.blocks), StatfsField.blocks);
  out.writeBigUInt64LE(BigInt(statfs.bfree), StatfsField.bfree);
  out.writeBigUInt64LE(BigInt(statfs.bavail), StatfsField.bavail);
  out.writeBigUInt64LE(BigInt(statfs.files), StatfsField.files);
  out.writeBigUInt64LE(BigInt(statfs.ffree), StatfsField.ffree);
  out.writeUInt32LE(statfs.bsize >>> 0, StatfsField.bsize);
  out.writeUInt32LE(statfs.namelen >>> 0, StatfsField.namelen);
  out.writeUInt32LE(statfs.frsize >>> 0, StatfsField.frsize);
  return out;
}

/** The packed size of one readdir (plus: readdirplus) entry with a name of `nameBytes`. */
export function direntBytes(nameBytes: number, plus: boolean): number {
  return direntAlign((plus ? Size.ENTRY_OUT : 0) + Size.DIRENT_HEADER + nameBytes);
}

/**
 * Packs as many of `entries` as fit in `sizeBytes` (struct fuse_dirent, or fuse_direntplus when
 * `plus`), in order. Returns the bytes and how many entries went in; the kernel asks again from
 * the last one's nextOffset.
 */
export function packDirents(entries: readonly FuseDirEntry[], sizeBytes: number, plus: boolean): { bytes: Buffer; packed: number } {
  let total = 0;
  let packed = 0;
  for (const entry of entries) {
    const bytes = direntBytes(entry.name.length, plus);
    if (total + bytes > sizeBytes) break;
    total += bytes;
    packed++;
  }
  const out = Buffer.alloc(total);
  let at = 0;
  for (let index = 0; index < packed; index++) {
    const entry = entries[index];
    if (entry === undefined) break;
    if (plus) {
      writeEntryOut(out, at, entry.entry ?? null);
      at += Size.ENTRY_OUT;
    }
    out.writeBigUInt64LE(BigInt(entry.ino), at + DirentField.ino);
    out.writeBigUInt64LE(BigInt(entry.nextOffset), at + DirentField.off);
    out.writeUInt32LE(entry.name.length, at + DirentField.namelen);
    out.writeUInt32LE(direntType(entry.typeBits), at + DirentField.type);
    out.set(entry.name, at + DirentField.name);
    at += direntAlign(Size.DIRENT_HEADER + entry.name.length);
  }
  return { bytes: out, packed };
}

/** fuse_notify_inval_inode_out. offset/length: the byte range to drop (length 0: to the end; offset -1: attributes only). */
export function encodeNotifyInvalInode(ino: number, offset: number, length: number): Buffer {
  const out = Buffer.alloc(Size.NOTIFY_INVAL_INODE_OUT);
  out.writeBigUInt64LE(BigInt(ino), 0);
  out.writeBigInt64LE(BigInt(offset), 8);
  out.writeBigInt64LE(BigInt(length), 16);
  return out;
}

/** fuse_notify_inval_entry_out, the name and its NUL (the kernel wants namelen + 1 bytes after the struct). */
export function encodeNotifyInvalEntry(parent: number, name: Uint8Array, flags: number): Buffer {
  const out = Buffer.alloc(Size.NOTIFY_INVAL_ENTRY_OUT + name.length + 1);
  out.writeBigUInt64LE(BigInt(parent), 0);
  out.writeUInt32LE(name.length, 8);
  out.writeUInt32LE(flags >>> 0, 12);
  out.set(name, Size.NOTIFY_INVAL_ENTRY_OUT);
  return out;
}

/** Opcodes whose reply is an entry (the kernel counts one lookup of the node when it arrives). */
export const entryReplyOpcodes: ReadonlySet<number> = new Set([Opcode.LOOKUP, Opcode.MKNOD, Opcode.MKDIR, Opcode.SYMLINK, Opcode.LINK, Opcode.CREATE]);
