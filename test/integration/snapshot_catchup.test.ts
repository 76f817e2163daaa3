/**
 * Snapshots on a real 3-node cluster (small thresholds): a follower that missed 20,000 commands
 * catches up through a snapshot (InstallSnapshot, Raft §7) with a bounded log on disk, and a
 * follower whose data directory is wiped rebuilds everything from the leader.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import test, { type Test } from 'tape';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually } from '../helpers/local_cluster.js';
import { missingFiles, pipelinedWrites, readNodeDisk, type Written } from './snapshot_support.js';

const logEntriesMax = 2000;
const keepEntries = 500;
const cluster = await fileCluster({
  nodeCount: 3,
  timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 },
  snapshot: { logEntriesMax, keepEntries },
});
startTest(cluster);

const written: Written = new Map();

/** A follower of the current leader, other than `except`. */
async function follower(except = 0): Promise<number> {
  const leader = await cluster.waitForLeader();
  return cluster.runningIds().find((id) => id !== leader && id !== except)!;
}

/**
 * Proves `id` holds the log up to a fresh write: with the third node stopped, a write commits
 * only once `id` has it (a majority of three). Then stops `id` and checks its disk offline.
 */
async function checkCaughtUp(t: Test, id: number, when: string): Promise<void> {
  const leader = await cluster.waitForLeader();
  const other = cluster.runningIds().find((node) => node !== id && node !== leader)!;
  await cluster.stopNode(other);
  await pipelinedWrites(cluster, `${when}-marker`, 1, 1, written, 1);
  await cluster.stopNode(id);
  const disk = await readNodeDisk(cluster, id);
  t.ok(disk.snapshotIndex > 0, `${when}: n${id} holds a snapshot (at ${disk.snapshotIndex})`);
  // Bounded: at most the entries between two snapshots plus those kept, with slack for the
  // snapshot being written while more commands arrive.
  t.ok(disk.entryCount <= 2 * logEntriesMax + keepEntries, `${when}: n${id} stores ${disk.entryCount} log entries (bounded)`);
  t.deepEqual(missingFiles(disk.state, written), [], `${when}: n${id} holds all ${written.size} files with their acknowledged versions`);
  await cluster.restart(id);
  await cluster.restart(other);
  await cluster.waitForLeader();
}

test('snapshot: a follower stopped during 20,000 writes catches up through a snapshot, its log bounded', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  const lagging = await follower();
  await cluster.stopNode(lagging);
  const startedMs = Date.now();
  await pipelinedWrites(cluster, 'lag', 20_000, 500, written);
  t.pass(`20,000 pipelined writes acknowledged in ${Date.now() - startedMs} ms without n${lagging}`);
  await cluster.restart(lagging);
  await eventually(`n${lagging} installs a snapshot`, 60_000, () => cluster.output(lagging).some((line) => line.includes('installed snapshot')));
  await checkCaughtUp(t, lagging, 'lagging');
});

test('snapshot: a follower whose data directory is wiped rebuilds from the leader', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  const wiped = await follower();
  await cluster.stopNode(wiped);
  rmSync(path.join(cluster.dir, `n${wiped}`), { recursive: true, force: true });
  await pipelinedWrites(cluster, 'wipe', 3000, 100, written);
  await cluster.restart(wiped);
  await eventually(`n${wiped} installs a snapshot`, 60_000, () => cluster.output(wiped).some((line) => line.includes('installed snapshot')));
  await checkCaughtUp(t, wiped, 'wiped');
});

stopTest(cluster);
