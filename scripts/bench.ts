/**
 * `npm run bench`: starts a local 5-node cluster on 127.0.0.1 (temp dirs, free ports) and prints
 * write throughput and latency for 100-byte and 1 KiB values with 1, 16 and 64 concurrent
 * clients, and linearizable read throughput and latency, then stops every node by PID.
 *
 * Each client is one connection with one command outstanding (a closed loop), like the course
 * client. Environment: BENCH_SECONDS (per measurement, default 3), BENCH_NODES (default 5).
 */
import os from 'node:os';
import { LocalCluster } from '../test/helpers/local_cluster.js';
import { ProtocolClient, encodeRead, encodeWrite, type Reply } from '../test/helpers/protocol_client.js';

const secondsPerRun = Number(process.env['BENCH_SECONDS'] ?? 3);
const nodeCount = Number(process.env['BENCH_NODES'] ?? 5);
const warmupMs = 300;

interface RunResult {
  readonly operations: number;
  readonly seconds: number;
  readonly latenciesMs: Float64Array;
  readonly errors: number;
}

/** One closed-loop client: sends the next command when the previous reply arrived. */
async function clientLoop(
  client: ProtocolClient,
  command: (sequence: number) => Buffer,
  accept: (reply: Reply) => boolean,
  untilMs: number,
  measureFromMs: number,
  latencies: number[],
): Promise<number> {
  let errors = 0;
  for (let sequence = 0; performance.now() < untilMs; sequence++) {
    const startedMs = performance.now();
    client.send(command(sequence));
    const reply = await client.readReply(10_000);
    if (!accept(reply)) errors++;
    if (startedMs >= measureFromMs) latencies.push(performance.now() - startedMs);
  }
  return errors;
}

async function run(
  leaderAddress: string,
  clients: number,
  command: (client: number, sequence: number) => Buffer,
  accept: (reply: Reply) => boolean,
): Promise<RunResult> {
  const connections = await Promise.all(Array.from({ length: clients }, () => ProtocolClient.connect(leaderAddress)));
  const measureFromMs = performance.now() + warmupMs;
  const untilMs = measureFromMs + secondsPerRun * 1000;
  const latencies: number[] = [];
  const errors = await Promise.all(
    connections.map((client, index) => clientLoop(client, (sequence) => command(index, sequence), accept, untilMs, measureFromMs, latencies)),
  );
  for (const client of connections) client.end();
  const sorted = Float64Array.from(latencies).sort();
  return { operations: sorted.length, seconds: secondsPerRun, latenciesMs: sorted, errors: errors.reduce((a, b) => a + b, 0) };
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? NaN;
}

function row(label: string, result: RunResult): string {
  const rate = result.operations / result.seconds;
  return `${label.padEnd(28)} ${rate.toFixed(0).padStart(8)} ops/s   p50 ${percentile(result.latenciesMs, 0.5).toFixed(2).padStart(6)} ms   p99 ${percentile(result.latenciesMs, 0.99).toFixed(2).padStart(7)} ms${result.errors > 0 ? `   (${result.errors} errors)` : ''}`;
}

async function main(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  process.stdout.write(`fsraft bench: ${nodeCount} nodes on 127.0.0.1, ${os.cpus().length} cores (${cpu}), node ${process.version}, ${secondsPerRun} s per run\n`);
  const cluster = await LocalCluster.create({ nodeCount });
  const stop = (): void => {
    void cluster.stop().then(() => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await cluster.start();
    const leader = await cluster.waitForLeader(30_000);
    const leaderAddress = cluster.clientAddress(leader);
    const isOk = (reply: Reply): boolean => reply.kind === 'ok';
    for (const valueBytes of [100, 1024]) {
      const value = Buffer.alloc(valueBytes, 'v');
      for (const clients of [1, 16, 64]) {
        // Each client rewrites its own 100 files, so the state stays small and flat.
        const result = await run(leaderAddress, clients, (client, sequence) => encodeWrite(`bench/c${client}/f${sequence % 100}`, value), isOk);
        process.stdout.write(`${row(`write ${valueBytes} B, ${clients} clients`, result)}\n`);
      }
    }
    const isContents = (reply: Reply): boolean => reply.kind === 'contents';
    for (const clients of [1, 16, 64]) {
      const result = await run(leaderAddress, clients, (client, sequence) => encodeRead(`bench/c${client % 16}/f${sequence % 100}`), isContents);
      process.stdout.write(`${row(`read 1 KiB, ${clients} clients`, result)}\n`);
    }
    const crashed = cluster.unexpectedExits();
    if (crashed.length > 0) process.stdout.write(`warning: nodes exited during the bench: ${JSON.stringify(crashed)}\n`);
  } finally {
    await cluster.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
