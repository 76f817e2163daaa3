/**
 * fsraft's exactly-once extension: a write, cas or delete that carries `<clientId>:<sequence>`
 * is applied once however often it is retried, on the same leader or on the next one.
 */
import test from 'tape';
import { assertReply, connectLeader, fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import type { ProtocolClient, Reply } from '../../src/launch/protocol_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

async function request(client: ProtocolClient, command: string): Promise<Reply> {
  client.send(command);
  return client.readReply();
}

test('exactly once: a retried write, cas or delete answers as the first time and changes nothing', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  const first = okVersion(await request(client, 'write once/a 1 0 9:1\r\nx\r\n'), 'write 9:1');
  assertReply(t, await request(client, 'write once/a 1 0 9:1\r\nx\r\n'), `OK ${first}`, undefined, 'the retried write gets the first version');
  assertReply(t, await request(client, 'read once/a\r\n'), `CONTENTS ${first} 1 0`, 'x', 'the version did not move');
  const second = okVersion(await request(client, `cas once/a ${first} 1 0 9:2\r\ny\r\n`), 'cas 9:2');
  assertReply(t, await request(client, `cas once/a ${first} 1 0 9:2\r\ny\r\n`), `OK ${second}`, undefined, 'the retried cas succeeds again instead of ERR_VERSION');
  assertReply(t, await request(client, 'delete once/a 9:3\r\n'), 'OK');
  assertReply(t, await request(client, 'delete once/a 9:3\r\n'), 'OK', undefined, 'the retried delete is OK, not ERR_FILE_NOT_FOUND');
  assertReply(t, await request(client, 'read once/a\r\n'), 'ERR_FILE_NOT_FOUND');
  assertReply(t, await request(client, 'write once/a 1 0 9:2\r\nz\r\n'), 'ERR_INTERNAL', undefined, 'an older sequence than the last is refused');
  assertReply(t, await request(client, 'read once/a\r\n'), 'ERR_FILE_NOT_FOUND', undefined, 'and changed nothing');
  client.end();
});

test('exactly once: a retry after the leader died is answered by the next leader without applying twice', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  const version = okVersion(await request(client, 'write once/b 1 0 11:1\r\nx\r\n'), 'write 11:1');
  client.end();
  const oldLeader = await cluster.waitForLeader();
  await cluster.kill(oldLeader);
  const retry = await connectLeader(cluster);
  assertReply(t, await request(retry, 'write once/b 1 0 11:1\r\nx\r\n'), `OK ${version}`, undefined, 'the new leader answers the retry with the first version');
  assertReply(t, await request(retry, 'read once/b\r\n'), `CONTENTS ${version} 1 0`, 'x', 'the file still has that version');
  retry.end();
  await cluster.restart(oldLeader);
});

stopTest(cluster);
