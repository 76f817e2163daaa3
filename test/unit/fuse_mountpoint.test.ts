/**
 * The mountpoint checks of fsraft-mount and its bounded unmount retries, without FUSE.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'tape';
import { isMountPoint, mountpointProblem, unmountWithRetry } from '../../src/fuse/mountpoint.js';

test('fuse mountpoint: missing, a file, not empty and already mounted are refused; an empty dir is fine', async (t) => {
  const base = await mkdtemp(path.join(tmpdir(), 'fsraft-mp-'));
  try {
    await writeFile(path.join(base, 'file'), 'x');
    await mkdir(path.join(base, 'full'));
    await writeFile(path.join(base, 'full', 'x'), 'x');
    await mkdir(path.join(base, 'empty'));
    t.match((await mountpointProblem(path.join(base, 'missing'))) ?? '', /does not exist/, 'missing');
    t.match((await mountpointProblem(path.join(base, 'file'))) ?? '', /is not a directory/, 'a file');
    t.match((await mountpointProblem(path.join(base, 'full'))) ?? '', /is not empty \(1 entries\)/, 'not empty');
    t.match((await mountpointProblem('/proc')) ?? '', /is busy/, '/proc is a mount point: busy');
    t.equal(await mountpointProblem(path.join(base, 'empty')), null, 'an empty directory is usable');
    t.ok(await isMountPoint('/proc'), '/proc is a mount point');
    t.notOk(await isMountPoint(path.join(base, 'empty')), 'a plain directory is not');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('fuse mountpoint: unmount is retried a bounded number of times while busy', async (t) => {
  let attempts = 0;
  const retries: string[] = [];
  const succeeded = await unmountWithRetry(
    async () => {
      attempts++;
      if (attempts < 3) throw new Error('target is busy');
    },
    5,
    1,
    (error) => retries.push(error.message),
  );
  t.equal(succeeded, null, 'succeeds on the third attempt');
  t.deepEqual(retries, ['target is busy', 'target is busy'], 'each failed attempt is reported');
  attempts = 0;
  const gaveUp = await unmountWithRetry(async () => {
    attempts++;
    throw new Error('still busy');
  }, 4, 1, () => undefined);
  t.equal(gaveUp?.message, 'still busy', 'gives up with the last error');
  t.equal(attempts, 4, 'after exactly attemptsMax attempts');
});
