/**
 * The mount's operations (src/fuse/cluster_fs.ts) keep to one deadline each: every operation ends
 * within the request timeout (plus limits.deadlineSlackMs) however many cluster calls and waits it
 * is made of, fails with EIO naming what it waited for, and a write the kernel was told failed
 * never lands later. Most tests run on a fake clock against the memory backend (the state machine
 * every replica runs); the first runs the real client against a scripted fake node.
 */
import { constants as osConstants } from 'node:os';
import test from 'tape';
import { FsraftUnavailableError } from '../../src/client/errors.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';
import { systemClock } from '../../src/clock/clock.js';
import { ClusterFs } from '../../src/fuse/cluster_fs.js';
import { errnoOf } from '../../src/fuse/errno.js';
import type { FuseContext } from '../../src/fuse/kernel/fuse_file_system.js';
import { limits } from '../../src/util/limits.js';
import { FakeClock } from '../helpers/fake_clock.js';
import { fakeNode } from '../helpers/fake_node.js';
import { MemoryClusterBackend } from '../helpers/memory_cluster_backend.js';

const eio = -osConstants.errno.EIO;
const timeoutMs = 1_000;
const ctx: FuseContext = { uid: 0, gid: 0, pid: 1, unique: 1n };
const rootIno = 1;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const backendOps = ['attr', 'readdir', 'readAt', 'mknod', 'rmdir', 'renameWith', 'setattrs', 'writeAt', 'delete', 'hold'] as const;

/** A promise's outcome as it stands, without waiting for it. */
interface Tracked {
  readonly settled: boolean;
  readonly value: unknown;
  readonly error: unknown;
}

function track(promise: Promise<unknown>): Tracked {
  const state = { settled: false, value: undefined as unknown, error: undefined as unknown };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** 0 when `promise` resolves, else the errno its failure maps to. */
async function code(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (error) {
    return errnoOf(error);
  }
}

async function setup(chunkBytes = 64 * 1024, more: { dirtyBytesMax?: number; writesInFlightMax?: number } = {}): Promise<{ backend: MemoryClusterBackend; fs: ClusterFs; clock: FakeClock }> {
  const backend = await MemoryClusterBackend.create();
  const clock = new FakeClock();
  const fs = new ClusterFs(backend, { chunkBytes, requestTimeoutMs: timeoutMs, entryTimeoutMs: 0, attrTimeoutMs: 0, holder: 7, clock, ...more });
  return { backend, clock, fs };
}

/** Creates `name` in the root and returns its inode and an open handle. */
async function created(fs: ClusterFs, name: string): Promise<{ ino: number; fh: number }> {
  const { entry, open } = await fs.create(ctx, rootIno, bytes(name), 0o100644, O_RDWR);
  return { ino: entry.ino, fh: open.fh };
}

test('fuse deadline: a utimens behind four chained writes ends within the request timeout (real client, fake node)', async (t) => {
  // The user's report: a utimens first commits the file's buffered writes, then sets the times.
  // Four overlapping writes each wait for the one before; here each is answered just before its
  // timeout and the setattr never is.
  const requestTimeoutMs = 300;
  const stat = 'ATTR 2 file 644 1 0 0 0 0 0 0.000000000 0.000000000 0.000000000 1 0\r\n';
  const node = await fakeNode((parsed) => {
    const op = parsed.command.op;
    if (op === 'read') return 'ERR_FILE_NOT_FOUND\r\n'; // leader discovery
    if (op === 'create') return stat;
    if (op === 'hold') return 'OK\r\n';
    if (op === 'writeat') return { reply: 'OK 2\r\n', delayMs: 280 };
    return 'silent';
  });
  const client = FsraftClient.fromAddresses([node.address], { requestTimeoutMs });
  const fs = new ClusterFs(client, { chunkBytes: 4, requestTimeoutMs, entryTimeoutMs: 0, attrTimeoutMs: 0, holder: 7, clock: systemClock });
  try {
    const { ino, fh } = await created(fs, 'f');
    for (let i = 0; i < 4; i++) t.equal(await fs.write(ctx, ino, fh, 0, bytes('abcd'), O_WRONLY), 4, `write ${i + 1} is buffered`);
    const startedMs = performance.now();
    const error = await fs.setattr(ctx, ino, { atime: { sec: 1, nsec: 0 }, mtime: { sec: 2, nsec: 0 } }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    const elapsedMs = Math.round(performance.now() - startedMs);
    t.equal(errnoOf(error), eio, `EIO: ${(error as Error | undefined)?.message}`);
    t.ok(error instanceof FsraftUnavailableError, 'UNAVAILABLE: what the writes did is unknown');
    t.ok(elapsedMs <= requestTimeoutMs + limits.deadlineSlackMs, `utimens ended after ${elapsedMs} ms (timeout ${requestTimeoutMs} ms)`);
    t.equal(node.received.filter((line) => line.startsWith('setattrs')).length, 0, 'no setattr was sent after the writes failed');
  } finally {
    fs.destroy();
    client.close();
    await node.close();
  }
});

test('fuse deadline: every operation ends at its deadline with EIO when the cluster never answers', async (t) => {
  type Case = readonly [string, (fs: ClusterFs, ino: number, fh: number, dir: number) => Promise<unknown>];
  const cases: Case[] = [
    ['lookup', (fs) => fs.lookup(ctx, rootIno, bytes('f'))],
    ['getattr', (fs, ino) => fs.getattr(ctx, ino)],
    ['readdir', (fs) => fs.readdir(ctx, rootIno, 0, 2, 4096, false)],
    ['open', (fs, ino) => fs.open(ctx, ino, O_RDONLY)],
    ['open O_TRUNC', (fs, ino) => fs.open(ctx, ino, O_WRONLY | O_TRUNC)],
    ['create', (fs) => fs.create(ctx, rootIno, bytes('new'), 0o100644, O_WRONLY)],
    ['mkdir', (fs) => fs.mkdir(ctx, rootIno, bytes('d'), 0o40755)],
    ['rmdir', (fs) => fs.rmdir(ctx, rootIno, bytes('d0'))],
    ['unlink', (fs) => fs.unlink(ctx, rootIno, bytes('f'))],
    ['rename', (fs) => fs.rename(ctx, rootIno, bytes('f'), rootIno, bytes('g'), 0)],
    ['setattr', (fs, ino) => fs.setattr(ctx, ino, { mode: 0o600 })],
    ['read', (fs, ino, fh) => fs.read(ctx, ino, fh, 0, 16)],
    ['flush', (fs, ino, fh) => fs.flush(ctx, ino, fh)],
    ['fsync', (fs, ino, fh) => fs.fsync(ctx, ino, fh, false)],
    ['release', (fs, ino, fh) => fs.release(ctx, ino, fh, 0)],
  ];
  for (const [name, operation] of cases) {
    const { backend, fs, clock } = await setup();
    const dir = (await fs.mkdir(ctx, rootIno, bytes('d0'), 0o40755)).ino;
    const { ino, fh } = await created(fs, 'f');
    await fs.write(ctx, ino, fh, 0, bytes('new bytes'), O_RDWR);
    const releases = backendOps.map((op) => backend.stall(op));
    const outcome = track(operation(fs, ino, fh, dir));
    await clock.advance(timeoutMs - 1);
    t.notOk(outcome.settled, `${name}: still waiting just before its deadline`);
    await clock.advance(1 + limits.deadlineSlackMs);
    t.ok(outcome.settled && errnoOf(outcome.error) === eio, `${name}: EIO by ${timeoutMs} + ${limits.deadlineSlackMs} ms: ${(outcome.error as Error | undefined)?.message}`);
    for (const release of releases) release();
    await clock.advance(2 * timeoutMs);
    fs.destroy();
  }
});

test('fuse deadline: utimens behind stalled writes gives up at its deadline, names them, and sends no setattr', async (t) => {
  const { backend, fs, clock } = await setup(4);
  const { ino, fh } = await created(fs, 'f');
  const release = backend.stall('writeAt');
  for (let i = 0; i < 4; i++) await fs.write(ctx, ino, fh, 0, bytes('abcd'), O_WRONLY);
  const utimens = track(fs.setattr(ctx, ino, { atime: { sec: 1, nsec: 0 }, mtime: { sec: 2, nsec: 0 } }));
  await clock.advance(timeoutMs);
  t.ok(utimens.settled, 'utimens ended at its deadline');
  t.ok(utimens.error instanceof FsraftUnavailableError, 'UNAVAILABLE (EIO)');
  t.match((utimens.error as Error).message, /gave up after 1000 ms \(the limit is 1000 ms\) waiting for \d write\(s\) of \/\/\d+ to commit/, `it names what it waited for: ${(utimens.error as Error).message}`);
  t.equal(backend.callsOf('setattrs').length, 0, 'the times were not set');
  t.equal(backend.callsOf('writeAt').length, 1, 'the overlapping writes behind the stalled one were never sent: their time went by waiting');
  release();
  await clock.advance(timeoutMs);
  t.equal(await code(fs.flush(ctx, ino, fh)), eio, 'the writes that failed are still reported by the next flush');
  t.equal(await code(fs.release(ctx, ino, fh, 0)), 0, 'and only once');
  fs.destroy();
});

test('fuse deadline: a write waiting for room gives up at its deadline, reporting the bytes it buffered', async (t) => {
  for (const partial of [true, false]) {
    const { backend, fs, clock } = await setup(4, { dirtyBytesMax: 8, writesInFlightMax: 2 });
    const { ino, fh } = await created(fs, 'f');
    const release = backend.stall('writeAt');
    t.equal(await fs.write(ctx, ino, fh, 0, bytes('abcd'), O_WRONLY), 4, 'a first chunk goes out');
    if (!partial) t.equal(await fs.write(ctx, ino, fh, 4, bytes('efgh'), O_WRONLY), 4, 'a second chunk goes out: two in flight, the most allowed');
    const write = track(partial ? fs.write(ctx, ino, fh, 4, bytes('efghijklmnop'), O_WRONLY) : fs.write(ctx, ino, fh, 8, bytes('ijkl'), O_WRONLY));
    await clock.advance(timeoutMs - 1);
    t.notOk(write.settled, 'the next write waits for room');
    await clock.advance(1);
    if (partial) t.equal(write.value, 4, 'at its deadline it reports the 4 bytes it could buffer (a short write)');
    else t.ok(write.settled && write.error instanceof FsraftUnavailableError, `at its deadline, having buffered nothing, it is EIO: ${(write.error as Error | undefined)?.message}`);
    release(); // the stalled writes are answered before they time out
    t.equal(await code(fs.release(ctx, ino, fh, 0)), 0, 'close commits what was accepted');
    t.equal(new TextDecoder().decode(await backend.content('f')), 'abcdefgh', 'exactly the bytes write() reported as written');
    fs.destroy();
  }
});

test('fuse deadline: an operation that gave up waiting for earlier ones on its file never runs later', async (t) => {
  const { backend, fs, clock } = await setup();
  const { ino, fh } = await created(fs, 'f');
  const release = backend.stall('readAt');
  const read = track(fs.read(ctx, ino, fh, 0, 8));
  await clock.advance(10);
  // The read's cluster call may overrun its deadline by half a slack; the write, queued behind
  // it and started 10 ms later, reaches its own deadline first.
  const write = track(fs.write(ctx, ino, fh, 0, bytes('late'), O_WRONLY));
  await clock.advance(timeoutMs);
  t.ok(write.settled && errnoOf(write.error) === eio, `the write gave up: ${(write.error as Error | undefined)?.message}`);
  t.match((write.error as Error).message, /waiting for earlier operations on \/\/\d+ to finish/, 'naming what it waited for');
  await clock.advance(limits.deadlineSlackMs);
  t.ok(read.settled && errnoOf(read.error) === eio, 'the read ended too');
  release();
  await clock.advance(timeoutMs);
  t.equal(await code(fs.release(ctx, ino, fh, 0)), 0, 'release has nothing to commit');
  t.equal(backend.callsOf('writeAt').length, 0, 'the write the kernel was told failed was never sent');
  fs.destroy();
});
