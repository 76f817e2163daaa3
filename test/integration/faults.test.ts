/**
 * Crash faults on a real 5-node cluster: kill -9 of leaders and followers, loss of quorum, and
 * recovery of restarted nodes. Acknowledged writes must survive every step (protocol.md:
 * "acknowledged means committed").
 */
import test, { type Test } from 'tape';
import { fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually, type LocalCluster } from '../../src/launch/local_cluster.js';
import { LeaderClient, ProtocolClient, describeReply, encodeRead, encodeWrite, pause, type Reply } from '../../src/launch/protocol_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

/** Every acknowledged write: file name -> the version and contents its OK promised. */
const acknowledged = new Map<string, { version: number; content: string }>();

/** Writes `count` new files through whichever node leads; every one must be acknowledged. */
async function writeFiles(t: Test, client: LeaderClient, phase: string, count: number): Promise<number[]> {
  const versions: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `fault/${phase}-${i}`;
    const content = `${phase} file ${i}`;
    const reply = await client.write(name, content);
    if (reply.kind !== 'ok' || reply.version === undefined) {
      t.fail(`${name}: expected OK <version>, got ${describeReply(reply)}`);
      continue;
    }
    acknowledged.set(name, { version: reply.version, content });
    versions.push(reply.version);
  }
  t.equal(versions.length, count, `${phase}: all ${count} writes acknowledged`);
  return versions;
}

/** Reads every acknowledged file and asserts its promised version and contents. */
async function checkAcknowledged(t: Test, client: LeaderClient, when: string): Promise<void> {
  const wrong: string[] = [];
  for (const [name, expected] of acknowledged) {
    const reply = await client.read(name);
    if (reply.kind !== 'contents' || reply.version !== expected.version || reply.content.toString() !== expected.content) {
      wrong.push(`${name}: ${describeReply(reply)}, expected version ${expected.version} "${expected.content}"`);
    }
  }
  t.deepEqual(wrong.slice(0, 10), [], `${when}: all ${acknowledged.size} acknowledged files read back with their versions and contents`);
}

/** Writers that loop until stopped, each through its own LeaderClient; see startBackgroundWriters. */
interface BackgroundWriters {
  acknowledgedCount(): number;
  /** Stops the loops and resolves with each lane's acknowledged versions and non-retryable errors. */
  stop(): Promise<Array<{ versions: number[]; problems: string[] }>>;
}

/** Starts `laneCount` writers of fresh files; every acknowledged write is recorded in `acknowledged`. */
function startBackgroundWriters(cluster: LocalCluster, laneCount: number): BackgroundWriters {
  let stopping = false;
  let count = 0;
  const runs = Array.from({ length: laneCount }, async (_, lane) => {
    const writer = cluster.leaderClient({ deadlineMs: 30_000, replyTimeoutMs: 5_000 });
    const versions: number[] = [];
    const problems: string[] = [];
    try {
      for (let i = 0; !stopping; i++) {
        const name = `fault/background-${lane}-${i}`;
        const content = `background lane ${lane} write ${i}`;
        const reply = await writer.write(name, content).catch((error: Error) => error);
        if (reply instanceof Error || reply.kind !== 'ok' || reply.version === undefined) {
          problems.push(`${name}: ${reply instanceof Error ? reply.message : describeReply(reply)}`);
          break;
        }
        acknowledged.set(name, { version: reply.version, content });
        versions.push(reply.version);
        count++;
      }
    } finally {
      writer.close();
    }
    return { versions, problems };
  });
  return {
    acknowledgedCount: () => count,
    stop: () => {
      stopping = true;
      return Promise.all(runs);
    },
  };
}

/** Kills `id` with SIGKILL and asserts that it died of it. */
async function killNode(t: Test, id: number): Promise<void> {
  const exit = await cluster.kill(id, 'SIGKILL');
  t.equal(exit.signal, 'SIGKILL', `node ${id} killed with kill -9`);
}

/** Sends `command` to `address` and collects what comes back within `windowMs` (never waits longer). */
async function answerWithin(address: string, command: Buffer, windowMs: number): Promise<Reply | 'closed' | 'no answer' | 'refused'> {
  let client: ProtocolClient;
  try {
    client = await ProtocolClient.connect(address, windowMs);
  } catch {
    return 'refused';
  }
  try {
    client.send(command);
    return await client.nextReplyOrClose(windowMs);
  } catch {
    return 'no answer';
  } finally {
    client.destroy();
  }
}

function label(outcome: Reply | string): string {
  return typeof outcome === 'string' ? outcome : describeReply(outcome);
}

/** Leader election after a kill, measured: resolves with the new leader among the running nodes. */
async function newLeader(t: Test, cluster: LocalCluster, previous: number): Promise<number> {
  const killedMs = Date.now();
  const leader = await cluster.waitForLeader(15_000);
  t.notEqual(leader, previous, `node ${leader} leads ${Date.now() - killedMs} ms after node ${previous} died`);
  return leader;
}

test('faults: acknowledged writes survive kill -9 of leaders, and no quorum means no OK', { timeout: 240_000 }, async (t) => {
  cluster.watch(t);
  const client = cluster.leaderClient({ deadlineMs: 30_000, replyTimeoutMs: 5_000 });
  t.teardown(() => client.close());
  const dead: number[] = [];

  const leader1 = await cluster.waitForLeader();
  const before = await writeFiles(t, client, 'before', 20);
  // Writers that keep going through the crash: what they were told OK must survive it.
  const background = startBackgroundWriters(cluster, 4);
  await eventually('background writers acknowledged before the kill', 20_000, () => background.acknowledgedCount() >= 20);
  await killNode(t, leader1);
  dead.push(leader1);
  const leader2 = await newLeader(t, cluster, leader1);
  const countAtKill = background.acknowledgedCount();
  await eventually('background writers progress after the new election', 30_000, () => background.acknowledgedCount() >= countAtKill + 20);
  const lanes = await background.stop();
  t.deepEqual(lanes.flatMap((lane) => lane.problems).slice(0, 5), [], 'background writers saw only retryable errors');
  t.ok(
    lanes.every((lane) => lane.versions.every((version, i) => i === 0 || version > (lane.versions[i - 1] as number))),
    'each background writer saw its versions strictly increase across the leader change',
  );
  await checkAcknowledged(t, client, 'after the first leader died');
  const after = await writeFiles(t, client, 'after-first-kill', 20);
  t.ok(Math.min(...after) > Math.max(...before), `versions keep growing across the leader change (${Math.max(...before)} < ${Math.min(...after)})`);

  // A second death, the new leader again: three of five remain, still a quorum.
  await killNode(t, leader2);
  dead.push(leader2);
  const leader3 = await newLeader(t, cluster, leader2);
  await writeFiles(t, client, 'after-second-kill', 10);
  await checkAcknowledged(t, client, 'with three nodes left');

  // A third death, a follower: two of five cannot commit, nor confirm leadership for a read.
  const follower = cluster.runningIds().find((id) => id !== leader3) as number;
  await killNode(t, follower);
  dead.push(follower);
  const survivors = cluster.runningIds();
  t.equal(survivors.length, 2, `nodes ${survivors.join(', ')} are left`);
  const outcomes = await Promise.all(
    survivors.flatMap((id) => [
      answerWithin(cluster.clientAddress(id), encodeWrite('fault/no-quorum', 'must not be acknowledged'), 3000),
      answerWithin(cluster.clientAddress(id), encodeRead('fault/before-0'), 3000),
    ]),
  );
  outcomes.forEach((outcome, position) => {
    const id = survivors[Math.floor(position / 2)] as number;
    const what = position % 2 === 0 ? 'write' : 'read';
    const answered = typeof outcome !== 'string' && (outcome.kind === 'ok' || outcome.kind === 'contents' || outcome.line === 'ERR_FILE_NOT_FOUND');
    t.notOk(answered, `without a quorum node ${id} does not answer a ${what} with success within 3 s (${label(outcome)})`);
  });

  // Bring the dead back: the cluster serves writes again.
  const restartedMs = Date.now();
  await Promise.all(dead.map((id) => cluster.restart(id)));
  await cluster.waitForLeader(20_000);
  t.comment(`leader again ${Date.now() - restartedMs} ms after restarting nodes ${dead.join(', ')}`);
  await writeFiles(t, client, 'after-restart', 10);
  await checkAcknowledged(t, client, 'after the restarts');

  // Stop the two nodes that never died: only the restarted ones form a quorum now, so every
  // answer below proves they caught up on what they missed.
  for (const id of survivors) {
    const exit = await cluster.stopNode(id);
    t.equal(exit.code, 0, `node ${id} stopped with SIGTERM`);
  }
  const caughtUpLeader = await cluster.waitForLeader(20_000);
  t.ok(dead.includes(caughtUpLeader), `restarted node ${caughtUpLeader} leads`);
  await checkAcknowledged(t, client, 'served by the restarted nodes alone');
  await writeFiles(t, client, 'restarted-quorum', 5);

  await Promise.all(survivors.map((id) => cluster.restart(id)));
  await cluster.waitForLeader(20_000);
  await checkAcknowledged(t, client, 'with all five back');
});

test('faults: a frozen leader that wakes up serves no stale read and acknowledges nothing it did not commit', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  const old = await cluster.waitForLeader(20_000);
  const first = await ProtocolClient.connect(cluster.clientAddress(old));
  t.teardown(() => first.destroy());
  okVersion(await first.write('fault/frozen', 'old value'), 'write before the freeze');
  // Connections opened before the freeze: what is sent on them later waits in the frozen node's socket.
  const staleReader = await ProtocolClient.connect(cluster.clientAddress(old));
  const staleWriter = await ProtocolClient.connect(cluster.clientAddress(old));
  t.teardown(() => {
    staleReader.destroy();
    staleWriter.destroy();
  });
  cluster.signal(old, 'SIGSTOP');
  t.teardown(() => {
    if (cluster.isRunning(old)) cluster.signal(old, 'SIGCONT');
  });
  const frozenMs = Date.now();
  const others = cluster.runningIds().filter((id) => id !== old);
  const leader = await cluster.waitForLeader(15_000, others);
  t.comment(`node ${leader} leads ${Date.now() - frozenMs} ms after node ${old} froze`);
  const fresh = await ProtocolClient.connect(cluster.clientAddress(leader));
  t.teardown(() => fresh.destroy());
  const newVersion = okVersion(await fresh.write('fault/frozen', 'new value'), 'write to the new leader');

  staleReader.send(encodeRead('fault/frozen'));
  staleWriter.send(encodeWrite('fault/frozen-stale', 'from the past'));
  cluster.signal(old, 'SIGCONT');
  const staleRead = await staleReader.nextReplyOrClose(15_000).catch((error: Error) => error.message);
  const readIsStale =
    typeof staleRead !== 'string' && ((staleRead.kind === 'contents' && staleRead.version !== newVersion) || staleRead.line === 'ERR_FILE_NOT_FOUND');
  t.notOk(readIsStale, `the woken node does not answer with the old value (${label(staleRead)})`);
  const staleWrite = await staleWriter.nextReplyOrClose(15_000).catch((error: Error) => error.message);
  if (typeof staleWrite !== 'string' && staleWrite.kind === 'ok') {
    // OK is allowed only if it is true: the write must then be in the cluster's state.
    const check = cluster.leaderClient({ deadlineMs: 20_000 });
    t.teardown(() => check.close());
    t.equal((await check.read('fault/frozen-stale')).line, `CONTENTS ${staleWrite.version} 13 0`, `the woken node's OK is backed by the log (${staleWrite.line})`);
  } else {
    t.pass(`the woken node does not acknowledge the write (${label(staleWrite)})`);
  }
  const settled = await cluster.waitForLeader(20_000);
  const reader = cluster.leaderClient({ deadlineMs: 20_000 });
  t.teardown(() => reader.close());
  t.equal((await reader.read('fault/frozen')).line, `CONTENTS ${newVersion} 9 0`, `node ${settled} leads and serves the new value`);
});

test('faults: a file expires on time after the leader that stamped it died', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader(20_000);
  const writer = await ProtocolClient.connect(cluster.clientAddress(leader));
  const sentMs = Date.now();
  const version = okVersion(await writer.write('fault/expiring', 'ttl 4 s', 4), 'write with exptime 4');
  const ackMs = Date.now();
  writer.destroy();
  await killNode(t, leader);
  const client = cluster.leaderClient({ deadlineMs: 20_000, replyTimeoutMs: 3_000 });
  t.teardown(() => client.close());
  let gone = false;
  while (!gone && Date.now() < ackMs + 8_000) {
    const readSentMs = Date.now();
    const reply = await client.read('fault/expiring');
    const answeredMs = Date.now();
    const at = `read sent ${readSentMs - sentMs} ms, answered ${answeredMs - sentMs} ms after the write`;
    if (answeredMs < sentMs + 4000) t.equal(reply.kind === 'contents' ? reply.version : reply.line, version, `${at}: present on the new leader`);
    if (readSentMs > ackMs + 4000) t.equal(reply.line, 'ERR_FILE_NOT_FOUND', `${at}: expired`);
    gone = reply.line === 'ERR_FILE_NOT_FOUND';
    if (!gone) await pause(200);
  }
  t.ok(gone, 'the file expired (within 8 s of the ack)');
  await cluster.restart(leader);
});

stopTest(cluster);
