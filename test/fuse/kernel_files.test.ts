/**
 * The kernel-protocol FUSE session, mounted for real and serving the in-memory file system from a
 * child process (test/helpers/kernel_mount_server.ts): files, inode numbers, hard and symbolic
 * links, fifos, devices and sockets, nanosecond times, extended attributes, renameat2 flags,
 * SEEK_DATA/SEEK_HOLE, files that live on while open after unlink, and name lengths. Every call
 * into the mount is asynchronous or made by a child tool, never a synchronous call of this process.
 */
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import test from 'tape';
import { KernelMount, kernelFuseAvailable, python, python3, shell, tool } from '../helpers/kernel_mount.js';

const testTimeoutMs = 120_000;

/** Runs `body` against a fresh mount, always unmounted afterwards. */
async function withMount(t: test.Test, options: string | undefined, body: (mount: KernelMount) => Promise<void>): Promise<void> {
  if (!kernelFuseAvailable(t)) return;
  const mount = await KernelMount.start(options === undefined ? {} : { options });
  try {
    await body(mount);
  } catch (error) {
    t.fail(`${(error as Error).stack ?? String(error)}\n${mount.output()}`);
  } finally {
    const code = await mount.stopAndRemove();
    t.equal(code, 0, 'the server unmounted and exited 0');
  }
}

async function expectOk(t: test.Test, result: Promise<{ code: number | null; stdout: string; stderr: string }>, what: string): Promise<string> {
  const { code, stdout, stderr } = await result;
  t.equal(code, 0, `${what}${code === 0 ? '' : `: ${stderr.trim()}`}`);
  return stdout;
}

test('kernel fuse: the session negotiates INIT and serves files with stable inode numbers', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    const match = /FUSE 7\.(\d+) flags 0x([0-9a-f]+)/.exec(mount.readyLine());
    t.ok(match !== null && Number(match[1]) >= 31, `the kernel and the session agreed on FUSE 7.${match?.[1]} (7.31 or newer)`);

    await writeFile(mount.path('hello.txt'), 'hello, kernel\n');
    t.equal(await readFile(mount.path('hello.txt'), 'utf8'), 'hello, kernel\n', 'a file written through the mount reads back');
    await writeFile(mount.path('hello.txt'), 'more\n', { flag: 'a' });
    t.equal((await stat(mount.path('hello.txt'))).size, 19, 'appending grows it');
    await writeFile(mount.path('hello.txt'), 'short');
    t.equal(await readFile(mount.path('hello.txt'), 'utf8'), 'short', 'O_TRUNC (left to the file system by FUSE_ATOMIC_O_TRUNC) empties it first');

    const inode = (await stat(mount.path('hello.txt'))).ino;
    await expectOk(t, shell('ln hello.txt hard && ln -s hello.txt soft && mkdir sub', { cwd: mount.dir }), 'ln, ln -s and mkdir work');
    const hard = await stat(mount.path('hard'));
    t.equal(hard.ino, inode, 'a hard link has the same inode number');
    t.equal(hard.nlink, 2, 'and the inode counts two links');
    const listing = await expectOk(t, shell('ls -li', { cwd: mount.dir }), 'ls -li lists the directory');
    t.ok(listing.split('\n').filter((line) => !line.includes(' -> ') && / (hello\.txt|hard)$/.test(line)).every((line) => line.trim().startsWith(`${inode} `)), `ls -li shows inode ${inode} for both names`);
    // Dropping the kernel's dentries and inodes makes it FORGET them and look them up again.
    await expectOk(t, shell('sync; echo 2 > /proc/sys/vm/drop_caches'), 'the kernel drops its cached inodes');
    t.equal((await stat(mount.path('hard'))).ino, inode, 'the inode number is stable across the kernel forgetting it');
    t.equal((await expectOk(t, shell('readlink soft', { cwd: mount.dir }), 'readlink')).trim(), 'hello.txt', 'a symlink reads back its target');
    t.equal(await readFile(mount.path('soft'), 'utf8'), 'short', 'and resolves to the file');
    t.equal((await stat(mount.path('sub'))).nlink, 2, 'a new directory has two links');

    await expectOk(t, shell('touch -d "2001-02-03 04:05:06.123456789" hello.txt && stat -c %y hello.txt', { cwd: mount.dir }), 'touch -d sets a time');
    const shown = await expectOk(t, shell('stat -c %y hello.txt', { cwd: mount.dir }), 'stat shows it');
    t.ok(shown.includes('04:05:06.123456789'), `times keep their nanoseconds (${shown.trim()})`);
  });
});

test('kernel fuse: fifos, devices and sockets are made with mknod', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    await expectOk(t, shell('mkfifo fifo && mknod chr c 1 3 && mknod blk b 7 0', { cwd: mount.dir }), 'mkfifo and mknod work');
    const kinds = await expectOk(t, shell("stat -c '%n %F %t:%T' fifo chr blk", { cwd: mount.dir }), 'stat the special files');
    t.ok(kinds.includes('fifo fifo'), 'a fifo');
    t.ok(kinds.includes('chr character special file 1:3'), 'a character device with its numbers');
    t.ok(kinds.includes('blk block special file 7:0'), 'a block device with its numbers');
    // A fifo works through the mount: the kernel keeps the pipe, the file system only the node.
    const piped = await expectOk(t, shell('(echo through-the-fifo > fifo &) ; cat fifo', { cwd: mount.dir, timeoutMs: 10_000 }), 'a writer and a reader meet in the fifo');
    t.equal(piped.trim(), 'through-the-fifo', 'the bytes pass');
    if (python3 === null) {
      t.skip('no python3: the socket node is not tested');
      return;
    }
    await expectOk(t, python('import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', [mount.path('sock')]), 'binding a unix socket makes a socket node');
    t.ok((await stat(mount.path('sock'))).isSocket(), 'stat shows a socket');
  });
});

test('kernel fuse: extended attributes', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    await writeFile(mount.path('f'), 'x');
    if (python3 === null) {
      t.skip('no python3: xattrs through os.setxattr are not tested');
    } else {
      const script = `
import errno, os, sys
p = sys.argv[1]
def code(f):
    try:
        f(); return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
out = []
out.append(code(lambda: os.setxattr(p, 'user.a', b'one')))
out.append(os.getxattr(p, 'user.a').decode())
out.append(code(lambda: os.setxattr(p, 'user.a', b'two', os.XATTR_CREATE)))
out.append(code(lambda: os.setxattr(p, 'user.b', b'two', os.XATTR_REPLACE)))
out.append(code(lambda: os.getxattr(p, 'user.missing')))
big = bytes(range(256)) * 240
os.setxattr(p, 'user.big', big)
out.append(str(os.getxattr(p, 'user.big') == big))
out.append(','.join(sorted(os.listxattr(p))))
os.removexattr(p, 'user.a')
out.append(code(lambda: os.removexattr(p, 'user.a')))
out.append(','.join(sorted(os.listxattr(p))))
print(' '.join(out))
`;
      const out = (await expectOk(t, python(script, [mount.path('f')]), 'python sets, reads, lists and removes xattrs')).trim().split(' ');
      t.deepEqual(out, ['ok', 'one', 'EEXIST', 'ENODATA', 'ENODATA', 'True', 'user.a,user.big', 'ENODATA', 'user.big'],
        'set/get; XATTR_CREATE on an existing one is EEXIST; XATTR_REPLACE or get of a missing one is ENODATA; a 60 KiB value round-trips; list; remove');
    }
    const setfattr = tool('/usr/bin/setfattr', '/bin/setfattr');
    const getfattr = tool('/usr/bin/getfattr', '/bin/getfattr');
    if (setfattr === null || getfattr === null) {
      t.skip('setfattr/getfattr are not installed (Debian package attr): skipped');
      return;
    }
    await expectOk(t, shell(`${setfattr} -n user.tool -v from-setfattr f`, { cwd: mount.dir }), 'setfattr sets one');
    const dumped = await expectOk(t, shell(`${getfattr} -d f`, { cwd: mount.dir }), 'getfattr -d dumps them');
    t.ok(dumped.includes('user.tool="from-setfattr"'), 'getfattr shows the value setfattr set');
  });
});

test('kernel fuse: renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    if (python3 === null) {
      t.skip('no python3 for renameat2 through ctypes');
      return;
    }
    await writeFile(mount.path('a'), 'A');
    await writeFile(mount.path('b'), 'B');
    const script = `
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
def r(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) == 0: return 'ok'
    return errno.errorcode[ctypes.get_errno()]
os.chdir(sys.argv[1])
print(r('a', 'b', 1), r('a', 'c', 1), r('c', 'b', 2), r('c', 'missing', 2), r('b', 'd', 0))
`;
    const out = (await expectOk(t, python(script, [mount.dir]), 'renameat2 through ctypes')).trim().split(' ');
    t.deepEqual(out, ['EEXIST', 'ok', 'ok', 'ENOENT', 'ok'], 'NOREPLACE onto a name is EEXIST, onto none works; EXCHANGE swaps, and needs both names');
    t.equal(await readFile(mount.path('c'), 'utf8'), 'B', 'after the exchange c holds what b held');
    t.equal(await readFile(mount.path('d'), 'utf8'), 'A', 'and b (renamed to d) holds what a held');
  });
});

test('kernel fuse: lseek SEEK_DATA/SEEK_HOLE reach the file system; fallocate punches holes', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    if (python3 === null) {
      t.skip('no python3 for os.lseek SEEK_DATA/SEEK_HOLE');
      return;
    }
    const before = (await mount.stats()).lseekCalls;
    const script = `
import errno, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
os.pwrite(fd, b'x' * 4096, 1 << 20)
def seek(offset, whence):
    try:
        return str(os.lseek(fd, offset, whence))
    except OSError as e:
        return errno.errorcode[e.errno]
print(seek(0, os.SEEK_DATA), seek(0, os.SEEK_HOLE), seek(1 << 20, os.SEEK_HOLE), seek((1 << 20) + 4096, os.SEEK_DATA), os.fstat(fd).st_blocks)
`;
    const out = (await expectOk(t, python(script, [mount.path('sparse')]), 'python seeks in a sparse file')).trim().split(' ');
    t.deepEqual(out, [String(1 << 20), '0', String((1 << 20) + 4096), 'ENXIO', '8'], 'data starts at 1 MiB, the start is a hole, the data ends at 1 MiB + 4 KiB, nothing past the end; 8 blocks stored');
    t.ok((await mount.stats()).lseekCalls > before, 'the seeks were answered by the file system, not by the kernel alone');
    const fallocate = tool('/usr/bin/fallocate', '/bin/fallocate');
    if (fallocate === null) {
      t.skip('no fallocate(1): hole punching not tested');
      return;
    }
    await expectOk(t, shell(`${fallocate} -p -o ${1 << 20} -l 4096 sparse`, { cwd: mount.dir }), 'fallocate --punch-hole');
    const after = await expectOk(t, python('import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(os.fstat(fd).st_size, os.fstat(fd).st_blocks, os.pread(fd, 4, 1 << 20))', [mount.path('sparse')]), 'stat after the punch');
    t.equal(after.trim(), `${(1 << 20) + 4096} 0 b'\\x00\\x00\\x00\\x00'`, 'the size stays, no block is stored, the range reads as zeros');
  });
});

test('kernel fuse: an unlinked file lives while it is open, then is freed', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    if (python3 === null) {
      t.skip('no python3 to hold a file open across unlink');
      return;
    }
    const baseline = (await mount.stats()).inodes;
    const script = `
import os, sys
path = sys.argv[1]
fd = os.open(path, os.O_CREAT | os.O_RDWR)
os.write(fd, b'still here')
os.unlink(path)
print(os.path.exists(path), os.fstat(fd).st_nlink, os.pread(fd, 100, 0).decode())
os.close(fd)
`;
    const out = await expectOk(t, python(script, [mount.path('doomed')]), 'write, unlink, read back, close');
    t.equal(out.trim(), 'False 0 still here', 'after unlink the name is gone, nlink is 0, and the open file still reads (no .fuse_hidden rename)');
    const deadline = Date.now() + 10_000;
    let inodes = (await mount.stats()).inodes;
    while (inodes > baseline && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      inodes = (await mount.stats()).inodes;
    }
    t.equal(inodes, baseline, 'after close the kernel forgets the inode and the file system frees it');
    const listing = await expectOk(t, shell('ls -A', { cwd: mount.dir }), 'ls -A');
    t.equal(listing.trim(), '', 'no hidden leftover in the directory');
  });
});

test('kernel fuse: names of 255 bytes work, 256 bytes are ENAMETOOLONG', { timeout: testTimeoutMs }, async (t) => {
  await withMount(t, 'default_permissions', async (mount) => {
    const longest = 'n'.repeat(255);
    await writeFile(mount.path(longest), 'ok');
    t.equal(await readFile(mount.path(longest), 'utf8'), 'ok', 'a 255-byte name is created and read');
    for (const [what, attempt] of [
      ['create', () => writeFile(mount.path(`${longest}x`), 'no')],
      ['mkdir', () => shell(`mkdir ${longest}x`, { cwd: mount.dir }).then((r) => { if (r.code !== 0) throw Object.assign(new Error(r.stderr), { code: /File name too long/.test(r.stderr) ? 'ENAMETOOLONG' : 'other' }); })],
      ['stat', () => stat(mount.path(`${longest}x`))],
    ] as const) {
      await attempt().then(
        () => t.fail(`${what} of a 256-byte name succeeded`),
        (error: NodeJS.ErrnoException) => t.equal(error.code, 'ENAMETOOLONG', `${what} of a 256-byte name is ENAMETOOLONG`),
      );
    }
    const renamed = await shell(`mv ${longest} ${longest}x`, { cwd: mount.dir });
    t.ok(renamed.code !== 0 && /File name too long/.test(renamed.stderr), 'rename to a 256-byte name fails with ENAMETOOLONG');
  });
});

test('kernel fuse: invalidateInode and invalidateEntry drop what the kernel cached', { timeout: testTimeoutMs }, async (t) => {
  // Long timeouts: without a notification the kernel would keep serving its caches for a minute.
  await withMount(t, 'default_permissions,entry_timeout=60,attr_timeout=60', async (mount) => {
    await writeFile(mount.path('f'), 'old content');
    const handle = await open(mount.path('f'), 'r');
    try {
      const read = async (): Promise<string> => {
        const buffer = Buffer.alloc(64);
        const { bytesRead } = await handle.read(buffer, 0, 64, 0);
        return buffer.subarray(0, bytesRead).toString();
      };
      t.equal(await read(), 'old content', 'read through the page cache');
      await mount.changeBehindTheKernel({ name: 'f', content: 'NEW CONTENT', invalidate: false });
      t.equal(await read(), 'old content', 'a change behind the kernel\'s back is not seen while the pages are cached');
      await mount.changeBehindTheKernel({ name: 'f', content: 'NEW content', invalidate: true });
      t.equal(await read(), 'NEW content', 'after FUSE_NOTIFY_INVAL_INODE the next read fetches the new content');
    } finally {
      await handle.close();
    }
    await writeFile(mount.path('g1'), '1');
    await writeFile(mount.path('g2'), '2');
    await stat(mount.path('g1'));
    await stat(mount.path('g2'));
    await mount.changeBehindTheKernel({ name: 'g1', newName: 'h1', invalidate: false });
    t.ok((await stat(mount.path('g1')).then(() => true, () => false)), 'a name renamed behind the kernel\'s back is still found from the dentry cache');
    await mount.changeBehindTheKernel({ name: 'g2', newName: 'h2', invalidate: true });
    await stat(mount.path('g2')).then(
      () => t.fail('g2 is still found after FUSE_NOTIFY_INVAL_ENTRY'),
      (error: NodeJS.ErrnoException) => t.equal(error.code, 'ENOENT', 'after FUSE_NOTIFY_INVAL_ENTRY the old name is looked up again: ENOENT'),
    );
    t.equal(await readFile(mount.path('h2'), 'utf8'), '2', 'and the new name is there');
  });
});
