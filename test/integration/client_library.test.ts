/**
 * The typed client (src/client) against a real 5-node cluster: it finds the leader from any
 * address, serves many concurrent calls, survives a leader kill -9 without applying a retried
 * write twice, fails with a clear UNAVAILABLE error when no quorum exists, and recovers after.
 */
import test from 'tape';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { FsraftError, FsraftUnavailableError, ProtocolError } from '../../src/client/errors.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';
import { limits } from '../../src/util/limits.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (content: Uint8Array): string => new TextDecoder().decode(content);

test('client library: write, read, cas and delete through any of the five addresses', { timeout: 30_000 }, async (t) => {
  cluster.watch(t);
  const client = FsraftClient.fromAddresses(cluster.clientAddresses);
  try {
    const binary = new Uint8Array([0, 13, 10, 255, 32, 37]);
    const { version } = await client.write('lib/a file', binary);
    const file = await client.read('lib/a file');
    t.deepEqual(file && { version: file.version, content: [...file.content], exptimeSeconds: file.exptimeSeconds }, { version, content: [...binary], exptimeSeconds: 0 }, 'read returns the written bytes and version');
    t.equal(await client.read('lib/missing'), null, 'read of a missing file is null');
    const swapped = await client.cas('lib/a file', version, bytes('new'), 100);
    t.ok(swapped.ok && swapped.version > version, 'cas with the current version succeeds with a newer version');
    const stale = await client.cas('lib/a file', version, bytes('lost'));
    t.deepEqual(stale, { ok: false, currentVersion: swapped.ok ? swapped.version : -1 }, 'cas with an old version reports the current one');
    t.deepEqual(await client.cas('lib/absent', 3, bytes('x')), { ok: false, currentVersion: 0 }, 'cas of a missing file reports version 0');
    const expiring = await client.read('lib/a file');
    t.ok(expiring !== null && text(expiring.content) === 'new' && expiring.exptimeSeconds > 0 && expiring.exptimeSeconds <= 100, 'the cas content and expiry are read back');
    t.equal(await client.delete('lib/a file'), true, 'delete of an existing file is true');
    t.equal(await client.delete('lib/a file'), false, 'delete of a missing file is false');
    t.equal(await client.read('lib/a file'), null, 'the deleted file is gone');
    const error = await client.write('lib/../escape', bytes('x')).catch((caught: unknown) => caught);
    t.ok(error instanceof ProtocolError && error.code === 'CMD_ERR', 'a bad name is a ProtocolError with code CMD_ERR');
  } finally {
    client.close();
  }
});

test('client library: 200 concurrent operations from one client instance', { timeout: 30_000 }, async (t) => {
  cluster.watch(t);
  const client = FsraftClient.fromAddresses(cluster.clientAddresses);
  try {
    const names = Array.from({ length: 200 }, (_, i) => `many/${i}`);
    const versions = await Promise.all(names.map(async (name) => (await client.write(name, bytes(`content of ${name}`))).version));
    t.equal(new Set(versions).size, 200, '200 concurrent writes got 200 distinct versions');
    const files = await Promise.all(names.map((name) => client.read(name)));
    const wrong = names.filter((name, i) => files[i] === null || text(files[i]!.content) !== `content of ${name}` || files[i]!.version !== versions[i]);
    t.deepEqual(wrong, [], '200 concurrent reads return what each write stored');
  } finally {
    client.close();
  }
});

test('client library: kill -9 of the leader under 20 writers and a cas counter loses nothing and applies nothing twice', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = FsraftClient.fromAddresses(cluster.clientAddresses);
  const acknowledged = new Map<string, { version: number; content: string }>();
  const failures: string[] = [];
  let stopping = false;
  const writer = async (index: number): Promise<void> => {
    for (let n = 0; !stopping; n++) {
      const name = `crash/w${index}/${n}`;
      const content = `writer ${index} write ${n}`;
      try {
        acknowledged.set(name, { version: (await client.write(name, bytes(content))).version, content });
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
      }
    }
  };
  let increments = 0;
  let counterError: string | undefined;
  const counter = async (): Promise<void> => {
    await client.write('crash/counter', bytes('0'));
    while (increments < 50) {
      const file = await client.read('crash/counter');
      if (file === null) throw new Error('counter vanished');
      const result = await client.cas('crash/counter', file.version, bytes(String(Number(text(file.content)) + 1)));
      if (result.ok) increments += 1;
    }
  };
  const writers = Array.from({ length: 20 }, (_, i) => writer(i));
  const counting = counter().catch((error: unknown) => (counterError = (error as Error).message));
  const leader = await cluster.waitForLeader();
  await eventually('25 increments before the kill', 20_000, () => increments >= 25);
  const ackedBeforeKill = acknowledged.size;
  await cluster.kill(leader);
  await counting;
  await eventually('40 more writes after the kill', 20_000, () => acknowledged.size >= ackedBeforeKill + 40);
  stopping = true;
  await Promise.all(writers);
  t.equal(counterError, undefined, 'every cas of the counter got a definite answer through the crash');
  t.deepEqual(failures, [], 'no write failed: the client retried through the leader change');
  const counterFile = await client.read('crash/counter');
  t.equal(counterFile && text(counterFile.content), String(increments), `the counter equals the ${increments} successful increments (none applied twice)`);
  const versions = [...acknowledged.values()].map((entry) => entry.version);
  t.equal(new Set(versions).size, versions.length, `the ${versions.length} acknowledged writes have distinct versions`);
  const names = [...acknowledged.keys()];
  const files = await Promise.all(names.map((name) => client.read(name)));
  const wrong = names.filter((name, i) => files[i] === null || text(files[i]!.content) !== acknowledged.get(name)!.content || files[i]!.version !== acknowledged.get(name)!.version);
  t.deepEqual(wrong, [], `all ${names.length} acknowledged writes read back with their content and version (${ackedBeforeKill} before the kill)`);
  client.close();
  await cluster.restart(leader);
});

test('client library: a frozen leader (SIGSTOP) is given up on after attemptTimeoutMs and the write goes to the next leader', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = FsraftClient.fromAddresses(cluster.clientAddresses, { attemptTimeoutMs: 1_000 });
  const leader = await cluster.waitForLeader();
  try {
    await client.write('frozen/before', bytes('a'));
    cluster.signal(leader, 'SIGSTOP');
    const startedMs = Date.now();
    const { version } = await client.write('frozen/during', bytes('b'));
    t.ok(version > 0, `the write was acknowledged by another leader after ${Date.now() - startedMs} ms`);
  } finally {
    cluster.signal(leader, 'SIGCONT');
  }
  const file = await client.read('frozen/during');
  t.equal(file && text(file.content), 'b', 'it reads back after the old leader thawed');
  client.close();
});

test('client library: with three of five nodes down a write fails UNAVAILABLE in time, and the same client recovers', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const requestTimeoutMs = 3_000;
  const client = FsraftClient.fromAddresses(cluster.clientAddresses, { requestTimeoutMs });
  try {
    await client.write('quorum/before', bytes('x'));
    const down = cluster.runningIds().slice(0, 3);
    await Promise.all(down.map((id) => cluster.kill(id)));
    const startedMs = Date.now();
    const error = await client.write('quorum/lost', bytes('y')).catch((caught: unknown) => caught);
    const elapsedMs = Date.now() - startedMs;
    t.ok(error instanceof FsraftUnavailableError && (error as FsraftError).code === 'UNAVAILABLE', `the write fails with UNAVAILABLE: ${(error as Error).message}`);
    t.ok(elapsedMs >= requestTimeoutMs - 100 && elapsedMs <= requestTimeoutMs + limits.deadlineSlackMs, `it gave up after ${elapsedMs} ms (requestTimeoutMs ${requestTimeoutMs}, slack ${limits.deadlineSlackMs} ms)`);
    await Promise.all(down.map((id) => cluster.restart(id)));
    const recovered = await eventually('a write through the same client after the restarts', 30_000, async () => (await client.write('quorum/after', bytes('z'))).version, 0);
    t.ok(recovered > 0, `the same client wrote again (version ${recovered})`);
    const file = await client.read('quorum/before');
    t.equal(file && text(file.content), 'x', 'the write from before the outage is still there');
  } finally {
    client.close();
  }
});

stopTest(cluster);
