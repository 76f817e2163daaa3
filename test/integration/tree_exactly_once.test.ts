/**
 * The tree commands keep the exactly-once guarantee through a leader crash: concurrent appends
 * (writeAt at -1) and a rename/mkdir/rmdir churn run while the leader is killed with SIGKILL; every
 * acknowledged append is in the file exactly once, and the tree ends as the acknowledged calls say.
 */
import test from 'tape';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (content: Uint8Array): string => new TextDecoder().decode(content);

test('tree exactly once: appends and renames through a leader kill -9 apply once each', { timeout: 90_000 }, async (t) => {
  cluster.watch(t);
  const client = FsraftClient.fromAddresses(cluster.clientAddresses);
  try {
    await client.mkdir('once', 0o755);
    await client.create('once/log', 0o644, true);
    const appended: string[] = [];
    const failures: string[] = [];
    let stopping = false;
    // Fixed-width records, so the file splits back into them whatever order they landed in.
    const appender = async (index: number): Promise<void> => {
      for (let n = 0; !stopping; n++) {
        const record = `[a${String(index).padStart(2, '0')}-${String(n).padStart(5, '0')}]`;
        try {
          await client.writeAt('once/log', -1, bytes(record));
          appended.push(record);
        } catch (error) {
          failures.push(`${record}: ${(error as Error).message}`);
        }
      }
    };
    // Moves a directory back and forth: a rename applied twice would fail with ENOENT.
    let moves = 0;
    const mover = async (): Promise<void> => {
      await client.mkdir('once/here', 0o755);
      while (!stopping) {
        const [from, to] = moves % 2 === 0 ? ['once/here', 'once/there'] : ['once/there', 'once/here'];
        await client.rename(from, to);
        moves += 1;
      }
    };
    const appenders = Array.from({ length: 10 }, (_, i) => appender(i));
    let moverError: string | undefined;
    const moving = mover().catch((error: unknown) => (moverError = (error as Error).message));
    const leader = await cluster.waitForLeader();
    await eventually('100 appends before the kill', 20_000, () => appended.length >= 100);
    const beforeKill = appended.length;
    await cluster.kill(leader);
    await eventually('100 more appends after the kill', 30_000, () => appended.length >= beforeKill + 100);
    stopping = true;
    await Promise.all([...appenders, moving]);
    t.deepEqual(failures, [], 'no append failed: the client retried through the leader change');
    t.equal(moverError, undefined, `every rename got a definite answer (${moves} moves)`);
    const stat = await client.stat('once/log');
    const records: string[] = [];
    for (let offset = 0; offset < stat.size; offset += 1024 * 1024) {
      const part = await client.readAt('once/log', offset, 1024 * 1024);
      records.push(...(text(part.content).match(/\[a\d\d-\d{5}\]/g) ?? []));
    }
    t.equal(stat.size, records.length * '[a00-00000]'.length, 'the file is made of whole records only');
    t.deepEqual([...records].sort(), [...appended].sort(), `each of the ${appended.length} acknowledged appends is there exactly once (${beforeKill} before the kill)`);
    const names = (await client.list('once')).map((entry) => entry.name);
    t.deepEqual(names, ['log', moves % 2 === 0 ? 'here' : 'there'].sort(), 'the directory is where the last acknowledged rename put it');
    await cluster.restart(leader);
  } finally {
    client.close();
  }
});

stopTest(cluster);
