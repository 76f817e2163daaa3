/**
 * Real fsraft-mount processes on a real 5-node cluster, driven from this process with async
 * node:fs and with ordinary tools: every FUSE operation and its errors, two mounts seeing each
 * other's closed files and appending to one file together, and a 100 MiB cp with the mount's
 * memory staying bounded. Every mount is unmounted in teardown.
 */
import { appendFile, chmod, mkdir, open, readFile, readdir, rename, rm, rmdir, stat, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { MountProcess, runTool, sh, tempMountpoint } from '../../src/launch/mount_process.js';
import { fuseAvailable } from '../helpers/fuse_available.js';
import { readAheadFile } from '../../src/fuse/mountpoint.js';

const cluster = await fileCluster();
startTest(cluster);
// Not awaited here: tape starts running once the module's first await yields.
const fuseLoading = loadFuse();
const mounts: MountProcess[] = [];

/** Mount the file's cluster at a fresh temp dir; stopped by the last test whatever happens. */
async function mountCluster(): Promise<MountProcess> {
  const mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile]);
  mounts.push(mount);
  return mount;
}

/** The error code a promise rejects with ('' if it resolves). */
async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return '';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

/** False (skipping or failing the test) when FUSE is unavailable; else watches the cluster. */
async function guard(t: Test): Promise<boolean> {
  if (!(await fuseAvailable(t, fuseLoading))) return false;
  cluster.watch(t);
  return true;
}

let first: MountProcess;

test('fuse mount: node:fs operations through the kernel, and their errors', { timeout: 120_000 }, async (t) => {
  if (!(await guard(t))) return;
  first = await mountCluster();
  const root = first.dir;
  const at = (name: string): string => path.join(root, name);

  await mkdir(at('docs'));
  await writeFile(at('docs/a.txt'), 'hello, fsraft\n');
  t.equal(await readFile(at('docs/a.txt'), 'utf8'), 'hello, fsraft\n', 'writeFile then readFile');
  t.equal((await stat(at('docs/a.txt'))).size, 14, 'stat reports the size');
  t.ok((await stat(at('docs'))).isDirectory(), 'mkdir made a directory');
  t.deepEqual(await readdir(at('docs')), ['a.txt'], 'readdir lists it');

  await appendFile(at('docs/a.txt'), 'more\n');
  t.equal(await readFile(at('docs/a.txt'), 'utf8'), 'hello, fsraft\nmore\n', 'O_APPEND appends');

  const handle = await open(at('docs/rw.bin'), 'w+');
  await handle.write(Buffer.from('0123456789'), 0, 10, 0);
  await handle.write(Buffer.from('AB'), 0, 2, 4);
  t.equal((await handle.stat()).size, 10, 'fstat sees unflushed bytes');
  const readBack = Buffer.alloc(10);
  await handle.read(readBack, 0, 10, 0);
  t.equal(readBack.toString(), '0123AB6789', 'a read on the same handle sees its own writes');
  await handle.sync();
  await handle.truncate(4);
  await handle.close();
  t.equal(await readFile(at('docs/rw.bin'), 'utf8'), '0123', 'ftruncate shrank it');
  await truncate(at('docs/rw.bin'), 6);
  t.deepEqual([...(await readFile(at('docs/rw.bin')))], [48, 49, 50, 51, 0, 0], 'truncate grows with zeros');

  await chmod(at('docs/rw.bin'), 0o640);
  t.equal((await stat(at('docs/rw.bin'))).mode & 0o7777, 0o640, 'chmod');
  await utimes(at('docs/rw.bin'), new Date(1_500_000_000_000), new Date(1_600_000_000_000));
  const times = await stat(at('docs/rw.bin'));
  t.equal(times.mtimeMs, 1_600_000_000_000, 'utimes sets mtime');
  t.equal(times.atimeMs, 1_500_000_000_000, 'utimes sets atime');

  await rename(at('docs/rw.bin'), at('docs/renamed.bin'));
  t.deepEqual((await readdir(at('docs'))).sort(), ['a.txt', 'renamed.bin'], 'rename');
  await unlink(at('docs/renamed.bin'));
  t.deepEqual(await readdir(at('docs')), ['a.txt'], 'unlink');

  t.equal(await errorCode(readFile(at('nothing'))), 'ENOENT', 'read of a missing file: ENOENT');
  t.equal(await errorCode(mkdir(at('docs'))), 'EEXIST', 'mkdir of an existing dir: EEXIST');
  t.equal(await errorCode(writeFile(at('docs/a.txt'), 'x', { flag: 'wx' })), 'EEXIST', 'O_EXCL create of an existing file: EEXIST');
  t.equal(await errorCode(rmdir(at('docs'))), 'ENOTEMPTY', 'rmdir of a non-empty dir: ENOTEMPTY');
  t.equal(await errorCode(readdir(at('docs/a.txt'))), 'ENOTDIR', 'readdir of a file: ENOTDIR');
  t.equal(await errorCode(writeFile(at('docs/a.txt/x'), 'x')), 'ENOTDIR', 'a file as a parent: ENOTDIR');
  t.equal(await errorCode(readFile(at('docs'))), 'EISDIR', 'read of a directory: EISDIR');
  t.equal(await errorCode(unlink(at('docs'))), 'EISDIR', 'unlink of a directory: EISDIR');
  t.equal(await errorCode(rename(at('docs'), at('docs/sub'))), 'EINVAL', 'rename into its own subtree: EINVAL');
  t.equal(await errorCode(writeFile(at(`${'n'.repeat(256)}`), 'x')), 'ENAMETOOLONG', 'a 256-byte name: ENAMETOOLONG');
  const statfs = await runTool('/usr/bin/df', ['-k', root]);
  t.equal(statfs.code, 0, `statfs answers (df: ${statfs.stdout.split('\n')[1] ?? ''})`);

  const beyond = await open(at('docs/huge'), 'w');
  // fileBytesMax is 16 TiB by default: one byte at 16 TiB makes the file one byte too large.
  await beyond.write(Buffer.from('x'), 0, 1, 16 * 2 ** 40);
  t.equal(await errorCode(beyond.close()), 'EFBIG', 'a write past fileBytesMax fails at close with EFBIG, not silently');
  t.equal(await errorCode(truncate(at('docs/huge'), 2 ** 45)), 'EFBIG', 'truncate past fileBytesMax: EFBIG');
  await unlink(at('docs/huge'));

  await unlink(at('docs/a.txt'));
  await rmdir(at('docs'));
  t.deepEqual(await readdir(root), [], 'the tree is empty again');
});

test('fuse mount: ordinary tools (cp, cat, ls, >>, rm, mv, mkdir -p, touch -m/-a, chmod, chown, tar keeping mtimes, rsync, sed -i, git)', { timeout: 180_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  const root = first.dir;
  const source = path.join(process.cwd(), 'src');
  const script = `
mkdir -p tools/a/b/c
cp -r ${source}/fuse tools/a/b/c/
cat tools/a/b/c/fuse/errno.ts > /dev/null
diff -r ${source}/fuse tools/a/b/c/fuse
echo one > tools/log; echo two >> tools/log; echo three >> tools/log
test "$(cat tools/log)" = "$(printf 'one\\ntwo\\nthree')"
touch tools/empty; test -f tools/empty; test ! -s tools/empty
chmod 600 tools/empty; test "$(stat -c %a tools/empty)" = 600
chown 1234:5678 tools/empty; test "$(stat -c %u:%g tools/empty)" = 1234:5678
mv tools/log tools/a/log.moved; test ! -e tools/log; test -f tools/a/log.moved
ls -l tools/a/b/c/fuse | grep -q errno.ts
tar -C ${source} -cf - util | tar -C tools -xf -
diff -r ${source}/util tools/util
test "$(stat -c %Y tools/util/limits.ts)" = "$(stat -c %Y ${source}/util/limits.ts)"
touch -m -d @1500000000 tools/empty; test "$(stat -c %Y tools/empty)" = 1500000000
touch -a -d @1400000000 tools/empty; test "$(stat -c %X:%Y tools/empty)" = 1400000000:1500000000
sed -i 's/one/ONE/' tools/a/log.moved
test "$(head -1 tools/a/log.moved)" = ONE
if command -v rsync >/dev/null; then rsync -a ${source}/codec/ tools/codec/ && diff -r ${source}/codec tools/codec && echo rsync-ok; fi
git init -q repo && cd repo && echo hi > f && git add f && git -c user.email=t@t -c user.name=t commit -qm first && git log --oneline | grep -q first && git status --porcelain | wc -l && cd ..
rm -r tools repo
ls -A
`;
  const result = await sh(script, root, 150_000);
  t.equal(result.code, 0, `the script succeeded${result.code === 0 ? '' : `: ${result.stderr}`}`);
  if (result.stdout.includes('rsync-ok')) t.pass('rsync -a copied a tree');
  else t.comment('rsync not installed: not tested');
  t.equal(result.stdout.trim().split('\n').at(-1), '0', 'git status is clean after the commit, and rm -r left nothing');
});

test('fuse mount: two mounts see each other\'s closed files, and >> from both loses no line', { timeout: 180_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  const second = await mountCluster();
  await writeFile(path.join(first.dir, 'shared.txt'), 'from the first mount\n');
  t.equal(await readFile(path.join(second.dir, 'shared.txt'), 'utf8'), 'from the first mount\n', 'a file closed on one mount reads back on the other');
  await writeFile(path.join(second.dir, 'shared.txt'), 'replaced by the second\n');
  t.equal(await readFile(path.join(first.dir, 'shared.txt'), 'utf8'), 'replaced by the second\n', 'and the other way round');

  let stale = 0;
  for (let i = 0; i < 10; i++) {
    const name = `grown-${i}`;
    await writeFile(path.join(first.dir, name), 'hello');
    await stat(path.join(second.dir, name));
    await appendFile(path.join(first.dir, name), ' world');
    if ((await readFile(path.join(second.dir, name), 'utf8')) !== 'hello world') stale++;
    await unlink(path.join(first.dir, name));
  }
  t.equal(stale, 0, 'close-to-open: a file grown on one mount reads whole on the other right after, even if it was just stat\'ed there');

  await writeFile(path.join(first.dir, 'appended.log'), '');
  const lines = 200;
  const appender = (dir: string, tag: string): Promise<unknown> =>
    sh(`for i in $(seq 1 ${lines}); do echo "${tag} $i" >> appended.log; done`, dir, 150_000);
  const results = await Promise.all([appender(first.dir, 'first'), appender(second.dir, 'second')]);
  t.deepEqual(results.map((result) => (result as { code: number }).code), [0, 0], 'both loops succeeded');
  const content = (await readFile(path.join(first.dir, 'appended.log'), 'utf8')).split('\n').filter((line) => line !== '');
  t.equal(content.length, 2 * lines, `all ${2 * lines} lines are there`);
  for (const tag of ['first', 'second']) {
    const mine = content.filter((line) => line.startsWith(`${tag} `)).map((line) => Number(line.split(' ')[1]));
    t.deepEqual(mine, Array.from({ length: lines }, (_, i) => i + 1), `the ${tag} mount's lines, each once and in order`);
  }
  await unlink(path.join(first.dir, 'appended.log'));
  await unlink(path.join(first.dir, 'shared.txt'));
  await second.stopAndRemove();
});

test('fuse mount: cp of a 100 MiB file works, reads back equal, and the mount\'s memory stays bounded', { timeout: 300_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  const local = path.join(tmpdir(), `fsraft-big-${process.pid}.bin`);
  try {
    const made = await sh(`head -c ${100 * 1024 * 1024} /dev/urandom > ${local}`, tmpdir());
    t.equal(made.code, 0, 'made a 100 MiB local file');
    const rssBefore = await first.rssKib();
    let rssMax = rssBefore;
    let copying = true;
    const sampler = (async () => {
      while (copying) {
        rssMax = Math.max(rssMax, await first.rssKib().catch(() => 0));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const startedMs = Date.now();
    const copied = await runTool('/bin/cp', [local, path.join(first.dir, 'big.bin')], { timeoutMs: 240_000 });
    const copyMs = Date.now() - startedMs;
    copying = false;
    await sampler;
    t.equal(copied.code, 0, `cp succeeded in ${(copyMs / 1000).toFixed(1)} s (${((100 * 1000) / copyMs).toFixed(1)} MiB/s)${copied.stderr}`);
    t.equal((await stat(path.join(first.dir, 'big.bin'))).size, 100 * 1024 * 1024, 'the size is right');
    if (process.getuid?.() === 0) {
      // Read back below with 1 MiB requests, several in flight (the kernel's 128 KiB otherwise).
      t.equal((await readFile(await readAheadFile(first.dir), 'utf8')).trim(), '4096', 'a root mount reads ahead 4 MiB (its read_ahead_kb)');
    }
    const compared = await runTool('/usr/bin/cmp', [local, path.join(first.dir, 'big.bin')], { timeoutMs: 240_000 });
    t.equal(compared.code, 0, 'cmp finds the copy equal to the original');
    t.comment(`mount RSS ${Math.round(rssBefore / 1024)} MiB before, at most ${Math.round(rssMax / 1024)} MiB during the copy`);
    t.ok(rssMax - rssBefore < 64 * 1024, `the mount grew by ${Math.round((rssMax - rssBefore) / 1024)} MiB (< 64 MiB) copying 100 MiB`);
    await unlink(path.join(first.dir, 'big.bin'));
  } finally {
    await rm(local, { force: true });
  }
});

test('fuse mount: every mount unmounts cleanly', { timeout: 60_000 }, async (t) => {
  for (const mount of mounts) t.equal(await mount.stopAndRemove(), 0, `${mount.dir}: exit code 0 after SIGTERM`);
  t.end();
});

stopTest(cluster);
