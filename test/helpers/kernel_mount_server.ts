/**
 * Serves the in-memory file system (memory_fuse_fs.ts) on a kernel-protocol FUSE mount, in a
 * process of its own: a process must never make synchronous file calls into a mount it serves,
 * so the tests drive the mount from another process.
 *
 *   node dist/test/helpers/kernel_mount_server.js <mountpoint> [-o options] [--reader thread|pool]
 *        [--unmount-retry-ms N] [--unmount-attempts N]
 *
 * Prints `kernel-mount: mounted <mountpoint> FUSE 7.<minor> flags 0x<hex>` when the mount is
 * usable; SIGTERM/SIGINT unmount (retrying while busy, then lazily), print
 * `kernel-mount: unmounted lazy=<bool>` and exit 0. SIGUSR2 prints `kernel-mount: stats <json>`.
 * A line on stdin `change <json>` changes the file system behind the kernel's back
 * (MemoryFuseFs.changeBehindTheKernel) and then invalidates the kernel's caches of it
 * (session.invalidateInode / invalidateEntry); it answers `kernel-mount: changed <json>`.
 */
import process from 'node:process';
import { createInterface } from 'node:readline';

// The 'pool' reader holds libuv pool threads in read(2); the pool is sized once, at its first
// use, so this must happen before anything below touches it.
process.env['UV_THREADPOOL_SIZE'] ??= '16';

const { FuseSession } = await import('../../src/fuse/kernel/fuse_session.js');
const { parseMountOptions } = await import('../../src/fuse/kernel/mount_options.js');
const { MemoryFuseFs } = await import('./memory_fuse_fs.js');

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

const mountpoint = process.argv[2];
if (mountpoint === undefined || mountpoint.startsWith('-')) {
  process.stderr.write('usage: kernel_mount_server.js <mountpoint> [-o options] [--reader thread|pool]\n');
  process.exit(2);
}
const reader = argument('--reader') === 'pool' ? 'pool' : 'thread';
const retryMs = Number(argument('--unmount-retry-ms') ?? 200);
const attemptsMax = Number(argument('--unmount-attempts') ?? 10);

let options;
try {
  options = parseMountOptions(argument('-o') ?? '');
} catch (error) {
  process.stderr.write(`kernel-mount: ${(error as Error).message}\n`);
  process.exit(2);
}
const fs = new MemoryFuseFs({ entryTimeoutMs: options.entryTimeoutMs, attrTimeoutMs: options.attrTimeoutMs });
let session: Awaited<ReturnType<typeof FuseSession.mount>> | undefined;
let stopping = false;
// Signals are handled from the start: one that arrives while mounting must not kill the server
// with the mount half made.
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  if (session === undefined) return;
  session
    .unmount({ retryMs, attemptsMax, onRetry: (error, attempt) => process.stdout.write(`kernel-mount: unmount attempt ${attempt} failed: ${error.message}\n`) })
    .then(
      ({ lazy }) => {
        process.stdout.write(`kernel-mount: unmounted lazy=${lazy}\n`);
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`kernel-mount: unmount failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGUSR2', () => {
  process.stdout.write(`kernel-mount: stats ${JSON.stringify({ inodes: fs.inodeCount, lseekCalls: fs.lseekCalls })}\n`);
});
try {
  session = await FuseSession.mount(mountpoint, fs, options, { reader, log: (line) => process.stderr.write(`${line}\n`) });
} catch (error) {
  process.stderr.write(`kernel-mount: ${(error as Error).message}\n`);
  process.exit(1);
}
const protocol = session.protocol;
process.stdout.write(`kernel-mount: mounted ${mountpoint} FUSE ${protocol?.major}.${protocol?.minor} flags 0x${(protocol?.flags ?? 0).toString(16)} reader ${reader}\n`);
if (stopping) {
  stopping = false;
  stop();
}
const served = session;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.startsWith('change ')) return;
  const change = JSON.parse(line.slice('change '.length)) as { name: string; content?: string; newName?: string; invalidate: boolean };
  fs.changeBehindTheKernel(change)
    .then(async (ino) => {
      if (change.invalidate && change.content !== undefined) await served.invalidateInode(ino, 0, 0);
      if (change.invalidate && change.newName !== undefined) await served.invalidateEntry(1, change.name);
      process.stdout.write(`kernel-mount: changed ${JSON.stringify({ ino })}\n`);
    })
    .catch((error: unknown) => process.stdout.write(`kernel-mount: changed ${JSON.stringify({ error: (error as Error).message })}\n`));
});
void session.closed.then(() => {
  if (stopping) return;
  process.stdout.write('kernel-mount: the kernel ended the session\n');
  process.exit(0);
});
