/**
 * The file system of an fsraft mount: each kernel request (fuse_file_system.ts, addressed by inode
 * number) becomes one or a few cluster calls, every name anchored at the inode the kernel gave
 * (`//<ino>/<name>`), so a rename elsewhere never makes the mount act on another node.
 *
 * Consistency is close-to-open (README "Mounting the cluster"): open() asks the cluster for the
 * node's attributes and lets the kernel keep its cached pages only if size and mtime are what this
 * mount last saw; close() and fsync() return once every byte written through the descriptor is
 * committed. The kernel caches names and attributes for entry_timeout/attr_timeout (1 s unless the
 * mount's -o says otherwise).
 *
 * Every operation ends within the mount's request timeout (one Deadline over all its cluster calls
 * and waits); a failure maps to one errno through errno.ts.
 */
import type { CallOptions, FsAttrChange, FsDirPage, FsOwnerIds } from '../client/fsraft_client.js';
import { FsraftFsError } from '../client/errors.js';
import type { Clock, DeadlineClock } from '../clock/clock.js';
import { Deadline } from '../clock/deadline.js';
import type { DiskStat } from '../codec/client_protocol.js';
import type { FsNodeKind, FsNodeStat, FsSpecialKind, RenameMode, Timespec, XattrSetMode } from '../fs/types.js';
import { withoutSetid } from '../fs/tree_common.js';
import { limits } from '../util/limits.js';
import { FuseOperationError } from './errno.js';
import { HoldKeeper } from './holds.js';
import type { FuseAttr, FuseAttrReply, FuseContext, FuseDirEntry, FuseEntry, FuseFileSystem, FuseOpenResult, FuseSetattr, FuseStatfs } from './kernel/fuse_file_system.js';
import { OpenFile, type OpenFileLimits } from './open_file.js';
import { callWithin } from './operation_deadline.js';

/** The calls the mount makes (FsraftClient's; a test may pass another implementation). */
export interface ClusterBackend {
  readonly addresses: readonly string[];
  attr(name: string, options?: CallOptions): Promise<FsNodeStat>;
  readdir(name: string, cookie: number, count: number, plus: boolean, options?: CallOptions): Promise<FsDirPage>;
  readlink(name: string, options?: CallOptions): Promise<Uint8Array>;
  getxattr(name: string, attr: string, options?: CallOptions): Promise<Uint8Array>;
  listxattr(name: string, options?: CallOptions): Promise<string[]>;
  seek(name: string, offset: number, whence: 'data' | 'hole', options?: CallOptions): Promise<number>;
  readAt(name: string, offset: number, count: number, options?: CallOptions): Promise<{ version: number; content: Uint8Array }>;
  mknod(name: string, kind: 'file' | 'dir' | FsSpecialKind, mode: number, rdev: number, owner: FsOwnerIds, options?: CallOptions): Promise<FsNodeStat>;
  symlink(name: string, target: Uint8Array, owner: FsOwnerIds, options?: CallOptions): Promise<FsNodeStat>;
  link(name: string, to: string, options?: CallOptions): Promise<FsNodeStat>;
  setattrs(name: string, change: FsAttrChange, options?: CallOptions): Promise<FsNodeStat>;
  renameWith(from: string, to: string, mode: RenameMode, ifVersion?: number, options?: CallOptions): Promise<void>;
  rmdir(name: string, options?: CallOptions): Promise<void>;
  delete(name: string, options?: CallOptions): Promise<boolean>;
  writeAt(name: string, offset: number, content: Uint8Array, options?: CallOptions): Promise<{ version: number }>;
  setxattr(name: string, attr: string, value: Uint8Array, mode: XattrSetMode, options?: CallOptions): Promise<{ version: number }>;
  removexattr(name: string, attr: string, options?: CallOptions): Promise<{ version: number }>;
  fallocate(name: string, offset: number, length: number, punch: boolean, keepSize: boolean, options?: CallOptions): Promise<{ version: number }>;
  hold(name: string, holder: number, delta: 1 | -1 | 0, options?: CallOptions): Promise<void>;
  statfsOf(address: string, options?: CallOptions): Promise<DiskStat>;
}

/** Tunables of a mount. */
export interface ClusterFsOptions {
  /** Largest writeat/readat: the cluster's contentBytesMax. */
  readonly chunkBytes: number;
  /** How long one operation may take, every cluster call and wait included. */
  readonly requestTimeoutMs: number;
  readonly entryTimeoutMs: number;
  readonly attrTimeoutMs: number;
  /** This mount's holder id (random per mount). */
  readonly holder: number;
  readonly clock: Clock & DeadlineClock;
  readonly dirtyBytesMax?: number;
  readonly writesInFlightMax?: number;
  readonly handlesMax?: number;
  /** Where failures that become EIO are reported (the mount logs them). */
  readonly onError?: (what: string, error: unknown) => void;
  /**
   * Drops the kernel's cached attributes (and pages) of a node: open() calls it when the node
   * changed since this mount last saw it, so the kernel's next read uses the size open() found
   * (close-to-open across mounts), not one it cached from an earlier stat.
   */
  readonly invalidate?: (ino: number) => Promise<void>;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const typeBitsOfKind: Readonly<Record<FsNodeKind, number>> = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, fifo: S_IFIFO, socket: S_IFSOCK, chr: S_IFCHR, blk: S_IFBLK };
const O_ACCMODE = 3;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const O_EXCL = 0o200;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
/** st_blksize reported for every node: large, so cp and cat move 128 KiB per system call. */
const preferredIoBytes = 128 * 1024;
/** Bytes a readdir entry takes in the kernel's buffer, roughly (plus: with its attributes). */
const direntBytes = 64;
const direntPlusBytes = 200;
/** How long the cluster's disk figures answer statfs before they are asked again. */
const statfsCacheMs = 1000;

/** The virtual extended attributes (README "Versions and expiry in the mount"). */
const versionAttr = 'user.fsraft.version';
const exptimeAttr = 'user.fsraft.exptime';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

interface Handle {
  readonly ino: number;
  /** Files only: the write-behind buffer. */
  readonly file: OpenFile | undefined;
}

/** The mount's FuseFileSystem over the cluster. */
export class ClusterFs implements FuseFileSystem {
  private readonly handles = new Map<number, Handle>();
  /** The open files of each node: a read, a write or an attribute reply looks up its node's, not every handle. */
  private readonly filesByIno = new Map<number, Set<OpenFile>>();
  private nextHandle = 1;
  private readonly fileLimits: OpenFileLimits;
  private readonly handlesMax: number;
  readonly holds: HoldKeeper;
  /** Size and mtime each node had when this mount last saw it opened (keep the page cache if unchanged). */
  private readonly openedAs = new Map<number, string>();
  private statfsCache: { readonly atMs: number; readonly value: FuseStatfs } | undefined;
  private readonly onError: (what: string, error: unknown) => void;

  constructor(
    private readonly backend: ClusterBackend,
    private readonly options: ClusterFsOptions,
  ) {
    this.fileLimits = {
      chunkBytes: options.chunkBytes,
      dirtyBytesMax: Math.max(options.dirtyBytesMax ?? limits.fuseDirtyBytesMax, options.chunkBytes),
      writesInFlightMax: options.writesInFlightMax ?? limits.fuseWritesInFlightMax,
      writeTimeoutMs: options.requestTimeoutMs,
    };
    this.handlesMax = options.handlesMax ?? limits.fuseHandlesMax;
    this.onError = options.onError ?? (() => undefined);
    this.holds = new HoldKeeper(backend, options.holder, options.clock, this.onError);
  }

  async lookup(_ctx: FuseContext, parent: number, name: Uint8Array): Promise<FuseEntry> {
    const deadline = this.deadline();
    return this.entryOf(await this.call(deadline, 'lookup', (o) => this.backend.attr(child(parent, name), o)));
  }

  async getattr(_ctx: FuseContext, ino: number, _fh?: number): Promise<FuseAttrReply> {
    const deadline = this.deadline();
    const attr = await this.call(deadline, 'getattr', (o) => this.backend.attr(anchor(ino), o));
    return { attr: this.fuseAttr(attr), attrTimeoutMs: this.options.attrTimeoutMs };
  }

  async setattr(_ctx: FuseContext, ino: number, changes: FuseSetattr): Promise<FuseAttrReply> {
    const deadline = this.deadline();
    // Writes still buffered land first: a truncate or utimens must come after them, as locally.
    await this.flushNode(ino, deadline);
    const change: FsAttrChange = {
      ...(changes.mode === undefined ? {} : { mode: changes.mode & 0o7777 }),
      ...(changes.uid === undefined ? {} : { uid: changes.uid }),
      ...(changes.gid === undefined ? {} : { gid: changes.gid }),
      ...(changes.size === undefined ? {} : { size: changes.size }),
      ...(changes.atime === undefined ? {} : { atime: changes.atime }),
      ...(changes.mtime === undefined ? {} : { mtime: changes.mtime }),
    };
    const attr = await this.call(deadline, 'setattr', (o) => this.backend.setattrs(anchor(ino), change, o));
    return { attr: this.fuseAttr(attr), attrTimeoutMs: this.options.attrTimeoutMs };
  }

  async readlink(_ctx: FuseContext, ino: number): Promise<Uint8Array> {
    const deadline = this.deadline();
    return this.call(deadline, 'readlink', (o) => this.backend.readlink(anchor(ino), o));
  }

  async mknod(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, rdev: number): Promise<FuseEntry> {
    const kind = specialKindOf(mode);
    const deadline = this.deadline();
    return this.entryOf(await this.call(deadline, 'mknod', (o) => this.backend.mknod(child(parent, name), kind, mode & 0o7777, rdev, owner(ctx), o)));
  }

  async mkdir(ctx: FuseContext, parent: number, name: Uint8Array, mode: number): Promise<FuseEntry> {
    const deadline = this.deadline();
    return this.entryOf(await this.call(deadline, 'mkdir', (o) => this.backend.mknod(child(parent, name), 'dir', mode & 0o7777, 0, owner(ctx), o)));
  }

  async unlink(_ctx: FuseContext, parent: number, name: Uint8Array): Promise<void> {
    const deadline = this.deadline();
    await this.holdsLanded(deadline);
    const existed = await this.call(deadline, 'unlink', (o) => this.backend.delete(child(parent, name), o));
    if (!existed) throw new FuseOperationError('ENOENT', 'no such entry');
  }

  async rmdir(_ctx: FuseContext, parent: number, name: Uint8Array): Promise<void> {
    const deadline = this.deadline();
    await this.holdsLanded(deadline);
    await this.call(deadline, 'rmdir', (o) => this.backend.rmdir(child(parent, name), o));
  }

  async symlink(ctx: FuseContext, parent: number, name: Uint8Array, target: Uint8Array): Promise<FuseEntry> {
    const deadline = this.deadline();
    return this.entryOf(await this.call(deadline, 'symlink', (o) => this.backend.symlink(child(parent, name), target, owner(ctx), o)));
  }

  async rename(_ctx: FuseContext, parent: number, name: Uint8Array, newParent: number, newName: Uint8Array, flags: number): Promise<void> {
    if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0 || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
      throw new FuseOperationError('EINVAL', `rename flags ${flags}`);
    }
    const mode: RenameMode = (flags & RENAME_EXCHANGE) !== 0 ? 'exchange' : (flags & RENAME_NOREPLACE) !== 0 ? 'noreplace' : 'replace';
    const deadline = this.deadline();
    await this.holdsLanded(deadline);
    await this.call(deadline, 'rename', (o) => this.backend.renameWith(child(parent, name), child(newParent, newName), mode, undefined, o));
  }

  async link(_ctx: FuseContext, ino: number, newParent: number, newName: Uint8Array): Promise<FuseEntry> {
    const deadline = this.deadline();
    return this.entryOf(await this.call(deadline, 'link', (o) => this.backend.link(anchor(ino), child(newParent, newName), o)));
  }

  async open(ctx: FuseContext, ino: number, flags: number): Promise<FuseOpenResult> {
    this.reserveHandle();
    const deadline = this.deadline();
    const writable = (flags & O_ACCMODE) !== 0;
    let attr: FsNodeStat;
    if ((flags & O_TRUNC) !== 0 && writable) {
      // FUSE_ATOMIC_O_TRUNC: the kernel leaves the truncate of open(O_TRUNC) to the file system.
      await this.flushNode(ino, deadline);
      attr = await this.call(deadline, 'open', (o) => this.backend.setattrs(anchor(ino), { size: 0, mtime: 'now' }, o));
      // As truncate(2) does, which the kernel leaves to us here: setuid goes, and setgid when it
      // means "execute as the group", unless the caller may keep them (root, for CAP_FSETID).
      const kept = ctx.uid === 0 ? attr.mode : withoutSetid(attr.mode);
      if (kept !== attr.mode) attr = await this.call(deadline, 'open', (o) => this.backend.setattrs(anchor(ino), { mode: kept }, o));
    } else {
      attr = await this.call(deadline, 'open', (o) => this.backend.attr(anchor(ino), o));
    }
    const keepCache = this.unchangedSinceLastOpen(attr);
    if (!keepCache) await this.options.invalidate?.(ino).catch((error: unknown) => this.onError(`invalidating node ${ino}`, error));
    return { fh: this.allocate(ino, attr, (flags & O_APPEND) !== 0), keepCache };
  }

  async create(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, flags: number): Promise<{ entry: FuseEntry; open: FuseOpenResult }> {
    this.reserveHandle();
    const deadline = this.deadline();
    let attr: FsNodeStat;
    try {
      attr = await this.call(deadline, 'create', (o) => this.backend.mknod(child(parent, name), 'file', mode & 0o7777, 0, owner(ctx), o));
    } catch (error) {
      // The kernel looked first and found nothing; another mount created it since. Without
      // O_EXCL, open(2) opens the file that is there.
      if ((flags & O_EXCL) !== 0 || !(error instanceof FsraftFsError && error.code === 'EEXIST')) throw error;
      attr = await this.call(deadline, 'create', (o) => this.backend.attr(child(parent, name), o));
      if (attr.kind !== 'file') throw new FuseOperationError('EISDIR', 'the name now leads to something that is not a file');
    }
    const fh = this.allocate(attr.ino, attr, (flags & O_APPEND) !== 0);
    return { entry: this.entryOf(attr), open: { fh } };
  }

  async read(_ctx: FuseContext, ino: number, fh: number, offset: number, size: number): Promise<Uint8Array> {
    const handle = this.handle(fh);
    const deadline = this.deadline();
    const file = handle.file!;
    // A read sees every write that returned, through any descriptor (as locally): the node's
    // other descriptors' buffered writes land first, then, in order with its own, this one's.
    await this.flushOthers(ino, file, deadline);
    const fetch = async (): Promise<Uint8Array> => {
      const parts: Uint8Array[] = [];
      let got = 0;
      while (got < size) {
        const count = Math.min(size - got, this.options.chunkBytes);
        const { content } = await this.call(deadline, 'read', (o) => this.backend.readAt(anchor(ino), offset + got, count, o));
        parts.push(content);
        got += content.length;
        if (content.length < count) break;
      }
      return parts.length === 1 ? parts[0]! : concat(parts, got);
    };
    return file.read(deadline, fetch);
  }

  async write(_ctx: FuseContext, ino: number, fh: number, offset: number, data: Uint8Array, _flags?: number): Promise<number> {
    const file = this.handle(fh).file!;
    const deadline = this.deadline();
    // Writes land in the order they returned whichever descriptor they came through (an append
    // goes after a write another descriptor still buffers, an overlapping write over it): another
    // descriptor's buffered writes are committed before this one buffers. One writer never waits here.
    await this.flushOthers(ino, file, deadline);
    return file.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), offset, deadline);
  }

  async flush(_ctx: FuseContext, _ino: number, fh: number): Promise<void> {
    await this.handle(fh).file?.flush(this.deadline());
  }

  async release(_ctx: FuseContext, ino: number, fh: number, _flags?: number): Promise<void> {
    const handle = this.handle(fh);
    try {
      await handle.file?.flush(this.deadline());
    } finally {
      this.handles.delete(fh);
      if (handle.file !== undefined) this.forgetFile(handle.ino, handle.file);
      this.holds.closed(ino);
    }
  }

  async fsync(ctx: FuseContext, ino: number, fh: number, _datasync?: boolean): Promise<void> {
    await this.flush(ctx, ino, fh);
  }

  async opendir(_ctx: FuseContext, ino: number, _flags?: number): Promise<FuseOpenResult> {
    this.reserveHandle();
    const fh = this.nextFreeHandle();
    this.handles.set(fh, { ino, file: undefined });
    return { fh };
  }

  /**
   * Offsets: 1 after '.', 2 after '..', and `cookie + 2` after an entry (the cluster's cookies are
   * stable while an entry exists, so a listing taken in pages neither repeats nor skips entries
   * that stay, whatever else changes).
   */
  async readdir(_ctx: FuseContext, ino: number, _fh: number, offset: number, sizeBytes: number, plus: boolean): Promise<FuseDirEntry[]> {
    const entries: FuseDirEntry[] = [];
    if (offset === 0) entries.push({ ino, name: encoder.encode('.'), typeBits: S_IFDIR, nextOffset: 1 });
    if (offset <= 1) entries.push({ ino, name: encoder.encode('..'), typeBits: S_IFDIR, nextOffset: 2 });
    const count = Math.max(1, Math.min(limits.readdirEntriesMax, Math.floor(sizeBytes / (plus ? direntPlusBytes : direntBytes))));
    const deadline = this.deadline();
    const page = await this.call(deadline, 'readdir', (o) => this.backend.readdir(anchor(ino), Math.max(0, offset - 2), count, plus, o));
    for (const entry of page.entries) {
      entries.push({
        ino: entry.ino,
        name: encoder.encode(entry.name),
        typeBits: typeBitsOfKind[entry.kind],
        nextOffset: entry.cookie + 2,
        ...(plus && entry.attr !== undefined ? { entry: this.entryOf(entry.attr) } : {}),
      });
    }
    return entries;
  }

  async releasedir(_ctx: FuseContext, _ino: number, fh: number): Promise<void> {
    this.handles.delete(fh);
  }

  /**
   * The cluster's capacity: the smallest disk and free space of the nodes that answer (free
   * space less each node's reserve), since every node holds every byte.
   */
  async statfs(): Promise<FuseStatfs> {
    const cached = this.statfsCache;
    if (cached !== undefined && this.options.clock.monotonicMs() - cached.atMs < statfsCacheMs) return cached.value;
    const deadline = this.deadline();
    const answers = await Promise.allSettled(this.backend.addresses.map((address) => callWithin(deadline, `statfs ${address}`, (o) => this.backend.statfsOf(address, o))));
    const disks = answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
    if (disks.length === 0) throw new FuseOperationError('EIO', 'no node answered statfs');
    const blockBytes = 4096;
    const totalBytes = Math.min(...disks.map((disk) => disk.totalBytes));
    const freeBytes = Math.min(...disks.map((disk) => disk.freeBytes));
    const inodes = Math.max(...disks.map((disk) => disk.inodes));
    // Inodes cost a few hundred bytes of metadata each: report what the free space could hold.
    const freeInodes = Math.floor(freeBytes / 512);
    const value: FuseStatfs = {
      bsize: blockBytes,
      frsize: blockBytes,
      blocks: Math.floor(totalBytes / blockBytes),
      bfree: Math.floor(freeBytes / blockBytes),
      bavail: Math.floor(freeBytes / blockBytes),
      files: inodes + freeInodes,
      ffree: freeInodes,
      namelen: limits.componentBytesMax,
    };
    this.statfsCache = { atMs: this.options.clock.monotonicMs(), value };
    return value;
  }

  async setxattr(_ctx: FuseContext, ino: number, name: string, value: Uint8Array, flags: number): Promise<void> {
    const deadline = this.deadline();
    if (name === versionAttr) throw new FuseOperationError('EPERM', `${versionAttr} is read-only`);
    if (name === exptimeAttr) {
      const seconds = Number(decodeText(value).trim());
      if (!Number.isSafeInteger(seconds)) throw new FuseOperationError('EINVAL', `${exptimeAttr} takes whole seconds`);
      await this.call(deadline, 'setxattr', (o) => this.backend.setattrs(anchor(ino), { exptimeSeconds: seconds }, o));
      return;
    }
    const mode: XattrSetMode = flags === 1 ? 'create' : flags === 2 ? 'replace' : 'any';
    await this.call(deadline, 'setxattr', (o) => this.backend.setxattr(anchor(ino), name, value, mode, o));
  }

  async getxattr(_ctx: FuseContext, ino: number, name: string): Promise<Uint8Array> {
    const deadline = this.deadline();
    if (name === versionAttr || name === exptimeAttr) {
      const attr = await this.call(deadline, 'getxattr', (o) => this.backend.attr(anchor(ino), o));
      if (name === exptimeAttr && attr.kind !== 'file') throw new FuseOperationError('ENODATA', 'only files expire');
      return encoder.encode(String(name === versionAttr ? attr.version : attr.exptimeRemainingSeconds));
    }
    return this.call(deadline, 'getxattr', (o) => this.backend.getxattr(anchor(ino), name, o));
  }

  async listxattr(_ctx: FuseContext, ino: number): Promise<string[]> {
    const deadline = this.deadline();
    // The virtual attributes are not listed: cp -a and rsync -X would copy them and fail to set
    // a read-only one (CephFS hides its ceph.* attributes the same way).
    return this.call(deadline, 'listxattr', (o) => this.backend.listxattr(anchor(ino), o));
  }

  async removexattr(_ctx: FuseContext, ino: number, name: string): Promise<void> {
    const deadline = this.deadline();
    if (name === versionAttr) throw new FuseOperationError('EPERM', `${versionAttr} is read-only`);
    if (name === exptimeAttr) {
      await this.call(deadline, 'removexattr', (o) => this.backend.setattrs(anchor(ino), { exptimeSeconds: 0 }, o));
      return;
    }
    await this.call(deadline, 'removexattr', (o) => this.backend.removexattr(anchor(ino), name, o));
  }

  async fallocate(_ctx: FuseContext, ino: number, _fh: number, offset: number, length: number, mode: number): Promise<void> {
    const punch = (mode & FALLOC_FL_PUNCH_HOLE) !== 0;
    const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
    if ((mode & ~(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) !== 0 || (punch && !keepSize)) {
      throw new FuseOperationError('EOPNOTSUPP', `fallocate mode ${mode}`);
    }
    const deadline = this.deadline();
    await this.flushNode(ino, deadline);
    await this.call(deadline, 'fallocate', (o) => this.backend.fallocate(anchor(ino), offset, length, punch, keepSize, o));
  }

  async lseek(_ctx: FuseContext, ino: number, _fh: number, offset: number, whence: number): Promise<number> {
    if (whence !== 3 && whence !== 4) throw new FuseOperationError('EINVAL', `lseek whence ${whence}`);
    const deadline = this.deadline();
    await this.flushNode(ino, deadline);
    return this.call(deadline, 'lseek', (o) => this.backend.seek(anchor(ino), offset, whence === 3 ? 'data' : 'hole', o));
  }

  destroy(): void {
    this.holds.close();
  }

  /** Open descriptors (for tests and the mount's shutdown message). */
  get openFiles(): number {
    return this.handles.size;
  }

  // -------------------------------------------------------------------------------------------

  private deadline(): Deadline {
    return Deadline.after(this.options.clock, this.options.requestTimeoutMs);
  }

  private call<T>(deadline: Deadline, what: string, call: (options: CallOptions) => Promise<T>): Promise<T> {
    return callWithin(deadline, what, call);
  }

  /** The kernel's view of a node the cluster answered with. */
  private entryOf(attr: FsNodeStat): FuseEntry {
    return { ino: attr.ino, generation: 0, attr: this.fuseAttr(attr), entryTimeoutMs: this.options.entryTimeoutMs, attrTimeoutMs: this.options.attrTimeoutMs };
  }

  /** struct fuse_attr, with this mount's unflushed writes counted in the size. */
  private fuseAttr(attr: FsNodeStat): FuseAttr {
    let size = attr.size;
    for (const file of this.filesByIno.get(attr.ino) ?? []) if (file.dirty) size = file.localSize(size);
    return {
      ino: attr.ino,
      size,
      blocks: attr.blocks,
      atime: attr.atime,
      mtime: attr.mtime,
      ctime: attr.ctime,
      mode: typeBitsOfKind[attr.kind] | attr.mode,
      nlink: attr.nlink,
      uid: attr.uid,
      gid: attr.gid,
      rdev: attr.rdev,
      blksize: preferredIoBytes,
    };
  }

  private unchangedSinceLastOpen(attr: FsNodeStat): boolean {
    const seen = `${attr.size}/${timeKey(attr.mtime)}`;
    const previous = this.openedAs.get(attr.ino);
    this.openedAs.set(attr.ino, seen);
    // Bounded: forget the oldest beyond the handle limit.
    if (this.openedAs.size > this.handlesMax) this.openedAs.delete(this.openedAs.keys().next().value!);
    return previous === seen;
  }

  private allocate(ino: number, attr: FsNodeStat, append: boolean): number {
    const fh = this.nextFreeHandle();
    const file = new OpenFile(this.backend, anchor(ino), append, this.fileLimits, this.options.clock);
    this.handles.set(fh, { ino, file });
    const files = this.filesByIno.get(ino);
    if (files === undefined) this.filesByIno.set(ino, new Set([file]));
    else files.add(file);
    this.holds.opened(ino);
    void attr;
    return fh;
  }

  private nextFreeHandle(): number {
    // Handles are u64 for the kernel; skip any still in use after wrapping at 2^32.
    while (this.nextHandle === 0 || this.handles.has(this.nextHandle)) this.nextHandle = (this.nextHandle + 1) >>> 0;
    const handle = this.nextHandle;
    this.nextHandle = (this.nextHandle + 1) >>> 0;
    return handle;
  }

  private reserveHandle(): void {
    if (this.handles.size >= this.handlesMax) throw new FuseOperationError('EMFILE', `${this.handles.size} files open (fuseHandlesMax)`);
  }

  private handle(fh: number): Handle {
    const handle = this.handles.get(fh);
    if (handle === undefined) throw new FuseOperationError('EBADF', `no open file ${fh}`);
    return handle;
  }

  /** Commits every descriptor's buffered writes to `ino`. */
  private async flushNode(ino: number, deadline: Deadline): Promise<void> {
    await this.flushAll(this.filesOf(ino), deadline);
  }

  /**
   * Commits the buffered writes of `ino`'s descriptors other than `file`, leaving their failures
   * to their own close (called outside `file`'s queue, so two descriptors never wait on each other).
   */
  private async flushOthers(ino: number, file: OpenFile, deadline: Deadline): Promise<void> {
    await Promise.all(this.filesOf(ino).filter((other) => other !== file && other.dirty).map((other) => other.land(deadline)));
  }

  private filesOf(ino: number): OpenFile[] {
    return [...(this.filesByIno.get(ino) ?? [])];
  }

  private forgetFile(ino: number, file: OpenFile): void {
    const files = this.filesByIno.get(ino);
    files?.delete(file);
    if (files?.size === 0) this.filesByIno.delete(ino);
  }

  private async flushAll(files: readonly OpenFile[], deadline: Deadline): Promise<void> {
    const results = await Promise.allSettled(files.map((file) => file.flush(deadline)));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /** Waits for the holds this mount has sent (an unlink must not overtake the hold of an open). */
  private async holdsLanded(deadline: Deadline): Promise<void> {
    await deadline.race(this.holds.settled(), () => undefined);
  }
}

/** `//<parent>/<name>`: a name anchored at its directory's inode. */
function child(parent: number, name: Uint8Array): string {
  return `//${parent}/${decodeText(name)}`;
}

function anchor(ino: number): string {
  return `//${ino}`;
}

/** A name's bytes as text; names that are not UTF-8 are refused (the cluster names are text). */
function decodeText(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new FuseOperationError('EILSEQ', 'the name is not valid UTF-8');
  }
}

function owner(ctx: FuseContext): FsOwnerIds {
  return { uid: ctx.uid, gid: ctx.gid };
}

function specialKindOf(mode: number): 'file' | FsSpecialKind {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case 0:
      return 'file';
    case S_IFIFO:
      return 'fifo';
    case S_IFSOCK:
      return 'socket';
    case S_IFCHR:
      return 'chr';
    case S_IFBLK:
      return 'blk';
    default:
      throw new FuseOperationError('EINVAL', `mknod of type ${(mode & S_IFMT).toString(8)}`);
  }
}

function timeKey(time: Timespec): string {
  return `${time.sec}.${time.nsec}`;
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
