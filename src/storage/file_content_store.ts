/**
 * The ContentStore of a node: one sparse file per inode under `<state>/content/`, fanned out over
 * two levels of 256 directories by the inode's low bytes, so no directory grows past a few
 * thousand entries. Holes cost nothing (ext4, xfs and btrfs all keep sparse files), a truncate
 * is O(1), and a write touches only the bytes it writes (README "Where a node keeps its data"
 * has the measurements that chose this over chunks in LevelDB).
 *
 * All calls are synchronous (the state machine's apply must not yield between a write and a
 * later read of it) and bounded: at most contentBytesMax per read or write. Open descriptors are
 * cached (fdCacheMax, least recently used closed first). `sync` fsyncs every file and directory
 * changed since the last sync (on the thread pool), or the whole file system (syncfs) when that
 * is far fewer calls.
 *
 * SEEK_DATA, SEEK_HOLE, hole punching and allocation need the native addon; without it a punched
 * range is written with zeros (correct, not sparse), seeking sees one data extent, and allocation
 * reserves nothing.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, unlinkSync, writeSync, constants } from 'node:fs';
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { ContentStore, SeekWhence } from '../fs/stores.js';

/** The file operations Node lacks (src/native/fsraft_native.ts provides them). */
export interface SparseFileOps {
  /** lseek SEEK_DATA: the next data at or after offset, or -1 (ENXIO). */
  seekData(fd: number, offset: number): number;
  /** lseek SEEK_HOLE: the next hole at or after offset (the end counts), or -1 (ENXIO). */
  seekHole(fd: number, offset: number): number;
  /** fallocate(2); throws with `code` (EOPNOTSUPP where the file system cannot). */
  fallocate(fd: number, mode: number, offset: number, length: number): void;
  /** syncfs(2) of the file system holding fd. */
  syncfs(fd: number): void;
}

const fallocKeepSize = 0x01;
const fallocPunchHole = 0x02;
/** Open descriptors kept; a node applies to many files, but a handful at a time. */
const fdCacheMax = 256;
/** Beyond this many changed files, one syncfs is cheaper than an fsync each. */
const syncEachFilesMax = 512;
/**
 * fsyncs in flight at once: libuv's pool has 4 threads by default and LevelDB's reads and
 * writes (the Raft log's among them) need the others.
 */
const syncsInFlightMax = 2;
/** A `sync -f` still running after this long is killed and the sync point fails. */
const syncTimeoutMs = 10 * 60 * 1000;
/** Zeros written per call where a hole cannot be punched. */
const zeroBytes = new Uint8Array(1024 * 1024);

/** Sparse content files under one directory. */
export class FileContentStore implements ContentStore {
  private readonly fds = new Map<number, number>();
  private readonly dirtyFiles = new Set<number>();
  private readonly dirtyDirs = new Set<string>();
  private readonly madeDirs = new Set<string>();
  private punchSupported = true;

  constructor(
    /** `<state>/content`, created if missing. */
    readonly directory: string,
    private readonly native: SparseFileOps | undefined,
  ) {
    mkdirSync(directory, { recursive: true });
  }

  write(ino: number, offset: number, bytes: Uint8Array): void {
    const fd = this.open(ino, true)!;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written, offset + written);
    this.dirtyFiles.add(ino);
  }

  read(ino: number, offset: number, length: number): Uint8Array {
    const fd = this.open(ino, false);
    if (fd === undefined || length === 0) return new Uint8Array(0);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const got = readSync(fd, out, filled, length - filled, offset + filled);
      if (got === 0) break;
      filled += got;
    }
    return filled === length ? out : out.subarray(0, filled);
  }

  truncate(ino: number, size: number): void {
    ftruncateSync(this.open(ino, true)!, size);
    this.dirtyFiles.add(ino);
  }

  punchHole(ino: number, offset: number, length: number): void {
    const fd = this.open(ino, false);
    if (fd === undefined || length === 0) return;
    this.dirtyFiles.add(ino);
    if (this.native !== undefined && this.punchSupported) {
      try {
        this.native.fallocate(fd, fallocPunchHole | fallocKeepSize, offset, length);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EOPNOTSUPP') throw error;
        this.punchSupported = false;
      }
    }
    const size = fstatSync(fd).size;
    const end = Math.min(size, offset + length);
    for (let at = offset; at < end; at += zeroBytes.length) writeSync(fd, zeroBytes, 0, Math.min(zeroBytes.length, end - at), at);
  }

  allocate(ino: number, offset: number, length: number): void {
    const fd = this.open(ino, true)!;
    this.dirtyFiles.add(ino);
    if (this.native === undefined) return;
    try {
      this.native.fallocate(fd, fallocKeepSize, offset, length);
    } catch (error) {
      // A file system that cannot preallocate still stores the file; the space is found on write.
      if ((error as { code?: string }).code !== 'EOPNOTSUPP') throw error;
    }
  }

  remove(ino: number): void {
    const fd = this.fds.get(ino);
    if (fd !== undefined) {
      this.fds.delete(ino);
      closeSync(fd);
    }
    this.dirtyFiles.delete(ino);
    try {
      unlinkSync(this.pathOf(ino));
      this.dirtyDirs.add(path.dirname(this.pathOf(ino)));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
  }

  blocks(ino: number): number {
    const fd = this.open(ino, false);
    return fd === undefined ? 0 : fstatSync(fd).blocks;
  }

  seek(ino: number, offset: number, whence: SeekWhence, size: number): number {
    const fd = this.open(ino, false);
    if (fd === undefined) return whence === 'hole' ? size : -1;
    if (this.native === undefined) return whence === 'data' ? (offset < size ? offset : -1) : size;
    return whence === 'data' ? this.native.seekData(fd, offset) : this.native.seekHole(fd, offset);
  }

  /**
   * Makes every change made before the call durable. The fsyncs run on libuv's thread pool, not
   * the event loop: a synchronous fsync of a file that took 64 MiB of writes held five nodes'
   * event loops for hundreds of milliseconds on one disk, long enough to miss heartbeats and
   * start an election. Files changed while they run are left for the next sync; each file is
   * reopened by its path, so a cached descriptor closed (or its number reused) meanwhile cannot
   * be synced in its place, and a file removed meanwhile needs nothing.
   */
  async sync(): Promise<void> {
    const files = [...this.dirtyFiles];
    const dirs = [...this.dirtyDirs];
    this.dirtyFiles.clear();
    this.dirtyDirs.clear();
    try {
      if (files.length > syncEachFilesMax) {
        // One syncfs instead of thousands of fsyncs (a tar x of small files).
        await this.syncFileSystem(files, dirs);
        return;
      }
      await this.syncEach(files, dirs);
    } catch (error) {
      // The caller fails its sync point; whatever is retried later must still sync these.
      for (const ino of files) this.dirtyFiles.add(ino);
      for (const dir of dirs) this.dirtyDirs.add(dir);
      throw error;
    }
  }

  /** fsync of each file, then of each directory (their new and removed names). */
  private async syncEach(files: readonly number[], dirs: readonly string[]): Promise<void> {
    await syncPaths(files.map((ino) => this.pathOf(ino)));
    await syncPaths(dirs);
  }

  /**
   * syncfs(2) of the file system holding the directory, off the event loop: `sync -f` in a child
   * process (a whole-file-system sync took 0.9-3.8 s on a loaded disk, far past an election
   * timeout). Without that program, the addon's syncfs on the event loop; without the addon,
   * an fsync of each file.
   */
  private async syncFileSystem(files: readonly number[], dirs: readonly string[]): Promise<void> {
    const synced = await runSync(this.directory);
    if (synced) return;
    if (this.native === undefined) return this.syncEach(files, dirs);
    const fd = openSync(this.directory, constants.O_RDONLY);
    try {
      this.native.syncfs(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Closes every cached descriptor. */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  /** Deletes every content file (a state directory being thrown away). */
  destroy(): void {
    this.close();
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** `<directory>/<low byte hex>/<second byte hex>/<ino>`. */
  pathOf(ino: number): string {
    const low = (ino % 256).toString(16).padStart(2, '0');
    const second = (Math.floor(ino / 256) % 256).toString(16).padStart(2, '0');
    return path.join(this.directory, low, second, String(ino));
  }

  /** The cached descriptor of `ino`'s file, opening (and with `create`, creating) it. */
  private open(ino: number, create: boolean): number | undefined {
    const cached = this.fds.get(ino);
    if (cached !== undefined) {
      this.fds.delete(ino);
      this.fds.set(ino, cached);
      return cached;
    }
    const file = this.pathOf(ino);
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDWR | (create ? constants.O_CREAT : 0), 0o600);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOENT' && create) {
        const dir = path.dirname(file);
        this.makeDir(dir);
        fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
      } else if (code === 'ENOENT') {
        return undefined;
      } else {
        throw error;
      }
    }
    if (create) this.dirtyDirs.add(path.dirname(file));
    this.fds.set(ino, fd);
    while (this.fds.size > fdCacheMax) {
      const [oldIno, oldFd] = this.fds.entries().next().value as [number, number];
      this.fds.delete(oldIno);
      // A dirty file closed here is fsynced by path at the next sync (open reopens it).
      closeSync(oldFd);
    }
    return fd;
  }

  private makeDir(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
    this.dirtyDirs.add(path.dirname(dir));
    this.dirtyDirs.add(path.dirname(path.dirname(dir)));
  }
}

/** fsync of a directory, so the names created or removed in it are durable. */
export function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of each file or directory by path, syncsInFlightMax at a time; a missing one is skipped. */
async function syncPaths(paths: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const target = paths[next++]!;
      let handle;
      try {
        handle = await open(target, constants.O_RDONLY);
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') continue;
        throw error;
      }
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(syncsInFlightMax, paths.length) }, worker));
}

/** Where `sync -f` may be; the first that exists is used. */
const syncPrograms = ['/usr/bin/sync', '/bin/sync'];

/**
 * Runs `sync -f directory` (syncfs of its file system) in a child process; false when no such
 * program exists. A failure of the sync itself (an I/O error) rejects.
 */
function runSync(directory: string): Promise<boolean> {
  const program = syncPrograms.find((candidate) => existsSync(candidate));
  if (program === undefined) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    execFile(program, ['-f', directory], { timeout: syncTimeoutMs }, (error, _stdout, stderr) => {
      if (error === null) resolve(true);
      else reject(new Error(`sync -f ${directory} failed: ${String(stderr).trim() || error.message}`));
    });
  });
}
