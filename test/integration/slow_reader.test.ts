/**
 * A client that pipelines large reads and never reads the replies must not make the leader buffer
 * them without bound, and must not keep other clients from being served.
 */
import { readFileSync } from 'node:fs';
import test from 'tape';
import { connectLeader, fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { ProtocolClient, encodeRead } from '../../src/launch/protocol_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

test('slow reader: 300 unread 1 MiB replies do not pile up in the leader', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const writer = await connectLeader(cluster);
  okVersion(await writer.write('big', Buffer.alloc(1024 * 1024, 'b')), 'write big');
  const leader = await cluster.waitForLeader();
  const pid = cluster.pid(leader) as number;
  const before = residentBytes(pid);
  const hog = await ProtocolClient.connect(cluster.clientAddress(leader));
  hog.stopReading();
  const request = encodeRead('big');
  for (let i = 0; i < 300; i++) hog.send(request);
  // Give the leader time to answer whatever it is willing to buffer, while others are served.
  for (let i = 0; i < 20; i++) okVersion(await writer.write(`other/${i}`, 'x'), `write other/${i} while the hog waits`);
  // 300 reads take a few hundred quorum rounds; sample while the leader works through them.
  let grownBytes = 0;
  for (const deadline = Date.now() + 3000; Date.now() < deadline; ) {
    grownBytes = Math.max(grownBytes, residentBytes(pid) - before);
    okVersion(await writer.write('other/tick', 'x'), 'write while the hog waits');
  }
  t.ok(grownBytes < 96 * 1024 * 1024, `leader memory grew by ${(grownBytes / 1048576).toFixed(1)} MiB, not by the 300 MiB of unread replies`);
  hog.destroy();
  writer.end();
});

stopTest(cluster);
