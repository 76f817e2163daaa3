/**
 * fsraft-mount's command line: it refuses a missing, non-directory, non-empty or busy mountpoint
 * with one line and exit code 1, mounts and prints its readiness line, and unmounts cleanly on
 * SIGINT and SIGTERM, retrying (never detaching lazily) while a directory is held open. No cluster
 * is needed: the client connects lazily, so a mount of an unreachable cluster still mounts.
 *
 * Every check runs three ways (test/helpers/mount_ways.ts): as root with fusermount on PATH, as
 * root with no fusermount reachable (a machine without the fuse3 package), and as a non-root user
 * mounting through fusermount3/fusermount. A way this machine cannot offer is skipped, and says why.
 */
import { chown, mkdir, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { MountProcess, isMounted, mountBin, runTool, tempMountpoint } from '../../src/launch/mount_process.js';
import { DirectoryHolder, fuseDeviceForUsers, mountWays, type MountWay } from '../helpers/mount_ways.js';

/** No node listens on port 1 of loopback: every request would fail, but mounting does not ask. */
const nowhere = ['--servers', '127.0.0.1:1'];

const { ways, withoutFusermountEnv, cleanup } = await mountWays();
test.onFinish(() => void cleanup());

async function refusal(way: MountWay, args: string[], env: NodeJS.ProcessEnv = way.env): Promise<{ code: number | null; lines: string[] }> {
  const result = await runTool(process.execPath, [mountBin, ...args], { timeoutMs: 30_000, env, ...(way.asUser === undefined ? {} : { asUser: way.asUser }) });
  return { code: result.code, lines: result.stderr.split('\n').filter((line) => line !== '') };
}

function mountAs(way: MountWay, dir: string, args: string[]): Promise<MountProcess> {
  return MountProcess.start(dir, args, { env: way.env, ...(way.asUser === undefined ? {} : { asUser: way.asUser }) });
}

/** `dir`, made the way's user's: fusermount lets a user mount only on a directory they may write. */
async function ownedBy(way: MountWay, dir: string): Promise<string> {
  if (way.asUser !== undefined) await chown(dir, way.asUser.uid, way.asUser.gid);
  return dir;
}

/** The kernel's mount line for `dir`. */
async function mountLine(dir: string): Promise<string> {
  return (await readFile('/proc/self/mounts', 'utf8')).split('\n').find((line) => line.split(' ')[1] === dir) ?? '';
}

/** False (skipped, saying why) when FUSE or this way is unavailable here. */
async function available(t: Test, way: MountWay): Promise<boolean> {
  const loaded = await loadFuse();
  // No /dev/fuse or no addon fails the test, unless told to skip.
  if (!loaded.ok && process.env['FSRAFT_SKIP_FUSE'] === '1') {
    t.skip(`FUSE unavailable: ${loaded.reason}`);
    return false;
  }
  if (way.unavailable !== null) {
    t.skip(`${way.name}: ${way.unavailable}`);
    return false;
  }
  return true;
}

for (const way of ways) {
  test(`fsraft-mount (${way.name}): refuses a bad mountpoint with one clear line and exit code 1`, { timeout: 120_000 }, async (t) => {
    if (!(await available(t, way))) return;
    const restoreDevice = await fuseDeviceForUsers(t, way);
    const base = await ownedBy(way, await tempMountpoint());
    const file = path.join(base, 'a-file');
    const full = path.join(base, 'full');
    const busy = path.join(base, 'busy');
    await writeFile(file, 'x');
    await mkdir(full);
    await writeFile(path.join(full, 'inside'), 'x');
    await mkdir(busy);
    await ownedBy(way, busy);
    let mount: MountProcess | undefined;
    try {
      const cases: Array<[string, string[], RegExp]> = [
        ['missing', [path.join(base, 'missing'), ...nowhere], /does not exist/],
        ['not a directory', [file, ...nowhere], /is not a directory/],
        ['not empty', [full, ...nowhere], /is not empty/],
      ];
      for (const [what, args, pattern] of cases) {
        const { code, lines } = await refusal(way, args);
        t.equal(code, 1, `${what}: exit code 1`);
        t.equal(lines.length, 1, `${what}: one line`);
        t.match(lines[0] ?? '', pattern, `${what}: ${lines[0]}`);
      }
      if (way.uid !== 0) {
        // The same user on a machine without fusermount cannot mount at all: one line, exit 1.
        const { code, lines } = await refusal(way, [busy, ...nowhere], withoutFusermountEnv);
        t.equal(code, 1, 'no fusermount on PATH: exit code 1');
        t.equal(lines.length, 1, 'no fusermount on PATH: one line');
        t.match(lines[0] ?? '', /not root and no fusermount/, `no fusermount on PATH: ${lines[0]}`);
        t.notOk(await isMounted(busy), 'no fusermount on PATH: nothing was mounted');
      }
      mount = await mountAs(way, busy, nowhere);
      t.ok(await isMounted(busy), 'a first mount works and prints its readiness line');
      t.match(await mountLine(busy), new RegExp(`\\buser_id=${way.uid}\\b`), `mounted as uid ${way.uid}${way.fusermount === null ? ' by mount(2)' : ` through ${way.fusermount}`}`);
      const { code, lines } = await refusal(way, [busy, ...nowhere]);
      t.equal(code, 1, 'busy: exit code 1');
      t.match(lines.join('\n'), /is busy/, `busy: ${lines[0]}`);
      t.equal(lines.length, 1, 'busy: one line');
    } finally {
      if (mount !== undefined) t.equal(await mount.stopAndRemove(), 0, 'the first mount unmounts and exits 0');
      await unlink(path.join(full, 'inside')).catch(() => undefined);
      await rmdir(full).catch(() => undefined);
      await unlink(file).catch(() => undefined);
      await rmdir(base).catch((error: unknown) => t.comment(`left ${base}: ${String(error)}`));
      await restoreDevice();
    }
  });

  test(`fsraft-mount (${way.name}): SIGINT and SIGTERM unmount and exit 0, retrying while the mount is busy`, { timeout: 120_000 }, async (t) => {
    if (!(await available(t, way))) return;
    const restoreDevice = await fuseDeviceForUsers(t, way);
    try {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        const dir = await ownedBy(way, await tempMountpoint());
        // Without default_permissions the kernel opens the root without asking the (absent) cluster
        // for its attributes.
        const mount = await mountAs(way, dir, [...nowhere, '-o', 'no_default_permissions']);
        let holder: DirectoryHolder | undefined;
        try {
          // Held by the mount's own user: without allow_other no one else may enter the mount.
          holder = await DirectoryHolder.hold(dir, way.asUser);
          process.kill(mount.pid as number, signal);
          // The first attempt comes at once, then one per fuseUnmountRetryMs; lazily only after all.
          const retried = await eventually('a busy unmount retried', 8_000, () => /is busy .*retrying/.test(mount.output())).catch(() => false);
          t.ok(retried, `${signal}: the busy unmount is retried`);
          t.ok(await isMounted(dir), `${signal}: still mounted while a directory handle is open`);
          await holder.release();
          holder = undefined;
          t.equal(await mount.waitExit(), 0, `${signal}: exit code 0 once it is no longer busy`);
          t.notOk(await isMounted(dir), `${signal}: unmounted`);
          const output = mount.output();
          t.doesNotMatch(output, /lazily/, `${signal}: and never detached lazily`);
          t.match(output, /unmounted/, `${signal}: says so`);
        } finally {
          await holder?.release();
          await mount.stopAndRemove();
        }
      }
    } finally {
      await restoreDevice();
    }
  });
}

test('fsraft-mount: with nobody reading its output any more, SIGTERM still unmounts and exits 0', { timeout: 60_000 }, async (t) => {
  const way = ways.find((candidate) => candidate.unavailable === null);
  if (way === undefined) return t.skip('no way to mount here');
  if (!(await available(t, way))) return;
  const restoreDevice = await fuseDeviceForUsers(t, way);
  const dir = await ownedBy(way, await tempMountpoint());
  const mount = await mountAs(way, dir, nowhere);
  try {
    mount.closeOutput();
    process.kill(mount.pid as number, 'SIGTERM');
    t.equal(await mount.waitExit(), 0, `${way.name}: exit code 0, though its "unmounting" line met a closed pipe (EPIPE)`);
    t.notOk(await isMounted(dir), 'unmounted');
  } finally {
    await mount.stopAndRemove();
    await restoreDevice();
  }
});
