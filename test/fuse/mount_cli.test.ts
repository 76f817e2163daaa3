/**
 * fsraft-mount's command line: it refuses a missing, non-directory, non-empty or busy mountpoint
 * with one line and exit code 1, mounts and prints its readiness line, and unmounts cleanly on
 * SIGINT and SIGTERM, also while a file is held open. No cluster is needed: the client connects
 * lazily, so a mount of an unreachable cluster still mounts.
 */
import { mkdir, open, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import test from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { MountProcess, isMounted, runTool, tempMountpoint, mountBin } from '../../src/launch/mount_process.js';

/** No node listens on port 1 of loopback: every request would fail, but mounting does not ask. */
const nowhere = ['--servers', '127.0.0.1:1'];

async function refusal(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const result = await runTool(process.execPath, [mountBin, ...args], { timeoutMs: 30_000 });
  return { code: result.code, lines: result.stderr.split('\n').filter((line) => line !== '') };
}

test('fsraft-mount: refuses a bad mountpoint with one clear line and exit code 1', { timeout: 120_000 }, async (t) => {
  const loaded = await loadFuse();
  if (!loaded.ok && process.env.FSRAFT_SKIP_FUSE === '1') return t.skip(`FUSE unavailable: ${loaded.reason}`);
  const base = await tempMountpoint();
  const file = path.join(base, 'a-file');
  const full = path.join(base, 'full');
  const busy = path.join(base, 'busy');
  await writeFile(file, 'x');
  await mkdir(full);
  await writeFile(path.join(full, 'inside'), 'x');
  await mkdir(busy);
  let mount: MountProcess | undefined;
  try {
    const cases: Array<[string, string[], RegExp]> = [
      ['missing', [path.join(base, 'missing'), ...nowhere], /does not exist/],
      ['not a directory', [file, ...nowhere], /is not a directory/],
      ['not empty', [full, ...nowhere], /is not empty/],
    ];
    for (const [what, args, pattern] of cases) {
      const { code, lines } = await refusal(args);
      t.equal(code, 1, `${what}: exit code 1`);
      t.equal(lines.length, 1, `${what}: one line`);
      t.match(lines[0] ?? '', pattern, `${what}: ${lines[0]}`);
    }
    mount = await MountProcess.start(busy, nowhere);
    t.ok(await isMounted(busy), 'a first mount works and prints its readiness line');
    const { code, lines } = await refusal([busy, ...nowhere]);
    t.equal(code, 1, 'busy: exit code 1');
    t.match(lines.join('\n'), /is busy/, `busy: ${lines[0]}`);
    t.equal(lines.length, 1, 'busy: one line');
  } finally {
    await mount?.stopAndRemove();
    await unlink(path.join(full, 'inside')).catch(() => undefined);
    await rmdir(full).catch(() => undefined);
    await unlink(file).catch(() => undefined);
    await rmdir(path.join(base)).catch((error: unknown) => t.comment(`left ${base}: ${String(error)}`));
  }
});

test('fsraft-mount: SIGINT and SIGTERM unmount and exit 0, waiting while the mount is busy', { timeout: 120_000 }, async (t) => {
  const loaded = await loadFuse();
  if (!loaded.ok && process.env.FSRAFT_SKIP_FUSE === '1') return t.skip(`FUSE unavailable: ${loaded.reason}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const dir = await tempMountpoint();
    // Without default_permissions the kernel opens the root without asking the (absent) cluster
    // for its attributes.
    const mount = await MountProcess.start(dir, [...nowhere, '-o', 'no_default_permissions']);
    try {
      const handle = await open(dir, 'r');
      process.kill(mount.pid as number, signal);
      await new Promise((resolve) => setTimeout(resolve, 300));
      t.ok(await isMounted(dir), `${signal}: still mounted while a directory handle is open`);
      await handle.close();
      t.equal(await mount.waitExit(), 0, `${signal}: exit code 0 once it is no longer busy`);
      t.notOk(await isMounted(dir), `${signal}: unmounted`);
      t.match(mount.output(), /unmounted/, `${signal}: says so`);
    } finally {
      await mount.stopAndRemove();
    }
  }
});
