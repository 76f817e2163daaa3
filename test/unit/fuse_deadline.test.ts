/**
 * The FUSE operations keep to one deadline each: every operation ends within operationTimeoutMs
 * (plus limits.deadlineSlackMs) however many cluster calls and waits it is made of, fails with
 * EIO naming what it waited for, and a write the kernel was told failed never lands later. Most
 * tests run on a fake clock against the in-memory backend; the first runs the real client
 * against a scripted fake node, as the mount does.
 */
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import test from 'tape';
import { FsraftUnavailableError } from '../../src/client/errors.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';
import { errnoOf } from '../../src/fuse/errno.js';
import { FsraftFs } from '../../src/fuse/fsraft_fs.js';
import { limits } from '../../src/util/limits.js';
import { FakeClock } from '../helpers/fake_clock.js';
import { fakeNode } from '../helpers/fake_node.js';
import { MemoryBackend } from '../helpers/fuse_memory_backend.js';

const eio = -osConstants.errno.EIO;
const timeoutMs = 1_000;
const backendOps = ['stat', 'list', 'readAt', 'create', 'mkdir', 'rmdir', 'rename', 'truncate', 'writeAt', 'setattr', 'delete'] as const;

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

function setup(chunkBytes = 64 * 1024, more: { dirtyBytesMax?: number; writesInFlightMax?: number } = {}): { backend: MemoryBackend; fs: FsraftFs; clock: FakeClock } {
  const backend = new MemoryBackend();
  const clock = new FakeClock();
  return { backend, clock, fs: new FsraftFs(backend, { chunkBytes, operationTimeoutMs: timeoutMs, clock, ...more }) };
}

test('fuse deadline: a utimens behind four chained writes ends within the request timeout (real client, fake node)', async (t) => {
  // The user's report: a utimens first commits the file's buffered writes, then sets the times.
  // Four overlapping writes each wait for the one before, and each was given a whole timeout
  // when it was finally sent; here each is answered just before its timeout and the setattr
  // never is. Before the fix this utimens took about 4 x 280 + 300 ms for a 300 ms timeout.
  const requestTimeoutMs = 300;
  const node = await fakeNode((parsed) => {
    const op = parsed.command.op;
    if (op === 'read') return 'ERR_FILE_NOT_FOUND\r\n'; // leader discovery
    if (op === 'create') return 'OK 1\r\n';
    if (op === 'writeat') return { reply: 'OK 2\r\n', delayMs: 280 };
    return 'silent';
  });
  const client = FsraftClient.fromAddresses([node.address], { requestTimeoutMs });
  const fs = new FsraftFs(client, { chunkBytes: 4, operationTimeoutMs: requestTimeoutMs });
  try {
    const fd = await fs.create('/f', 0o644, fsConstants.O_WRONLY | fsConstants.O_CREAT);
    for (let i = 0; i < 4; i++) t.equal(await fs.write(fd, Buffer.from('abcd'), 0), 4, `write ${i + 1} is buffered`);
    const startedMs = performance.now();
    const error = await fs.utimens('/f', 1_000, 2_000).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    const elapsedMs = Math.round(performance.now() - startedMs);
    t.equal(errnoOf(error), eio, `EIO: ${(error as Error | undefined)?.message}`);
    t.ok(error instanceof FsraftUnavailableError, 'UNAVAILABLE: what the writes did is unknown');
    t.ok(elapsedMs <= requestTimeoutMs + limits.deadlineSlackMs, `utimens ended after ${elapsedMs} ms (timeout ${requestTimeoutMs} ms)`);
    t.equal(node.received.filter((line) => line.startsWith('setattr')).length, 0, 'no setattr was sent after the writes failed');
  } finally {
    client.close();
    await node.close();
  }
});

test('fuse deadline: every operation ends at its deadline with EIO when the cluster never answers', async (t) => {
  type Case = readonly [string, (fs: FsraftFs, fd: number) => Promise<unknown>];
  const cases: Case[] = [
    ['getattr', (fs) => fs.getattr('/other')],
    ['readdir', (fs) => fs.readdir('/')],
    ['open', (fs) => fs.open('/f', fsConstants.O_RDONLY)],
    ['open O_TRUNC', (fs) => fs.open('/f', fsConstants.O_WRONLY | fsConstants.O_TRUNC)],
    ['create', (fs) => fs.create('/new', 0o644, fsConstants.O_WRONLY | fsConstants.O_CREAT)],
    ['mkdir', (fs) => fs.mkdir('/d', 0o755)],
    ['rmdir', (fs) => fs.rmdir('/d0')],
    ['unlink', (fs) => fs.unlink('/f')],
    ['rename', (fs) => fs.rename('/f', '/g')],
    ['chmod', (fs) => fs.chmod('/f', 0o600)],
    ['chown', (fs) => fs.chown('/f', 1, 1)],
    ['utimens', (fs) => fs.utimens('/f', 1_000, 2_000)],
    ['truncate', (fs) => fs.truncate('/f', 0)],
    ['read', (fs, fd) => fs.read(fd, Buffer.alloc(16), 16, 0)],
    ['flush', (fs, fd) => fs.flush(fd)],
    ['fsync', (fs, fd) => fs.fsync(fd)],
    ['release', (fs, fd) => fs.release(fd)],
    ['ftruncate', (fs, fd) => fs.ftruncate(fd, 0)],
  ];
  for (const [name, operation] of cases) {
    const { backend, fs, clock } = setup();
    await backend.mkdir('d0', 0o755);
    await backend.create('f', 0o644, true);
    await backend.writeAt('f', 0, Buffer.from('old'));
    const fd = await fs.open('/f', fsConstants.O_RDWR);
    await fs.write(fd, Buffer.from('new bytes'), 0);
    const releases = backendOps.map((op) => backend.hold(op));
    const outcome = track(operation(fs, fd));
    await clock.advance(timeoutMs - 1);
    t.notOk(outcome.settled, `${name}: still waiting just before its deadline`);
    await clock.advance(1 + limits.deadlineSlackMs);
    t.ok(outcome.settled && errnoOf(outcome.error) === eio, `${name}: EIO by ${timeoutMs} + ${limits.deadlineSlackMs} ms: ${(outcome.error as Error | undefined)?.message}`);
    for (const release of releases) release();
    await clock.advance(2 * timeoutMs);
  }
});

test('fuse deadline: utimens behind stalled writes gives up at its deadline, names them, and sends no setattr', async (t) => {
  const { backend, fs, clock } = setup(4);
  const fd = await fs.create('/f', 0o644, fsConstants.O_WRONLY | fsConstants.O_CREAT);
  const release = backend.hold('writeAt');
  for (let i = 0; i < 4; i++) await fs.write(fd, Buffer.from('abcd'), 0);
  const utimens = track(fs.utimens('/f', 1_000, 2_000));
  await clock.advance(timeoutMs);
  t.ok(utimens.settled, 'utimens ended at its deadline');
  t.ok(utimens.error instanceof FsraftUnavailableError, 'UNAVAILABLE (EIO)');
  t.match((utimens.error as Error).message, /gave up after 1000 ms \(the limit is 1000 ms\) waiting for \d write\(s\) of \/f to commit/, `it names what it waited for: ${(utimens.error as Error).message}`);
  t.equal(backend.callsOf('setattr').length, 0, 'the times were not set');
  t.equal(backend.callsOf('writeAt').length, 1, 'the overlapping writes behind the stalled one were never sent: their time went by waiting');
  release();
  await clock.advance(timeoutMs);
  t.equal(await code(fs.flush(fd)), eio, 'the writes that failed are still reported by the next flush');
  t.equal(await code(fs.release(fd)), 0, 'and only once');
});

test('fuse deadline: a write waiting for room gives up at its deadline, reporting the bytes it buffered', async (t) => {
  for (const partial of [true, false]) {
    const { backend, fs, clock } = setup(4, { dirtyBytesMax: 8, writesInFlightMax: 2 });
    const fd = await fs.create('/f', 0o644, fsConstants.O_WRONLY | fsConstants.O_CREAT);
    const release = backend.hold('writeAt');
    t.equal(await fs.write(fd, Buffer.from('abcd'), 0), 4, 'a first chunk goes out');
    if (!partial) t.equal(await fs.write(fd, Buffer.from('efgh'), 4), 4, 'a second chunk goes out: two in flight, the most allowed');
    // The writes in flight fail half a slack after their own deadline, which comes with this one's.
    const write = track(partial ? fs.write(fd, Buffer.from('efghijklmnop'), 4) : fs.write(fd, Buffer.from('ijkl'), 8));
    await clock.advance(timeoutMs - 1);
    t.notOk(write.settled, 'the next write waits for room');
    await clock.advance(1);
    if (partial) t.equal(write.value, 4, 'at its deadline it reports the 4 bytes it could buffer (a short write)');
    else t.ok(write.settled && write.error instanceof FsraftUnavailableError, `at its deadline, having buffered nothing, it is EIO: ${(write.error as Error | undefined)?.message}`);
    release(); // the stalled writes are answered before they time out
    t.equal(await code(fs.release(fd)), 0, 'close commits what was accepted');
    t.equal(backend.content('f')?.toString(), 'abcdefgh', 'exactly the bytes write() reported as written');
  }
});

test('fuse deadline: an operation that gave up waiting for earlier ones on its file never runs later', async (t) => {
  const { backend, fs, clock } = setup();
  const fd = await fs.create('/f', 0o644, fsConstants.O_RDWR | fsConstants.O_CREAT);
  const release = backend.hold('readAt');
  const read = track(fs.read(fd, Buffer.alloc(8), 8, 0));
  await clock.advance(10);
  // The read's cluster call may overrun its deadline by half a slack; the write, queued behind
  // it and started 10 ms later, reaches its own deadline first.
  const write = track(fs.write(fd, Buffer.from('late'), 0));
  await clock.advance(timeoutMs);
  t.ok(write.settled && errnoOf(write.error) === eio, `the write gave up: ${(write.error as Error | undefined)?.message}`);
  t.match((write.error as Error).message, /waiting for earlier operations on \/f to finish/, 'naming what it waited for');
  await clock.advance(limits.deadlineSlackMs);
  t.ok(read.settled && errnoOf(read.error) === eio, 'the read ended too');
  release();
  await clock.advance(timeoutMs);
  t.equal(await code(fs.release(fd)), 0, 'release has nothing to commit');
  t.equal(backend.callsOf('writeAt').length, 0, 'the write the kernel was told failed was never sent');
});
