/**
 * The mount through failures: the leader is killed with SIGKILL while cp copies many files into
 * the mount, and every file cp reported as written must be intact afterwards (operations stall,
 * then continue); then the whole cluster is stopped and restarted, and a new mount shows the same
 * tree. Every mount is unmounted in teardown.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { MountProcess, tempMountpoint } from '../../src/launch/mount_process.js';
import { fuseAvailable } from '../helpers/fuse_available.js';

const cluster = await fileCluster();
startTest(cluster);
const fuseLoading = loadFuse();
const mounts: MountProcess[] = [];
const fileCount = 120;
/** Local originals: name -> content. */
const originals = new Map<string, Buffer>();
/** Files cp reported as written (exit status 0), in order. */
const reported: string[] = [];
let sourceDir = '';

async function mountCluster(): Promise<MountProcess> {
  const mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile]);
  mounts.push(mount);
  return mount;
}

/** False (skipping or failing the test) when FUSE is unavailable; else watches the cluster. */
async function guard(t: Test): Promise<boolean> {
  if (!(await fuseAvailable(t, fuseLoading))) return false;
  cluster.watch(t);
  return true;
}

/** Every reported file reads back equal to its original through `mount`. */
async function checkReported(t: Test, mount: MountProcess, what: string): Promise<void> {
  let intact = 0;
  for (const name of reported) {
    const copy = await readFile(path.join(mount.dir, 'copies', name)).catch(() => undefined);
    if (copy !== undefined && copy.equals(originals.get(name) as Buffer)) intact++;
    else t.fail(`${what}: ${name} is ${copy === undefined ? 'missing' : 'different'}`);
  }
  t.equal(intact, reported.length, `${what}: all ${reported.length} files cp reported are intact`);
}

test('fuse failover: SIGKILL of the leader during a cp of many files loses none that cp reported', { timeout: 240_000 }, async (t) => {
  if (!(await guard(t))) return;
  sourceDir = await mkdtemp(path.join(tmpdir(), 'fsraft-src-'));
  for (let i = 0; i < fileCount; i++) {
    const name = `file-${String(i).padStart(3, '0')}.bin`;
    const content = randomBytes(4096 + ((i * 7919) % 60_000));
    originals.set(name, content);
    await writeFile(path.join(sourceDir, name), content);
  }
  const mount = await mountCluster();
  const copies = path.join(mount.dir, 'copies');
  const script = `mkdir -p "${copies}"; for f in "${sourceDir}"/*; do n=$(basename "$f"); if cp "$f" "${copies}/$n"; then echo "$n"; fi; done`;
  const child = spawn('/bin/bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    reported.push(...lines.filter((line) => line !== ''));
  });
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await eventually('cp has copied a third of the files', 120_000, () => reported.length >= fileCount / 3);
  const leader = await cluster.waitForLeader();
  await cluster.kill(leader, 'SIGKILL');
  t.pass(`killed the leader, node ${leader}, after ${reported.length} files`);
  const code = await exited;
  t.equal(code, 0, 'the copy loop ran to its end');
  t.comment(`cp reported ${reported.length} of ${fileCount} files${errors === '' ? '' : `; errors: ${errors.trim()}`}`);
  t.ok(reported.length >= fileCount - 2, `nearly every cp succeeded through the leader change (${reported.length})`);
  await checkReported(t, mount, 'after the leader change');
  await cluster.restart(leader);
});

test('fuse failover: after a full cluster restart a new mount shows the same tree', { timeout: 180_000 }, async (t) => {
  if (!(await guard(t)) || reported.length === 0) return;
  for (const mount of mounts.splice(0)) t.equal(await mount.stopAndRemove(), 0, 'the old mount unmounts cleanly');
  for (const id of cluster.runningIds()) await cluster.stopNode(id);
  t.deepEqual(cluster.runningIds(), [], 'every node is stopped');
  await cluster.start();
  await cluster.waitForLeader();
  const mount = await mountCluster();
  const listed = (await readdir(path.join(mount.dir, 'copies'))).sort();
  t.ok(reported.every((name) => listed.includes(name)), `the remount lists every reported file (${listed.length} listed)`);
  await checkReported(t, mount, 'after the restart');
});

test('fuse failover: with no quorum, close() reports EIO once the mount gives up', { timeout: 120_000 }, async (t) => {
  if (!(await guard(t))) return;
  const mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile, '--request-timeout-ms', '2000']);
  mounts.push(mount);
  const handle = await open(path.join(mount.dir, 'unlucky.txt'), 'w');
  await handle.write('buffered, never committed');
  for (const id of cluster.runningIds()) await cluster.stopNode(id);
  const startedMs = Date.now();
  const closed = await handle.close().then(() => 'closed', (error: NodeJS.ErrnoException) => error.code);
  t.equal(closed, 'EIO', `close() failed with EIO after ${Date.now() - startedMs} ms instead of pretending success`);
});

test('fuse failover: every mount unmounts cleanly', { timeout: 60_000 }, async (t) => {
  for (const mount of mounts.splice(0)) t.equal(await mount.stopAndRemove(), 0, `${mount.dir}: exit code 0 after SIGTERM`);
  if (sourceDir !== '') await rm(sourceDir, { recursive: true, force: true });
  t.end();
});

stopTest(cluster);
