/**
 * Deterministic simulation of a 5-node cluster under message loss, duplication, reordering,
 * partitions and crashes that lose unsynced writes. Each seed is one reproducible run.
 *
 *   SIM_SEEDS=n   run seeds 1..n (default 300)
 *   SEED=n        replay seed n only
 *   SIM_TICKS=n   ticks of the chaotic phase per seed (default 5000)
 *   TRACE=1       print the last events of a failing seed
 */
import test from 'tape';
import { runSeed, type SimStats } from './cluster.js';

const seedCount = Number(process.env['SIM_SEEDS'] ?? 300);
const replaySeed = process.env['SEED'];
const ticks = Number(process.env['SIM_TICKS'] ?? 5000);
const tracing = process.env['TRACE'] !== undefined && process.env['TRACE'] !== '0';

const seeds = replaySeed !== undefined ? [Number(replaySeed)] : Array.from({ length: seedCount }, (_, k) => k + 1);

test(`simulation: ${seeds.length} seeds keep Figure 3 safety, durable acknowledgements and linearizable reads (Raft §5, thesis §6.4, §9.6)`, (t) => {
  const totals: SimStats = { ticks: 0, proposed: 0, acknowledged: 0, readsServed: 0, readsFailed: 0, crashes: 0, partitions: 0, termsWithLeader: 0, committed: 0, messages: 0, rejectedNotLeader: 0, rejectedOverloaded: 0, leaderlessTicks: 0 };
  const startedMs = performance.now();
  let failures = 0;
  for (const seed of seeds) {
    const result = runSeed(seed, ticks, tracing);
    for (const key of Object.keys(totals) as (keyof SimStats)[]) totals[key] += result.stats[key];
    if (result.failure === undefined) continue;
    failures++;
    t.fail(`seed ${seed} (replay with SEED=${seed}): ${result.failure.checker}: ${result.failure.message}`);
    if (result.trace !== null) t.comment(result.trace.join('\n'));
  }
  const elapsedMs = Math.round(performance.now() - startedMs);
  t.equal(failures, 0, `no seed violated a checker`);
  t.comment(
    `${seeds.length} seeds in ${elapsedMs} ms: ${totals.ticks} ticks, ${totals.messages} messages, ${totals.acknowledged}/${totals.proposed} commands acknowledged, ` +
      `${totals.committed} entries committed, ${totals.readsServed} reads served, ${totals.readsFailed} failed, ${totals.crashes} crashes, ${totals.partitions} partitions, ${totals.termsWithLeader} terms with a leader`,
  );
  t.end();
});
