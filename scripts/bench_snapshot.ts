/**
 * `node dist/scripts/bench_snapshot.js`: figures for snapshots and log compaction, on a local
 * cluster it starts itself (temp dirs, free ports on 127.0.0.1) and stops by PID at the end.
 *
 *   1. Resident memory and on-disk size of every node while 1,000,000 writes go to 1,000 files:
 *      both must stay flat (the log is compacted), not grow with the number of writes.
 *   2. Time for a follower whose data directory was wiped to install a snapshot of ~100 MiB.
 *   3. Write latency p99 of closed-loop clients while the leader takes a snapshot of that
 *      state, against the same clients when it does not.
 *
 * Environment: BENCH_WRITES (default 1000000), BENCH_NODES (default 5),
 * BENCH_STATE_MIB (default 100), BENCH_LATENCY_SECONDS (default 30).
 */
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster, eventually } from '../src/launch/local_cluster.js';
import { ProtocolClient, describeReply, encodeWrite } from '../src/launch/protocol_client.js';
import { pipelinedWrites, type Written } from '../test/integration/snapshot_support.js';

const writesTotal = Number(process.env['BENCH_WRITES'] ?? 1_000_000);
const nodeCount = Number(process.env['BENCH_NODES'] ?? 5);
const stateMiB = Number(process.env['BENCH_STATE_MIB'] ?? 100);
const latencySeconds = Number(process.env['BENCH_LATENCY_SECONDS'] ?? 30);
const checkpoints = 5;
const bigFileBytes = 1_000_000;
const mib = 1024 * 1024;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Resident memory of a process in MiB, from /proc. */
function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? NaN : Number(match[1]) / 1024;
}

/** Bytes of every file below `directory`. */
function diskBytes(directory: string): number {
  let total = 0;
  for (const name of readdirSync(directory)) {
    const file = path.join(directory, name);
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    total += stat.isDirectory() ? diskBytes(file) : stat.size;
  }
  return total;
}

function footprint(cluster: LocalCluster): string {
  return cluster.nodes
    .map((node) => `n${node.id} ${rssMiB(cluster.pid(node.id)).toFixed(0)} MiB rss, ${(diskBytes(path.join(cluster.dir, `n${node.id}`)) / mib).toFixed(1)} MiB disk`)
    .join(' | ');
}

async function flatFootprint(cluster: LocalCluster): Promise<void> {
  out(`\n1. ${writesTotal.toLocaleString('en')} writes over 1,000 files (pipelined), footprint per node:`);
  const written: Written = new Map();
  const step = Math.max(1, Math.ceil(writesTotal / checkpoints));
  const startedMs = performance.now();
  for (let done = 0; done < writesTotal; done += step) {
    const count = Math.min(step, writesTotal - done);
    await pipelinedWrites(cluster, `flat${done}`, count, 1000, written);
    const seconds = (performance.now() - startedMs) / 1000;
    out(`   after ${(done + count).toLocaleString('en').padStart(9)} writes (${seconds.toFixed(0)} s): ${footprint(cluster)}`);
  }
}

/** Writes files of 1,000,000 bytes until the state holds about `stateMiB`. */
async function growState(cluster: LocalCluster): Promise<void> {
  const leader = await cluster.waitForLeader();
  const count = Math.ceil((stateMiB * mib) / bigFileBytes);
  const lanes = 4;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const client = await ProtocolClient.connect(cluster.clientAddress(leader));
      try {
        for (let k = lane; k < count; k += lanes) {
          const reply = await client.write(`big/${k}`, Buffer.alloc(bigFileBytes, k & 0xff), undefined, 60_000);
          if (reply.kind !== 'ok') throw new Error(`big/${k}: ${describeReply(reply)}`);
        }
      } finally {
        client.destroy();
      }
    }),
  );
}

async function wipedCatchUp(cluster: LocalCluster): Promise<void> {
  out(`\n2. A wiped follower catching up with a ~${stateMiB} MiB state:`);
  await growState(cluster);
  const leader = await cluster.waitForLeader();
  // Wait for the leader's snapshot to include the big files.
  await pipelinedWrites(cluster, 'nudge', 25_000, 1000, new Map());
  const follower = cluster.runningIds().find((id) => id !== leader)!;
  await cluster.stopNode(follower);
  rmSync(path.join(cluster.dir, `n${follower}`), { recursive: true, force: true });
  const startedMs = performance.now();
  await cluster.restart(follower);
  const line = await eventually('the wiped follower installs a snapshot', 300_000, () => cluster.output(follower).find((text) => text.includes('installed snapshot')), 20);
  out(`   n${follower} restarted empty and ${line.replace(/^.*\] /, '')} ${((performance.now() - startedMs) / 1000).toFixed(2)} s after its start`);
}

interface Sample {
  readonly startMs: number;
  readonly endMs: number;
}

function p99(samples: readonly Sample[]): string {
  if (samples.length === 0) return 'n/a';
  const sorted = samples.map((sample) => sample.endMs - sample.startMs).sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length * 0.99)]!.toFixed(2)} ms (p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} ms, ${sorted.length} writes)`;
}

async function latencyDuringSnapshots(cluster: LocalCluster): Promise<void> {
  out(`\n3. Write latency, 16 closed-loop clients, 1 KiB values, ${latencySeconds} s, leader snapshots ~${stateMiB} MiB states:`);
  const leader = await cluster.waitForLeader();
  const seen = cluster.output(leader).length;
  const snapshots: Sample[] = [];
  const samples: Sample[] = [];
  const untilMs = performance.now() + latencySeconds * 1000;
  let scanned = seen;
  const watcher = setInterval(() => {
    const lines = cluster.output(leader);
    for (; scanned < lines.length; scanned++) {
      const match = /snapshot at index \d+: \d+ bytes in (\d+) ms/.exec(lines[scanned]!);
      if (match !== null) snapshots.push({ startMs: performance.now() - Number(match[1]), endMs: performance.now() });
    }
  }, 10);
  // 1 KiB values: the commands' bytes, not their count, trigger snapshots once commands share
  // log entries, and these have to trigger a few within the run.
  const value = Buffer.alloc(1024, 'v');
  await Promise.all(
    Array.from({ length: 16 }, async (_, lane) => {
      const client = await ProtocolClient.connect(cluster.clientAddress(leader));
      try {
        for (let k = 0; performance.now() < untilMs; k++) {
          const startMs = performance.now();
          const reply = await client.write(`latency/${lane}/${k % 50}`, value);
          if (reply.kind !== 'ok') throw new Error(`latency write: ${describeReply(reply)}`);
          samples.push({ startMs, endMs: performance.now() });
        }
      } finally {
        client.destroy();
      }
    }),
  );
  clearInterval(watcher);
  const during = samples.filter((sample) => snapshots.some((snapshot) => sample.endMs >= snapshot.startMs && sample.startMs <= snapshot.endMs));
  const outside = samples.filter((sample) => !during.includes(sample));
  const snapshotMs = snapshots.map((snapshot) => (snapshot.endMs - snapshot.startMs).toFixed(0)).join(', ');
  out(`   leader snapshots taken meanwhile: ${snapshots.length} (${snapshotMs} ms each)`);
  out(`   p99 while a snapshot is being written: ${p99(during)}`);
  out(`   p99 otherwise:                         ${p99(outside)}`);
}

async function main(): Promise<void> {
  out(`fsraft snapshot bench: ${nodeCount} nodes on 127.0.0.1, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}`);
  const snapshot = { logEntriesMax: 20_000, logBytesMax: 16 * mib, keepEntries: 5000, keepBytes: 8 * mib };
  out(
    `snapshot settings: logEntriesMax ${snapshot.logEntriesMax}, logBytesMax ${snapshot.logBytesMax / mib} MiB, ` +
      `keepEntries ${snapshot.keepEntries}, keepBytes ${snapshot.keepBytes / mib} MiB`,
  );
  const cluster = await LocalCluster.create({ nodeCount, snapshot, readyTimeoutMs: 120_000 });
  const stop = (): void => {
    void cluster.stop().then(() => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await cluster.start();
    await cluster.waitForLeader(30_000);
    await flatFootprint(cluster);
    await wipedCatchUp(cluster);
    await latencyDuringSnapshots(cluster);
    out(`\nfinal footprint: ${footprint(cluster)}`);
    const crashed = cluster.unexpectedExits();
    if (crashed.length > 0) out(`warning: nodes exited during the bench: ${JSON.stringify(crashed)}`);
  } catch (error) {
    cluster.dumpOutput(`bench failed: ${(error as Error).message}`, 30);
    throw error;
  } finally {
    await cluster.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
