/**
 * A real fsraft cluster on 127.0.0.1 for tests and benchmarks: N `fsraft-node` processes, each with
 * its own free ports and data directories inside one temp dir. Processes are started, killed and
 * stopped by PID only; whatever happens to a test, every process it started is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LeaderClient, ProtocolClient, pause, type LeaderClientOptions } from './protocol_client.js';
import { nodeEnvironment } from '../cli/node_environment.js';

/** The repository root (this file is compiled to dist/src/launch/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The node's launcher, as an operator runs it. */
export const nodeBin = path.join(repoRoot, 'bin/fsraft-node.js');

/** Raft timing written into the config; unset fields are left to the node's defaults. */
/** What `watch` needs of a tape test: its assertion results and its teardown. */
export interface WatchedTest {
  on(event: 'result', listener: (result: { ok?: boolean }) => void): unknown;
  teardown(fn: () => void): void;
}

export interface LocalTiming {
  readonly tickMs?: number;
  readonly electionTimeoutTicks?: number;
  readonly heartbeatIntervalTicks?: number;
  readonly leaderWaitMs?: number;
  readonly partialCommandTimeoutMs?: number;
}

/** Options of a LocalCluster. */
export interface LocalClusterOptions {
  /** Number of nodes, ids 1..nodeCount. Default 5. */
  readonly nodeCount?: number;
  readonly timing?: LocalTiming;
  readonly contentBytesMax?: number;
  /** The config's "snapshot" block (when nodes snapshot and compact); unset fields are the node's defaults. */
  readonly snapshot?: { readonly logEntriesMax?: number; readonly logBytesMax?: number; readonly keepEntries?: number; readonly keepBytes?: number };
  /** The config's diskReserveBytes (free space below which writes that add data are refused). */
  readonly diskReserveBytes?: number;
  /** An absolute directory to hold the nodes' log and state directories. Default: next to the config. */
  readonly dataDir?: string;
  /** A node that prints no readiness line within this long fails `start`. Default 30 s. */
  readonly readyTimeoutMs?: number;
  /** Lines of output kept per node (older ones are dropped). Default 5000. */
  readonly outputLinesMax?: number;
}

/** One member as the generated config describes it. */
export interface LocalNodeInfo {
  readonly id: number;
  readonly clientAddress: string;
  readonly raftAddress: string;
}

/** How a node process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface RunningNode {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  /** Set before the harness signals the node, so its exit is not reported as a crash. */
  expectingExit: boolean;
}

/** The readiness line printed by fsraft-node once it serves clients. */
const readyMarker = ' ready: ';
/** Lines of each node shown when a test fails. */
const dumpLinesDefault = 150;

/** Every PID any cluster of this process started and has not seen exit: the last-resort cleanup. */
const livePids = new Set<number>();
/** Temp dirs of clusters not yet stopped, removed by the same last-resort cleanup. */
const liveDirs = new Set<string>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  const killAll = (): void => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    livePids.clear();
    // A test process killed by a closed stdout (`| head`) or an uncaught error still cleans up.
    if (process.env['FSRAFT_KEEP_TMP'] === undefined) for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
    liveDirs.clear();
  };
  // A test file that crashes or is interrupted must not leave nodes holding ports.
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      // Said on stderr: a test file that ends early "without ending" its tests otherwise gives no hint why.
      process.stderr.write(`local cluster: ${signal} received; stopping its nodes and exiting\n`);
      killAll();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/**
 * Finds `count` distinct free TCP ports on 127.0.0.1 by binding them all to port 0 at once, then
 * closing them. (Another process could take one before the node binds it; rare on a test box.)
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port assigned');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** A bounded ring of text lines. */
class LineRing {
  private readonly lines: string[] = [];
  constructor(private readonly max: number) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  all(): string[] {
    return [...this.lines];
  }
}

/** A cluster of real fsraft-node processes on loopback, in its own temp dir. */
export class LocalCluster {
  /** The temp dir holding the config and every node's data. */
  readonly dir: string;
  /** The generated config file. */
  readonly configFile: string;
  readonly nodes: readonly LocalNodeInfo[];
  private readonly options: Required<Omit<LocalClusterOptions, 'timing' | 'contentBytesMax' | 'snapshot' | 'diskReserveBytes' | 'dataDir'>> & LocalClusterOptions;
  private readonly running = new Map<number, RunningNode>();
  private readonly outputs = new Map<number, LineRing>();
  private readonly crashes: Array<{ id: number } & ExitInfo> = [];
  private stopped = false;

  private constructor(dir: string, nodes: LocalNodeInfo[], options: LocalClusterOptions) {
    this.dir = dir;
    this.configFile = path.join(dir, 'cluster.json');
    this.nodes = nodes;
    this.options = { nodeCount: nodes.length, readyTimeoutMs: 30_000, outputLinesMax: 5000, ...options };
    for (const node of nodes) this.outputs.set(node.id, new LineRing(this.options.outputLinesMax));
  }

  /** Allocates ports, writes the config into a fresh temp dir; starts nothing. */
  static async create(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    installExitHandler();
    const count = options.nodeCount ?? 5;
    const ports = await freePorts(count * 2);
    const nodes = Array.from({ length: count }, (_, position) => ({
      id: position + 1,
      clientAddress: `127.0.0.1:${ports[position * 2] as number}`,
      raftAddress: `127.0.0.1:${ports[position * 2 + 1] as number}`,
    }));
    const dir = mkdtempSync(path.join(tmpdir(), 'fsraft-it-'));
    liveDirs.add(dir);
    const cluster = new LocalCluster(dir, nodes, options);
    cluster.writeConfig();
    return cluster;
  }

  private writeConfig(): void {
    const config: Record<string, unknown> = {
      nodes: this.nodes.map((node) => ({
        id: node.id,
        clientAddress: node.clientAddress,
        raftAddress: node.raftAddress,
        logDir: path.join(this.options.dataDir ?? '', `n${node.id}/log`),
        stateDir: path.join(this.options.dataDir ?? '', `n${node.id}/state`),
      })),
    };
    if (this.options.timing !== undefined) config['timing'] = this.options.timing;
    if (this.options.contentBytesMax !== undefined) config['contentBytesMax'] = this.options.contentBytesMax;
    if (this.options.snapshot !== undefined) config['snapshot'] = this.options.snapshot;
    if (this.options.diskReserveBytes !== undefined) config['diskReserveBytes'] = this.options.diskReserveBytes;
    writeFileSync(this.configFile, `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Every node's client address, in id order. */
  get clientAddresses(): string[] {
    return this.nodes.map((node) => node.clientAddress);
  }

  /** The client address of node `id`. */
  clientAddress(id: number): string {
    return this.node(id).clientAddress;
  }

  /** Ids of nodes whose process is running. */
  runningIds(): number[] {
    return [...this.running.keys()].sort((a, b) => a - b);
  }

  /** True if node `id`'s process is running. */
  isRunning(id: number): boolean {
    return this.running.has(id);
  }

  /** The PID of node `id`, if running. */
  pid(id: number): number | undefined {
    return this.running.get(id)?.child.pid;
  }

  /** Nodes that exited without the harness asking them to (crashes), in order. */
  unexpectedExits(): ReadonlyArray<{ id: number } & ExitInfo> {
    return [...this.crashes];
  }

  /** Starts every node that is not running, and waits until each prints its readiness line. */
  async start(): Promise<void> {
    await Promise.all(this.nodes.filter((node) => !this.running.has(node.id)).map((node) => this.startNode(node.id)));
  }

  /**
   * Starts node `id` and waits for its readiness line (rejects, with its output, if it exits or is
   * late). `extraEnv` is added to this process's environment for this start only.
   */
  startNode(id: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    this.node(id);
    if (this.stopped) return Promise.reject(new Error('cluster already stopped'));
    if (this.running.has(id)) return Promise.reject(new Error(`node ${id} is already running`));
    const output = this.outputs.get(id) as LineRing;
    output.push(`--- harness: starting node ${id} ---`);
    const child = spawn(process.execPath, [nodeBin, String(id), '--config', this.configFile], {
      cwd: repoRoot,
      env: nodeEnvironment({ ...process.env, ...extraEnv }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid;
    if (pid !== undefined) livePids.add(pid);
    let resolveReady: () => void = () => undefined;
    let rejectReady: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    forEachLine(child.stdout, (line) => {
      output.push(line);
      if (line.includes(readyMarker)) resolveReady();
    });
    forEachLine(child.stderr, (line) => output.push(`stderr: ${line}`));
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('error', (error) => {
        output.push(`--- harness: spawn failed: ${error.message} ---`);
        resolve({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const entry: RunningNode = { child, exited, expectingExit: false };
    this.running.set(id, entry);
    void exited.then((info) => {
      if (pid !== undefined) livePids.delete(pid);
      if (this.running.get(id) === entry) this.running.delete(id);
      output.push(`--- harness: node ${id} exited (code ${info.code}, signal ${info.signal}) ---`);
      if (!entry.expectingExit) this.crashes.push({ id, ...info });
      rejectReady(new Error(`node ${id} exited before it was ready (code ${info.code}, signal ${info.signal}):\n${this.tail(id, 30)}`));
    });
    const timer = setTimeout(
      () => rejectReady(new Error(`node ${id} printed no readiness line within ${this.options.readyTimeoutMs} ms:\n${this.tail(id, 30)}`)),
      this.options.readyTimeoutMs,
    );
    return ready.finally(() => clearTimeout(timer));
  }

  /**
   * Sends `signal` to node `id` by PID and waits until it exits (SIGKILL after `timeoutMs` if a
   * gentler signal did not end it). Resolves with how it ended.
   */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<ExitInfo> {
    const entry = this.running.get(id);
    if (entry === undefined) throw new Error(`node ${id} is not running`);
    entry.expectingExit = true;
    this.outputs.get(id)?.push(`--- harness: sending ${signal} to node ${id} ---`);
    entry.child.kill(signal);
    // A frozen (SIGSTOPped) node only acts on the signal once thawed; SIGCONT is harmless otherwise.
    if (signal !== 'SIGKILL') entry.child.kill('SIGCONT');
    const timedOut = Symbol('timeout');
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([entry.exited, new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), timeoutMs)))]);
    clearTimeout(timer);
    if (first !== timedOut) return first;
    this.outputs.get(id)?.push(`--- harness: node ${id} ignored ${signal} for ${timeoutMs} ms; SIGKILL ---`);
    entry.child.kill('SIGKILL');
    await entry.exited;
    throw new Error(`node ${id} did not exit within ${timeoutMs} ms of ${signal}`);
  }

  /**
   * Sends `signal` to node `id` by PID without waiting for anything: SIGSTOP/SIGCONT freeze and
   * thaw a node (a long GC pause or a hung VM, as the cluster sees it).
   */
  signal(id: number, signal: NodeJS.Signals): void {
    const entry = this.running.get(id);
    if (entry === undefined) throw new Error(`node ${id} is not running`);
    this.outputs.get(id)?.push(`--- harness: sending ${signal} to node ${id} ---`);
    entry.child.kill(signal);
  }

  /**
   * Marks the coming exit of node `id` as asked for, so it is not reported as a crash: a node
   * started to kill itself at some step (fsraft-node's FSRAFT_TEST_KILL_AT).
   */
  expectExit(id: number): void {
    const entry = this.running.get(id);
    if (entry === undefined) throw new Error(`node ${id} is not running`);
    entry.expectingExit = true;
  }

  /** Stops node `id` gracefully (SIGTERM), killing it if it does not exit in time. */
  stopNode(id: number, timeoutMs = 10_000): Promise<ExitInfo> {
    return this.kill(id, 'SIGTERM', timeoutMs);
  }

  /** Starts node `id` again on the same ports and data (it must not be running). */
  restart(id: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    return this.startNode(id, extraEnv);
  }

  /**
   * Polls the running nodes (or `among`) with `read __probe__` until one answers as leader
   * (CONTENTS or ERR_FILE_NOT_FOUND; followers redirect), and resolves with its id.
   */
  async waitForLeader(timeoutMs = 20_000, among?: readonly number[]): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ids = (among ?? this.runningIds()).filter((id) => this.running.has(id));
      // Every candidate dead (a crash): waiting out the deadline would only hide the cause.
      if (ids.length === 0) throw new Error(`no leader: none of nodes ${(among ?? this.nodes.map((node) => node.id)).join(', ')} is running`);
      const probeMs = Math.max(100, Math.min(1_500, deadline - Date.now()));
      const answers = await Promise.all(ids.map(async (id) => ((await this.probe(id, probeMs)) ? id : 0)));
      const leader = answers.find((id) => id !== 0);
      if (leader !== undefined) return leader;
      if (Date.now() >= deadline) throw new Error(`no leader among nodes ${ids.join(', ')} within ${timeoutMs} ms`);
      await pause(100);
    }
  }

  /** True if node `id` answers a read itself, i.e. it is a leader that could confirm its term. */
  private async probe(id: number, timeoutMs: number): Promise<boolean> {
    let client: ProtocolClient | undefined;
    try {
      client = await ProtocolClient.connect(this.clientAddress(id), timeoutMs);
      const reply = await client.read('__probe__', timeoutMs);
      return reply.kind === 'contents' || (reply.kind === 'error' && reply.code === 'ERR_FILE_NOT_FOUND');
    } catch {
      return false;
    } finally {
      client?.destroy();
    }
  }

  /** A client over every node's address that finds the leader by itself. */
  leaderClient(options?: LeaderClientOptions): LeaderClient {
    return new LeaderClient(this.clientAddresses, options);
  }

  /**
   * Stops every node (SIGTERM, then SIGKILL after `timeoutMs`) and removes the temp dir; resolves
   * with how each running node ended (an Error if it needed SIGKILL). Idempotent; safe to call
   * from teardown after a failure. Set FSRAFT_KEEP_TMP=1 to keep the dir.
   */
  async stop(timeoutMs = 10_000): Promise<Map<number, ExitInfo | Error>> {
    const results = new Map<number, ExitInfo | Error>();
    if (this.stopped) return results;
    this.stopped = true;
    await Promise.all(
      this.runningIds().map(async (id) => {
        results.set(id, await this.kill(id, 'SIGTERM', timeoutMs).catch((error: Error) => error));
      }),
    );
    if (process.env['FSRAFT_KEEP_TMP'] === undefined) rmSync(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
    return results;
  }

  /** The kept output lines of node `id` (stdout; stderr lines prefixed `stderr: `). */
  output(id: number): string[] {
    return this.outputs.get(id)?.all() ?? [];
  }

  /** The last `lines` output lines of node `id`, as one string. */
  tail(id: number, lines: number): string {
    return this.output(id).slice(-lines).map((line) => `  n${id}| ${line}`).join('\n');
  }

  /** Writes the tail of every node's output to stderr (TAP stays on stdout). */
  dumpOutput(reason: string, lines = Number(process.env['FSRAFT_DUMP_LINES'] ?? dumpLinesDefault)): void {
    const parts = this.nodes.map((node) => `--- node ${node.id} (${this.isRunning(node.id) ? `pid ${this.pid(node.id)}` : 'not running'}) ---\n${this.tail(node.id, lines)}`);
    process.stderr.write(`=== cluster output (${reason}), config ${this.configFile} ===\n${parts.join('\n')}\n=== end of cluster output ===\n`);
  }

  /** Dumps the cluster's output when any assertion of `t` (a tape test) fails. */
  watch(t: WatchedTest): void {
    let failed = false;
    t.on('result', (result: { ok?: boolean }) => {
      if (result.ok === false) failed = true;
    });
    t.teardown(() => {
      if (failed) this.dumpOutput(`failed test`);
    });
  }

  private node(id: number): LocalNodeInfo {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id} in this cluster`);
    return node;
  }
}

/** Calls `onLine` for every complete line of a stream, and for a last unterminated one. */
function forEachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream === null) return;
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
    pending = '';
  });
}

/**
 * Polls `condition` until it returns a value other than undefined/false, or rejects after
 * `timeoutMs` with `what` in the message. Never a fixed sleep: it returns as soon as it holds.
 */
export async function eventually<T>(what: string, timeoutMs: number, condition: () => Promise<T | undefined | false> | T | undefined | false, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms${lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`}`);
    }
    await pause(intervalMs);
  }
}
