/**
 * The tree survives a whole-cluster kill -9: after every node is killed and started again (the
 * log replayed through the tree op codes), every directory, file, attribute and byte is back, and
 * the version counter continues where it was.
 */
import test from 'tape';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { FsraftClient, type LegacyDirEntry } from '../../src/client/fsraft_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Every node below `name` with its attributes and content, as one comparable text. */
async function dump(client: FsraftClient, name = '/'): Promise<string> {
  const lines: string[] = [];
  const entries: LegacyDirEntry[] = await client.list(name);
  for (const entry of entries) {
    const path = name === '/' ? entry.name : `${name}/${entry.name}`;
    const { exptimeRemainingSeconds: _ignored, ...stable } = entry;
    lines.push(JSON.stringify([path, stable]));
    if (entry.kind === 'dir') lines.push(await dump(client, path));
    else lines.push(Buffer.from((await client.readAt(path, 0, 1024 * 1024)).content).toString('base64'));
  }
  return lines.join('\n');
}

test('tree restart: the tree, attributes and contents survive every node being killed', { timeout: 90_000 }, async (t) => {
  cluster.watch(t);
  const before = FsraftClient.fromAddresses(cluster.clientAddresses);
  let snapshot: string;
  let lastVersion: number;
  try {
    await before.mkdir('keep', 0o750);
    await before.write('keep/implicit/deep/file', bytes('course write'));
    await before.create('keep/f', 0o600, true);
    await before.writeAt('keep/f', 100_000, bytes('far'));
    await before.writeAt('keep/f', -1, bytes('end'));
    await before.truncate('keep/f', 100_004);
    await before.setattr('keep/f', { uid: 1000, gid: 100, atimeMs: 11, mtimeMs: 22 });
    await before.mkdir('keep/moved', 0o700);
    await before.rename('keep/moved', 'keep/implicit/moved');
    await before.create('keep/gone', 0o644, false);
    await before.delete('keep/gone');
    lastVersion = (await before.setattr('/', { mode: 0o755 })).version;
    snapshot = await dump(before);
  } finally {
    before.close();
  }
  await Promise.all(cluster.runningIds().map((id) => cluster.kill(id, 'SIGKILL')));
  await cluster.start();
  await cluster.waitForLeader(30_000);
  const after = FsraftClient.fromAddresses(cluster.clientAddresses);
  try {
    const restored = await eventually('the tree after the restart', 30_000, async () => {
      const text = await dump(after).catch(() => undefined);
      return text === snapshot ? text : undefined;
    });
    t.equal(restored, snapshot, 'every node, attribute and byte is back');
    const next = await after.mkdir('keep/new', 0o755);
    t.ok(next.version > lastVersion, `the version counter continues (${lastVersion} -> ${next.version})`);
  } finally {
    after.close();
  }
});

stopTest(cluster);
