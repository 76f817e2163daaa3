/**
 * The FUSE operations against an in-memory backend: write-behind in bounded chunks, failures
 * reaching flush, O_APPEND/O_TRUNC, local sizes, the listing cache, rename of open files and the
 * errno table.
 */
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import test from 'tape';
import { FsraftClosedError, FsraftError, FsraftOverloadedError, FsraftUnavailableError, ProtocolError } from '../../src/client/errors.js';
import { errnoOf } from '../../src/fuse/errno.js';
import { FsraftFs, type FsraftFsOptions } from '../../src/fuse/fsraft_fs.js';
import { MemoryBackend } from '../helpers/fuse_memory_backend.js';

const errno = osConstants.errno;
const kib = 1024;

function setup(options: Partial<FsraftFsOptions> = {}): { backend: MemoryBackend; fs: FsraftFs } {
  const backend = new MemoryBackend();
  return { backend, fs: new FsraftFs(backend, { chunkBytes: 64 * kib, ...options }) };
}

async function code(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (error) {
    return errnoOf(error);
  }
}

/** Resolves once the event loop has run every callback queued so far. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test('fuse errno: every filesystem and client code maps to one errno, anything else to EIO', (t) => {
  const cases: Array<[unknown, number]> = [
    [new FsraftError('ENOENT', ''), errno.ENOENT],
    [new FsraftError('EEXIST', ''), errno.EEXIST],
    [new FsraftError('ENOTDIR', ''), errno.ENOTDIR],
    [new FsraftError('EISDIR', ''), errno.EISDIR],
    [new FsraftError('ENOTEMPTY', ''), errno.ENOTEMPTY],
    [new FsraftError('EINVAL', ''), errno.EINVAL],
    [new FsraftError('EFBIG', ''), errno.EFBIG],
    [new FsraftError('ENOSPC', ''), errno.ENOSPC],
    [new FsraftUnavailableError('x'), errno.EIO],
    [new FsraftOverloadedError('x'), errno.EAGAIN],
    [new FsraftClosedError(), errno.EIO],
    [new ProtocolError('CMD_ERR', 'x'), errno.EINVAL],
    [new ProtocolError('BAD_REPLY', 'x'), errno.EIO],
    [new Error('a bug'), errno.EIO],
    ['not even an error', errno.EIO],
  ];
  for (const [error, expected] of cases) t.equal(errnoOf(error), -expected, `${String((error as Error).message ?? error)} ${(error as FsraftError).code ?? ''} -> ${-expected}`);
  t.end();
});

test('fuse write: sequential writes go out as writeAt of at most chunkBytes, and flush commits them', async (t) => {
  const { backend, fs } = setup();
  const fd = await fs.create('/big', 0o644);
  const block = Buffer.alloc(16 * kib);
  const total = 1024 * kib;
  let accepted = 0;
  for (let offset = 0; offset < total; offset += block.length) {
    block.fill(offset / block.length);
    accepted += await fs.write(fd, block, offset);
  }
  t.equal(accepted, total, 'every write() accepted all its bytes');
  await fs.flush(fd);
  const writes = backend.callsOf('writeAt');
  t.equal(writes.length, total / (64 * kib), 'one writeAt per 64 KiB chunk');
  t.ok(writes.every((call) => (call.args[2] as number) <= 64 * kib), 'none larger than chunkBytes');
  const content = backend.content('big') as Buffer;
  t.equal(content.length, total, 'the whole file arrived');
  t.equal(content[total - 1], total / block.length - 1, 'the last block holds its own bytes');
  await fs.release(fd);
  t.equal(fs.openFiles, 0, 'release forgets the handle');
});

test('fuse write: unflushed bytes stay bounded; write waits while writeAt is slow', async (t) => {
  const { backend, fs } = setup({ dirtyBytesMax: 256 * kib, writesInFlightMax: 2 });
  const fd = await fs.create('/slow', 0o644);
  const release = backend.hold('writeAt');
  let written = 0;
  const writer = (async () => {
    for (let offset = 0; offset < 1024 * kib; offset += 64 * kib) written += await fs.write(fd, Buffer.alloc(64 * kib, 1), offset);
  })();
  for (let i = 0; i < 20; i++) await settle();
  t.ok(written <= 256 * kib, `write() stopped after ${written / kib} KiB with writeAt stalled (bound 256 KiB)`);
  release();
  await writer;
  await fs.release(fd);
  t.equal(backend.content('slow')?.length, 1024 * kib, 'everything arrived once writeAt resumed');
});

test('fuse write: a failed writeAt is reported by flush (once), then writes work again', async (t) => {
  const { backend, fs } = setup();
  const fd = await fs.create('/f', 0o644);
  backend.failNext('writeAt');
  t.equal(await fs.write(fd, Buffer.from('lost'), 0), 4, 'write() buffers and succeeds');
  t.equal(await code(fs.flush(fd)), -errno.EIO, 'flush reports EIO');
  t.equal(await code(fs.flush(fd)), 0, 'the next flush has nothing more to report');
  await fs.write(fd, Buffer.from('kept'), 0);
  t.equal(await code(fs.release(fd)), 0, 'release after a good write succeeds');
  t.equal(backend.content('f')?.toString(), 'kept');
  const fd2 = await fs.open('/f', fsConstants.O_WRONLY);
  backend.failNext('writeAt', 1, new FsraftError('EFBIG', 'too large'));
  await fs.write(fd2, Buffer.from('x'), 0);
  t.equal(await code(fs.release(fd2)), -errno.EFBIG, 'close reports the error of the failed write (EFBIG)');
  t.equal(fs.openFiles, 0, 'the handle is gone even so');
});

test('fuse write: O_APPEND writes use writeAt(-1) one at a time, in order', async (t) => {
  const { backend, fs } = setup({ chunkBytes: 4 });
  await backend.create('log', 0o644, false);
  await backend.writeAt('log', 0, Buffer.from('old\n'));
  const fd = await fs.open('/log', fsConstants.O_WRONLY | fsConstants.O_APPEND);
  for (const line of ['a1\n', 'b2\n', 'c3\n', 'd4\n']) await fs.write(fd, Buffer.from(line), 0);
  await fs.release(fd);
  t.ok(backend.callsOf('writeAt').slice(1).every((call) => call.args[1] === -1), 'every append is writeAt(-1)');
  t.equal(backend.content('log')?.toString(), 'old\na1\nb2\nc3\nd4\n', 'the lines landed in order after the old content');
});

test('fuse open: O_TRUNC empties the file; open of a missing file is ENOENT; create is exclusive', async (t) => {
  const { backend, fs } = setup();
  await backend.create('t', 0o600, false);
  await backend.writeAt('t', 0, Buffer.from('content'));
  const fd = await fs.open('/t', fsConstants.O_WRONLY | fsConstants.O_TRUNC);
  t.equal(backend.content('t')?.length, 0, 'O_TRUNC truncated to 0');
  await fs.release(fd);
  t.equal(await code(fs.open('/missing', fsConstants.O_RDONLY)), -errno.ENOENT, 'ENOENT');
  const created = await fs.create('/new', 0o100644);
  t.deepEqual(backend.callsOf('create').at(-1)?.args, ['/new', 0o644, true], 'create asks exclusively with the permission bits');
  await fs.release(created);
  t.equal(await code(fs.create('/t', 0o644)), -errno.EEXIST, 'a file another mount created meanwhile: EEXIST');
  t.equal(await code(fs.create(`/${'n'.repeat(256)}`, 0o644)), -errno.ENAMETOOLONG, 'a 256-byte name is ENAMETOOLONG');
  t.equal(await code(fs.read(12345, Buffer.alloc(1), 1, 0)), -errno.EBADF, 'an unknown handle is EBADF');
});

test('fuse getattr: unflushed data shows in the size; read flushes first and reads in chunks', async (t) => {
  const { backend, fs } = setup({ chunkBytes: 8 });
  const fd = await fs.create('/r', 0o644);
  await fs.write(fd, Buffer.from('0123456789abcdef0123'), 0);
  t.equal((await fs.getattr('/r')).size, 20, 'getattr reports the local size before any flush');
  const buffer = Buffer.alloc(32);
  const count = await fs.read(fd, buffer, 32, 2);
  t.equal(count, 18, 'read returns the bytes up to the end');
  t.equal(buffer.subarray(0, count).toString(), '23456789abcdef0123');
  t.ok(backend.callsOf('readAt').every((call) => (call.args[2] as number) <= 8), 'readAt never asks more than chunkBytes');
  await fs.release(fd);
  t.equal((await fs.getattr('/r')).mode, 0o100644, 'a file is S_IFREG with its mode');
  t.equal((await fs.getattr('/')).mode & 0o170000, 0o040000, 'the root is a directory');
});

test('fuse read: sequential reads are answered from one readAt window; a write drops it', async (t) => {
  const { backend, fs } = setup({ chunkBytes: 64 * kib });
  await backend.create('seq', 0o644, false);
  const content = Buffer.alloc(200 * kib);
  for (let i = 0; i < content.length; i++) content[i] = i % 251;
  await backend.writeAt('seq', 0, content);
  const fd = await fs.open('/seq', fsConstants.O_RDWR);
  const out = Buffer.alloc(content.length);
  let position = 0;
  for (;;) {
    const piece = Buffer.alloc(16 * kib);
    const count = await fs.read(fd, piece, piece.length, position);
    if (count === 0) break;
    piece.copy(out, position, 0, count);
    position += count;
  }
  t.equal(position, content.length, 'read to the end');
  t.ok(out.equals(content), 'the bytes are right');
  t.equal(backend.callsOf('readAt').length, 4, 'four 64 KiB readAt calls for 200 KiB read in 16 KiB pieces');
  await fs.write(fd, Buffer.from('XY'), 0);
  const again = Buffer.alloc(4);
  await fs.read(fd, again, 4, 0);
  t.equal(again.subarray(0, 2).toString(), 'XY', 'a read after a write sees the write');
  await fs.release(fd);
});

test('fuse readdir: listing attributes answer getattr for the TTL; own mutations invalidate them', async (t) => {
  let nowMs = 0;
  const { backend, fs } = setup({ nowMs: () => nowMs, attrCacheTtlMs: 1000 });
  await backend.mkdir('d', 0o755);
  for (const name of ['a', 'b', 'c']) await backend.create(`d/${name}`, 0o644, false);
  t.deepEqual(await fs.readdir('/d'), ['.', '..', 'a', 'b', 'c'], 'readdir lists . and .. and the entries');
  const before = backend.callsOf('stat').length;
  for (const name of ['a', 'b', 'c']) await fs.getattr(`/d/${name}`);
  t.equal(backend.callsOf('stat').length, before, 'getattr of listed entries needs no stat');
  await fs.chmod('/d/a', 0o600);
  t.equal((await fs.getattr('/d/a')).mode & 0o7777, 0o600, 'a chmod by this mount is seen at once');
  nowMs = 1000;
  const staleBefore = backend.callsOf('stat').length;
  await fs.getattr('/d/b');
  t.equal(backend.callsOf('stat').length, staleBefore + 1, 'after the TTL getattr asks the cluster again');
  t.equal(await code(fs.readdir('/d/a')), -errno.ENOTDIR, 'readdir of a file is ENOTDIR');
});

test('fuse rename: flushes open files first and they follow the new name', async (t) => {
  const { backend, fs } = setup();
  await fs.mkdir('/dir', 0o755);
  const fd = await fs.create('/dir/x', 0o644);
  await fs.write(fd, Buffer.from('before'), 0);
  await fs.rename('/dir', '/moved');
  t.equal(backend.content('moved/x')?.toString(), 'before', 'pending data was committed before the rename');
  await fs.write(fd, Buffer.from('after!'), 0);
  await fs.release(fd);
  t.equal(backend.content('moved/x')?.toString(), 'after!', 'later writes follow the file');
  t.equal(await code(fs.rename('/moved', '/moved/inside')), -errno.EINVAL, 'into its own subtree is EINVAL');
  await fs.mkdir('/full', 0o755);
  await fs.mkdir('/full/child', 0o755);
  t.equal(await code(fs.rmdir('/full')), -errno.ENOTEMPTY, 'rmdir of a non-empty dir is ENOTEMPTY');
  t.equal(await code(fs.mkdir('/full', 0o755)), -errno.EEXIST, 'mkdir of an existing dir is EEXIST');
  t.equal(await code(fs.unlink('/full')), -errno.EISDIR, 'unlink of a dir is EISDIR');
  t.equal(await code(fs.unlink('/nothing')), -errno.ENOENT, 'unlink of a missing file is ENOENT');
});

test('fuse unlink and rename: a handle on a removed or replaced file no longer writes to that name', async (t) => {
  const { backend, fs } = setup();
  const fd = await fs.create('/gone', 0o644);
  await fs.write(fd, Buffer.from('kept before unlink'), 0);
  await fs.unlink('/gone');
  const again = await fs.create('/gone', 0o644);
  t.equal(await code(fs.write(fd, Buffer.from('stray'), 0)), -errno.ENOENT, 'a write on the removed file fails');
  await fs.release(fd);
  await fs.release(again);
  t.equal(backend.content('gone')?.length, 0, 'the new file at that name is untouched');
  const old = await fs.create('/target', 0o644);
  await fs.write(old, Buffer.from('old'), 0);
  const fresh = await fs.create('/fresh', 0o644);
  await fs.write(fresh, Buffer.from('new'), 0);
  await fs.release(fresh);
  await fs.rename('/fresh', '/target');
  t.equal(backend.content('target')?.toString(), 'new', 'rename replaced the target');
  t.equal(await code(fs.write(old, Buffer.from('lost'), 0)), -errno.ENOENT, 'the replaced file\'s handle cannot write over the new one');
  await fs.release(old);
  t.equal(backend.content('target')?.toString(), 'new', 'the new content stays');
});

test('fuse setattr: chown leaves (uid_t)-1 unchanged; utimens sets both times; statfs is sane', async (t) => {
  const { backend, fs } = setup();
  await fs.mkdir('/o', 0o755);
  await fs.chown('/o', 1000, 0xffffffff);
  t.deepEqual(backend.callsOf('setattr').at(-1)?.args, ['/o', { uid: 1000 }], 'only the uid is sent');
  await fs.utimens('/o', 1_500_000_000_000, 1_600_000_000_000);
  t.deepEqual(backend.callsOf('setattr').at(-1)?.args, ['/o', { atimeMs: 1_500_000_000_000, mtimeMs: 1_600_000_000_000 }], 'both times are sent');
  await fs.utimens('/o', 2 ** 64, 1_600_000_000_000);
  t.deepEqual(backend.callsOf('setattr').at(-1)?.args, ['/o', { mtimeMs: 1_600_000_000_000 }], 'a UTIME_OMIT atime is left out');
  const stat = await fs.getattr('/o');
  t.equal(stat.mtime.getTime(), 1_600_000_000_000, 'getattr shows the new mtime');
  const statfs = fs.statfs();
  t.ok(statfs.bsize > 0 && statfs.blocks > 0 && statfs.bavail <= statfs.blocks && statfs.namemax === 255, 'statfs numbers are sane');
});

test('fuse create: O_EXCL fails on a file another mount created meanwhile; a plain O_CREAT opens it', async (t) => {
  const { backend, fs } = setup();
  await backend.create('/raced', 0o644, true);
  await backend.writeAt('/raced', 0, Buffer.from('theirs'));
  const { O_CREAT, O_EXCL, O_WRONLY, O_APPEND } = fsConstants;
  t.equal(await code(fs.create('/raced', 0o644, O_CREAT | O_EXCL | O_WRONLY)), -errno.EEXIST, 'O_EXCL: EEXIST');
  t.equal(await code(fs.create('/raced', 0o644)), -errno.EEXIST, 'no flags known: exclusive, EEXIST');
  const fd = await fs.create('/raced', 0o644, O_CREAT | O_WRONLY | O_APPEND);
  await fs.write(fd, Buffer.from('+mine'), 0);
  await fs.release(fd);
  t.equal(backend.content('raced')?.toString(), 'theirs+mine', 'opened as it was, and O_APPEND appends');
  const fresh = await fs.create('/fresh', 0o600, O_CREAT | O_WRONLY | O_APPEND);
  await fs.write(fresh, Buffer.from('a'), 0);
  await fs.release(fresh);
  t.equal(backend.content('fresh')?.toString(), 'a', 'a new file is created and written');
});

test('fuse utimens: writes buffered for the file are committed before the times are set (tar x)', async (t) => {
  const { backend, fs } = setup();
  const fd = await fs.create('/extracted', 0o644);
  await fs.write(fd, Buffer.from('archived content'), 0);
  await fs.utimens('/extracted', 2 ** 64, 1_500_000_000_000);
  const ops = backend.calls.map((call) => call.op);
  t.ok(ops.includes('writeAt') && ops.lastIndexOf('writeAt') < ops.lastIndexOf('setattr'), 'the buffered write is committed before the setattr');
  await fs.release(fd);
  t.equal(backend.callsOf('writeAt').length, 1, 'nothing is left to write at close');
  t.equal((await fs.getattr('/extracted')).mtime.getTime(), 1_500_000_000_000, 'the archived mtime stays after close');
});

test('fuse operations: the callback adapter answers 0, counts, or -errno', async (t) => {
  const { fs } = setup();
  const ops = fs.operations();
  const getattr = await new Promise<number>((resolve) => ops.getattr?.('/missing', (result) => resolve(result)));
  t.equal(getattr, -errno.ENOENT, 'getattr of a missing path answers -ENOENT');
  const fd = await new Promise<number>((resolve) => ops.create?.('/w', 0o644, (result, handle) => resolve(result === 0 ? (handle ?? -1) : result)));
  t.ok(fd > 0, 'create answers 0 and a handle');
  const written = await new Promise<number>((resolve) => ops.write?.('/w', fd, Buffer.from('hello'), 5, 0, resolve));
  t.equal(written, 5, 'write answers the byte count');
  const released = await new Promise<number>((resolve) => ops.release?.('/w', fd, resolve));
  t.equal(released, 0, 'release answers 0');
});
