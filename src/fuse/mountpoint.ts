/**
 * Checks that a directory can be mounted on, and unmounts with bounded retries. Kept apart from
 * the operations so `fsraft-mount` refuses a bad mountpoint with one clear line before it touches
 * FUSE, and so tests can call the same checks.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Null when `directory` (absolute) is usable as a mountpoint, else one line saying why not:
 * missing, not a directory, already a mount point (busy), or not empty.
 */
export async function mountpointProblem(directory: string): Promise<string | null> {
  // Before any stat: stat on a mount whose server is slow or gone would hang or fail with EIO.
  if (await isMountPoint(directory)) return `mountpoint ${directory} is busy: something is already mounted there`;
  let info;
  try {
    info = await stat(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `mountpoint ${directory} does not exist (create it first: mkdir -p ${directory})`;
    // ENOTCONN: a dead FUSE mount left by a killed process still sits there.
    if (code === 'ENOTCONN') return `mountpoint ${directory} is busy: a dead mount is still attached (umount ${directory})`;
    return `mountpoint ${directory} cannot be used: ${(error as Error).message}`;
  }
  if (!info.isDirectory()) return `mountpoint ${directory} is not a directory`;
  const entries = await readdir(directory);
  if (entries.length > 0) return `mountpoint ${directory} is not empty (${entries.length} entries); mounting would hide them`;
  return null;
}

/** True if `directory` (absolute) is the mount point of some mount (per /proc/self/mountinfo). */
export async function isMountPoint(directory: string): Promise<boolean> {
  return (await mountInfoLine(directory)) !== undefined;
}

/** The fields of the last /proc/self/mountinfo line whose mount point is `directory`, if any. */
async function mountInfoLine(directory: string): Promise<string[] | undefined> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const wanted = path.resolve(directory);
  const lines = mountinfo.split('\n').map((line) => line.split(' '));
  return lines.reverse().find((fields) => fields[4] !== undefined && unescapeMountField(fields[4]) === wanted);
}

/** mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Calls `unmountOnce` until it succeeds or `attemptsMax` attempts failed (a busy mount: a shell
 * cd'ed into it, a file open), pausing `retryMs` between them. Resolves with the last error, or
 * null on success.
 */
export async function unmountWithRetry(unmountOnce: () => Promise<void>, attemptsMax: number, retryMs: number, onRetry: (error: Error) => void): Promise<Error | null> {
  let lastError: Error | null = null;
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    try {
      await unmountOnce();
      return null;
    } catch (error) {
      lastError = error instanceof Error ? error : new Error(String(error));
      if (attempt < attemptsMax) {
        onRetry(lastError);
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
  }
  return lastError;
}

/** Detaches a mount at once even while it is busy (umount -l); the last resort. */
export function lazyUnmount(directory: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/umount', ['-l', directory], (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * The sysfs file holding the read-ahead (KiB) of the mount at `directory`, named by the device
 * number /proc/self/mountinfo gives it (a stat would ask the file system, which may not answer).
 */
export async function readAheadFile(directory: string): Promise<string> {
  const device = (await mountInfoLine(directory))?.[2];
  if (device === undefined || !/^\d+:\d+$/.test(device)) throw new Error(`${directory} is not a mount point`);
  return `/sys/class/bdi/${device}/read_ahead_kb`;
}

/**
 * Sets the read-ahead of the mount at `directory` (its backing device's read_ahead_kb in sysfs,
 * which only root may write). Resolves to null when done, else one line saying why not.
 */
export async function setReadAhead(directory: string, kib: number): Promise<string | null> {
  try {
    await writeFile(await readAheadFile(directory), `${kib}\n`);
    return null;
  } catch (error) {
    return `could not set the read-ahead of ${directory} to ${kib} KiB: ${(error as Error).message}`;
  }
}
