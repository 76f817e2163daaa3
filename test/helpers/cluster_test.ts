/**
 * Glue between tape and LocalCluster for integration test files: one cluster per file, started by
 * the file's first test and stopped after its last, whatever fails in between.
 */
import test, { type Test } from 'tape';
import { LocalCluster, type LocalClusterOptions } from '../../src/launch/local_cluster.js';
import { ProtocolClient, describeReply, type Reply } from '../../src/launch/protocol_client.js';

/**
 * Creates the file's cluster and registers its cleanup: a final test that checks no node crashed
 * and that every node exits 0 on SIGTERM, and a tape onFinish hook that stops it in any case.
 * Call `startTest` to add the first test, which starts the cluster and waits for a leader.
 */
export async function fileCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const cluster = await LocalCluster.create(options);
  test.onFinish(() => {
    void cluster.stop();
  });
  return cluster;
}

/** Adds the test that starts every node and waits until one of them leads. */
export function startTest(cluster: LocalCluster, leaderTimeoutMs = 20_000): void {
  test('cluster: starts every node and elects a leader', { timeout: 60_000 }, async (t) => {
    cluster.watch(t);
    const startedMs = Date.now();
    await cluster.start();
    const leader = await cluster.waitForLeader(leaderTimeoutMs);
    t.ok(leader >= 1, `node ${leader} leads (${Date.now() - startedMs} ms after start)`);
  });
}

/** Adds the file's last test: no node exited on its own, and each stops with code 0 on SIGTERM. */
export function stopTest(cluster: LocalCluster): void {
  test('cluster: no node crashed, and every node exits 0 on SIGTERM', { timeout: 60_000 }, async (t) => {
    cluster.watch(t);
    t.deepEqual(cluster.unexpectedExits(), [], 'no node process exited unasked');
    const results = await cluster.stop();
    for (const [id, result] of results) {
      t.deepEqual(result, { code: 0, signal: null }, `node ${id} exited 0 on SIGTERM`);
    }
  });
}

/** The version of an `OK <version>` reply; throws (failing the test) on any other reply. */
export function okVersion(reply: Reply, what = 'reply'): number {
  if (reply.kind !== 'ok' || reply.version === undefined) throw new Error(`${what}: expected OK <version>, got ${describeReply(reply)}`);
  return reply.version;
}

/** Asserts a reply's first line exactly, and for CONTENTS also the bytes. */
export function assertReply(t: Test, reply: Reply, line: string, content?: Buffer | string, message?: string): void {
  t.equal(reply.line, line, message ?? `reply is ${line}`);
  if (content !== undefined) {
    const expected = Buffer.from(content);
    const actual = reply.kind === 'contents' ? reply.content : Buffer.alloc(0);
    t.ok(actual.equals(expected), `${message ?? line}: content is ${expected.length} expected bytes`);
  }
}

/** Opens a connection to whichever node leads now (waiting for one if needed). */
export async function connectLeader(cluster: LocalCluster, timeoutMs = 20_000): Promise<ProtocolClient> {
  const leader = await cluster.waitForLeader(timeoutMs);
  return ProtocolClient.connect(cluster.clientAddress(leader));
}
