/**
 * A small in-memory POSIX-ish file system behind the FuseFileSystem interface, for the kernel
 * session's tests: inodes with nlink and lookup counts (an unlinked file lives while it is open or
 * known to the kernel), hard links, symbolic links, fifos/sockets/devices, rename with
 * RENAME_NOREPLACE/RENAME_EXCHANGE, extended attributes, sparse files whose holes lseek
 * SEEK_DATA/SEEK_HOLE find, fallocate (allocate, punch hole), and readdir offsets that stay valid
 * while the directory changes (each entry keeps the cookie it got when it was added).
 * It does not check permissions: the tests mount it with default_permissions, where the kernel does.
 */
import process from 'node:process';
import { direntBytes } from '../../src/fuse/kernel/fuse_codec.js';
import {
  FUSE_ROOT_ID, RENAME_EXCHANGE, RENAME_NOREPLACE, SEEK_DATA, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, XATTR_CREATE, XATTR_REPLACE, XATTR_SIZE_MAX,
} from '../../src/fuse/kernel/fuse_abi.js';
import type {
  FuseAttr, FuseAttrReply, FuseContext, FuseDirEntry, FuseEntry, FuseFileSystem, FuseOpenResult, FuseSetattr, FuseStatfs, FuseTimespec,
} from '../../src/fuse/kernel/fuse_file_system.js';
import { FuseOperationError } from '../../src/fuse/errno.js';

const O_TRUNC = 0o1000;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const S_ISGID = 0o2000;
/** The first readdir cookie of a real entry: 1 and 2 are '.' and '..'. */
const firstEntryCookie = 3;
/** Hard links one inode may have (ext4's 65,000). */
const nlinkMax = 65_000;
/**
 * Contents are kept in chunks of this size: a growing file is never copied, a hole costs nothing,
 * and an aligned 1 MiB write keeps the request's own buffer instead of copying it (fresh memory
 * is what costs here: every new page is a fault).
 */
const chunkBytes = 1024 * 1024;
/**
 * Freed chunks kept for reuse (256 MiB): memory this process never touched costs a page fault per
 * 4 KiB on first use, which in a VM dominates an overwrite after O_TRUNC if chunks are not reused.
 */
const spareChunksMax = 256;
/** Largest file, so a stray huge truncate cannot exhaust the test process. */
const fileBytesMax = 1024 * 1024 * 1024;

/** A byte range [start, end) that holds data; everything else in the file is a hole. */
interface Extent {
  start: number;
  end: number;
}

interface DirectoryEntry {
  readonly cookie: number;
  readonly name: Buffer;
  readonly ino: number;
  removed: boolean;
}

class Directory {
  entries: DirectoryEntry[] = [];
  private readonly byName = new Map<string, DirectoryEntry>();
  private removedCount = 0;
  private nextCookie = firstEntryCookie;

  constructor(public parent: number) {}

  get size(): number {
    return this.byName.size;
  }

  get(name: Uint8Array): DirectoryEntry | undefined {
    return this.byName.get(Buffer.from(name).toString('latin1'));
  }

  add(name: Uint8Array, ino: number): void {
    const entry: DirectoryEntry = { cookie: this.nextCookie++, name: Buffer.from(name), ino, removed: false };
    this.entries.push(entry);
    this.byName.set(entry.name.toString('latin1'), entry);
  }

  remove(name: Uint8Array): void {
    const entry = this.get(name);
    if (entry === undefined) return;
    entry.removed = true;
    this.byName.delete(entry.name.toString('latin1'));
    this.removedCount++;
    // Compacting keeps the cookies, so offsets handed out earlier still mean the same place.
    if (this.removedCount > 64 && this.removedCount * 2 > this.entries.length) {
      this.entries = this.entries.filter((candidate) => !candidate.removed);
      this.removedCount = 0;
    }
  }

  /** Index of the first entry whose cookie is above `offset` (entries are in cookie order). */
  firstAfter(offset: number): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.entries[middle]?.cookie ?? Infinity) <= offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

interface Inode {
  readonly ino: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  nlink: number;
  atime: FuseTimespec;
  mtime: FuseTimespec;
  ctime: FuseTimespec;
  /** Regular files: contents in chunks of chunkBytes (an absent chunk reads as zeros), size, and where the data is. */
  chunks: Map<number, Buffer>;
  size: number;
  extents: Extent[];
  target: Buffer | null;
  dir: Directory | null;
  readonly xattrs: Map<string, Buffer>;
  /** Lookups the kernel holds (it forgets them with FORGET). */
  lookups: number;
  /** Open handles. */
  opens: number;
}

/** Options of the memory file system. */
export interface MemoryFuseFsOptions {
  readonly entryTimeoutMs?: number;
  readonly attrTimeoutMs?: number;
}

const startNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

function now(): FuseTimespec {
  const ns = startNs + process.hrtime.bigint();
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

function fail(code: string, message: string): never {
  throw new FuseOperationError(code, message);
}

/** The in-memory file system (see the file comment). */
export class MemoryFuseFs implements FuseFileSystem {
  private readonly inodes = new Map<number, Inode>();
  private readonly handles = new Map<number, number>();
  private readonly spareChunks: Buffer[] = [];
  private nextIno = FUSE_ROOT_ID + 1;
  private nextFh = 1;
  private readonly entryTimeoutMs: number;
  private readonly attrTimeoutMs: number;
  /** How many lseek requests reached the file system (the tests check they are not answered by the kernel). */
  lseekCalls = 0;

  constructor(options: MemoryFuseFsOptions = {}) {
    this.entryTimeoutMs = options.entryTimeoutMs ?? 1000;
    this.attrTimeoutMs = options.attrTimeoutMs ?? 1000;
    // The root belongs to whoever serves the mount, as a local directory would to its creator.
    const root = this.newInode(S_IFDIR | 0o755, process.getuid?.() ?? 0, process.getgid?.() ?? 0, 0, FUSE_ROOT_ID);
    root.dir = new Directory(FUSE_ROOT_ID);
    root.nlink = 2;
  }

  /** Inodes alive now (linked, open, or known to the kernel). */
  get inodeCount(): number {
    return this.inodes.size;
  }

  private newInode(mode: number, uid: number, gid: number, rdev: number, ino = this.nextIno++): Inode {
    const time = now();
    const inode: Inode = {
      ino, mode, uid, gid, rdev, nlink: 1, atime: time, mtime: time, ctime: time, chunks: new Map(), size: 0, extents: [],
      target: null, dir: null, xattrs: new Map(), lookups: 0, opens: 0,
    };
    this.inodes.set(ino, inode);
    return inode;
  }

  private inode(ino: number): Inode {
    return this.inodes.get(ino) ?? fail('ENOENT', `no inode ${ino}`);
  }

  private directory(ino: number): { inode: Inode; dir: Directory } {
    const inode = this.inode(ino);
    if (inode.dir === null) fail('ENOTDIR', `inode ${ino} is not a directory`);
    return { inode, dir: inode.dir };
  }

  private attr(inode: Inode): FuseAttr {
    const isFile = (inode.mode & S_IFMT) === S_IFREG;
    const stored = inode.extents.reduce((sum, extent) => sum + (extent.end - extent.start), 0);
    return {
      ino: inode.ino,
      size: inode.dir !== null ? 4096 : inode.target !== null ? inode.target.length : inode.size,
      blocks: isFile ? Math.ceil(stored / 512) : inode.dir !== null ? 8 : 0,
      atime: inode.atime, mtime: inode.mtime, ctime: inode.ctime,
      mode: inode.mode, nlink: inode.nlink, uid: inode.uid, gid: inode.gid, rdev: inode.rdev, blksize: 4096,
    };
  }

  /** An entry reply: the kernel now holds one more lookup of the inode. */
  private entry(inode: Inode): FuseEntry {
    inode.lookups++;
    return { ino: inode.ino, generation: 0, attr: this.attr(inode), entryTimeoutMs: this.entryTimeoutMs, attrTimeoutMs: this.attrTimeoutMs };
  }

  /** Frees an inode nobody can reach any more: no name, no open handle, no kernel reference. */
  private maybeFree(inode: Inode): void {
    if (inode.ino !== FUSE_ROOT_ID && inode.nlink === 0 && inode.lookups <= 0 && inode.opens <= 0) {
      this.inodes.delete(inode.ino);
      this.zeroRange(inode, 0, Infinity);
    }
  }

  private touchDir(inode: Inode): void {
    const time = now();
    inode.mtime = time;
    inode.ctime = time;
  }

  private newChild(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, rdev: number): Inode {
    const { inode: parentInode, dir } = this.directory(parent);
    if (dir.get(name) !== undefined) fail('EEXIST', 'the name exists');
    // A setgid directory hands its group (and, to directories, the bit) to what is made in it.
    const inheritGid = (parentInode.mode & S_ISGID) !== 0;
    const gid = inheritGid ? parentInode.gid : ctx.gid;
    const finalMode = inheritGid && (mode & S_IFMT) === S_IFDIR ? mode | S_ISGID : mode;
    const child = this.newInode(finalMode, ctx.uid, gid, rdev);
    dir.add(name, child.ino);
    this.touchDir(parentInode);
    return child;
  }

  async lookup(_ctx: FuseContext, parent: number, name: Uint8Array): Promise<FuseEntry> {
    const { inode: parentInode, dir } = this.directory(parent);
    const text = Buffer.from(name).toString('latin1');
    if (text === '.') return this.entry(parentInode);
    if (text === '..') return this.entry(this.inode(dir.parent));
    const found = dir.get(name) ?? fail('ENOENT', 'no such name');
    return this.entry(this.inode(found.ino));
  }

  forget(ino: number, nlookup: number): void {
    const inode = this.inodes.get(ino);
    if (inode === undefined) return;
    inode.lookups -= nlookup;
    this.maybeFree(inode);
  }

  async getattr(_ctx: FuseContext, ino: number): Promise<FuseAttrReply> {
    return { attr: this.attr(this.inode(ino)), attrTimeoutMs: this.attrTimeoutMs };
  }

  async setattr(_ctx: FuseContext, ino: number, changes: FuseSetattr): Promise<FuseAttrReply> {
    const inode = this.inode(ino);
    const time = now();
    if (changes.size !== undefined) {
      if (inode.dir !== null) fail('EISDIR', 'truncate of a directory');
      if ((inode.mode & S_IFMT) !== S_IFREG) fail('EINVAL', 'truncate of a special file');
      this.resize(inode, changes.size);
      inode.mtime = time;
    }
    if (changes.mode !== undefined) inode.mode = (inode.mode & S_IFMT) | (changes.mode & 0o7777);
    if (changes.uid !== undefined) inode.uid = changes.uid;
    if (changes.gid !== undefined) inode.gid = changes.gid;
    if (changes.killSuidgid === true) inode.mode &= ~0o6000;
    if (changes.atime !== undefined) inode.atime = changes.atime === 'now' ? time : changes.atime;
    if (changes.mtime !== undefined) inode.mtime = changes.mtime === 'now' ? time : changes.mtime;
    inode.ctime = changes.ctime ?? time;
    return { attr: this.attr(inode), attrTimeoutMs: this.attrTimeoutMs };
  }

  async readlink(_ctx: FuseContext, ino: number): Promise<Uint8Array> {
    return this.inode(ino).target ?? fail('EINVAL', 'not a symbolic link');
  }

  async mknod(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, rdev: number): Promise<FuseEntry> {
    return this.entry(this.newChild(ctx, parent, name, mode, rdev));
  }

  async mkdir(ctx: FuseContext, parent: number, name: Uint8Array, mode: number): Promise<FuseEntry> {
    const child = this.newChild(ctx, parent, name, S_IFDIR | (mode & 0o7777), 0);
    child.dir = new Directory(parent);
    child.nlink = 2;
    this.inode(parent).nlink++;
    return this.entry(child);
  }

  async unlink(_ctx: FuseContext, parent: number, name: Uint8Array): Promise<void> {
    const { inode: parentInode, dir } = this.directory(parent);
    const found = dir.get(name) ?? fail('ENOENT', 'no such name');
    const inode = this.inode(found.ino);
    if (inode.dir !== null) fail('EISDIR', 'unlink of a directory');
    dir.remove(name);
    inode.nlink--;
    inode.ctime = now();
    this.touchDir(parentInode);
    this.maybeFree(inode);
  }

  async rmdir(_ctx: FuseContext, parent: number, name: Uint8Array): Promise<void> {
    const { inode: parentInode, dir } = this.directory(parent);
    const found = dir.get(name) ?? fail('ENOENT', 'no such name');
    const inode = this.inode(found.ino);
    if (inode.dir === null) fail('ENOTDIR', 'rmdir of a non-directory');
    if (inode.dir.size > 0) fail('ENOTEMPTY', 'the directory is not empty');
    dir.remove(name);
    inode.nlink = 0;
    parentInode.nlink--;
    this.touchDir(parentInode);
    this.maybeFree(inode);
  }

  async symlink(ctx: FuseContext, parent: number, name: Uint8Array, target: Uint8Array): Promise<FuseEntry> {
    const child = this.newChild(ctx, parent, name, S_IFLNK | 0o777, 0);
    child.target = Buffer.from(target);
    return this.entry(child);
  }

  /** True if directory `ancestor` is `ino` or contains it. */
  private isAncestor(ancestor: number, ino: number): boolean {
    for (let current = ino; ; ) {
      if (current === ancestor) return true;
      if (current === FUSE_ROOT_ID) return false;
      current = this.inode(current).dir?.parent ?? FUSE_ROOT_ID;
    }
  }

  async rename(_ctx: FuseContext, parent: number, name: Uint8Array, newParent: number, newName: Uint8Array, flags: number): Promise<void> {
    if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0 || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) fail('EINVAL', `rename flags ${flags}`);
    const from = this.directory(parent);
    const to = this.directory(newParent);
    const source = from.dir.get(name) ?? fail('ENOENT', 'no such name');
    const sourceInode = this.inode(source.ino);
    const target = to.dir.get(newName);
    const targetInode = target === undefined ? undefined : this.inode(target.ino);
    if (sourceInode.dir !== null && this.isAncestor(sourceInode.ino, newParent)) fail('EINVAL', 'a directory into itself');
    if ((flags & RENAME_EXCHANGE) !== 0) {
      if (targetInode === undefined) fail('ENOENT', 'nothing to exchange with');
      if (targetInode.dir !== null && this.isAncestor(targetInode.ino, parent)) fail('EINVAL', 'a directory into itself');
      from.dir.remove(name);
      to.dir.remove(newName);
      from.dir.add(name, targetInode.ino);
      to.dir.add(newName, sourceInode.ino);
      this.reparent(sourceInode, from.inode, to.inode);
      this.reparent(targetInode, to.inode, from.inode);
    } else {
      if (targetInode !== undefined) {
        if ((flags & RENAME_NOREPLACE) !== 0) fail('EEXIST', 'the target exists');
        if (targetInode.ino === sourceInode.ino) return;
        if (sourceInode.dir !== null && targetInode.dir === null) fail('ENOTDIR', 'a directory onto a non-directory');
        if (sourceInode.dir === null && targetInode.dir !== null) fail('EISDIR', 'a non-directory onto a directory');
        if (targetInode.dir !== null && targetInode.dir.size > 0) fail('ENOTEMPTY', 'the target directory is not empty');
        to.dir.remove(newName);
        if (targetInode.dir !== null) {
          targetInode.nlink = 0;
          to.inode.nlink--;
        } else {
          targetInode.nlink--;
        }
        targetInode.ctime = now();
        this.maybeFree(targetInode);
      }
      from.dir.remove(name);
      to.dir.add(newName, sourceInode.ino);
      this.reparent(sourceInode, from.inode, to.inode);
    }
    sourceInode.ctime = now();
    this.touchDir(from.inode);
    this.touchDir(to.inode);
  }

  private reparent(inode: Inode, from: Inode, to: Inode): void {
    if (inode.dir === null || from.ino === to.ino) return;
    inode.dir.parent = to.ino;
    from.nlink--;
    to.nlink++;
  }

  async link(_ctx: FuseContext, ino: number, newParent: number, newName: Uint8Array): Promise<FuseEntry> {
    const inode = this.inode(ino);
    if (inode.dir !== null) fail('EPERM', 'a hard link to a directory');
    if (inode.nlink >= nlinkMax) fail('EMLINK', 'too many links');
    const { inode: parentInode, dir } = this.directory(newParent);
    if (dir.get(newName) !== undefined) fail('EEXIST', 'the name exists');
    dir.add(newName, ino);
    inode.nlink++;
    inode.ctime = now();
    this.touchDir(parentInode);
    return this.entry(inode);
  }

  private openHandle(inode: Inode): number {
    const fh = this.nextFh++;
    this.handles.set(fh, inode.ino);
    inode.opens++;
    return fh;
  }

  async open(_ctx: FuseContext, ino: number, flags: number): Promise<FuseOpenResult> {
    const inode = this.inode(ino);
    if (inode.dir !== null) fail('EISDIR', 'open of a directory as a file');
    // FUSE_ATOMIC_O_TRUNC: the kernel leaves O_TRUNC to us instead of sending a setattr.
    if ((flags & O_TRUNC) !== 0 && (inode.mode & S_IFMT) === S_IFREG) {
      this.resize(inode, 0);
      const time = now();
      inode.mtime = time;
      inode.ctime = time;
    }
    return { fh: this.openHandle(inode) };
  }

  async read(_ctx: FuseContext, ino: number, _fh: number, offset: number, size: number): Promise<Uint8Array> {
    const inode = this.inode(ino);
    const end = Math.min(inode.size, offset + size);
    if (offset >= end) return new Uint8Array(0);
    const first = Math.floor(offset / chunkBytes);
    if (Math.floor((end - 1) / chunkBytes) === first) {
      const chunk = inode.chunks.get(first);
      // Within one chunk: a view, no copy (the reply is written before anything can change it).
      return chunk === undefined ? Buffer.alloc(end - offset) : chunk.subarray(offset - first * chunkBytes, end - first * chunkBytes);
    }
    const out = Buffer.alloc(end - offset);
    for (let position = offset; position < end; ) {
      const index = Math.floor(position / chunkBytes);
      const within = position - index * chunkBytes;
      const count = Math.min(chunkBytes - within, end - position);
      inode.chunks.get(index)?.copy(out, position - offset, within, within + count);
      position += count;
    }
    return out;
  }

  async write(_ctx: FuseContext, ino: number, _fh: number, offset: number, data: Uint8Array): Promise<number> {
    const inode = this.inode(ino);
    const end = offset + data.length;
    if (end > fileBytesMax) fail('EFBIG', 'file too large');
    for (let position = offset; position < end; ) {
      const index = Math.floor(position / chunkBytes);
      const within = position - index * chunkBytes;
      const count = Math.min(chunkBytes - within, end - position);
      const piece = data.subarray(position - offset, position - offset + count);
      let chunk = inode.chunks.get(index);
      if (chunk === undefined) {
        chunk = this.spareChunks.pop() ?? Buffer.allocUnsafe(chunkBytes);
        // Only the part not written now needs zeros.
        if (count < chunkBytes) chunk.fill(0);
        inode.chunks.set(index, chunk);
      }
      chunk.set(piece, within);
      position += count;
    }
    if (end > inode.size) inode.size = end;
    this.addExtent(inode, offset, end);
    const time = now();
    inode.mtime = time;
    inode.ctime = time;
    return data.length;
  }

  /** Zeros [start, end) of the stored chunks, dropping the chunks it covers whole. */
  private zeroRange(inode: Inode, start: number, end: number): void {
    for (const [index, chunk] of inode.chunks) {
      const chunkStart = index * chunkBytes;
      const from = Math.max(start, chunkStart);
      const to = Math.min(end, chunkStart + chunkBytes);
      if (from >= to) continue;
      if (from === chunkStart && to === chunkStart + chunkBytes) {
        inode.chunks.delete(index);
        if (this.spareChunks.length < spareChunksMax) this.spareChunks.push(chunk);
      } else {
        chunk.fill(0, from - chunkStart, to - chunkStart);
      }
    }
  }

  private resize(inode: Inode, size: number): void {
    if (size > fileBytesMax) fail('EFBIG', 'file too large');
    if (size < inode.size) {
      this.zeroRange(inode, size, Infinity);
      this.removeExtent(inode, size, Infinity);
    }
    inode.size = size;
  }

  private addExtent(inode: Inode, start: number, end: number): void {
    if (end <= start) return;
    const kept: Extent[] = [];
    let merged: Extent = { start, end };
    for (const extent of inode.extents) {
      if (extent.end < merged.start || extent.start > merged.end) kept.push(extent);
      else merged = { start: Math.min(extent.start, merged.start), end: Math.max(extent.end, merged.end) };
    }
    kept.push(merged);
    kept.sort((a, b) => a.start - b.start);
    inode.extents = kept;
  }

  private removeExtent(inode: Inode, start: number, end: number): void {
    const kept: Extent[] = [];
    for (const extent of inode.extents) {
      if (extent.end <= start || extent.start >= end) {
        kept.push(extent);
        continue;
      }
      if (extent.start < start) kept.push({ start: extent.start, end: start });
      if (extent.end > end) kept.push({ start: end, end: extent.end });
    }
    inode.extents = kept;
  }

  async flush(): Promise<void> {
    return undefined;
  }

  async release(_ctx: FuseContext, _ino: number, fh: number): Promise<void> {
    this.closeHandle(fh);
  }

  private closeHandle(fh: number): void {
    const ino = this.handles.get(fh);
    if (ino === undefined) fail('EBADF', `no handle ${fh}`);
    this.handles.delete(fh);
    const inode = this.inodes.get(ino);
    if (inode === undefined) return;
    inode.opens--;
    this.maybeFree(inode);
  }

  async fsync(): Promise<void> {
    return undefined;
  }

  async opendir(_ctx: FuseContext, ino: number): Promise<FuseOpenResult> {
    return { fh: this.openHandle(this.directory(ino).inode) };
  }

  async readdir(_ctx: FuseContext, ino: number, _fh: number, offset: number, sizeBytes: number, plus: boolean): Promise<FuseDirEntry[]> {
    const { inode, dir } = this.directory(ino);
    const entries: FuseDirEntry[] = [];
    let bytes = 0;
    const fits = (nameBytes: number): boolean => {
      bytes += direntBytes(nameBytes, plus);
      return bytes <= sizeBytes;
    };
    if (offset < 1 && fits(1)) entries.push({ ino: inode.ino, name: Buffer.from('.'), typeBits: S_IFDIR, nextOffset: 1 });
    if (offset < 2 && fits(2)) entries.push({ ino: dir.parent, name: Buffer.from('..'), typeBits: S_IFDIR, nextOffset: 2 });
    for (let index = dir.firstAfter(offset); index < dir.entries.length; index++) {
      const entry = dir.entries[index];
      if (entry === undefined || entry.removed) continue;
      if (!fits(entry.name.length)) break;
      const child = this.inode(entry.ino);
      entries.push({
        ino: child.ino, name: entry.name, typeBits: child.mode & S_IFMT, nextOffset: entry.cookie,
        ...(plus ? { entry: this.entry(child) } : {}),
      });
    }
    return entries;
  }

  async releasedir(_ctx: FuseContext, _ino: number, fh: number): Promise<void> {
    this.closeHandle(fh);
  }

  async statfs(): Promise<FuseStatfs> {
    let bytes = 0;
    for (const inode of this.inodes.values()) bytes += inode.size;
    const blocks = 1024 * 1024;
    const used = Math.ceil(bytes / 4096);
    return { blocks, bfree: Math.max(0, blocks - used), bavail: Math.max(0, blocks - used), files: 1_000_000, ffree: 1_000_000 - this.inodes.size, bsize: 4096, namelen: 255, frsize: 4096 };
  }

  async setxattr(_ctx: FuseContext, ino: number, name: string, value: Uint8Array, flags: number): Promise<void> {
    const inode = this.inode(ino);
    if (value.length > XATTR_SIZE_MAX) fail('E2BIG', 'value too large');
    const exists = inode.xattrs.has(name);
    if ((flags & XATTR_CREATE) !== 0 && exists) fail('EEXIST', 'the attribute exists');
    if ((flags & XATTR_REPLACE) !== 0 && !exists) fail('ENODATA', 'no such attribute');
    inode.xattrs.set(name, Buffer.from(value));
    inode.ctime = now();
  }

  async getxattr(_ctx: FuseContext, ino: number, name: string): Promise<Uint8Array> {
    return this.inode(ino).xattrs.get(name) ?? fail('ENODATA', 'no such attribute');
  }

  async listxattr(_ctx: FuseContext, ino: number): Promise<string[]> {
    return [...this.inode(ino).xattrs.keys()];
  }

  async removexattr(_ctx: FuseContext, ino: number, name: string): Promise<void> {
    const inode = this.inode(ino);
    if (!inode.xattrs.delete(name)) fail('ENODATA', 'no such attribute');
    inode.ctime = now();
  }

  async create(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, _flags: number): Promise<{ entry: FuseEntry; open: FuseOpenResult }> {
    const child = this.newChild(ctx, parent, name, S_IFREG | (mode & 0o7777), 0);
    return { entry: this.entry(child), open: { fh: this.openHandle(child) } };
  }

  async fallocate(_ctx: FuseContext, ino: number, _fh: number, offset: number, length: number, mode: number): Promise<void> {
    const inode = this.inode(ino);
    const end = offset + length;
    if (mode === 0 || mode === FALLOC_FL_KEEP_SIZE) {
      if (end > fileBytesMax) fail('EFBIG', 'file too large');
      this.addExtent(inode, offset, end);
      if (mode === 0 && end > inode.size) inode.size = end;
    } else if (mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
      this.zeroRange(inode, offset, end);
      this.removeExtent(inode, offset, end);
    } else {
      fail('EOPNOTSUPP', `fallocate mode ${mode}`);
    }
    inode.ctime = now();
  }

  /**
   * Changes made behind the kernel's back, as another client of a network file system would make
   * them: overwrite the content of `name` in the root (returns its inode), or rename it there.
   * The kernel's caches know nothing of these until the session invalidates them.
   */
  async changeBehindTheKernel(change: { name: string; content?: string; newName?: string }): Promise<number> {
    const ctx: FuseContext = { uid: 0, gid: 0, pid: 0, unique: 0n };
    const found = this.directory(FUSE_ROOT_ID).dir.get(Buffer.from(change.name)) ?? fail('ENOENT', 'no such name');
    if (change.content !== undefined) {
      const inode = this.inode(found.ino);
      this.resize(inode, 0);
      await this.write(ctx, found.ino, 0, 0, Buffer.from(change.content));
    }
    if (change.newName !== undefined) await this.rename(ctx, FUSE_ROOT_ID, Buffer.from(change.name), FUSE_ROOT_ID, Buffer.from(change.newName), 0);
    return found.ino;
  }

  async lseek(_ctx: FuseContext, ino: number, _fh: number, offset: number, whence: number): Promise<number> {
    this.lseekCalls++;
    const inode = this.inode(ino);
    if (offset >= inode.size) fail('ENXIO', 'at or past the end');
    const extents = inode.extents.filter((extent) => extent.end > offset && extent.start < inode.size);
    if (whence === SEEK_DATA) {
      const first = extents[0];
      if (first === undefined) fail('ENXIO', 'no data after the offset');
      return Math.max(offset, first.start);
    }
    // SEEK_HOLE: inside an extent, the hole starts where the extent ends; the end of file is a hole.
    const containing = extents.find((extent) => extent.start <= offset);
    return containing === undefined ? offset : Math.min(containing.end, inode.size);
  }
}
