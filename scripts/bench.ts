/**
 * `npm run bench`: starts a local 5-node cluster on 127.0.0.1 (temp dirs, free ports) and prints
 * write throughput and latency for 100-byte and 1 KiB values with 1, 16 and 64 concurrent
 * clients, and linearizable read throughput and latency, then stops every node by PID.
 *
 * Each client is one connection with one command outstanding (a closed loop), like the course
 * client. The bench prints its own CPU use, since it shares the cores with the nodes. A few
 * seconds of writes warm the cluster up before the first row.
 * Environment: BENCH_SECONDS (per measurement, default 3), BENCH_NODES (default 5).
 */
import os from 'node:os';
import net from 'node:net';
import { parseHostPort } from '../src/util/host_port.js';
import { LocalCluster } from '../src/launch/local_cluster.js';
import { encodeRead, encodeWrite } from '../src/launch/protocol_client.js';

const secondsPerRun = Number(process.env['BENCH_SECONDS'] ?? 3);
const nodeCount = Number(process.env['BENCH_NODES'] ?? 5);
const warmupMs = 300;
/** Writes before the first row, not reported. */
const warmupSeconds = 3;
/** How long after a run's end a reply may still come before its loop is abandoned. */
const replyWaitMs = 10_000;

interface RunResult {
  readonly operations: number;
  readonly seconds: number;
  readonly latenciesMs: Float64Array;
  readonly errors: number;
  /** CPU the bench process itself used during the run, as a share of one core. */
  readonly clientCpuShare: number;
}

const lineFeed = 0x0a;

/**
 * One closed-loop client on its own connection: sends the next command when the whole reply to
 * the previous one has arrived. It reads replies with a minimal scanner (the first line, plus the
 * content of a CONTENTS reply) and keeps no promise per command, so the load generator, which
 * shares the two cores with the five nodes, spends as little CPU per command as it can.
 */
class ClosedLoopClient {
  private pending: Buffer | null = null;
  /** Bytes of CONTENTS still to skip (content and its CRLF), once its line has been read. */
  private skip = 0;
  private lineOk = false;
  private startedMs = 0;
  private sequence = 0;
  private finished = false;
  errors = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly command: (sequence: number) => Buffer,
    /** The reply line prefix that counts as success, e.g. "OK " or "CONTENTS ". */
    private readonly okPrefix: string,
    private readonly untilMs: number,
    private readonly measureFromMs: number,
    private readonly latencies: number[],
    private readonly done: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.finish());
  }

  start(): void {
    this.startedMs = performance.now();
    this.socket.write(this.command(this.sequence++));
  }

  /** Ends a loop still waiting for a reply (see replyWaitMs); that command counts as an error. */
  abandon(): void {
    if (this.finished) return;
    this.errors++;
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.socket.end();
    this.done();
  }

  private onData(chunk: Buffer): void {
    const data = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let at = 0;
    while (at < data.length) {
      if (this.skip > 0) {
        const taken = Math.min(this.skip, data.length - at);
        this.skip -= taken;
        at += taken;
        if (this.skip === 0) this.onReply(this.lineOk);
        continue;
      }
      const end = data.indexOf(lineFeed, at);
      if (end < 0) break;
      const line = data.toString('latin1', at, end - 1);
      at = end + 1;
      this.lineOk = line.startsWith(this.okPrefix);
      if (line.startsWith('CONTENTS ')) {
        this.skip = Number(line.split(' ')[2]) + 2;
        continue;
      }
      this.onReply(this.lineOk);
    }
    if (at < data.length) this.pending = data.subarray(at);
  }

  private onReply(ok: boolean): void {
    if (!ok) this.errors++;
    const nowMs = performance.now();
    if (this.startedMs >= this.measureFromMs) this.latencies.push(nowMs - this.startedMs);
    if (nowMs >= this.untilMs) {
      this.finish();
      return;
    }
    this.start();
  }
}

function connect(address: string): Promise<net.Socket> {
  const hostPort = parseHostPort(address);
  if (hostPort === null) return Promise.reject(new Error(`bad address ${address}`));
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(hostPort.port, hostPort.host);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function run(
  leaderAddress: string,
  clients: number,
  command: (client: number, sequence: number) => Buffer,
  okPrefix: string,
  seconds = secondsPerRun,
): Promise<RunResult> {
  const sockets = await Promise.all(Array.from({ length: clients }, () => connect(leaderAddress)));
  const measureFromMs = performance.now() + warmupMs;
  const untilMs = measureFromMs + seconds * 1000;
  const latencies: number[] = [];
  const loops: ClosedLoopClient[] = [];
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  await new Promise<void>((resolve) => {
    let running = clients;
    // A cluster that stops answering must not hang the bench: loops still waiting this long after
    // the run's end are abandoned.
    const bound = setTimeout(() => {
      for (const loop of loops) loop.abandon();
    }, untilMs + replyWaitMs - performance.now());
    const done = (): void => {
      if (--running > 0) return;
      clearTimeout(bound);
      resolve();
    };
    sockets.forEach((socket, index) => {
      const loop = new ClosedLoopClient(socket, (sequence) => command(index, sequence), okPrefix, untilMs, measureFromMs, latencies, done);
      loops.push(loop);
      loop.start();
    });
  });
  const cpu = process.cpuUsage(cpuBefore);
  const clientCpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - startedMs);
  const sorted = Float64Array.from(latencies).sort();
  return { operations: sorted.length, seconds, latenciesMs: sorted, errors: loops.reduce((sum, loop) => sum + loop.errors, 0), clientCpuShare };
}

/**
 * Each client's commands, encoded up front (the bench measures the cluster, not the client's
 * encoder): 100 per client, one per file, sent in turn.
 */
function commandTable(clients: number, encode: (client: number, file: number) => Buffer): (client: number, sequence: number) => Buffer {
  const table = Array.from({ length: clients }, (_, client) => Array.from({ length: 100 }, (_, file) => encode(client, file)));
  return (client, sequence) => table[client]![sequence % 100]!;
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? NaN;
}

function row(label: string, result: RunResult): string {
  const rate = result.operations / result.seconds;
  return `${label.padEnd(28)} ${rate.toFixed(0).padStart(8)} ops/s   p50 ${percentile(result.latenciesMs, 0.5).toFixed(2).padStart(6)} ms   p99 ${percentile(result.latenciesMs, 0.99).toFixed(2).padStart(7)} ms   bench client ${(100 * result.clientCpuShare).toFixed(0).padStart(3)}% CPU${result.errors > 0 ? `   (${result.errors} errors)` : ''}`;
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
    // A fresh cluster is slow for its first seconds (code not yet optimized, LevelDB files being
    // created); without a warm-up the first row measured that instead of steady state.
    const warmupValue = Buffer.alloc(512, 'w');
    await run(leaderAddress, 16, commandTable(16, (client, file) => encodeWrite(`bench/warmup/c${client}/f${file}`, warmupValue)), 'OK ', warmupSeconds);
    for (const valueBytes of [100, 1024]) {
      const value = Buffer.alloc(valueBytes, 'v');
      for (const clients of [1, 16, 64]) {
        // Each client rewrites its own 100 files, so the state stays small and flat.
        const commands = commandTable(clients, (client, file) => encodeWrite(`bench/c${client}/f${file}`, value));
        const result = await run(leaderAddress, clients, commands, 'OK ');
        process.stdout.write(`${row(`write ${valueBytes} B, ${clients} clients`, result)}\n`);
      }
    }
    for (const clients of [1, 16, 64]) {
      const commands = commandTable(clients, (client, file) => encodeRead(`bench/c${client % 16}/f${file}`));
      const result = await run(leaderAddress, clients, commands, 'CONTENTS ');
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
