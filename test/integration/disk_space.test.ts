/**
 * A nearly full disk (README "Disk space"): three nodes keep their logs and state on a small
 * tmpfs of their own, and a filler file takes the space. While less than diskReserveBytes is
 * free, the leader answers writes ERR_NO_SPACE and changes nothing, still serves reads and
 * deletes, and no node stops; once space is freed, writes succeed again. Without the reserve, a
 * disk that fills makes the nodes' writes fail: the client never gets OK, each node stops with a
 * message naming the cause, and once space is freed they restart with every acknowledged write.
 * Mounting a tmpfs needs root (the CI runs as root); elsewhere the tests are skipped with the
 * reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type Test } from 'tape';
import { connectLeader, okVersion } from '../helpers/cluster_test.js';
import { LocalCluster } from '../../src/launch/local_cluster.js';
import { describeReply, pause, type ProtocolClient, type Reply } from '../../src/launch/protocol_client.js';

const MiB = 1024 * 1024;
const tmpfsBytes = 96 * MiB;
const reserveBytes = 32 * MiB;

function freeBytes(dir: string): number {
  const space = statfsSync(dir);
  return space.bavail * space.bsize;
}

/** Writes `<prefix>-<n>` for n = 1, 2, ... until `done` (bounded); returns the last name and reply. */
async function writeUntil(client: ProtocolClient, prefix: string, done: (reply: Reply) => boolean, timeoutMs: number): Promise<{ name: string; reply: Reply }> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const name = `${prefix}-${attempt}`;
    const reply = await client.write(name, 'data');
    if (done(reply) || Date.now() > deadline) return { name, reply };
    await pause(100);
  }
}

interface DiskCluster {
  readonly cluster: LocalCluster;
  readonly mountDir: string;
  /** A file that takes the tmpfs's space (see fill). */
  readonly filler: string;
  /** A connection to the leader; the body may replace it. */
  client: ProtocolClient;
}

/**
 * Runs `body` with a 3-node cluster whose data lives on a fresh tmpfs of tmpfsBytes, then stops
 * the cluster, unmounts the tmpfs and removes its dir; skips `t` with the reason when the tmpfs
 * cannot be mounted.
 */
async function withDiskCluster(t: Test, diskReserveBytes: number, body: (disk: DiskCluster) => Promise<void>): Promise<void> {
  const mountDir = mkdtempSync(path.join(tmpdir(), 'fsraft-disk-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes}`, 'tmpfs', mountDir], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    rmSync(mountDir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs (needs root): ${(mounted.stderr || mounted.error?.message || '').trim()}`);
    return;
  }
  const cluster = await LocalCluster.create({ nodeCount: 3, dataDir: mountDir, diskReserveBytes });
  cluster.watch(t);
  let disk: DiskCluster | undefined;
  try {
    await cluster.start();
    disk = { cluster, mountDir, filler: path.join(mountDir, 'filler'), client: await connectLeader(cluster) };
    await body(disk);
  } finally {
    disk?.client.end();
    await cluster.stop();
    const unmounted = spawnSync('umount', [mountDir], { encoding: 'utf8' });
    t.equal(unmounted.status, 0, `the tmpfs is unmounted ${unmounted.stderr.trim()}`);
    rmSync(mountDir, { recursive: true, force: true });
  }
}

/** Fills the tmpfs at `mountDir` with a file at `filler`, leaving about `leaveBytes` free. */
function fill(mountDir: string, filler: string, leaveBytes: number): void {
  writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes(mountDir) - leaveBytes)));
}

test('disk space: a nearly full disk refuses writes with ERR_NO_SPACE, keeps serving, and recovers', async (t) => {
  await withDiskCluster(t, reserveBytes, async ({ cluster, mountDir, filler, client }) => {
    const before = okVersion(await client.write('kept', 'written before the disk filled'), 'write before');
    fill(mountDir, filler, reserveBytes / 2);
    const refused = await writeUntil(client, 'refused', (reply) => reply.kind === 'error', 10_000);
    t.equal(refused.reply.line, 'ERR_NO_SPACE', `a write is refused once the monitor sees the disk nearly full (${describeReply(refused.reply)})`);
    const read = await client.read(refused.name);
    t.equal(read.line, 'ERR_FILE_NOT_FOUND', 'the refused write changed nothing');
    const kept = await client.read('kept');
    t.equal(kept.kind === 'contents' ? kept.version : undefined, before, 'reads are still served');
    t.equal((await client.delete('kept')).line, 'OK', 'deletes (which free space) are still accepted');
    t.deepEqual(cluster.runningIds(), [1, 2, 3], 'every node is still running');
    const leader = await cluster.waitForLeader(5_000);
    t.ok(
      cluster.output(leader).some((line) => line.includes('disk space low')),
      'the leader logs why it refuses writes',
    );

    rmSync(filler);
    const accepted = await writeUntil(client, 'after', (reply) => reply.kind === 'ok', 10_000);
    t.equal(accepted.reply.kind, 'ok', `writes succeed again once space is freed (${describeReply(accepted.reply)})`);
    t.deepEqual(cluster.unexpectedExits(), [], 'no node exited');
  });
  t.end();
});

test('disk space: without the reserve, a full disk stops the nodes with a clear message, never a false OK, and they restart whole', async (t) => {
  await withDiskCluster(t, 0, async (disk) => {
    const { cluster, mountDir, filler } = disk;
    const version = okVersion(await disk.client.write('kept', 'acknowledged before the disk filled'), 'write before');
    const leader = await cluster.waitForLeader(5_000);
    try {
      fill(mountDir, filler, 0);
    } catch {
      // ENOSPC while writing the filler: the disk is full, which is the point.
    }
    const outcome = await disk.client.write('lost', Buffer.alloc(256 * 1024)).then(
      (reply) => reply.line,
      (error: Error) => error.name,
    );
    t.notEqual(outcome.startsWith('OK'), true, `a write to a full disk is not acknowledged (${outcome})`);
    const deadline = Date.now() + 10_000;
    while (cluster.isRunning(leader) && Date.now() < deadline) await pause(100);
    t.notOk(cluster.isRunning(leader), 'the leader stops');
    t.ok(
      cluster.output(leader).some((line) => line.includes('fatal:') && line.includes('No space left on device')),
      'saying why',
    );

    rmSync(filler);
    for (const id of cluster.runningIds()) await cluster.stopNode(id);
    await cluster.start();
    disk.client.end();
    disk.client = await connectLeader(cluster);
    const kept = await disk.client.read('kept');
    t.equal(kept.kind === 'contents' ? kept.version : undefined, version, 'the acknowledged write is back after the restart');
    t.equal((await disk.client.write('after', 'data')).kind, 'ok', 'and the cluster takes writes again');
  });
  t.end();
});
