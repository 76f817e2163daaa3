/**
 * Deterministic simulation of a 5-node cluster under message loss, duplication, reordering,
 * partitions and crashes that lose unsynced writes. Each seed is one reproducible run; seeds are
 * spread over worker threads, one per core.
 *
 *   SIM_SEEDS=n   run seeds 1..n (default 300)
 *   SEED=n        replay seed n only (in this thread)
 *   SIM_TICKS=n   ticks of the chaotic phase per seed (default 5000)
 *   TRACE=1       print the last events of a failing seed
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import test from 'tape';
import { emptyStats, runSeed, type SeedResult, type SimStats } from './cluster.js';
import type { WorkerTask } from './sim_worker.js';

const seedCount = Number(process.env['SIM_SEEDS'] ?? 300);
const replaySeed = process.env['SEED'];
const ticks = Number(process.env['SIM_TICKS'] ?? 5000);
const tracing = process.env['TRACE'] !== undefined && process.env['TRACE'] !== '0';
/** Fewer seeds than this per worker are not worth a thread. */
const seedsPerWorkerMin = 20;

const seeds = replaySeed !== undefined ? [Number(replaySeed)] : Array.from({ length: seedCount }, (_, k) => k + 1);

/** Runs `seeds` on `count` workers (seed k on worker k mod count) and resolves with every result. */
function runOnWorkers(count: number): Promise<SeedResult[]> {
  const shares = Array.from({ length: count }, (_, worker) => seeds.filter((_, k) => k % count === worker));
  return Promise.all(
    shares.map(
      (share) =>
        new Promise<SeedResult[]>((resolve, reject) => {
          const task: WorkerTask = { seeds: share, ticks, tracing };
          const worker = new Worker(new URL('./sim_worker.js', import.meta.url), { workerData: task });
          const results: SeedResult[] = [];
          worker.on('message', (result: SeedResult) => results.push(result));
          worker.on('error', reject);
          worker.on('exit', (code) => (code === 0 ? resolve(results) : reject(new Error(`sim worker exited with ${code}`))));
        }),
    ),
  ).then((shares) => shares.flat().sort((a, b) => a.seed - b.seed));
}

async function runAll(): Promise<SeedResult[]> {
  const workers = Math.min(availableParallelism(), Math.floor(seeds.length / seedsPerWorkerMin));
  if (workers >= 2) return runOnWorkers(workers);
  return seeds.map((seed) => runSeed(seed, ticks, tracing));
}

test(`simulation: ${seeds.length} seeds keep Figure 3 safety, durable acknowledgements, linearizable reads and exact snapshot restores (Raft §5, §7, thesis §6.4, §9.6)`, async (t) => {
  const totals: SimStats = emptyStats();
  const startedMs = performance.now();
  const results = await runAll();
  let failures = 0;
  for (const result of results) {
    for (const key of Object.keys(totals) as (keyof SimStats)[]) totals[key] += result.stats[key];
    if (result.failure === undefined) continue;
    failures++;
    t.fail(`seed ${result.seed} (replay with SEED=${result.seed}): ${result.failure.checker}: ${result.failure.message}`);
    if (result.trace !== null) t.comment(result.trace.join('\n'));
  }
  const elapsedMs = Math.round(performance.now() - startedMs);
  t.equal(results.length, seeds.length, 'every seed ran');
  t.equal(failures, 0, 'no seed violated a checker');
  t.comment(
    `${seeds.length} seeds × ${ticks} ticks in ${elapsedMs} ms: ${totals.messages} messages, ${totals.acknowledged}/${totals.proposed} commands acknowledged, ` +
      `${totals.committed} entries committed, ${totals.readsServed} reads served, ${totals.readsFailed} failed, ${totals.crashes} crashes, ` +
      `${totals.partitions} partitions, ${totals.termsWithLeader} terms with a leader, ${totals.leaderlessTicks} leaderless ticks, ` +
      `${totals.snapshotsTaken} snapshots taken, ${totals.snapshotsInstalled} installed from a leader`,
  );
});
