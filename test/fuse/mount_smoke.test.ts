/**
 * FUSE smoke test: mounts a tiny in-memory filesystem with fuse-native in a fresh temp dir and
 * drives it through the kernel with node:fs. It proves the binding loads and mounts on this kind
 * of machine (no system libfuse, no fusermount; see native/README.md). FUSE being unavailable is
 * a failure that prints the loader's reason, unless FSRAFT_SKIP_FUSE=1.
 *
 * Every file-system call here is asynchronous (node:fs/promises). The FUSE handlers run on this
 * process's JavaScript thread, so a synchronous call into the mount (readdirSync) would block the
 * very thread that must answer it, and the process would hang until killed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import test from 'tape';
import { loadFuse, type Fuse } from '../../src/fuse/fuse_loader.js';
import type FuseNative from 'fuse-native';

/** A teardown step that takes longer than this is abandoned for the next, harsher one. */
const unmountTimeoutMs = 5_000;
const skip = process.env.FSRAFT_SKIP_FUSE === '1';

/** The in-memory tree: file name (no directories) -> content. */
function memoryOperations(Fuse: Fuse, files: Map<string, Buffer>): FuseNative.Operations {
  const startedAt = new Date();
  const fileStat = (size: number): FuseNative.Stat => ({
    mode: 0o100644, size, nlink: 1, uid: 0, gid: 0, mtime: startedAt, atime: startedAt, ctime: startedAt,
  });
  const name = (filePath: string): string => filePath.slice(1);
  return {
    getattr(filePath, cb) {
      if (filePath === '/') return cb(0, { ...fileStat(4096), mode: 0o40755, nlink: 2 });
      const content = files.get(name(filePath));
      if (content === undefined) return cb(Fuse.ENOENT);
      return cb(0, fileStat(content.length));
    },
    readdir(filePath, cb) {
      if (filePath !== '/') return cb(Fuse.ENOTDIR);
      return cb(0, [...files.keys()]);
    },
    open(filePath, _flags, cb) {
      return files.has(name(filePath)) ? cb(0, 1) : cb(Fuse.ENOENT);
    },
    create(filePath, _mode, cb) {
      files.set(name(filePath), Buffer.alloc(0));
      return cb(0, 1);
    },
    read(filePath, _fd, buffer, length, position, cb) {
      const content = files.get(name(filePath));
      if (content === undefined) return cb(Fuse.ENOENT);
      if (position >= content.length) return cb(0);
      return cb(content.copy(buffer, 0, position, Math.min(content.length, position + length)));
    },
    write(filePath, _fd, buffer, length, position, cb) {
      const content = files.get(name(filePath));
      if (content === undefined) return cb(Fuse.ENOENT);
      const grown = Buffer.alloc(Math.max(content.length, position + length));
      content.copy(grown);
      buffer.copy(grown, position, 0, length);
      files.set(name(filePath), grown);
      return cb(length);
    },
    truncate(filePath, size, cb) {
      const content = files.get(name(filePath));
      if (content === undefined) return cb(Fuse.ENOENT);
      const resized = Buffer.alloc(size);
      content.copy(resized, 0, 0, Math.min(size, content.length));
      files.set(name(filePath), resized);
      return cb(0);
    },
    unlink(filePath, cb) {
      return files.delete(name(filePath)) ? cb(0) : cb(Fuse.ENOENT);
    },
    release(_filePath, _fd, cb) {
      return cb(0);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took over ${unmountTimeoutMs} ms`)), unmountTimeoutMs);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error: unknown) => { clearTimeout(timer); reject(error instanceof Error ? error : new Error(String(error))); },
    );
  });
}

async function isMounted(directory: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === directory);
}

/**
 * Unmounts, in bounded time, whatever happened before: fuse-native's unmount first; if that
 * fails or hangs, a lazy `umount -l <dir>`, which detaches the mount even while a request is
 * stuck, so a failed test never leaves a dead mount point behind in /tmp.
 */
async function unmountAlways(fuse: FuseNative, directory: string): Promise<string[]> {
  const notes: string[] = [];
  try {
    await withTimeout(new Promise<void>((resolve, reject) => fuse.unmount((error) => (error ? reject(error) : resolve()))), 'unmount');
  } catch (error) {
    notes.push(`normal unmount failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (await isMounted(directory)) {
    await withTimeout(new Promise<void>((resolve) => execFile('/usr/bin/umount', ['-l', directory], () => resolve())), 'umount -l').catch(
      (error: unknown) => notes.push(String(error)),
    );
  }
  return notes;
}

test('fuse: an in-memory filesystem mounts and works through the kernel', { timeout: 60_000 }, async (t) => {
  const loaded = await loadFuse();
  if (!loaded.ok) {
    if (skip) {
      t.skip(`FUSE unavailable, skipped because FSRAFT_SKIP_FUSE=1: ${loaded.reason}`);
      return;
    }
    t.fail(`FUSE unavailable: ${loaded.reason} (set FSRAFT_SKIP_FUSE=1 to skip)`);
    return;
  }
  const { Fuse } = loaded;
  const files = new Map([
    ['hello.txt', Buffer.from('hello, fuse\n')],
    ['empty', Buffer.alloc(0)],
  ]);
  const directory = await mkdtemp(path.join(tmpdir(), 'fsraft-fuse-'));
  const fuse = new Fuse(directory, memoryOperations(Fuse, files));
  try {
    await withTimeout(new Promise<void>((resolve, reject) => fuse.mount((error) => (error ? reject(error) : resolve()))), 'mount');
    t.ok(await isMounted(directory), 'the mount point is listed in /proc/mounts');

    t.deepEqual((await readdir(directory)).sort(), ['empty', 'hello.txt'], 'readdir lists the two files');
    t.equal(await readFile(path.join(directory, 'hello.txt'), 'utf8'), 'hello, fuse\n', 'readFile returns the content');
    t.equal((await stat(path.join(directory, 'hello.txt'))).size, 12, 'stat reports the size');

    await writeFile(path.join(directory, 'new.txt'), 'written through the kernel');
    t.equal(files.get('new.txt')?.toString(), 'written through the kernel', 'writeFile creates a file in the filesystem');
    t.equal(await readFile(path.join(directory, 'new.txt'), 'utf8'), 'written through the kernel', 'and reads it back');

    await writeFile(path.join(directory, 'hello.txt'), 'bye');
    t.equal(await readFile(path.join(directory, 'hello.txt'), 'utf8'), 'bye', 'writeFile over a longer file truncates it');

    await unlink(path.join(directory, 'new.txt'));
    t.notOk(files.has('new.txt'), 'unlink removes the file');
    t.deepEqual((await readdir(directory)).sort(), ['empty', 'hello.txt'], 'readdir no longer lists it');
    await readFile(path.join(directory, 'missing')).then(
      () => t.fail('reading a missing file succeeded'),
      (error: NodeJS.ErrnoException) => t.equal(error.code, 'ENOENT', 'a missing file is ENOENT'),
    );
  } catch (error) {
    t.fail(`FUSE mount failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const note of await unmountAlways(fuse, directory)) t.comment(note);
    t.notOk(await isMounted(directory), 'unmounted in teardown');
    // rmdir, not rm -r: if the mount were somehow still there, never recurse into it.
    await rmdir(directory).catch((error: unknown) => t.comment(`could not remove ${directory}: ${String(error)}`));
  }
});

