/**
 * Restore on a real 3-node cluster (small thresholds, so many snapshots are taken): after
 * 100,000 writes, every node is killed with kill -9 (likely mid-snapshot, with a temp file
 * behind) and started again; every file is back from snapshot plus log. A damaged snapshot
 * file stops its node with a message naming the file.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'tape';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { nodeBin } from '../../src/launch/local_cluster.js';
import { describeReply } from '../../src/launch/protocol_client.js';
import { pipelinedWrites, type Written } from './snapshot_support.js';

const cluster = await fileCluster({
  nodeCount: 3,
  timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 },
  // Commands proposed together share a log entry, so the byte bound is what triggers snapshots here.
  snapshot: { logEntriesMax: 5000, logBytesMax: 1024 * 1024, keepEntries: 1000, keepBytes: 64 * 1024 },
});
startTest(cluster);

const written: Written = new Map();

test('snapshot: after 100,000 writes and kill -9 of every node, every file is back', { timeout: 150_000 }, async (t) => {
  cluster.watch(t);
  const startedMs = Date.now();
  await pipelinedWrites(cluster, 'bulk', 100_000, 1000, written);
  t.pass(`100,000 pipelined writes acknowledged in ${Date.now() - startedMs} ms`);
  for (const id of cluster.runningIds()) await cluster.kill(id, 'SIGKILL');
  await cluster.start();
  const client = cluster.leaderClient({ deadlineMs: 30_000 });
  try {
    const wrong: string[] = [];
    for (const [name, expected] of written) {
      const reply = await client.read(name);
      if (reply.kind !== 'contents' || reply.version !== expected.version || reply.content.toString() !== expected.content) {
        if (wrong.length < 10) wrong.push(`${name}: ${describeReply(reply)}, expected version ${expected.version}`);
      }
    }
    t.deepEqual(wrong, [], `all ${written.size} files read back with their last acknowledged versions`);
  } finally {
    client.close();
  }
  const restored = cluster.runningIds().filter((id) => cluster.output(id).some((line) => line.includes('restored snapshot')));
  t.equal(restored.length, 3, 'every node restarted from a snapshot');
});

test('snapshot: a damaged state directory stops its node with a message naming what is wrong', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader();
  const victim = cluster.runningIds().find((id) => id !== leader)!;
  await cluster.stopNode(victim);
  const stateDir = path.join(cluster.dir, `n${victim}`, 'state');
  const pointer = path.join(stateDir, 'CURRENT');
  const original = readFileSync(pointer);
  // Run directly, not through the harness: these starts are meant to fail.
  const start = (): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [nodeBin, String(victim), '--config', cluster.configFile], { encoding: 'utf8', timeout: 30_000 });
  writeFileSync(pointer, 'state-999\n');
  let run = start();
  t.equal(run.status, 1, 'CURRENT naming a missing state: the node exits with status 1');
  t.ok(String(run.stderr).includes(pointer) && String(run.stderr).includes('state-999'), `its message names the file and what it says: ${String(run.stderr).trim()}`);
  writeFileSync(pointer, original);
  const current = path.join(stateDir, original.toString().trim(), 'db', 'CURRENT');
  const levelPointer = readFileSync(current);
  writeFileSync(current, 'MANIFEST-999999\n');
  run = start();
  t.equal(run.status, 1, "a damaged LevelDB in the state: the node exits with status 1");
  t.ok(String(run.stderr).includes(path.join(stateDir, original.toString().trim(), 'db')), `its message names the database: ${String(run.stderr).trim()}`);
  writeFileSync(current, levelPointer);
  t.ok(readdirSync(stateDir).includes('CURRENT'), 'nothing was deleted by the failed starts');
  await cluster.restart(victim);
  t.pass('with the files repaired the node starts again');
});

stopTest(cluster);
