/**
 * Ownership and permissions through a real fsraft-mount (allow_other, default_permissions) of a
 * real 5-node cluster, as root and as other users, pjdfstest-style: every refusal by its errno.
 * New nodes belong to their creator, setgid directories hand down their group (and, to new
 * directories, the setgid bit), a sticky directory keeps users from removing each other's
 * entries, a write or truncate by another user and any chown clear setuid/setgid, and each
 * permission check (open, mkdir, chmod, chown, utimes, search) refuses with Linux's errno.
 */
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { MountProcess, tempMountpoint } from '../../src/launch/mount_process.js';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { fuseAvailable } from '../helpers/fuse_available.js';
import { alice, bob, expectAll, expectSameTree, nobody, probe } from '../helpers/posix_probe.js';

const cluster = await fileCluster();
startTest(cluster);
// Not awaited here: tape starts running once the module's first await yields.
const fuseLoading = loadFuse();
let mount: MountProcess | undefined;

/** False (skipping or failing the test) when FUSE is unavailable or the mount did not start. */
async function guard(t: Test): Promise<boolean> {
  if (!(await fuseAvailable(t, fuseLoading))) return false;
  cluster.watch(t);
  if (mount === undefined) t.fail('no mount');
  return mount !== undefined;
}

test('posix access: mount with allow_other, and the directories each check uses', { timeout: 60_000 }, async (t) => {
  if (!(await fuseAvailable(t, fuseLoading))) return;
  mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile, '-o', 'allow_other']);
  // open: 0777; sticky: 1777 owned by nobody; sgid: 2777 of group 4242; each user's home 0755.
  const made = await probe(mount.dir, `
    for name, mode, uid, gid in [('open', 0o777, 0, 0), ('sticky', 0o1777, 65534, 65534), ('sgid', 0o2777, 0, 4242),
                                 ('home-alice', 0o755, 1000, 1000), ('home-bob', 0o755, 1001, 1001)]:
        os.mkdir(name)
        os.chown(name, uid, gid)
        os.chmod(name, mode)
        s = st(name)
        R[name] = '%o %d:%d' % (s['mode'] & 0o7777, s['uid'], s['gid'])
    R['root dir'] = '%o' % (st('.')['mode'] & 0o7777)
  `);
  t.deepEqual(made, { open: '777 0:0', sticky: '1777 65534:65534', sgid: '2777 0:4242', 'home-alice': '755 1000:1000', 'home-bob': '755 1001:1001', 'root dir': '755' }, 'modes and owners as set by root');
});

test('posix access: new nodes belong to their creator; a setgid directory hands down its group and its setgid bit', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t))) return;
  const byAlice = await probe(mount!.dir, `
    os.mkdir('open/a-dir')
    os.close(os.open('open/a-file', os.O_CREAT | os.O_WRONLY, 0o644))
    os.symlink('a-file', 'open/a-link')
    os.mkfifo('open/a-fifo')
    for name in ['a-dir', 'a-file', 'a-link', 'a-fifo']:
        s = st('open/' + name)
        R['open/%s owner' % name] = '%d:%d' % (s['uid'], s['gid'])
    os.mkdir('sgid/d', 0o755)
    os.close(os.open('sgid/f', os.O_CREAT | os.O_WRONLY, 0o755))
    os.mkfifo('sgid/p')
    os.symlink('f', 'sgid/l')
    os.mkdir('sgid/d/dd', 0o700)
    for name in ['d', 'f', 'p', 'l', 'd/dd']:
        s = st('sgid/' + name)
        R['sgid/%s owner' % name] = '%d:%d' % (s['uid'], s['gid'])
        R['sgid/%s setgid' % name] = bool(s['mode'] & stat.S_ISGID)
    R['sgid/d/dd mode'] = '%o' % (st('sgid/d/dd')['mode'] & 0o7777)
    # chmod g+s: kept on a file of the caller's group, dropped (silently) on one of another group.
    R['chmod 2755 own group'] = E(os.chmod, 'open/a-file', 0o2755)
    R['own group keeps setgid'] = bool(st('open/a-file')['mode'] & stat.S_ISGID)
    R['chmod 2755 foreign group'] = E(os.chmod, 'sgid/f', 0o2755)
    R['foreign group keeps setgid'] = bool(st('sgid/f')['mode'] & stat.S_ISGID)
    # open(O_CREAT) with 02755 in a setgid directory of a group she is not in: the bit is dropped.
    os.close(os.open('sgid/g', os.O_CREAT | os.O_WRONLY, 0o2755))
    R['create 2755 in a foreign setgid dir'] = '%o' % (st('sgid/g')['mode'] & 0o7777)
  `, alice);
  expectAll(t, 'alice', byAlice, {
    'open/a-dir owner': '1000:1000', 'open/a-file owner': '1000:1000', 'open/a-link owner': '1000:1000', 'open/a-fifo owner': '1000:1000',
    'sgid/d owner': '1000:4242', 'sgid/d setgid': true, 'sgid/f owner': '1000:4242', 'sgid/f setgid': false,
    'sgid/p owner': '1000:4242', 'sgid/l owner': '1000:4242', 'sgid/d/dd owner': '1000:4242', 'sgid/d/dd setgid': true, 'sgid/d/dd mode': '2700',
    'chmod 2755 own group': 'OK', 'own group keeps setgid': true, 'chmod 2755 foreign group': 'OK', 'foreign group keeps setgid': false, 'create 2755 in a foreign setgid dir': '755',
  });
  const byNobody = await probe(mount!.dir, `
    os.close(os.open('sgid/n-file', os.O_CREAT | os.O_WRONLY, 0o600))
    os.mkdir('open/n-dir')
    for name in ['sgid/n-file', 'open/n-dir']:
        s = st(name)
        R[name + ' owner'] = '%d:%d' % (s['uid'], s['gid'])
  `, nobody);
  expectAll(t, 'nobody', byNobody, { 'sgid/n-file owner': '65534:4242', 'open/n-dir owner': '65534:65534' });
  const byRoot = await probe(mount!.dir, `
    os.close(os.open('sgid/r-file', os.O_CREAT | os.O_WRONLY, 0o600))
    os.close(os.open('open/r-file', os.O_CREAT | os.O_WRONLY, 0o600))
    for name in ['sgid/r-file', 'open/r-file']:
        s = st(name)
        R[name + ' owner'] = '%d:%d' % (s['uid'], s['gid'])
  `);
  expectAll(t, 'root', byRoot, { 'sgid/r-file owner': '0:4242', 'open/r-file owner': '0:0' });
});

test('posix access: in a sticky directory only the entry\'s owner, the directory\'s owner and root may unlink or rename it', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t))) return;
  await probe(mount!.dir, `
    for name in ['s-file', 's-file2', 's-file3', 's-file4']:
        os.close(os.open('sticky/' + name, os.O_CREAT | os.O_WRONLY))
        os.chmod('sticky/' + name, 0o666)
    os.mkdir('sticky/s-dir', 0o777)
    os.close(os.open('open/victim', os.O_CREAT | os.O_WRONLY, 0o644))
  `, alice);
  const byBob = await probe(mount!.dir, `
    R['unlink'] = E(os.unlink, 'sticky/s-file')
    R['rename away'] = E(os.rename, 'sticky/s-file', 'sticky/b-moved')
    R['rename out'] = E(os.rename, 'sticky/s-file', 'home-bob/moved')
    R['rmdir'] = E(os.rmdir, 'sticky/s-dir')
    os.close(os.open('sticky/b-file', os.O_CREAT | os.O_WRONLY, 0o666))
    R['rename own over theirs'] = E(os.rename, 'sticky/b-file', 'sticky/s-file2')
    R['write theirs (0666)'] = E(put, 'sticky/s-file2', b'bob')
    R['unlink own'] = E(os.unlink, 'sticky/b-file')
    R['unlink in a non-sticky 0777 dir'] = E(os.unlink, 'open/victim')
  `, bob);
  expectAll(t, 'bob on alice\'s entries', byBob, {
    unlink: 'EPERM', 'rename away': 'EPERM', 'rename out': 'EPERM', rmdir: 'EPERM', 'rename own over theirs': 'EPERM',
    'write theirs (0666)': 'OK', 'unlink own': 'OK', 'unlink in a non-sticky 0777 dir': 'OK',
  });
  const byAlice = await probe(mount!.dir, `
    R['all still there'] = sorted(os.listdir('sticky'))
    R['rename own'] = E(os.rename, 'sticky/s-file', 'sticky/s-renamed')
    R['unlink own'] = E(os.unlink, 'sticky/s-renamed')
  `, alice);
  expectAll(t, 'alice', byAlice, { 'rename own': 'OK', 'unlink own': 'OK' });
  t.deepEqual(byAlice['all still there'], ['s-dir', 's-file', 's-file2', 's-file3', 's-file4'], 'bob\'s refused attempts changed nothing');
  expectAll(t, 'nobody (the directory\'s owner)', await probe(mount!.dir, `
    R['unlink alice\\'s'] = E(os.unlink, 'sticky/s-file2')
    R['rename alice\\'s'] = E(os.rename, 'sticky/s-file3', 'sticky/n-moved')
  `, nobody), { 'unlink alice\'s': 'OK', 'rename alice\'s': 'OK' });
  expectAll(t, 'root', await probe(mount!.dir, `
    R['rmdir alice\\'s'] = E(os.rmdir, 'sticky/s-dir')
    R['unlink alice\\'s'] = E(os.unlink, 'sticky/s-file4')
    R['unlink nobody\\'s'] = E(os.unlink, 'sticky/n-moved')
    R['left'] = len(os.listdir('sticky'))
  `), { 'rmdir alice\'s': 'OK', 'unlink alice\'s': 'OK', 'unlink nobody\'s': 'OK', left: 0 });
});

test('posix access: a write or truncate by another user, and any chown, clear setuid and setgid', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t))) return;
  await probe(mount!.dir, `
    for name, mode in [('w-other', 0o6777), ('w-root', 0o6777), ('w-sgid-noexec', 0o2666), ('t-other', 0o6777),
                       ('c-root', 0o6755), ('c-own', 0o6755), ('c-dir', 0o6755), ('w-own', 0o4755), ('o-trunc', 0o6777), ('o-trunc-root', 0o6777)]:
        p = 'open/' + name
        if name == 'c-dir':
            os.mkdir(p)
        else:
            with open(p, 'wb') as f:
                f.write(b'data')
        os.chown(p, 1000, 1000)
        os.chmod(p, mode)
  `);
  const byBob = await probe(mount!.dir, `
    R['write'] = E(put, 'open/w-other', b'bob')
    R['write, setgid without group exec'] = E(put, 'open/w-sgid-noexec', b'bob')
    R['truncate'] = E(os.truncate, 'open/t-other', 1)
    R['open O_TRUNC'] = E(lambda: os.close(os.open('open/o-trunc', os.O_WRONLY | os.O_TRUNC)))
  `, bob);
  expectAll(t, 'bob', byBob, { write: 'OK', 'write, setgid without group exec': 'OK', truncate: 'OK', 'open O_TRUNC': 'OK' });
  const byRoot = await probe(mount!.dir, `
    R['write'] = E(put, 'open/w-root', b'root')
    R['chown'] = E(os.chown, 'open/c-root', 1001, 1001)
    R['chown dir'] = E(os.chown, 'open/c-dir', 1001, 1001)
    R['open O_TRUNC'] = E(lambda: os.close(os.open('open/o-trunc-root', os.O_WRONLY | os.O_TRUNC)))
  `);
  expectAll(t, 'root', byRoot, { write: 'OK', chown: 'OK', 'chown dir': 'OK', 'open O_TRUNC': 'OK' });
  const byAlice = await probe(mount!.dir, `
    R['chown own to own ids'] = E(os.chown, 'open/c-own', 1000, 1000)
    R['write own'] = E(put, 'open/w-own', b'alice')
    for name in ['w-other', 'w-root', 'w-sgid-noexec', 't-other', 'c-root', 'c-own', 'c-dir', 'w-own', 'o-trunc', 'o-trunc-root']:
        R[name] = '%o' % (st('open/' + name)['mode'] & 0o7777)
    R['content'] = get('open/w-other').decode()
  `, alice);
  expectAll(t, 'modes after', byAlice, {
    'chown own to own ids': 'OK',
    'w-other': '777', // bob's write cleared both (setgid with group exec)
    'w-root': '6777', // root (CAP_FSETID) keeps them
    'w-sgid-noexec': '2666', // setgid without group exec is not "execute as the group": kept
    't-other': '777',
    'o-trunc': '777', // open(O_TRUNC) truncates as truncate(2) does
    'o-trunc-root': '6777',
    'c-root': '755', // chown clears them, even root's
    'c-own': '755',
    'c-dir': '6755', // not on a directory
    'w-own': '755', // the owner's own write clears it too
    'write own': 'OK',
    content: 'boba',
  });
});

test('posix access: each permission check refuses with Linux\'s errno, and root passes them', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t))) return;
  await probe(mount!.dir, `
    with open('group-file', 'wb') as f:
        f.write(b'for the group')
    os.chown('group-file', 0, 1000)
    os.chmod('group-file', 0o640)
  `);
  const byAlice = await probe(mount!.dir, `
    h = 'home-alice/'
    for name, mode in [('ro', 0o444), ('wo', 0o200), ('rw', 0o666), ('mine', 0o644)]:
        with open(h + name, 'wb') as f:
            f.write(b'secret')
        os.chmod(h + name, mode)
    os.mkdir(h + 'ro-dir', 0o555)
    os.mkdir(h + 'private', 0o700)
    os.close(os.open(h + 'private/f', os.O_CREAT | os.O_WRONLY, 0o644))
    R['open 0444 for write'] = E(os.open, h + 'ro', os.O_WRONLY)
    R['open 0200 for read'] = E(os.open, h + 'wo', os.O_RDONLY)
    R['mkdir in 0555'] = E(os.mkdir, h + 'ro-dir/x')
    R['create in 0555'] = E(os.open, h + 'ro-dir/y', os.O_CREAT | os.O_WRONLY, 0o644)
    R['chown own to bob'] = E(os.chown, h + 'mine', 1001, -1)
    R['chgrp own to a group not hers'] = E(os.chown, h + 'mine', -1, 4242)
    R['chown own to own ids'] = E(os.chown, h + 'mine', 1000, 1000)
    R['utimes own to a past time'] = E(os.utime, h + 'mine', (1, 2))
    R['mtime set'] = st(h + 'mine')['mtime']
    R['mkdir in root\\'s 0755'] = E(os.mkdir, 'alice-top')
    R['read of a 0640 file of her group'] = get('group-file').decode()
  `, alice);
  expectAll(t, 'alice', byAlice, {
    'open 0444 for write': 'EACCES', 'open 0200 for read': 'EACCES', 'mkdir in 0555': 'EACCES', 'create in 0555': 'EACCES',
    'chown own to bob': 'EPERM', 'chgrp own to a group not hers': 'EPERM', 'chown own to own ids': 'OK',
    'utimes own to a past time': 'OK', 'mtime set': 2_000_000_000, 'mkdir in root\'s 0755': 'EACCES', 'read of a 0640 file of her group': 'for the group',
  });
  const byBob = await probe(mount!.dir, `
    h = 'home-alice/'
    R['chmod theirs'] = E(os.chmod, h + 'mine', 0o777)
    R['chown theirs'] = E(os.chown, h + 'mine', 1001, 1001)
    R['utimes theirs to a past time (writable)'] = E(os.utime, h + 'rw', (1, 2))
    R['utimes theirs to now (writable)'] = E(os.utime, h + 'rw')
    R['utimes theirs to now (not writable)'] = E(os.utime, h + 'mine')
    R['read theirs 0644'] = E(get, h + 'mine')
    R['open theirs 0644 for write'] = E(os.open, h + 'mine', os.O_WRONLY)
    R['create in their 0755'] = E(os.open, h + 'new', os.O_CREAT | os.O_WRONLY, 0o644)
    R['unlink in their 0755'] = E(os.unlink, h + 'mine')
    R['rename in their 0755'] = E(os.rename, h + 'mine', h + 'moved')
    R['stat through their 0700'] = E(os.stat, h + 'private/f')
    R['list their 0700'] = E(os.listdir, h + 'private')
    R['read of a 0640 file of another group'] = E(get, 'group-file')
  `, bob);
  expectAll(t, 'bob on alice\'s', byBob, {
    'chmod theirs': 'EPERM', 'chown theirs': 'EPERM', 'utimes theirs to a past time (writable)': 'EPERM',
    'utimes theirs to now (writable)': 'OK', 'utimes theirs to now (not writable)': 'EACCES',
    'read theirs 0644': 'OK', 'open theirs 0644 for write': 'EACCES', 'create in their 0755': 'EACCES',
    'unlink in their 0755': 'EACCES', 'rename in their 0755': 'EACCES', 'stat through their 0700': 'EACCES', 'list their 0700': 'EACCES', 'read of a 0640 file of another group': 'EACCES',
  });
  const byRoot = await probe(mount!.dir, `
    h = 'home-alice/'
    R['open 0444 for write'] = E(os.open, h + 'ro', os.O_WRONLY)
    R['read 0200'] = get(h + 'wo').decode()
    R['mkdir in 0555'] = E(os.mkdir, h + 'ro-dir/r')
    R['chmod alice\\'s'] = E(os.chmod, h + 'mine', 0o600)
    R['utimes alice\\'s'] = E(os.utime, h + 'mine', (3, 4))
    R['stat through 0700'] = E(os.stat, h + 'private/f')
  `);
  expectAll(t, 'root', byRoot, { 'open 0444 for write': 'OK', 'read 0200': 'secret', 'mkdir in 0555': 'OK', 'chmod alice\'s': 'OK', 'utimes alice\'s': 'OK', 'stat through 0700': 'OK' });
});

test('posix access: owners, modes and times are the same through a new mount, and it unmounts cleanly', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t))) return;
  // Right after the changes above, so the kernel may still answer from what it cached.
  const before = await probe(mount!.dir, `R.update(tree())`);
  t.equal(await mount!.stopAndRemove(), 0, 'exit code 0 after SIGTERM');
  mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile, '-o', 'allow_other']);
  expectSameTree(t, before, await probe(mount.dir, `R.update(tree())`), 'after a remount');
  t.equal(await mount.stopAndRemove(), 0, 'the new mount: exit code 0 after SIGTERM');
});

stopTest(cluster);
