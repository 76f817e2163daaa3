/**
 * The disk-space monitor (src/storage/disk_space.ts) with a substituted statfs: low below the
 * reserve on any watched directory, one log line per change, failed checks keep the last answer.
 */
import test from 'tape';
import { DiskSpaceMonitor, type FsSpace } from '../../src/storage/disk_space.js';
import { FakeClock } from '../helpers/fake_clock.js';

const MiB = 1024 * 1024;

function monitor(free: Map<string, number | Error>, reserveBytes: number, clock = new FakeClock()): { monitor: DiskSpaceMonitor; logs: string[] } {
  const logs: string[] = [];
  const statfs = (dir: string): Promise<FsSpace> => {
    const bytes = free.get(dir);
    if (bytes === undefined || bytes instanceof Error) return Promise.reject(bytes ?? new Error(`no such directory ${dir}`));
    return Promise.resolve({ blocks: 1_000_000, bavail: bytes / 4096, bsize: 4096 });
  };
  return { monitor: new DiskSpaceMonitor({ dirs: ['/log', '/state'], reserveBytes, intervalMs: 1000, clock, log: (line) => logs.push(line), statfs }), logs };
}

test('disk space: low while any watched directory has less free than the reserve, with one log line per change', async (t) => {
  const free = new Map<string, number | Error>([['/log', 100 * MiB], ['/state', 100 * MiB]]);
  const { monitor: m, logs } = monitor(free, 64 * MiB);
  await m.check();
  t.equal(m.low, false, 'plenty of space');
  free.set('/state', 10 * MiB);
  await m.check();
  t.equal(m.low, true, 'one directory below the reserve is enough');
  await m.check();
  t.equal(logs.length, 1, 'logged once, not on every check');
  t.match(logs[0] ?? '', /disk space low: 10\.0 MiB free under \/state, below the reserve of 64\.0 MiB/, 'the line names the directory and the figures');
  free.set('/state', 64 * MiB);
  await m.check();
  t.equal(m.low, false, 'exactly the reserve is enough');
  t.match(logs[1] ?? '', /disk space recovered: 64\.0 MiB free under \/state/);
  t.end();
});

test('disk space: a directory that cannot be checked keeps the last answer and is reported once', async (t) => {
  const free = new Map<string, number | Error>([['/log', 1 * MiB], ['/state', 1 * MiB]]);
  const { monitor: m, logs } = monitor(free, 64 * MiB);
  await m.check();
  t.equal(m.low, true);
  free.set('/log', new Error('EACCES'));
  free.set('/state', new Error('EACCES'));
  await m.check();
  await m.check();
  t.equal(m.low, true, 'no answer from statfs changes nothing');
  t.equal(logs.filter((line) => line.startsWith('cannot check')).length, 2, 'each directory reported once');
  t.end();
});

test('disk space: a reserve of 0 never reports low', async (t) => {
  const free = new Map<string, number | Error>([['/log', 0], ['/state', 0]]);
  const { monitor: m, logs } = monitor(free, 0);
  await m.start();
  t.equal(m.low, false, 'started');
  await m.check();
  t.equal(m.low, false, 'and checked by hand on a full disk');
  t.deepEqual(logs, []);
  m.stop();
  t.end();
});

test('disk space: after start, checks run on the injected clock every interval until stop', async (t) => {
  const free = new Map<string, number | Error>([['/log', 100 * MiB], ['/state', 100 * MiB]]);
  const clock = new FakeClock();
  const { monitor: m } = monitor(free, 64 * MiB, clock);
  await m.start();
  t.equal(m.low, false, 'plenty of space at start');
  free.set('/log', 10 * MiB);
  await clock.advance(999);
  t.equal(m.low, false, 'no check before the interval has passed');
  await clock.advance(1);
  t.equal(m.low, true, 'the check one interval after start saw the full disk');
  m.stop();
  t.equal(clock.pendingTimers, 0, 'stop leaves no timer behind');
  free.set('/log', 100 * MiB);
  await clock.advance(5000);
  t.equal(m.low, true, 'no check after stop');
  t.end();
});
