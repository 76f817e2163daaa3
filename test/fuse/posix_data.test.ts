/**
 * Contents, extended attributes, names and capacity through a real fsraft-mount (allow_other,
 * default_permissions) of a real 5-node cluster, pjdfstest-style: a file unlinked while open
 * stays usable through its descriptor, sparse files (a 1 TiB truncate, SEEK_DATA/SEEK_HOLE,
 * punched holes) cost only what they hold, user.* xattrs with their errnos and bounds, names of
 * 255 and 256 bytes, paths near and over PATH_MAX, and what df shows.
 */
import { tmpdir } from 'node:os';
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { MountProcess, runTool, tempMountpoint } from '../../src/launch/mount_process.js';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { fuseAvailable } from '../helpers/fuse_available.js';
import { bob, expectAll, probe } from '../helpers/posix_probe.js';

const cluster = await fileCluster();
startTest(cluster);
// Not awaited here: tape starts running once the module's first await yields.
const fuseLoading = loadFuse();
let mount: MountProcess | undefined;
/** A second mount of the same cluster, for what one mount does to a file another holds open. */
let other: MountProcess | undefined;

/** The mount, started by the first test that needs it; undefined (failed or skipped) without FUSE. */
async function current(t: Test): Promise<MountProcess | undefined> {
  if (!(await fuseAvailable(t, fuseLoading))) return undefined;
  cluster.watch(t);
  mount ??= await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile, '-o', 'allow_other']);
  return mount;
}

test('posix data: a file unlinked while open stays readable and writable through its descriptor', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  const got = await probe(dir, `
    def inodes():
        s = os.statvfs('.')
        return s.f_files - s.f_ffree
    start = inodes()
    for name, size in [('small', 6), ('large', 100000)]:
        with open(name, 'wb') as f:
            f.write(b'b' * size)
        fd = os.open(name, os.O_RDWR)
        os.unlink(name)
        R[name + ': name gone'] = E(os.stat, name)
        R[name + ': fstat nlink'] = os.fstat(fd).st_nlink
        os.pwrite(fd, b'AFTER', size)
        os.fsync(fd)
        R[name + ': reads what it wrote'] = os.pread(fd, 10, size - 2).decode()
        R[name + ': reads what was there'] = os.pread(fd, 3, 0).decode()
        R[name + ': fstat size'] = os.fstat(fd).st_size
        os.ftruncate(fd, 2)
        R[name + ': ftruncate'] = os.fstat(fd).st_size
        R[name + ': fchmod'] = E(os.chmod, fd, 0o600)
        R[name + ': futimens'] = E(os.utime, fd, ns=(1000000001, 2000000002))
        R[name + ': fsetxattr'] = E(os.setxattr, fd, 'user.a', b'1')
        R[name + ': what fstat says'] = '%o %d %s' % (os.fstat(fd).st_mode & 0o7777, os.fstat(fd).st_mtime_ns, os.getxattr(fd, 'user.a').decode())
        os.close(fd)
        R[name + ': a new file may take the name'] = E(lambda: os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY)))
        R[name + ': and is empty'] = st(name)['size']
        # Replaced by a rename instead of unlinked: the same.
        with open(name, 'wb') as f:
            f.write(b'o' * size)
        with open(name + '-new', 'wb') as f:
            f.write(b'new')
        fd = os.open(name, os.O_RDWR)
        os.rename(name + '-new', name)
        os.pwrite(fd, b'AFTER', size)
        os.fsync(fd)
        R[name + ': replaced: reads the old file'] = os.pread(fd, 10, size - 2).decode()
        R[name + ': replaced: the name has the new one'] = get(name).decode()
        os.close(fd)
    for name in ['small', 'large']:
        os.unlink(name)
    # The cluster drops a node whose last name went once its last holder closed it (housekeeping, about once a second).
    deadline = time.time() + 10
    while inodes() != start and time.time() < deadline:
        time.sleep(0.2)
    R['the cluster holds as many nodes as before'] = inodes() - start
  `);
  t.equal(got['the cluster holds as many nodes as before'], 0, 'every unlinked or replaced file is gone from the cluster once closed (statvfs f_files - f_ffree)');
  for (const [name, size] of [['small', 6], ['large', 100_000]] as const) {
    expectAll(t, name, got, {
      [`${name}: name gone`]: 'ENOENT', [`${name}: fstat nlink`]: 0, [`${name}: reads what it wrote`]: 'bbAFTER', [`${name}: reads what was there`]: 'bbb',
      [`${name}: replaced: reads the old file`]: 'ooAFTER', [`${name}: replaced: the name has the new one`]: 'new', [`${name}: fstat size`]: size + 5, [`${name}: ftruncate`]: 2,
      [`${name}: fchmod`]: 'OK', [`${name}: futimens`]: 'OK', [`${name}: fsetxattr`]: 'OK', [`${name}: what fstat says`]: '600 2000000002 1', [`${name}: a new file may take the name`]: 'OK', [`${name}: and is empty`]: 0,
    });
  }
});

test('posix data: a write that returned is seen at once by a read through another descriptor or process, and lands before later writes through others', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  const got = await probe(dir, `
    import subprocess
    for name, size in [('seen-small', 10), ('seen-large', 200000)]:
        writer = os.open(name, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(writer, b'w' * size)
        reader = os.open(name, os.O_RDONLY)
        R[name + ': another descriptor'] = len(os.pread(reader, size + 10, 0))
        os.pwrite(writer, b'MORE', size)
        R[name + ': another process'] = len(subprocess.run(['cat', name], capture_output=True).stdout)
        R[name + ': the first descriptor again'] = os.pread(reader, 10, size - 2).decode()
        os.close(reader)
        os.close(writer)
    # Writes through several descriptors land in the order they returned, appends at the end as it then was.
    first = os.open('order', os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(first, b'0123456789')
    appender = os.open('order', os.O_WRONLY | os.O_APPEND)
    os.write(appender, b'x')
    os.pwrite(first, b'y', 11)
    os.write(appender, b'z')
    os.close(appender)
    os.close(first)
    R['an append after a write through another descriptor'] = get('order').decode()
    a = os.open('appends', os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    b = os.open('appends', os.O_WRONLY | os.O_APPEND)
    for fd, data in [(a, b'a'), (b, b'b'), (a, b'c'), (b, b'd')]:
        os.write(fd, data)
    os.close(a)
    os.close(b)
    R['two appenders'] = get('appends').decode()
    a = os.open('overlap', os.O_CREAT | os.O_WRONLY, 0o644)
    b = os.open('overlap', os.O_WRONLY)
    os.pwrite(a, b'AAAA', 0)
    os.pwrite(b, b'BB', 1)
    os.close(b)
    os.close(a)
    R['overlapping writes through two descriptors'] = get('overlap').decode()
  `);
  expectAll(t, 'root', got, {
    'seen-small: another descriptor': 10, 'seen-small: another process': 14, 'seen-small: the first descriptor again': 'wwMORE',
    'seen-large: another descriptor': 200_000, 'seen-large: another process': 200_004, 'seen-large: the first descriptor again': 'wwMORE',
    'an append after a write through another descriptor': '0123456789xyz', 'two appenders': 'abcd', 'overlapping writes through two descriptors': 'ABBA',
  });
});

test('posix data: a file unlinked or replaced through another mount while open here stays usable here', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  other = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile, '-o', 'allow_other']);
  const got = await probe(dir, `
    other = ${JSON.stringify(other.dir)}
    for name, size, how in [('x-small', 6, 'unlink'), ('x-large', 100000, 'rename')]:
        with open(name, 'wb') as f:
            f.write(b'b' * size)
        with open(name + '-new', 'wb') as f:
            f.write(b'new')
        fd = os.open(name, os.O_RDWR)
        if how == 'unlink':
            os.unlink(other + '/' + name)
        else:
            os.rename(other + '/' + name + '-new', other + '/' + name)
        R[name + ': gone from the other mount'] = E(os.stat, other + '/' + name) if how == 'unlink' else get(other + '/' + name).decode()
        os.pwrite(fd, b'AFTER', size)
        os.fsync(fd)
        R[name + ': reads and writes here'] = os.pread(fd, 10, size - 2).decode()
        os.close(fd)
  `);
  expectAll(t, 'root', got, {
    'x-small: gone from the other mount': 'ENOENT', 'x-small: reads and writes here': 'bbAFTER',
    'x-large: gone from the other mount': 'new', 'x-large: reads and writes here': 'bbAFTER',
  });
});

test('posix data: sparse files: a 1 TiB truncate costs no blocks, SEEK_DATA/SEEK_HOLE find the data, fallocate -p punches', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  const got = await probe(dir, `
    import subprocess
    TiB, GiB, K64 = 1 << 40, 1 << 30, 1 << 16
    subprocess.run(['truncate', '-s', '1T', 'tera'], check=True)
    s = st('tera')
    R['1T: size'] = s['size'] == TiB
    R['1T: blocks'] = s['blocks']
    fd = os.open('tera', os.O_RDWR)
    R['1T: SEEK_DATA with no data'] = E(os.lseek, fd, 0, os.SEEK_DATA)
    R['1T: SEEK_HOLE at 0'] = os.lseek(fd, 0, os.SEEK_HOLE)
    R['1T: reads zeros in the middle'] = os.pread(fd, 4, GiB) == bytes(4)
    os.pwrite(fd, b'x' * K64, GiB)
    os.fsync(fd)
    R['1T: SEEK_DATA finds the written block'] = os.lseek(fd, 0, os.SEEK_DATA) == GiB
    R['1T: SEEK_HOLE after it'] = os.lseek(fd, GiB, os.SEEK_HOLE) == GiB + K64
    R['1T: SEEK_DATA past the last data'] = E(os.lseek, fd, GiB + K64, os.SEEK_DATA)
    R['1T: SEEK_HOLE at the end'] = E(os.lseek, fd, TiB, os.SEEK_HOLE)
    R['1T: blocks hold 64 KiB'] = 128 <= st('tera')['blocks'] < 1024
    os.close(fd)
    subprocess.run(['fallocate', '-p', '-o', str(GiB), '-l', str(K64), 'tera'], check=True)
    fd = os.open('tera', os.O_RDONLY)
    R['punched: reads zeros'] = os.pread(fd, K64, GiB) == bytes(K64)
    R['punched: no data left'] = E(os.lseek, fd, 0, os.SEEK_DATA)
    R['punched: size kept'] = os.fstat(fd).st_size == TiB
    R['punched: blocks'] = st('tera')['blocks']
    os.close(fd)
    with open('three', 'wb') as f:
        f.write(b'1' * K64 + b'2' * K64 + b'3' * K64)
    subprocess.run(['fallocate', '-p', '-o', str(K64), '-l', str(K64), 'three'], check=True)
    fd = os.open('three', os.O_RDONLY)
    R['middle punched: content'] = os.pread(fd, 3 * K64, 0) == b'1' * K64 + bytes(K64) + b'3' * K64
    R['middle punched: SEEK_HOLE'] = os.lseek(fd, 0, os.SEEK_HOLE) == K64
    R['middle punched: SEEK_DATA'] = os.lseek(fd, K64, os.SEEK_DATA) == 2 * K64
    R['middle punched: blocks'] = 256 <= st('three')['blocks'] < 3 * 128
    os.close(fd)
    with open('tiny', 'wb') as f:
        f.write(b'ten bytes!')
    fd = os.open('tiny', os.O_RDONLY)
    R['small file: SEEK_DATA 0'] = os.lseek(fd, 0, os.SEEK_DATA)
    R['small file: SEEK_HOLE 0'] = os.lseek(fd, 0, os.SEEK_HOLE)
    R['small file: SEEK_DATA at the end'] = E(os.lseek, fd, 10, os.SEEK_DATA)
    # Zero blocks with a non-zero size tells tar -S and other sparse-aware copiers "all hole".
    R['small file: blocks'] = st('tiny')['blocks'] > 0
    os.close(fd)
  `);
  expectAll(t, 'root', got, {
    '1T: size': true, '1T: blocks': 0, '1T: SEEK_DATA with no data': 'ENXIO', '1T: SEEK_HOLE at 0': 0, '1T: reads zeros in the middle': true,
    '1T: SEEK_DATA finds the written block': true, '1T: SEEK_HOLE after it': true, '1T: SEEK_DATA past the last data': 'ENXIO', '1T: SEEK_HOLE at the end': 'ENXIO',
    '1T: blocks hold 64 KiB': true, 'punched: reads zeros': true, 'punched: no data left': 'ENXIO', 'punched: size kept': true, 'punched: blocks': 0,
    'middle punched: content': true, 'middle punched: SEEK_HOLE': true, 'middle punched: SEEK_DATA': true, 'middle punched: blocks': true,
    'small file: SEEK_DATA 0': 0, 'small file: SEEK_HOLE 0': 10, 'small file: SEEK_DATA at the end': 'ENXIO', 'small file: blocks': true,
  });
});

test('posix data: user.* xattrs: set, get, list, remove, their errnos and bounds', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  const got = await probe(dir, `
    K64 = 1 << 16
    with open('x', 'wb') as f:
        f.write(b'x')
    os.mkdir('xd')
    os.symlink('x', 'xl')
    R['set'] = E(os.setxattr, 'x', 'user.color', b'blue')
    R['get'] = os.getxattr('x', 'user.color').decode()
    R['set an empty value'] = E(os.setxattr, 'x', 'user.empty', b'')
    R['get an empty value'] = os.getxattr('x', 'user.empty').decode()
    R['list'] = ','.join(sorted(os.listxattr('x')))
    R['replace'] = E(os.setxattr, 'x', 'user.color', b'red', os.XATTR_REPLACE)
    R['get replaced'] = os.getxattr('x', 'user.color').decode()
    R['get a missing one'] = E(os.getxattr, 'x', 'user.none')
    R['remove a missing one'] = E(os.removexattr, 'x', 'user.none')
    R['create an existing one'] = E(os.setxattr, 'x', 'user.color', b'x', os.XATTR_CREATE)
    R['replace a missing one'] = E(os.setxattr, 'x', 'user.none', b'x', os.XATTR_REPLACE)
    R['remove'] = E(os.removexattr, 'x', 'user.color')
    R['list after remove'] = ','.join(sorted(os.listxattr('x')))
    R['a 64 KiB value'] = E(os.setxattr, 'x', 'user.big', b'v' * K64)
    R['reads back whole'] = len(os.getxattr('x', 'user.big')) == K64
    R['a value over 64 KiB'] = E(os.setxattr, 'x', 'user.bigger', b'v' * (K64 + 1))
    R['a 255-byte name'] = E(os.setxattr, 'x', 'user.' + 'n' * 250, b'1')
    R['a 256-byte name'] = E(os.setxattr, 'x', 'user.' + 'n' * 251, b'1')
    R['more than 256 KiB on one node'] = [E(os.setxattr, 'x', 'user.fill%d' % i, b'f' * K64) for i in range(4)]
    R['an unknown namespace'] = E(os.setxattr, 'x', 'bogus.name', b'1')
    R['on a directory'] = E(os.setxattr, 'xd', 'user.d', b'dir')
    R['get on a directory'] = os.getxattr('xd', 'user.d').decode()
    R['user.* on a symlink'] = E(os.setxattr, 'xl', 'user.l', b'1', follow_symlinks=False)
    R['trusted.* by root'] = E(os.setxattr, 'x', 'trusted.t', b'1')
  `);
  expectAll(t, 'root', got, {
    set: 'OK', get: 'blue', 'set an empty value': 'OK', 'get an empty value': '', list: 'user.color,user.empty', replace: 'OK', 'get replaced': 'red',
    'get a missing one': 'ENODATA', 'remove a missing one': 'ENODATA', 'create an existing one': 'EEXIST', 'replace a missing one': 'ENODATA',
    remove: 'OK', 'list after remove': 'user.empty', 'a 64 KiB value': 'OK', 'reads back whole': true, 'a value over 64 KiB': 'E2BIG',
    'a 255-byte name': 'OK', 'a 256-byte name': 'ERANGE', 'an unknown namespace': 'EOPNOTSUPP', 'on a directory': 'OK', 'get on a directory': 'dir',
    'user.* on a symlink': 'EPERM', 'trusted.* by root': 'OK',
  });
  t.deepEqual(got['more than 256 KiB on one node'], ['OK', 'OK', 'ENOSPC', 'ENOSPC'], 'a node\'s xattrs are full at 256 KiB: ENOSPC');
  const byBob = await probe(dir, `
    R['get on a readable file'] = os.getxattr('x', 'user.empty').decode()
    R['list on a readable file'] = E(os.listxattr, 'x')
    R['set on a file not writable'] = E(os.setxattr, 'x', 'user.bob', b'1')
    R['remove on a file not writable'] = E(os.removexattr, 'x', 'user.empty')
    R['trusted.* by a user'] = E(os.setxattr, 'xd', 'trusted.b', b'1')
  `, bob);
  expectAll(t, 'bob on root\'s 0644 file', byBob, {
    'get on a readable file': '', 'list on a readable file': 'OK', 'set on a file not writable': 'EACCES', 'remove on a file not writable': 'EACCES', 'trusted.* by a user': 'EPERM',
  });
});

test('posix data: names of 255 bytes work and of 256 are ENAMETOOLONG; paths near 4,096 bytes work and over it are ENAMETOOLONG', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  const got = await probe(dir, `
    os.mkdir('names')
    os.chdir('names')
    n255, n256 = 'a' * 255, 'a' * 256
    create = lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
    R['create 255'] = E(create, n255)
    R['stat 255'] = E(os.stat, n255)
    R['listed'] = n255 in os.listdir('.')
    R['mkdir 255'] = E(os.mkdir, 'd' * 255)
    R['symlink named 255'] = E(os.symlink, n255, 's' * 255)
    R['255 bytes of two-byte characters'] = E(create, '\\u00e9' * 127 + 'a')
    R['create 256'] = E(create, n256)
    R['lookup 256'] = E(os.stat, n256)
    R['mkdir 256'] = E(os.mkdir, n256)
    R['rename to 256'] = E(os.rename, n255, n256)
    R['link to 256'] = E(os.link, n255, n256)
    R['symlink named 256'] = E(os.symlink, 'x', n256)
    R['mknod 256'] = E(os.mkfifo, n256)
    R['256 bytes of two-byte characters'] = E(create, '\\u00e9' * 128)
    # The cluster's names are text: a name that is not UTF-8 is refused, as an illegal byte sequence.
    R['create of a name that is not UTF-8'] = E(create, b'\\xff\\xfe')
    R['lookup of a name that is not UTF-8'] = E(os.stat, b'\\xff\\xfe')
    R['names with newline, tab, %, space, backslash'] = E(create, 'a\\nb\\tc%41 d\\\\e') == 'OK' and 'a\\nb\\tc%41 d\\\\e' in os.listdir('.')
    R['a 4,095-byte symlink target'] = E(os.symlink, 't' * 4095, 'long-target')
    R['reads back'] = len(os.readlink('long-target'))
    R['a 4,096-byte symlink target'] = E(os.symlink, 't' * 4096, 'too-long-target')
    component = 'p' * 99
    deep = '/'.join([component] * 40)
    os.makedirs(deep)
    with open(deep + '/f', 'wb') as f:
        f.write(b'deep')
    R['path length'] = len('names/' + deep + '/f')
    R['a file at a path of 4,007 bytes'] = get(deep + '/f').decode()
    R['stat of a path over 4,096 bytes'] = E(os.stat, deep + '/' + 'q' * 100)
    R['create at a path over 4,096 bytes'] = E(create, deep + '/' + 'q' * 100)
    os.chdir(deep)
    os.mkdir('deeper')
    os.chdir('deeper')
    create('f')
    R['deeper than 4,096 bytes from the root, reached relatively'] = E(os.stat, 'f')
  `);
  expectAll(t, 'root', got, {
    'create 255': 'OK', 'stat 255': 'OK', listed: true, 'mkdir 255': 'OK', 'symlink named 255': 'OK', '255 bytes of two-byte characters': 'OK',
    'create 256': 'ENAMETOOLONG', 'lookup 256': 'ENAMETOOLONG', 'mkdir 256': 'ENAMETOOLONG', 'rename to 256': 'ENAMETOOLONG', 'link to 256': 'ENAMETOOLONG',
    'symlink named 256': 'ENAMETOOLONG', 'mknod 256': 'ENAMETOOLONG', '256 bytes of two-byte characters': 'ENAMETOOLONG',
    'create of a name that is not UTF-8': 'EILSEQ', 'lookup of a name that is not UTF-8': 'EILSEQ', 'names with newline, tab, %, space, backslash': true,
    'a 4,095-byte symlink target': 'OK', 'reads back': 4095, 'a 4,096-byte symlink target': 'ENAMETOOLONG',
    'path length': 4007, 'a file at a path of 4,007 bytes': 'deep', 'stat of a path over 4,096 bytes': 'ENAMETOOLONG', 'create at a path over 4,096 bytes': 'ENAMETOOLONG',
    'deeper than 4,096 bytes from the root, reached relatively': 'OK',
  });
});

test('posix data: df through the mount shows the nodes\' disk: used bytes, and free space that follows it', { timeout: 60_000 }, async (t) => {
  const dir = (await current(t))?.dir;
  if (dir === undefined) return;
  await probe(dir, `
    with open('data', 'wb') as f:
        f.write(os.urandom(4 << 20))
  `);
  const df = async (where: string): Promise<number[]> => {
    const result = await runTool('/usr/bin/df', ['-B1', '--output=size,used,avail', where]);
    return (result.stdout.trim().split('\n')[1] ?? '').trim().split(/\s+/).map(Number);
  };
  // Read together: both follow the one disk the local cluster's nodes share with the temp dir.
  const [[size, used, avail], [diskSize, , diskAvail]] = await Promise.all([df(dir), df(tmpdir())]);
  t.comment(`df of the mount: size ${size} used ${used} avail ${avail}; of ${tmpdir()}: size ${diskSize} avail ${diskAvail}`);
  t.ok(used! > 4 << 20, 'used bytes are more than the 4 MiB just written');
  t.ok(Math.abs(size! - diskSize!) < 64 << 20, 'the size is the nodes\' disk\'s');
  // Free is the disk's less each node's 64 MiB reserve (diskReserveBytes), give or take what other processes write meanwhile (up to 1 GiB here).
  const reserve = 64 << 20;
  t.ok(Math.abs(diskAvail! - reserve - avail!) < 1024 << 20, `the free space is the disk's less the reserve (off by ${Math.round((diskAvail! - reserve - avail!) / 2 ** 20)} MiB)`);
});

test('posix data: the mount unmounts cleanly', { timeout: 60_000 }, async (t) => {
  for (const each of [mount, other]) if (each !== undefined) t.equal(await each.stopAndRemove(), 0, `${each.dir}: exit code 0 after SIGTERM`);
  t.end();
});

stopTest(cluster);
