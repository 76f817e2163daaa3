/**
 * Nodes, names and times through a real fsraft-mount (allow_other, default_permissions) of a real
 * 5-node cluster, pjdfstest-style: which of mtime and ctime each call changes (on the node and on
 * its directories), times kept to the nanosecond, link counts of files and directories, inode
 * numbers that survive rename and remount, symlinks, FIFOs, device nodes and sockets, and the
 * rules of rename(2) and renameat2(2) with their errnos.
 */
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { MountProcess, tempMountpoint } from '../../src/launch/mount_process.js';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { fuseAvailable } from '../helpers/fuse_available.js';
import { alice, expectAll, expectSameTree, probe } from '../helpers/posix_probe.js';

const cluster = await fileCluster();
startTest(cluster);
// Not awaited here: tape starts running once the module's first await yields.
const fuseLoading = loadFuse();
const mounts: MountProcess[] = [];

async function mountCluster(): Promise<MountProcess> {
  const mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile, '-o', 'allow_other']);
  mounts.push(mount);
  return mount;
}

/** The mount in use, after checking FUSE is here; undefined (test failed or skipped) otherwise. */
async function current(t: Test): Promise<MountProcess | undefined> {
  if (!(await fuseAvailable(t, fuseLoading))) return undefined;
  cluster.watch(t);
  if (mounts.length === 0) await mountCluster();
  return mounts.at(-1);
}

test('posix nodes: which of mtime and ctime each call changes, on the node and its directories', { timeout: 60_000 }, async (t) => {
  const mount = await current(t);
  if (mount === undefined) return;
  const got = await probe(mount.dir, `
    os.mkdir('t')
    os.mkdir('t2')
    before('t')
    os.close(os.open('t/f', os.O_CREAT | os.O_WRONLY, 0o644))
    R['create: dir'] = moved('t')
    os.close(os.open('t/e', os.O_CREAT | os.O_WRONLY, 0o644))
    f = st('t/f')
    R['create: new file atime = mtime = ctime'] = f['atime'] == f['mtime'] == f['ctime']
    before('t')
    os.mkdir('t/sub')
    R['mkdir: dir'] = moved('t')
    before('t')
    os.symlink('f', 't/l')
    R['symlink: dir'] = moved('t')
    before('t')
    os.mkfifo('t/p')
    R['mkfifo: dir'] = moved('t')
    before('t', 't/f')
    put('t/f', b'hello')
    R['write: file'] = moved('t/f')
    R['write: dir'] = moved('t')
    before('t/f')
    os.truncate('t/f', 2)
    R['truncate: file'] = moved('t/f')
    before('t/f')
    fd = os.open('t/f', os.O_WRONLY)
    os.ftruncate(fd, 100)
    os.close(fd)
    R['ftruncate: file'] = moved('t/f')
    before('t/f')
    os.close(os.open('t/f', os.O_WRONLY | os.O_TRUNC))
    R['open O_TRUNC: file'] = moved('t/f')
    before('t/e')
    os.close(os.open('t/e', os.O_WRONLY | os.O_TRUNC))
    R['open O_TRUNC of an empty file: file'] = moved('t/e')
    before('t/f')
    os.chmod('t/f', 0o600)
    R['chmod: file'] = moved('t/f')
    before('t/f')
    os.chown('t/f', 1000, 1000)
    R['chown: file'] = moved('t/f')
    before('t/f')
    os.setxattr('t/f', 'user.x', b'1')
    R['setxattr: file'] = moved('t/f')
    before('t/f')
    os.utime('t/f', (10, 20))
    R['utimes: file'] = moved('t/f')
    before('t', 't/f')
    os.link('t/f', 't/g')
    R['link: file'] = moved('t/f')
    R['link: dir'] = moved('t')
    before('t', 't/f')
    os.unlink('t/g')
    R['unlink: file'] = moved('t/f')
    R['unlink: dir'] = moved('t')
    before('t', 't2', 't/f')
    os.rename('t/f', 't2/f')
    R['rename: file'] = moved('t/f', st('t2/f'))
    R['rename: from dir'] = moved('t')
    R['rename: to dir'] = moved('t2')
    before('t', 't2', 't/sub')
    os.rename('t/sub', 't2/sub')
    R['rename of a dir: the dir'] = moved('t/sub', st('t2/sub'))
    R['rename of a dir: from dir'] = moved('t')
    R['rename of a dir: to dir'] = moved('t2')
    before('t2')
    os.rmdir('t2/sub')
    R['rmdir: dir'] = moved('t2')
    before('t2/f')
    R['read'] = get('t2/f').decode()
    os.listdir('t2')
    R['read, readdir: file'] = moved('t2/f')
    os.utime('t2/f', ns=(1234567891123456789, 1500000000987654321))
    f = st('t2/f')
    R['atime ns'] = str(f['atime'])
    R['mtime ns'] = str(f['mtime'])
    # Before 1970 (touch -d 1969-07-20, old tar archives): negative seconds, positive nanoseconds.
    R['utimes before 1970'] = E(os.utime, 't2/f', ns=(-1500000000, -14182940000000000001))
    f = st('t2/f')
    R['atime before 1970'] = str(f['atime'])
    R['mtime before 1970'] = str(f['mtime'])
  `);
  expectAll(t, 'root', got, {
    'create: dir': 'mtime+ctime', 'create: new file atime = mtime = ctime': true, 'mkdir: dir': 'mtime+ctime', 'symlink: dir': 'mtime+ctime', 'mkfifo: dir': 'mtime+ctime',
    'write: file': 'mtime+ctime', 'write: dir': 'none', 'truncate: file': 'mtime+ctime', 'ftruncate: file': 'mtime+ctime', 'open O_TRUNC: file': 'mtime+ctime', 'open O_TRUNC of an empty file: file': 'mtime+ctime',
    'chmod: file': 'ctime', 'chown: file': 'ctime', 'setxattr: file': 'ctime', 'utimes: file': 'mtime+ctime',
    'link: file': 'ctime', 'link: dir': 'mtime+ctime', 'unlink: file': 'ctime', 'unlink: dir': 'mtime+ctime',
    'rename: file': 'ctime', 'rename: from dir': 'mtime+ctime', 'rename: to dir': 'mtime+ctime',
    'rename of a dir: the dir': 'ctime', 'rename of a dir: from dir': 'mtime+ctime', 'rename of a dir: to dir': 'mtime+ctime',
    'rmdir: dir': 'mtime+ctime', read: '', 'read, readdir: file': 'none',
    'atime ns': '1234567891123456789', 'mtime ns': '1500000000987654321',
    'utimes before 1970': 'OK', 'atime before 1970': '-1500000000', 'mtime before 1970': '-14182940000000000001',
  });
  // A write by another user with write permission changes the times too (and a later stat sees them).
  await probe(mount.dir, `os.chmod('t2/f', 0o666)`);
  const byAlice = await probe(mount.dir, `
    before('t2/f')
    put('t2/f', b'alice')
    R['write as alice: file'] = moved('t2/f')
  `, alice);
  expectAll(t, 'alice', byAlice, { 'write as alice: file': 'mtime+ctime' });
});

test('posix nodes: link counts of files and directories, and inode numbers through renames', { timeout: 60_000 }, async (t) => {
  const mount = await current(t);
  if (mount === undefined) return;
  const got = await probe(mount.dir, `
    os.mkdir('n')
    os.mkdir('n/a')
    os.mkdir('n/b')
    R['dir: 2 + subdirs'] = st('n')['nlink']
    R['empty dir'] = st('n/a')['nlink']
    os.mkdir('n/a/x')
    R['after mkdir inside'] = st('n/a')['nlink']
    os.rename('n/a/x', 'n/b/x')
    R['rename of a subdir: from'] = st('n/a')['nlink']
    R['rename of a subdir: to'] = st('n/b')['nlink']
    os.rmdir('n/b/x')
    R['after rmdir inside'] = st('n/b')['nlink']
    os.rename('n/a', 'n/b')
    R['dir over an empty dir'] = st('n')['nlink']
    with open('n/f', 'wb') as f:
        f.write(b'linked')
    ino = st('n/f')['ino']
    R['file'] = st('n/f')['nlink']
    os.link('n/f', 'n/f2')
    os.link('n/f', 'n/b/f3')
    R['after two links'] = st('n/f')['nlink']
    R['every name one inode'] = st('n/f2')['ino'] == ino and st('n/b/f3')['ino'] == ino
    R['content through a link'] = get('n/b/f3').decode()
    os.unlink('n/f')
    R['after unlink'] = st('n/f2')['nlink']
    os.rename('n/f2', 'n/renamed')
    R['rename keeps the inode'] = st('n/renamed')['ino'] == ino
    os.rename('n/renamed', 'n/b/moved')
    R['moving to another dir keeps it'] = st('n/b/moved')['ino'] == ino
    R['rename onto another name of the same file'] = E(os.rename, 'n/b/moved', 'n/b/f3')
    R['both names stay'] = sorted(os.listdir('n/b'))
    R['link of a dir'] = E(os.link, 'n/b', 'n/b-link')
    R['link onto an existing name'] = E(os.link, 'n/b/moved', 'n/b/f3')
    R['link of a missing file'] = E(os.link, 'n/none', 'n/x')
    R['unlink of a dir'] = E(os.unlink, 'n/b')
    R['rmdir of a file'] = E(os.rmdir, 'n/b/moved')
    R['root nlink >= 3'] = st('.')['nlink'] >= 3
  `);
  expectAll(t, 'root', got, {
    'dir: 2 + subdirs': 4, 'empty dir': 2, 'after mkdir inside': 3, 'rename of a subdir: from': 2, 'rename of a subdir: to': 3,
    'after rmdir inside': 2, 'dir over an empty dir': 3, file: 1, 'after two links': 3, 'every name one inode': true, 'content through a link': 'linked',
    'after unlink': 2, 'rename keeps the inode': true, 'moving to another dir keeps it': true, 'rename onto another name of the same file': 'OK',
    'link of a dir': 'EPERM', 'link onto an existing name': 'EEXIST', 'link of a missing file': 'ENOENT', 'unlink of a dir': 'EISDIR', 'rmdir of a file': 'ENOTDIR',
    'root nlink >= 3': true,
  });
  t.deepEqual(got['both names stay'], ['f3', 'moved'], 'rename(2) between two names of one file does nothing');
});

test('posix nodes: symlinks, FIFOs, device nodes (root only) and sockets', { timeout: 60_000 }, async (t) => {
  const mount = await current(t);
  if (mount === undefined) return;
  const got = await probe(mount.dir, `
    os.mkdir('k')
    os.chmod('k', 0o777)
    with open('k/target', 'wb') as f:
        f.write(b'pointed at')
    os.symlink('target', 'k/rel')
    os.symlink('/nowhere/at/all', 'k/dangling')
    R['readlink'] = os.readlink('k/rel')
    R['readlink of a dangling link'] = os.readlink('k/dangling')
    R['lstat: a symlink'] = stat.S_ISLNK(st('k/rel')['mode'])
    R['lstat: size is the target length'] = st('k/dangling')['size']
    R['stat follows it'] = stat.S_ISREG(os.stat('k/rel').st_mode)
    R['read through it'] = get('k/rel').decode()
    R['open of a dangling link'] = E(os.open, 'k/dangling', os.O_RDONLY)
    R['readlink of a file'] = E(os.readlink, 'k/target')
    R['symlink onto an existing name'] = E(os.symlink, 'x', 'k/rel')
    R['lchown of a symlink'] = E(os.chown, 'k/rel', 1000, 1000, follow_symlinks=False)
    R['lutimes of a symlink'] = E(os.utime, 'k/rel', ns=(5000000001, 6000000002), follow_symlinks=False)
    R['the link changed'] = '%d:%d %d' % (st('k/rel')['uid'], st('k/rel')['gid'], st('k/rel')['mtime'])
    R['its target did not'] = '%d:%d' % (st('k/target')['uid'], st('k/target')['gid'])
    os.mkfifo('k/fifo', 0o600)
    R['fifo'] = stat.S_ISFIFO(st('k/fifo')['mode'])
    fd = os.open('k/fifo', os.O_RDWR)
    os.write(fd, b'through the pipe')
    R['fifo passes bytes'] = os.read(fd, 100).decode()
    os.close(fd)
    os.mknod('k/null', 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod('k/blk', 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    R['char device'] = stat.S_ISCHR(st('k/null')['mode']) and st('k/null')['rdev'] == os.makedev(1, 3)
    R['block device'] = stat.S_ISBLK(st('k/blk')['mode']) and st('k/blk')['rdev'] == os.makedev(7, 0)
    R['open of a device on a nodev mount'] = E(os.open, 'k/null', os.O_RDONLY)
    os.mknod('k/regular', 0o644 | stat.S_IFREG)
    R['mknod of a regular file'] = stat.S_ISREG(st('k/regular')['mode'])
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind('k/sock')
    server.listen(1)
    R['socket'] = stat.S_ISSOCK(st('k/sock')['mode'])
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect('k/sock')
    conn, _ = server.accept()
    client.sendall(b'over the socket')
    R['socket passes bytes'] = conn.recv(100).decode()
    for s in (client, conn, server):
        s.close()
    R['unlink of a socket'] = E(os.unlink, 'k/sock')
  `);
  expectAll(t, 'root', got, {
    readlink: 'target', 'readlink of a dangling link': '/nowhere/at/all', 'lstat: a symlink': true, 'lstat: size is the target length': 15,
    'stat follows it': true, 'read through it': 'pointed at', 'open of a dangling link': 'ENOENT', 'readlink of a file': 'EINVAL',
    'symlink onto an existing name': 'EEXIST', 'lchown of a symlink': 'OK', 'lutimes of a symlink': 'OK', 'the link changed': '1000:1000 6000000002', 'its target did not': '0:0', fifo: true, 'fifo passes bytes': 'through the pipe', 'char device': true, 'block device': true,
    'open of a device on a nodev mount': 'EACCES', 'mknod of a regular file': true, socket: true, 'socket passes bytes': 'over the socket', 'unlink of a socket': 'OK',
  });
  const byAlice = await probe(mount.dir, `
    R['mknod of a char device'] = E(os.mknod, 'k/a-null', 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    R['mknod of a fifo'] = E(os.mknod, 'k/a-fifo', 0o600 | stat.S_IFIFO)
    R['symlink'] = E(os.symlink, 'target', 'k/a-link')
    s = st('k/a-link')
    R['symlink owner'] = '%d:%d' % (s['uid'], s['gid'])
  `, alice);
  expectAll(t, 'alice', byAlice, { 'mknod of a char device': 'EPERM', 'mknod of a fifo': 'OK', symlink: 'OK', 'symlink owner': '1000:1000' });
});

test('posix nodes: rename(2) and renameat2(2) rules, each refusal by its errno', { timeout: 60_000 }, async (t) => {
  const mount = await current(t);
  if (mount === undefined) return;
  const got = await probe(mount.dir, `
    os.makedirs('r/full/inside')
    os.makedirs('r/dir/sub')
    os.mkdir('r/empty')
    for name in ['file', 'other']:
        with open('r/' + name, 'wb') as f:
            f.write(name.encode())
    R['dir over a non-empty dir'] = E(os.rename, 'r/dir', 'r/full')
    R['file over a dir'] = E(os.rename, 'r/file', 'r/empty')
    R['dir over a file'] = E(os.rename, 'r/dir', 'r/file')
    R['dir into its own subdir'] = E(os.rename, 'r/dir', 'r/dir/sub/deeper')
    R['dir onto itself'] = E(os.rename, 'r/dir', 'r/dir')
    R['missing source'] = E(os.rename, 'r/none', 'r/x')
    R['into a missing dir'] = E(os.rename, 'r/file', 'r/none/x')
    R['through a file'] = E(os.rename, 'r/file', 'r/other/x')
    R['rmdir of a non-empty dir'] = E(os.rmdir, 'r/full')
    R['noreplace onto an existing name'] = E(renameat2, 'r/file', 'r/other', RENAME_NOREPLACE)
    R['noreplace onto a new name'] = E(renameat2, 'r/file', 'r/file2', RENAME_NOREPLACE)
    file_ino, dir_ino = st('r/file2')['ino'], st('r/dir')['ino']
    R['exchange a file and a dir'] = E(renameat2, 'r/file2', 'r/dir', RENAME_EXCHANGE)
    R['exchanged'] = st('r/dir')['ino'] == file_ino and st('r/file2')['ino'] == dir_ino and get('r/dir').decode() == 'file' and os.listdir('r/file2') == ['sub']
    R['exchange with a missing name'] = E(renameat2, 'r/dir', 'r/none', RENAME_EXCHANGE)
    R['both flags'] = E(renameat2, 'r/dir', 'r/other', RENAME_EXCHANGE | RENAME_NOREPLACE)
    R['file over a file'] = E(os.rename, 'r/other', 'r/dir')
    R['replaced'] = get('r/dir').decode()
    R['dir over an empty dir'] = E(os.rename, 'r/file2', 'r/empty')
    R['left'] = sorted(os.listdir('r'))
    os.makedirs('x/a/sub')
    os.mkdir('x/b')
    with open('x/b/f', 'wb') as f:
        f.write(b'f')
    R['exchange a dir and a file across dirs'] = E(renameat2, 'x/a/sub', 'x/b/f', RENAME_EXCHANGE)
    R['link counts follow the dir'] = '%d %d' % (st('x/a')['nlink'], st('x/b')['nlink'])
    R['its .. is its new parent'] = os.stat('x/b/f/..').st_ino == st('x/b')['ino']
    with open('x/h1', 'wb') as f:
        f.write(b'h')
    os.link('x/h1', 'x/h2')
    os.close(os.open('x/new', os.O_CREAT | os.O_WRONLY))
    os.rename('x/new', 'x/h1')
    R['rename over one of two names: nlink of the other'] = st('x/h2')['nlink']
  `);
  expectAll(t, 'root', got, {
    'dir over a non-empty dir': 'ENOTEMPTY', 'file over a dir': 'EISDIR', 'dir over a file': 'ENOTDIR', 'dir into its own subdir': 'EINVAL',
    'dir onto itself': 'OK', 'missing source': 'ENOENT', 'into a missing dir': 'ENOENT', 'through a file': 'ENOTDIR', 'rmdir of a non-empty dir': 'ENOTEMPTY',
    'noreplace onto an existing name': 'EEXIST', 'noreplace onto a new name': 'OK', 'exchange a file and a dir': 'OK', exchanged: true,
    'exchange a dir and a file across dirs': 'OK', 'link counts follow the dir': '2 3', 'its .. is its new parent': true, 'rename over one of two names: nlink of the other': 1,
    'exchange with a missing name': 'ENOENT', 'both flags': 'EINVAL', 'file over a file': 'OK', replaced: 'other', 'dir over an empty dir': 'OK',
  });
  t.deepEqual(got['left'], ['dir', 'empty', 'full'], 'what is left');
});

test('posix nodes: inode numbers, link counts and times are the same after a remount', { timeout: 60_000 }, async (t) => {
  const mount = await current(t);
  if (mount === undefined) return;
  // Right after the changes above, so the kernel may still answer from what it cached.
  const before = await probe(mount.dir, `R.update(tree())`);

  t.equal(await mount.stopAndRemove(), 0, 'the first mount unmounts with exit code 0');
  const again = await mountCluster();
  const after = await probe(again.dir, `R.update(tree())`);
  expectSameTree(t, before, after, 'after a remount');
});

test('posix nodes: the mount unmounts cleanly', { timeout: 60_000 }, async (t) => {
  const last = mounts.at(-1);
  if (last !== undefined) t.equal(await last.stopAndRemove(), 0, 'exit code 0 after SIGTERM');
  t.end();
});

stopTest(cluster);
