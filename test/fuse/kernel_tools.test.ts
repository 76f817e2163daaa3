/**
 * The kernel-protocol FUSE session under everyday tools and sizes: a directory of thousands of
 * entries read in pages whose offsets stay valid while entries are removed, `cp -a` and `tar` of a
 * tree with hard links, symlinks, fifos and xattrs, and a 64 MiB dd (its speed is printed as a
 * comment, never asserted).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'tape';
import { KernelMount, kernelFuseAvailable, python, python3, shell } from '../helpers/kernel_mount.js';

const testTimeoutMs = 180_000;

async function withMount(t: test.Test, body: (mount: KernelMount) => Promise<void>): Promise<void> {
  if (!kernelFuseAvailable(t)) return;
  const mount = await KernelMount.start({ options: 'default_permissions' });
  try {
    await body(mount);
  } catch (error) {
    t.fail(`${(error as Error).stack ?? String(error)}\n${mount.output()}`);
  } finally {
    t.equal(await mount.stopAndRemove(), 0, 'the server unmounted and exited 0');
  }
}

test('kernel fuse: a directory of 5,000 entries pages with offsets that survive removals', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, async (mount) => {
    if (python3 === null) {
      t.skip('no python3 to walk the directory');
      return;
    }
    const script = `
import os, sys
d = sys.argv[1]
os.mkdir(d)
for i in range(5000):
    open(os.path.join(d, 'entry-%05d-%s' % (i, 'x' * (i % 50))), 'w').close()
names = os.listdir(d)
ok_all = len(names) == 5000 and len(set(names)) == 5000
# Remove every other entry while a scan is under way: each entry present throughout must be seen
# exactly once, none twice (the offsets are cookies, not positions).
seen = []
removed = set()
with os.scandir(d) as it:
    for n, entry in enumerate(it):
        seen.append(entry.name)
        if n == 100:
            for name in sorted(names)[1::2]:
                os.unlink(os.path.join(d, name))
                removed.add(name)
kept = set(names) - removed
dup = len(seen) - len(set(seen))
missing = len(kept - set(seen))
inodes_match = all(e.inode() == os.lstat(e.path).st_ino for e in os.scandir(d))
print(ok_all, len(kept), dup, missing, inodes_match, len(os.listdir(d)))
`;
    const out = await python(script, [mount.path('big')], { timeoutMs: 150_000 });
    t.equal(out.code, 0, `python built and scanned the directory${out.code === 0 ? '' : `: ${out.stderr}`}`);
    t.equal(out.stdout.trim(), 'True 2500 0 0 True 2500',
      'all 5,000 names listed once; during a scan with half of them removed, no entry seen twice and none of the rest missed; readdirplus inode numbers match stat');
    const counted = await shell('ls -f big | wc -l', { cwd: mount.dir });
    t.equal(counted.stdout.trim(), '2502', 'ls -f lists the 2,500 left plus . and ..');
  });
});

test('kernel fuse: cp -a and tar carry a tree with hard links, symlinks, fifos and xattrs', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, async (mount) => {
    const source = await mkdtemp(path.join(tmpdir(), 'fsraft-ktree-'));
    try {
      const build = await shell(`
        mkdir -p tree/a/b tree/empty
        printf 'one\\n' > tree/a/one
        head -c 300000 /dev/urandom > tree/a/b/random
        ln tree/a/one tree/a/one-hardlink
        ln -s ../a/one tree/empty/../a/link
        mkfifo tree/a/fifo
        chmod 640 tree/a/one; chmod 2775 tree/a/b
        touch -d '2010-01-02 03:04:05.5' tree/a/b/random
        if command -v setfattr >/dev/null; then setfattr -n user.color -v blue tree/a/one; fi
      `, { cwd: source });
      t.equal(build.code, 0, `a source tree is built in ${source}${build.code === 0 ? '' : `: ${build.stderr}`}`);

      const copied = await shell(`cp -a ${source}/tree copy && tar -C ${source} -cf - tree | tar -xpf - -C . --xattrs 2>/dev/null || tar -C ${source} -cf - tree | tar -xpf - -C .`, { cwd: mount.dir });
      t.equal(copied.code, 0, `cp -a and tar x into the mount${copied.code === 0 ? '' : `: ${copied.stderr}`}`);
      for (const copy of ['copy', 'tree']) {
        const diff = await shell(`diff -r --no-dereference -x fifo ${source}/tree ${copy} && echo same`, { cwd: mount.dir });
        t.equal(diff.stdout.trim(), 'same', `${copy}: the same names and contents as the source (diff -r; fifos compared by stat below)`);
        const described = await shell(`stat -c '%n %A %h %Y' a/one a/one-hardlink a/b a/b/random a/fifo a/link`, { cwd: path.join(mount.dir, copy) });
        const expected = await shell(`stat -c '%n %A %h %Y' a/one a/one-hardlink a/b a/b/random a/fifo a/link`, { cwd: path.join(source, 'tree') });
        t.equal(described.stdout, expected.stdout, `${copy}: modes, link counts (the hard link kept), mtimes, fifo and symlink as in the source`);
      }
      const color = await shell('getfattr --only-values -n user.color copy/a/one 2>/dev/null || echo no-getfattr', { cwd: mount.dir });
      if (color.stdout.trim() === 'no-getfattr') t.skip('getfattr not installed (Debian package attr): xattr copy not checked');
      else t.equal(color.stdout.trim(), 'blue', 'cp -a copied the extended attribute');

      const back = await shell(`tar -C ${mount.dir} -cf - copy | tar -xf - -C ${source} && diff -r --no-dereference -x fifo ${source}/tree ${source}/copy && echo same`, { cwd: source });
      t.equal(back.stdout.trim(), 'same', 'a tar of the mount unpacks elsewhere to the same tree');
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });
});

test('kernel fuse: 64 MiB through dd', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, async (mount) => {
    const started = process.hrtime.bigint();
    const written = await shell('dd if=/dev/urandom of=/tmp/fsraft-dd-source.$$ bs=1M count=64 status=none && md5sum < /tmp/fsraft-dd-source.$$ | cut -d" " -f1 && ' +
      `dd if=/tmp/fsraft-dd-source.$$ of=${mount.path('big')} bs=1M conv=fsync 2>&1 | tail -1 && ` +
      `dd if=/tmp/fsraft-dd-source.$$ of=${mount.path('big')} bs=1M conv=fsync 2>&1 | tail -1 && ` +
      'echo 3 > /proc/sys/vm/drop_caches && ' +
      `dd if=${mount.path('big')} of=/dev/null bs=1M 2>&1 | tail -1 && md5sum < ${mount.path('big')} | cut -d" " -f1; rm -f /tmp/fsraft-dd-source.$$`);
    t.equal(written.code, 0, `dd wrote and read 64 MiB${written.code === 0 ? '' : `: ${written.stderr}`}`);
    const lines = written.stdout.trim().split('\n');
    t.equal(lines.length, 5, 'dd printed its three summaries and both checksums');
    t.equal(lines[4], lines[0], 'the file reads back with the checksum it was written with');
    const speed = (line: string | undefined): string => /, ([\d.]+ [kMG]?B\/s)$/.exec(line ?? '')?.[1] ?? '?';
    // A new file's first write is slowed by the memory file system taking fresh memory (a page
    // fault per 4 KiB, costly in a VM); the overwrite shows the session itself.
    t.comment(`dd 64 MiB bs=1M through the memory file system: write ${speed(lines[1])} (new file), ${speed(lines[2])} (overwrite), read (cold page cache) ${speed(lines[3])}; ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s in all`);
  });
});
