/**
 * Snapshots on a real 3-node cluster (small thresholds): a follower that missed 20,000 commands
 * catches up through a snapshot (InstallSnapshot, Raft §7) with a bounded log on disk, a
 * follower whose data directory is wiped rebuilds everything from the leader, one killed
 * with kill -9 while receiving a snapshot restarts and completes it, and so does one killed at
 * either step of the switch to the received state (fsraft-node's FSRAFT_TEST_KILL_AT).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import test, { type Test } from 'tape';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { ProtocolClient, describeReply } from '../../src/launch/protocol_client.js';
import { missingFiles, pipelinedWrites, readNodeDisk, type Written } from './snapshot_support.js';

const logEntriesMax = 2000;
const keepEntries = 500;
const cluster = await fileCluster({
  nodeCount: 3,
  timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 },
  // Commands proposed together share a log entry, so the byte bounds are what trigger snapshots
  // and limit the kept log here: a lagging follower must need the snapshot.
  snapshot: { logEntriesMax, logBytesMax: 256 * 1024, keepEntries, keepBytes: 32 * 1024 },
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
  t.deepEqual(await missingFiles(disk.state, written), [], `${when}: n${id} holds all ${written.size} files with their acknowledged versions`);
  await disk.close();
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

test('snapshot: a follower killed (kill -9) while receiving a snapshot restarts and completes it', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  // About 12 MB of state, so the snapshot takes a dozen 1 MiB chunks to send.
  const client = await ProtocolClient.connect(cluster.clientAddress(await cluster.waitForLeader()));
  try {
    for (let k = 0; k < 24; k++) {
      const content = `big ${k} `.padEnd(500_000, String.fromCharCode(97 + (k % 26)));
      const reply = await client.write(`big/${k}`, content, undefined, 30_000);
      if (reply.kind !== 'ok' || reply.version === undefined) throw new Error(`big/${k}: ${describeReply(reply)}`);
      written.set(`big/${k}`, { version: reply.version, content });
    }
  } finally {
    client.destroy();
  }
  await pipelinedWrites(cluster, 'after-big', 3000, 100, written);
  const victim = await follower();
  await cluster.stopNode(victim);
  rmSync(path.join(cluster.dir, `n${victim}`), { recursive: true, force: true });
  await cluster.restart(victim);
  const arriving = (): boolean => cluster.output(victim).some((line) => line.includes('receiving snapshot'));
  const installed = (): boolean => cluster.output(victim).some((line) => line.includes('installed snapshot'));
  const caught = await eventually('a snapshot starts arriving', 60_000, () => arriving() || installed(), 2);
  const killedMidway = arriving() && !installed();
  await cluster.kill(victim, 'SIGKILL');
  t.ok(caught, killedMidway ? 'killed while the snapshot was arriving' : 'the snapshot was installed before the kill (the race was lost; the restart is still checked)');
  await cluster.restart(victim);
  await eventually(`n${victim} installs a snapshot after its restart`, 60_000, () => {
    const lines = cluster.output(victim);
    const restartAt = lines.lastIndexOf(lines.filter((line) => line.includes('harness: starting node')).pop()!);
    return lines.slice(restartAt).some((line) => line.includes('installed snapshot') || line.includes('restored snapshot'));
  });
  await checkCaughtUp(t, victim, 'killed');
});

for (const step of ['pointer-synced', 'pointer-renamed'] as const) {
  test(`snapshot: a wiped follower killed in the switch (${step}) restarts and completes it`, { timeout: 120_000 }, async (t) => {
    cluster.watch(t);
    const victim = await follower();
    await cluster.stopNode(victim);
    rmSync(path.join(cluster.dir, `n${victim}`), { recursive: true, force: true });
    await cluster.restart(victim, { FSRAFT_TEST_KILL_AT: `switch:${step}` });
    cluster.expectExit(victim);
    await eventually(`n${victim} kills itself in the switch`, 60_000, () => !cluster.isRunning(victim));
    t.ok(cluster.output(victim).some((line) => line.includes(`FSRAFT_TEST_KILL_AT=switch:${step}`)), `n${victim} was killed at ${step}`);
    await cluster.restart(victim);
    // Before the rename the old state is still named and the stream starts over; after it the
    // received state is opened as it is.
    const expected = step === 'pointer-synced' ? 'installed snapshot' : 'restored snapshot';
    await eventually(`n${victim} ${expected}`, 60_000, () => {
      const lines = cluster.output(victim);
      return lines.slice(lines.lastIndexOf(lines.filter((line) => line.includes('harness: starting node')).pop()!)).some((line) => line.includes(expected));
    });
    await checkCaughtUp(t, victim, `switch-${step}`);
  });
}

stopTest(cluster);
