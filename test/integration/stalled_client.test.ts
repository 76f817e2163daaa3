/**
 * A client that sends part of a command and then goes quiet is disconnected after
 * timing.partialCommandTimeoutMs, so half-sent contents cannot pile up; a quiet client with no
 * partial command keeps its connection.
 */
import test from 'tape';
import { assertReply, fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { ProtocolClient } from '../../src/launch/protocol_client.js';

const partialCommandTimeoutMs = 500;
const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5, partialCommandTimeoutMs } });
startTest(cluster);

test('stalled client: half a write, then silence, gets ERR_CMD_ERR and a closed connection', { timeout: 30_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader();
  const stalled = await ProtocolClient.connect(cluster.clientAddress(leader));
  const idle = await ProtocolClient.connect(cluster.clientAddress(leader));
  const startedMs = Date.now();
  stalled.send('write stalled 1000\r\nonly a few bytes');
  const reply = await stalled.nextReplyOrClose(10_000);
  const elapsedMs = Date.now() - startedMs;
  t.equal(reply === 'closed' ? 'closed' : reply.line, 'ERR_CMD_ERR', 'the stalled client is told ERR_CMD_ERR');
  t.ok(await stalled.waitClosed(5_000), 'and its connection is closed');
  t.ok(elapsedMs >= partialCommandTimeoutMs, `not before the timeout (${elapsedMs} ms)`);
  okVersion(await idle.write('after-stall', 'x'), 'a client idle all along (no partial command) still works');
  assertReply(t, await idle.read('stalled'), 'ERR_FILE_NOT_FOUND', undefined, 'the half-sent write changed nothing');
  idle.end();
});

stopTest(cluster);
