/**
 * Who may do what on a kernel-protocol mount: with allow_other and default_permissions the kernel
 * lets other users in and checks the mode bits we report (a non-root user is refused a 0700
 * directory and allowed a 0777 one, and owns what it creates); `ro` refuses every write with
 * EROFS; unknown -o options are refused before anything is mounted.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import test from 'tape';
import { KernelMount, kernelFuseAvailable, nobody, shell, kernelMountServer } from '../helpers/kernel_mount.js';
import { runTool } from '../../src/launch/mount_process.js';

const testTimeoutMs = 120_000;

async function withMount(t: test.Test, options: string, body: (mount: KernelMount) => Promise<void>): Promise<void> {
  if (!kernelFuseAvailable(t)) return;
  const mount = await KernelMount.start({ options });
  try {
    await body(mount);
  } catch (error) {
    t.fail(`${(error as Error).stack ?? String(error)}\n${mount.output()}`);
  } finally {
    t.equal(await mount.stopAndRemove(), 0, 'the server unmounted and exited 0');
  }
}

test('kernel fuse: allow_other + default_permissions: the kernel checks our mode bits for another user', { timeout: testTimeoutMs }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to act as another user (setpriv)');
    return;
  }
  await withMount(t, 'allow_other,default_permissions', async (mount) => {
    await chmod(mount.dir, 0o755);
    await mkdir(mount.path('private'), { mode: 0o700 });
    await writeFile(mount.path('private/secret'), 'root only');
    await mkdir(mount.path('shared'));
    await chmod(mount.path('shared'), 0o777);

    const refused = await shell('ls private', { cwd: mount.dir, asUser: nobody });
    t.ok(refused.code !== 0 && /Permission denied/.test(refused.stderr), `nobody is refused (EACCES) listing a 0700 directory of root's: ${refused.stderr.trim()}`);
    const refusedRead = await shell('cat private/secret', { cwd: mount.dir, asUser: nobody });
    t.ok(refusedRead.code !== 0 && /Permission denied/.test(refusedRead.stderr), 'and reading inside it');

    const allowed = await shell('echo mine > shared/by-nobody && cat shared/by-nobody && stat -c "%u:%g" shared/by-nobody', { cwd: mount.dir, asUser: nobody });
    t.equal(allowed.code, 0, `nobody may create in a 0777 directory${allowed.code === 0 ? '' : `: ${allowed.stderr}`}`);
    t.equal(allowed.stdout.trim().split('\n').join(' '), `mine ${nobody.uid}:${nobody.gid}`, 'and the new file belongs to the caller (uid and gid from the request)');
    t.equal(await readFile(mount.path('shared/by-nobody'), 'utf8'), 'mine\n', 'root reads what nobody wrote');

    const chmodOther = await shell('chmod 777 private', { cwd: mount.dir, asUser: nobody });
    t.ok(chmodOther.code !== 0 && /Operation not permitted/.test(chmodOther.stderr), 'nobody may not chmod root\'s directory (EPERM, checked by the kernel)');
  });
});

test('kernel fuse: a read-only mount refuses writes with EROFS', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'ro', async (mount) => {
    const mountLine = (await readFile('/proc/self/mounts', 'utf8')).split('\n').find((line) => line.split(' ')[1] === mount.dir) ?? '';
    t.ok(/\sro,/.test(mountLine), `/proc/mounts shows the mount read-only: ${mountLine}`);
    for (const [what, attempt] of [
      ['create', () => writeFile(mount.path('new'), 'x')],
      ['mkdir', () => mkdir(mount.path('dir'))],
      ['chmod of the root', () => chmod(mount.dir, 0o700)],
    ] as const) {
      await attempt().then(
        () => t.fail(`${what} succeeded on a read-only mount`),
        (error: NodeJS.ErrnoException) => t.equal(error.code, 'EROFS', `${what} is EROFS`),
      );
    }
    const listing = await shell('ls -la', { cwd: mount.dir });
    t.equal(listing.code, 0, 'reading still works');
  });
});

test('kernel fuse: an unknown -o option is refused, naming it, before anything is mounted', { timeout: testTimeoutMs }, async (t) => {
  const result = await runTool(process.execPath, [kernelMountServer, '/nonexistent-mountpoint', '-o', 'allow_other,bogus_option'], { timeoutMs: 20_000 });
  t.equal(result.code, 2, 'the server exits 2');
  t.ok(result.stderr.includes('bogus_option'), `and names the option: ${result.stderr.trim()}`);
});
