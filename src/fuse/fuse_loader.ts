/**
 * Loads the fuse-native binding and says in one line why FUSE is unavailable when it is, so that
 * `fsraft-mount` (and the FUSE tests) can report it plainly instead of crashing on a dlopen error.
 */
import { execFile } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import process from 'node:process';
import type FuseClass from 'fuse-native';

/** The fuse-native Fuse class, as loaded by loadFuse. */
export type Fuse = typeof FuseClass;

/** Either the binding, or one line saying why FUSE cannot be used on this machine. */
export type FuseLoadResult = { ok: true; Fuse: Fuse } | { ok: false; reason: string };

const fuseDevicePath = '/dev/fuse';
/** umount(8) by absolute path, so a stray `umount` earlier in PATH is never run as root. */
const umountPaths = ['/usr/bin/umount', '/bin/umount'];

/**
 * Checks /dev/fuse and permissions, then imports fuse-native. Never throws.
 *
 * Without fusermount (the machines fsraft targets have none), libfuse 2 mounts with a direct
 * mount(2), which only root may do; a non-root caller would otherwise get libfuse's opaque
 * "fuse: failed to exec fusermount" from deep inside mount().
 */
export async function loadFuse(): Promise<FuseLoadResult> {
  if (process.platform !== 'linux') return { ok: false, reason: `FUSE mounts are supported on Linux only, not ${process.platform}` };
  if (!existsSync(fuseDevicePath)) {
    return { ok: false, reason: `no ${fuseDevicePath}: the kernel has no FUSE support here (modprobe fuse, or give the container --device /dev/fuse)` };
  }
  try {
    await access(fuseDevicePath, constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: `not permitted: ${fuseDevicePath} is not readable and writable by this user` };
  }
  if (process.getuid?.() !== 0 && !hasFusermount()) {
    return { ok: false, reason: 'not permitted: mounting without fusermount needs root (install the fuse package for fusermount, or run as root)' };
  }
  let Fuse: Fuse;
  try {
    // fuse-native is CommonJS and loads its addon at require time: a missing libfuse.so.2 or
    // an addon built for another Node shows up here, not at mount time.
    Fuse = createRequire(import.meta.url)('fuse-native') as Fuse;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { ok: false, reason: `the fuse-native binding failed to load (${message}); rebuild it with: node native/build_fuse_binding.mjs` };
  }
  useUmountInsteadOfFusermount(Fuse);
  passOpenFlagsToCreate(Fuse);
  return { ok: true, Fuse };
}

function hasFusermount(): boolean {
  return fusermountPath() !== undefined;
}

/**
 * fuse-native's unmount runs `fusermount -uz <mnt>` through a shell. With no fusermount installed
 * every unmount() would fail with "fusermount: not found" and leave the mount in place; with one
 * installed (the fuse3 package links fusermount to fusermount3), -z detaches even a busy mount at
 * once, so fsraft-mount's retries while a shell or an open file keeps the mount busy never happen.
 * So the unmount is plain: umount(8) as root, `fusermount -u` otherwise; a busy mount fails, is
 * retried, and only then detached lazily (mountpoint.ts).
 */
function useUmountInsteadOfFusermount(Fuse: Fuse): void {
  const umountPath = umountPaths.find((candidate) => existsSync(candidate));
  if (process.getuid?.() === 0 && umountPath !== undefined) {
    Fuse.unmount = (mountpoint: string, cb: (error: Error | null) => void): void => {
      // --no-canonicalize: otherwise umount stats the mountpoint first, which asks this very mount
      // for the root's attributes and hangs for as long as the cluster does not answer.
      execFile(umountPath, ['--no-canonicalize', mountpoint], (error) => cb(error));
    };
    return;
  }
  const fusermount = fusermountPath();
  if (fusermount === undefined) return;
  Fuse.unmount = (mountpoint: string, cb: (error: Error | null) => void): void => {
    execFile(fusermount, ['-u', '--', mountpoint], (error) => cb(error));
  };
}

/** The first fusermount or fusermount3 on PATH. */
function fusermountPath(): string | undefined {
  const directories = (process.env.PATH ?? '').split(':').filter((directory) => directory !== '');
  for (const program of ['fusermount', 'fusermount3']) {
    const found = directories.map((directory) => `${directory}/${program}`).find((candidate) => existsSync(candidate));
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * fuse-native's create handler drops the open flags, so a file system cannot tell O_EXCL (or
 * O_APPEND) from a plain O_CREAT. The binding built by native/build_fuse_binding.mjs hands them
 * over as one more argument; this passes it on to `ops.create` after the callback.
 */
function passOpenFlagsToCreate(Fuse: Fuse): void {
  type CreateDispatch = { ops: { create(path: string, mode: number, cb: (code: number, fd?: number) => void, flags?: number): void } };
  const prototype = Fuse.prototype as unknown as { _op_create: (this: CreateDispatch, signal: (code: number, fd?: number) => void, path: string, mode: number, flags?: number) => void };
  prototype._op_create = function (signal, path, mode, flags) {
    this.ops.create(path, mode, (code, fd) => signal(code, fd), flags);
  };
}
