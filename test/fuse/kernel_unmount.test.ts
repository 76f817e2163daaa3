/**
 * How kernel-protocol mounts end: a busy mount (a process with its cwd inside) is retried and then
 * detached lazily; an unmount from outside ends the session and the server notices; with
 * auto_unmount a killed server leaves no dead mount behind; and a non-root user mounts and
 * unmounts through fusermount3/fusermount when one is installed (skipped otherwise).
 */
import { spawn } from 'node:child_process';
import { chmod, readFile, stat } from 'node:fs/promises';
import test from 'tape';
import { findFusermount } from '../../src/fuse/kernel/fuse_session.js';
import { isMounted, runTool } from '../../src/launch/mount_process.js';
import { KernelMount, kernelFuseAvailable, nobody, shell } from '../helpers/kernel_mount.js';

const testTimeoutMs = 120_000;

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

test('kernel fuse: a busy mount is retried, then detached lazily', { timeout: testTimeoutMs }, async (t) => {
  if (!kernelFuseAvailable(t)) return;
  const mount = await KernelMount.start({ unmountRetryMs: 100, unmountAttempts: 4 });
  // A process whose cwd is inside the mount keeps it busy (EBUSY) until it leaves.
  const squatter = spawn('/bin/sleep', ['60'], { cwd: mount.dir, stdio: 'ignore' });
  try {
    await new Promise((resolve) => squatter.once('spawn', resolve));
    const code = await mount.stop(30_000);
    t.equal(code, 0, 'the server exits 0');
    const output = mount.output();
    t.ok(/unmount attempt 1 failed: .*(busy|EBUSY)/i.test(output), 'the first unmount found the mount busy (EBUSY)');
    t.ok(output.includes('unmount attempt 3 failed'), 'and was retried');
    t.ok(output.includes('unmounted lazy=true'), 'then the mount was detached lazily');
    t.notOk(await isMounted(mount.dir), 'the mount point is free again');
  } finally {
    if (squatter.exitCode === null && squatter.signalCode === null) {
      const exited = new Promise((resolve) => squatter.once('exit', resolve));
      squatter.kill('SIGKILL');
      await exited;
    }
    await mount.stopAndRemove();
  }
});

test('kernel fuse: an unmount from outside ends the session and the server exits', { timeout: testTimeoutMs }, async (t) => {
  if (!kernelFuseAvailable(t)) return;
  const mount = await KernelMount.start();
  try {
    const umount = await runTool('/usr/bin/umount', [mount.dir]);
    t.equal(umount.code, 0, `umount ${mount.dir}`);
    const exitedInTime = await waitFor(async () => !mount.running, 10_000);
    t.ok(exitedInTime, 'the server sees the session end');
    t.ok(mount.output().includes('the kernel ended the session'), 'and says so');
  } finally {
    t.equal(await mount.stopAndRemove(), 0, 'the server exited 0');
  }
});

test('kernel fuse: auto_unmount: a server killed with SIGKILL leaves no mount behind', { timeout: testTimeoutMs }, async (t) => {
  if (!kernelFuseAvailable(t)) return;
  const mount = await KernelMount.start({ options: 'auto_unmount' });
  try {
    t.ok(await isMounted(mount.dir), 'mounted');
    mount.signal('SIGKILL');
    await mount.waitExit();
    t.ok(await waitFor(async () => !(await isMounted(mount.dir)), 10_000), 'the watcher unmounted it after the server died');
  } finally {
    await mount.stopAndRemove();
  }
});

test('kernel fuse: a non-root user mounts and unmounts through fusermount', { timeout: testTimeoutMs }, async (t) => {
  const fusermount = findFusermount();
  if (fusermount === null) {
    t.skip('no fusermount3 or fusermount on PATH (Debian package fuse3): the non-root mount is not tested');
    return;
  }
  if (process.getuid?.() !== 0) {
    t.skip('needs root to start the server as another user (setpriv)');
    return;
  }
  if (!kernelFuseAvailable(t)) return;
  // fusermount opens /dev/fuse with the calling user's rights, so that the device's mode decides
  // who may use FUSE. Distributions make it 0666 (udev); a container may leave it 0600, and then
  // it is opened up for this test and put back afterwards.
  const deviceMode = (await stat('/dev/fuse')).mode & 0o777;
  if ((deviceMode & 0o006) !== 0o006) {
    t.comment(`/dev/fuse is ${deviceMode.toString(8)}: made 666 for this test, as udev makes it`);
    await chmod('/dev/fuse', 0o666);
  }
  try {
    await nonRootMounts(t, fusermount);
  } finally {
    if ((deviceMode & 0o006) !== 0o006) await chmod('/dev/fuse', deviceMode);
  }
});

async function nonRootMounts(t: test.Test, fusermount: string): Promise<void> {
  const mount = await KernelMount.start({ asUser: nobody, options: 'default_permissions' });
  try {
    const mountLine = (await readFile('/proc/self/mounts', 'utf8')).split('\n').find((line) => line.split(' ')[1] === mount.dir) ?? '';
    t.ok(mountLine.includes(`user_id=${nobody.uid}`), `mounted by ${fusermount} as uid ${nobody.uid}: ${mountLine}`);
    const used = await shell('echo hi > f && ln f g && mkdir d && mv f d/f && cat d/f && stat -c "%h %u" g', { cwd: mount.dir, asUser: nobody });
    t.equal(used.code, 0, `the mounting user works in it${used.code === 0 ? '' : `: ${used.stderr}`}`);
    t.equal(used.stdout.trim().split('\n').join(' '), `hi 2 ${nobody.uid}`, 'files, hard links, renames; owned by the user');
    const code = await mount.stop(30_000);
    t.equal(code, 0, 'the server unmounts through fusermount -u and exits 0');
    t.ok(mount.output().includes('unmounted lazy=false'), 'with a plain unmount');
    t.notOk(await isMounted(mount.dir), 'the mount point is free');
  } finally {
    await mount.stopAndRemove();
  }

  const killed = await KernelMount.start({ asUser: nobody, options: 'auto_unmount' });
  try {
    killed.signal('SIGKILL');
    await killed.waitExit();
    t.ok(await waitFor(async () => !(await isMounted(killed.dir)), 10_000), 'with auto_unmount, fusermount unmounts after the server is killed');
  } finally {
    await killed.stopAndRemove();
  }
}
