/**
 * Runs a share of the simulation seeds in a worker thread, posting one SeedResult per seed, so a
 * long run (SIM_SEEDS=5000) uses every core. Each seed is independent and fully determined by its
 * number, so splitting them changes nothing about any run.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runSeed } from './cluster.js';

/** What sim.test.ts hands each worker. */
export interface WorkerTask {
  readonly seeds: readonly number[];
  readonly ticks: number;
  readonly tracing: boolean;
}

const task = workerData as WorkerTask;
for (const seed of task.seeds) parentPort!.postMessage(runSeed(seed, task.ticks, task.tracing));
