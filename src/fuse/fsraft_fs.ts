/**
 * The FUSE operations of an fsraft mount: each kernel request becomes one or a few calls of the
 * cluster's tree commands (stat, list, readat, writeat, create, mkdir, rename, ...). Failures are
 * mapped to errno by the one table in errno.ts. Consistency is close-to-open: open() always asks
 * the cluster, close() and fsync() return only once the file's writes are committed, and getattr
 * may answer from the last directory listing for up to fuseAttrCacheTtlMs.
 *
 * Every operation ends within operationTimeoutMs plus limits.deadlineSlackMs: one Deadline, set
 * when the kernel's request arrives, bounds each cluster call and each wait it makes (see
 * operation_deadline.ts), and one that runs out fails with EIO naming what it waited for.
 *
 * The methods are async and throw FsraftError values; `operations()` adapts them to fuse-native's
 * callbacks. Unit tests drive the async methods against an in-memory FsBackend.
 */
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type FuseNative from 'fuse-native';
import { systemClock, type DeadlineClock } from '../clock/clock.js';
import { Deadline } from '../clock/deadline.js';
import { limits } from '../util/limits.js';
import { AttrCache } from './attr_cache.js';
import { FuseOperationError, errnoOf, hasCode } from './errno.js';
import type { FsBackend, FsSetattr, FsStat } from './fs_backend.js';
import { OpenFile, type OpenFileLimits } from './open_file.js';
import { callWithin } from './operation_deadline.js';
import { ReadAhead, ReadAheadBudget } from './read_ahead.js';

/** Tunables of a mount; every field has a default from limits.ts except chunkBytes. */
export interface FsraftFsOptions {
  /** Largest content of one writeat/readat: the cluster's contentBytesMax. */
  readonly chunkBytes: number;
  readonly dirtyBytesMax?: number;
  readonly writesInFlightMax?: number;
  readonly handlesMax?: number;
  readonly attrCacheTtlMs?: number;
  readonly attrCacheEntriesMax?: number;
  readonly readAheadBytesMax?: number;
  /** Clock for the attribute cache (tests pass a fake). */
  readonly nowMs?: () => number;
  /**
   * How long one operation may take, all its cluster calls and waits included, before it fails
   * with EIO; also the bound on each buffered write once sent. The mount passes its
   * --request-timeout-ms. Default fuseRequestTimeoutMs.
   */
  readonly operationTimeoutMs?: number;
  /** Clock for operation deadlines (tests pass a fake). */
  readonly clock?: DeadlineClock;
  /** Where failures that become EIO are reported (the mount logs them to stderr). */
  readonly onError?: (operation: string, path: string, error: unknown) => void;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** st_blksize reported for every node: large, so cp/cat move 128 KiB per system call. */
const preferredIoBytes = 128 * 1024;
/** chown's "leave unchanged" value ((uid_t)-1 as FUSE passes it). */
const unchangedId = 0xffffffff;
/**
 * The binding built by native/build_fuse_binding.mjs passes UTIME_OMIT ("leave this time alone")
 * as UINT64_MAX ms, which arrives as about 1.8e19; UTIME_NOW arrives as the current time.
 */
const utimeOmitMsMin = 2 ** 53;

/** The mount's operations over one FsBackend. */
export class FsraftFs {
  private readonly backend: FsBackend;
  private readonly fileLimits: OpenFileLimits;
  private readonly handlesMax: number;
  private readonly handles = new Map<number, OpenFile>();
  private nextHandle = 1;
  private readonly attrs: AttrCache;
  private readonly readAheadBudget: ReadAheadBudget;
  /** Read-ahead windows by handle, created on a handle's first read. */
  private readonly readAheads = new Map<number, ReadAhead>();
  private readonly onError: (operation: string, path: string, error: unknown) => void;
  private readonly clock: DeadlineClock;
  private readonly operationTimeoutMs: number;

  constructor(backend: FsBackend, options: FsraftFsOptions) {
    this.backend = backend;
    this.clock = options.clock ?? systemClock;
    this.operationTimeoutMs = options.operationTimeoutMs ?? limits.fuseRequestTimeoutMs;
    this.fileLimits = {
      chunkBytes: options.chunkBytes,
      dirtyBytesMax: Math.max(options.dirtyBytesMax ?? limits.fuseDirtyBytesMax, options.chunkBytes),
      writesInFlightMax: options.writesInFlightMax ?? limits.fuseWritesInFlightMax,
      writeTimeoutMs: this.operationTimeoutMs,
    };
    this.handlesMax = options.handlesMax ?? limits.fuseHandlesMax;
    this.attrs = new AttrCache(
      Math.min(options.attrCacheTtlMs ?? limits.fuseAttrCacheTtlMs, 1000),
      options.attrCacheEntriesMax ?? limits.fuseAttrCacheEntriesMax,
      options.nowMs ?? Date.now,
    );
    this.onError = options.onError ?? (() => undefined);
    this.readAheadBudget = new ReadAheadBudget(options.readAheadBytesMax ?? limits.fuseReadAheadBytesMax);
  }

  /** Number of open files (for tests and the mount's shutdown message). */
  get openFiles(): number {
    return this.handles.size;
  }

  /** Attributes of `path`: from the listing cache when fresh, with the local size of unflushed writes. */
  async getattr(path: string): Promise<FuseNative.Stat> {
    const stat = this.attrs.get(path) ?? (await this.stat(path, this.deadline()));
    let size = stat.size;
    for (const file of this.handles.values()) if (file.path === path && file.dirty) size = file.localSize(size);
    return toFuseStat(stat, size);
  }

  /** Entry names of directory `path` ('.' and '..' first); fills the attribute cache. */
  async readdir(path: string): Promise<string[]> {
    const entries = await callWithin(this.deadline(), `list ${path}`, (options) => this.backend.list(path, options));
    this.attrs.fill(path, entries);
    return ['.', '..', ...entries.map((entry) => entry.name)];
  }

  /** Opens an existing file, revalidating it with the cluster (close-to-open); O_TRUNC empties it. */
  open(path: string, flags: number): Promise<number> {
    return this.openWithin(path, flags, this.deadline());
  }

  private async openWithin(path: string, flags: number, deadline: Deadline): Promise<number> {
    this.attrs.invalidate(path);
    const stat = await this.stat(path, deadline);
    // The kernel asks getattr for the size before it reads: answer with what open just learnt.
    this.attrs.put(path, stat);
    const accessMode = flags & 3;
    if (stat.kind === 'dir' && accessMode !== fsConstants.O_RDONLY) throw fsError('EISDIR', `${path} is a directory`);
    if ((flags & fsConstants.O_TRUNC) !== 0 && accessMode !== fsConstants.O_RDONLY && stat.size > 0) {
      this.dropReadAhead(path);
      await this.flushPath(path, deadline);
      await callWithin(deadline, `truncate ${path}`, (options) => this.backend.truncate(path, 0, options));
      this.attrs.invalidate(path);
    }
    return this.allocate(path, (flags & fsConstants.O_APPEND) !== 0);
  }

  /**
   * Creates and opens a file (open with O_CREAT). The kernel calls this only after its lookup
   * found no such file, but another mount may create it in between: with O_EXCL that is EEXIST
   * (lock files stay exclusive across mounts); without, the file is opened as it is, as open(2)
   * does. `flags` come from the binding built by native/build_fuse_binding.mjs; when they are
   * missing the create is exclusive.
   */
  async create(path: string, mode: number, flags?: number): Promise<number> {
    checkPath(path);
    this.reserveHandle();
    const exclusive = flags === undefined || (flags & fsConstants.O_EXCL) !== 0;
    const deadline = this.deadline();
    let version: number;
    try {
      ({ version } = await callWithin(deadline, `create ${path}`, (options) => this.backend.create(path, mode & 0o7777, true, options)));
    } catch (error) {
      if (exclusive || !hasCode(error, 'EEXIST')) throw error;
      return this.openWithin(path, flags!, deadline);
    }
    this.attrs.invalidate(path);
    // The kernel asks for the new file's attributes at once: this mount knows them already.
    this.attrs.put(path, this.createdStat(version, mode));
    return this.allocate(path, flags !== undefined && (flags & fsConstants.O_APPEND) !== 0);
  }

  /**
   * Copies file bytes at `position` into `buffer`, after this handle's own writes are committed.
   * Sequential reads are answered from a read-ahead window of up to chunkBytes.
   */
  async read(handle: number, buffer: Buffer, length: number, position: number): Promise<number> {
    const file = this.file(handle);
    const deadline = this.deadline();
    const readAt = (offset: number, count: number): Promise<{ content: Uint8Array }> =>
      callWithin(deadline, `readat ${file.path}`, (options) => this.backend.readAt(file.path, offset, count, options));
    return file.serialize(deadline, async () => {
      file.checkUsable();
      await file.flushNow(deadline);
      const readAhead = this.readAheadOf(handle);
      const cached = readAhead.take(position, length);
      if (cached !== undefined) {
        buffer.set(cached);
        return cached.length;
      }
      if (readAhead.isSequential(position) && length < this.fileLimits.chunkBytes) {
        const { content } = await readAt(position, this.fileLimits.chunkBytes);
        if (readAhead.keep(position, content, content.length < this.fileLimits.chunkBytes)) {
          const served = readAhead.take(position, length) ?? new Uint8Array(0);
          buffer.set(served);
          return served.length;
        }
        const served = content.subarray(0, length);
        buffer.set(served);
        readAhead.readDone(position, served.length);
        return served.length;
      }
      let filled = 0;
      while (filled < length) {
        const count = Math.min(length - filled, this.fileLimits.chunkBytes);
        const { content } = await readAt(position + filled, count);
        buffer.set(content, filled);
        filled += content.length;
        if (content.length < count) break;
      }
      readAhead.readDone(position, filled);
      return filled;
    });
  }

  /** Buffers a write; the bytes are committed by flush, fsync or release at the latest. */
  write(handle: number, data: Buffer, position: number): Promise<number> {
    const file = this.file(handle);
    this.attrs.invalidate(file.path);
    this.dropReadAhead(file.path);
    return file.write(data, position, this.deadline());
  }

  /** Waits until every write of `handle` is committed; reports the first failure. */
  async flush(handle: number): Promise<void> {
    const file = this.file(handle);
    try {
      await file.flush(this.deadline());
    } finally {
      this.attrs.invalidate(file.path);
    }
  }

  /** Closes `handle` after flushing it; the handle is gone even if the flush failed. */
  async release(handle: number): Promise<void> {
    this.file(handle);
    try {
      await this.flush(handle);
    } finally {
      this.readAheads.get(handle)?.drop();
      this.readAheads.delete(handle);
      this.handles.delete(handle);
    }
  }

  /** Sets the size of `path`, after committing this mount's writes to it. */
  async truncate(path: string, size: number): Promise<void> {
    const deadline = this.deadline();
    this.dropReadAhead(path);
    await this.flushPath(path, deadline);
    await callWithin(deadline, `truncate ${path}`, (options) => this.backend.truncate(path, size, options));
    this.attrs.invalidate(path);
  }

  /** Sets the size of an open file, after committing its writes. */
  async ftruncate(handle: number, size: number): Promise<void> {
    const file = this.file(handle);
    const deadline = this.deadline();
    this.dropReadAhead(file.path);
    await file.serialize(deadline, async () => {
      file.checkUsable();
      await file.flushNow(deadline);
      await callWithin(deadline, `truncate ${file.path}`, (options) => this.backend.truncate(file.path, size, options));
    });
    this.attrs.invalidate(file.path);
  }

  /** Removes a file. */
  async unlink(path: string): Promise<void> {
    const deadline = this.deadline();
    const open = [...this.handles.values()].filter((file) => file.path === path);
    await flushAllOf(open, deadline);
    const existed = await callWithin(deadline, `delete ${path}`, (options) => this.backend.delete(path, options));
    this.attrs.invalidate(path);
    if (!existed) throw fsError('ENOENT', `${path} does not exist`);
    for (const file of open) file.orphan(fsError('ENOENT', `${path} was removed while open`));
  }

  /** Creates a directory. */
  async mkdir(path: string, mode: number): Promise<void> {
    checkPath(path);
    await callWithin(this.deadline(), `mkdir ${path}`, (options) => this.backend.mkdir(path, mode & 0o7777, options));
    this.attrs.invalidate(path);
  }

  /** Removes an empty directory. */
  async rmdir(path: string): Promise<void> {
    await callWithin(this.deadline(), `rmdir ${path}`, (options) => this.backend.rmdir(path, options));
    this.attrs.clear();
  }

  /**
   * Renames atomically (POSIX rename semantics are the cluster's). Open files under `from` are
   * flushed first so their pending writes cannot land at the old name, then follow the rename.
   * A failed flush fails the rename (nothing is renamed), so the failure is not lost.
   */
  async rename(from: string, to: string): Promise<void> {
    checkPath(to);
    const deadline = this.deadline();
    const moved = [...this.handles.values()].filter((file) => isSameOrUnder(file.path, from));
    // Files open at the target are replaced: their writes must land before, and go nowhere after.
    const replaced = from === to ? [] : [...this.handles.values()].filter((file) => isSameOrUnder(file.path, to) && !moved.includes(file));
    await flushAllOf([...moved, ...replaced], deadline);
    await callWithin(deadline, `rename ${from}`, (options) => this.backend.rename(from, to, options));
    this.attrs.clear();
    for (const file of replaced) file.orphan(fsError('ENOENT', `${file.path} was replaced by a rename while open`));
    for (const file of moved) file.path = to + file.path.slice(from.length);
  }

  /** Changes permission bits. */
  async chmod(path: string, mode: number): Promise<void> {
    await this.setattr(path, { mode: mode & 0o7777 }, this.deadline());
    this.attrs.invalidate(path);
  }

  /** Changes owner and/or group ((uid_t)-1 leaves one unchanged). */
  async chown(path: string, uid: number, gid: number): Promise<void> {
    const attrs = { ...(uid === unchangedId ? {} : { uid }), ...(gid === unchangedId ? {} : { gid }) };
    if (attrs.uid === undefined && attrs.gid === undefined) return;
    await this.setattr(path, attrs, this.deadline());
    this.attrs.invalidate(path);
  }

  /**
   * Sets the times; a UTIME_OMIT one (see utimeOmitMsMin) is left unchanged. Writes still buffered
   * for the file are committed first: tar sets the mtime on the open file before closing it, and a
   * write committed after the setattr would stamp the file with the time of the close instead.
   */
  async utimens(path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    const pick = (timeMs: number): number | undefined => (timeMs >= utimeOmitMsMin ? undefined : Math.floor(timeMs));
    const [atime, mtime] = [pick(atimeMs), pick(mtimeMs)];
    if (atime === undefined && mtime === undefined) return;
    const deadline = this.deadline();
    await this.flushPath(path, deadline);
    await this.setattr(path, { ...(atime === undefined ? {} : { atimeMs: atime }), ...(mtime === undefined ? {} : { mtimeMs: mtime }) }, deadline);
    this.attrs.invalidate(path);
  }

  /** Commits every write of `handle` (fsync and fdatasync alike). */
  fsync(handle: number): Promise<void> {
    return this.flush(handle);
  }

  /** Sane fixed numbers: the cluster has no fixed capacity this mount could measure. */
  statfs(): FuseNative.Statfs {
    const blockBytes = 4096;
    const blocks = Math.floor((1024 * 1024 * 1024 * 1024) / blockBytes);
    return {
      bsize: blockBytes, frsize: blockBytes, blocks, bfree: blocks, bavail: blocks,
      files: 1_000_000, ffree: 1_000_000, favail: 1_000_000, fsid: 0, flag: 0,
      namemax: limits.fuseComponentBytesMax,
    };
  }

  /** fuse-native operations: each answers through its callback with 0, a count, or -errno. */
  operations(): FuseNative.Operations {
    const answer = <T>(operation: string, path: string, work: () => Promise<T> | T, cb: (code: number, value?: T) => void): void => {
      let promise: Promise<T>;
      try {
        promise = Promise.resolve(work());
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.then(
        (value) => cb(0, value),
        (error: unknown) => {
          const code = errnoOf(error);
          if (code === -osConstants.errno.EIO) this.onError(operation, path, error);
          cb(code);
        },
      );
    };
    const count = (operation: string, path: string, work: () => Promise<number>, cb: (code: number) => void): void =>
      answer(operation, path, work, (code, value) => cb(code === 0 ? (value ?? 0) : code));
    return {
      getattr: (path, cb) => answer('getattr', path, () => this.getattr(path), cb),
      readdir: (path, cb) => answer('readdir', path, () => this.readdir(path), cb),
      open: (path, flags, cb) => answer('open', path, () => this.open(path, flags), cb),
      create: (path, mode, cb, flags) => answer('create', path, () => this.create(path, mode, flags), cb),
      read: (path, fd, buffer, length, position, cb) => count('read', path, () => this.read(fd, buffer, length, position), cb),
      write: (path, fd, buffer, length, position, cb) => count('write', path, () => this.write(fd, buffer.subarray(0, length), position), cb),
      flush: (path, fd, cb) => answer('flush', path, () => this.flush(fd), cb),
      release: (path, fd, cb) => answer('release', path, () => this.release(fd), cb),
      fsync: (path, _datasync, fd, cb) => answer('fsync', path, () => this.fsync(fd), cb),
      truncate: (path, size, cb) => answer('truncate', path, () => this.truncate(path, size), cb),
      ftruncate: (path, fd, size, cb) => answer('ftruncate', path, () => this.ftruncate(fd, size), cb),
      unlink: (path, cb) => answer('unlink', path, () => this.unlink(path), cb),
      rename: (from, to, cb) => answer('rename', from, () => this.rename(from, to), cb),
      mkdir: (path, mode, cb) => answer('mkdir', path, () => this.mkdir(path, mode), cb),
      rmdir: (path, cb) => answer('rmdir', path, () => this.rmdir(path), cb),
      chmod: (path, mode, cb) => answer('chmod', path, () => this.chmod(path, mode), cb),
      chown: (path, uid, gid, cb) => answer('chown', path, () => this.chown(path, uid, gid), cb),
      utimens: (path, atime, mtime, cb) => answer('utimens', path, () => this.utimens(path, atime, mtime), cb),
      statfs: (path, cb) => answer('statfs', path, () => this.statfs(), cb),
    };
  }

  /** The deadline of an operation arriving now. */
  private deadline(): Deadline {
    return Deadline.after(this.clock, this.operationTimeoutMs);
  }

  private stat(path: string, deadline: Deadline): Promise<FsStat> {
    return callWithin(deadline, `stat ${path}`, (options) => this.backend.stat(path, options));
  }

  private setattr(path: string, attrs: FsSetattr, deadline: Deadline): Promise<{ version: number }> {
    return callWithin(deadline, `setattr ${path}`, (options) => this.backend.setattr(path, attrs, options));
  }

  private createdStat(version: number, mode: number): FsStat {
    const nowMs = Date.now();
    return { kind: 'file', version, size: 0, mode: mode & 0o7777, uid: 0, gid: 0, atimeMs: nowMs, mtimeMs: nowMs, ctimeMs: nowMs, exptimeSeconds: 0 };
  }

  private readAheadOf(handle: number): ReadAhead {
    let readAhead = this.readAheads.get(handle);
    if (readAhead === undefined) {
      readAhead = new ReadAhead(this.readAheadBudget);
      this.readAheads.set(handle, readAhead);
    }
    return readAhead;
  }

  /** Forgets read-ahead bytes of `path` in every handle: this mount is changing the file. */
  private dropReadAhead(path: string): void {
    if (this.readAheadBudget.used === 0) return;
    for (const [handle, readAhead] of this.readAheads) if (this.handles.get(handle)?.path === path) readAhead.drop();
  }

  private file(handle: number): OpenFile {
    const file = this.handles.get(handle);
    if (file === undefined) throw fsError('EBADF', `no open file ${handle}`);
    return file;
  }

  private reserveHandle(): void {
    if (this.handles.size >= this.handlesMax) throw fsError('EMFILE', `${this.handles.size} files open (fuseHandlesMax)`);
  }

  private allocate(path: string, append: boolean): number {
    this.reserveHandle();
    // Handles are uint32 for the kernel; skip 0 and any number still in use after wrapping.
    while (this.nextHandle === 0 || this.handles.has(this.nextHandle)) this.nextHandle = (this.nextHandle + 1) >>> 0;
    const handle = this.nextHandle;
    this.nextHandle = (this.nextHandle + 1) >>> 0;
    this.handles.set(handle, new OpenFile(this.backend, path, append, this.fileLimits, this.clock));
    return handle;
  }

  /** Commits this mount's writes to `path` from every handle, reporting the first failure. */
  private flushPath(path: string, deadline: Deadline): Promise<void> {
    return flushAllOf(
      [...this.handles.values()].filter((file) => file.path === path),
      deadline,
    );
  }
}

/** struct stat for FUSE from the cluster's attributes. */
export function toFuseStat(stat: FsStat, size: number): FuseNative.Stat {
  const isDir = stat.kind === 'dir';
  return {
    mode: (isDir ? S_IFDIR : S_IFREG) | (stat.mode & 0o7777),
    size: isDir ? 0 : size,
    nlink: isDir ? 2 : 1,
    uid: stat.uid,
    gid: stat.gid,
    atime: new Date(stat.atimeMs),
    mtime: new Date(stat.mtimeMs),
    ctime: new Date(stat.ctimeMs),
    blksize: preferredIoBytes,
    blocks: Math.ceil(size / 512),
  };
}

/** Flushes every file given, waiting for all (until `deadline`), and throws the first failure. */
async function flushAllOf(files: readonly OpenFile[], deadline: Deadline): Promise<void> {
  const results = await Promise.allSettled(files.map((file) => file.flush(deadline)));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

function fsError(code: string, message: string): FuseOperationError {
  return new FuseOperationError(code, message);
}

/** Refuses a name component longer than NAME_MAX before the cluster sees it. */
function checkPath(path: string): void {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (Buffer.byteLength(name) > limits.fuseComponentBytesMax) throw fsError('ENAMETOOLONG', `name of ${Buffer.byteLength(name)} bytes in ${path}`);
}

function isSameOrUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}
