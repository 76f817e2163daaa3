/**
 * Many clients at once on a real 5-node cluster: 500 connections writing, and 100 clients racing
 * cas loops on one counter. Checks per-client version order and that no update is lost.
 */
import test from 'tape';
import { fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { ProtocolClient, describeReply, encodeRead, encodeWrite } from '../../src/launch/protocol_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

const writerCount = 500;
const writesPerClient = 10;

/** Runs `work` for each index with at most `limit` running at once. */
async function boundedAll<T>(count: number, limit: number, work: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await work(index);
    }
  });
  await Promise.all(lanes);
  return results;
}

test('concurrency: 500 connections each writing one file 10 times all get OK in version order', { timeout: 240_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader();
  const address = cluster.clientAddress(leader);
  const startedMs = Date.now();
  // Connections are opened at a bounded pace (the listen backlog is finite), then all write at once.
  const clients = await boundedAll(writerCount, 100, () => ProtocolClient.connect(address, 20_000));
  t.teardown(() => clients.forEach((client) => client.destroy()));
  t.equal(clients.length, writerCount, `${writerCount} connections open`);
  const failures: string[] = [];
  const versionsByClient = await Promise.all(
    clients.map(async (client, index) => {
      const versions: number[] = [];
      for (let round = 0; round < writesPerClient; round++) {
        const reply = await client.write(`conc/w${index}`, `client ${index} round ${round}`, undefined, 60_000);
        if (reply.kind !== 'ok' || reply.version === undefined) {
          failures.push(`client ${index} round ${round}: ${describeReply(reply)}`);
          return versions;
        }
        versions.push(reply.version);
      }
      return versions;
    }),
  );
  t.deepEqual(failures.slice(0, 10), [], 'every write got OK <version>');
  const unordered = versionsByClient.filter((versions) => versions.some((version, i) => i > 0 && version <= (versions[i - 1] as number)));
  t.equal(unordered.length, 0, 'versions strictly increase per client');
  const all = versionsByClient.flat();
  t.equal(new Set(all).size, writerCount * writesPerClient, `all ${all.length} versions are distinct (one cluster-wide counter)`);
  t.comment(`${all.length} writes in ${Date.now() - startedMs} ms`);

  const mismatches: string[] = [];
  await boundedAll(writerCount, 50, async (index) => {
    const client = clients[index] as ProtocolClient;
    const reply = await client.read(`conc/w${index}`, 60_000);
    const versions = versionsByClient[index] ?? [];
    const expected = `CONTENTS ${Math.max(...versions)} ${`client ${index} round ${writesPerClient - 1}`.length} 0`;
    const content = `client ${index} round ${writesPerClient - 1}`;
    if (reply.line !== expected || reply.kind !== 'contents' || reply.content.toString() !== content) {
      mismatches.push(`conc/w${index}: ${describeReply(reply)}, expected ${expected} ${content}`);
    }
  });
  t.deepEqual(mismatches.slice(0, 10), [], 'every file reads back with its last version and contents');
});

const casClientCount = 100;
const incrementsPerClient = 5;

test('concurrency: 100 clients racing cas loops lose no increment', { timeout: 240_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader();
  const address = cluster.clientAddress(leader);
  const setup = await ProtocolClient.connect(address);
  t.teardown(() => setup.destroy());
  okVersion(await setup.write('conc/counter', '0'), 'counter initialised');
  const clients = await boundedAll(casClientCount, 50, () => ProtocolClient.connect(address, 20_000));
  t.teardown(() => clients.forEach((client) => client.destroy()));
  const startedMs = Date.now();
  const deadlineMs = startedMs + 180_000;
  let attempts = 0;
  const problems: string[] = [];
  await Promise.all(
    clients.map(async (client, index) => {
      for (let done = 0; done < incrementsPerClient; ) {
        if (Date.now() > deadlineMs) {
          problems.push(`client ${index}: deadline passed after ${done} increments`);
          return;
        }
        const current = await client.read('conc/counter', 60_000);
        if (current.kind !== 'contents') {
          problems.push(`client ${index}: read ${describeReply(current)}`);
          return;
        }
        attempts++;
        const next = String(Number(current.content.toString()) + 1);
        const reply = await client.cas('conc/counter', current.version, next, undefined, 60_000);
        if (reply.kind === 'ok') done++;
        else if (reply.kind !== 'error' || reply.code !== 'ERR_VERSION') {
          problems.push(`client ${index}: cas ${describeReply(reply)}`);
          return;
        }
      }
    }),
  );
  t.deepEqual(problems.slice(0, 10), [], 'every cas answered OK or ERR_VERSION');
  const final = await setup.read('conc/counter');
  t.equal(final.kind === 'contents' ? final.content.toString() : final.line, String(casClientCount * incrementsPerClient), `the counter is ${casClientCount * incrementsPerClient}`);
  t.comment(`${attempts} cas attempts in ${Date.now() - startedMs} ms`);
});

test('concurrency: 2000 commands pipelined on one connection are answered in order', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader();
  const client = await ProtocolClient.connect(cluster.clientAddress(leader));
  t.teardown(() => client.destroy());
  const pairs = 1000;
  // write k; read — each read must see exactly the write just before it (protocol.md: in order).
  const commands = Array.from({ length: pairs }, (_, k) => Buffer.concat([encodeWrite('conc/piped', `value ${k}`), encodeRead('conc/piped')]));
  const startedMs = Date.now();
  client.send(Buffer.concat(commands));
  const problems: string[] = [];
  let previous = 0;
  for (let k = 0; k < pairs; k++) {
    const written = await client.readReply(60_000);
    const read = await client.readReply(60_000);
    const version = written.kind === 'ok' ? (written.version ?? 0) : 0;
    if (version <= previous) problems.push(`write ${k}: ${describeReply(written)} after version ${previous}`);
    if (read.line !== `CONTENTS ${version} ${`value ${k}`.length} 0` || read.kind !== 'contents' || read.content.toString() !== `value ${k}`) {
      problems.push(`read ${k}: ${describeReply(read)}, expected version ${version} "value ${k}"`);
    }
    previous = version;
    if (problems.length > 10) break;
  }
  t.deepEqual(problems, [], `${pairs} writes and ${pairs} reads answered in order, each read seeing the write before it`);
  t.comment(`${pairs * 2} pipelined commands in ${Date.now() - startedMs} ms`);
});

stopTest(cluster);
