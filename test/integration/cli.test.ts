/**
 * The fsraft-node command line as an operator meets it: a bad config or node id ends the process
 * with exit code 1 and one clear line on stderr (no stack trace); SIGTERM stops a node cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'tape';
import { LocalCluster, freePorts, nodeBin, repoRoot } from '../../src/launch/local_cluster.js';
import { ProtocolClient } from '../../src/launch/protocol_client.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fsraft-cli-'));
test.onFinish(() => rmSync(dir, { recursive: true, force: true }));

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs fsraft-node with `args` and waits (bounded) for it to exit; kills it by PID if late. */
function runNode(args: readonly string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [nodeBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fsraft-node ${args.join(' ')} still running after ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A valid three-node config on free ports, as a plain object to break in each case. */
async function validConfig(): Promise<{ nodes: Array<Record<string, unknown>>; timing?: Record<string, unknown> }> {
  const ports = await freePorts(6);
  return {
    nodes: [1, 2, 3].map((id, position) => ({
      id,
      clientAddress: `127.0.0.1:${ports[position * 2] as number}`,
      raftAddress: `127.0.0.1:${ports[position * 2 + 1] as number}`,
      logDir: `data-${id}/log`,
      stateDir: `data-${id}/state`,
    })),
  };
}

let configCount = 0;
function writeConfig(contents: unknown): string {
  const file = path.join(dir, `config-${++configCount}.json`);
  writeFileSync(file, typeof contents === 'string' ? contents : JSON.stringify(contents, null, 2));
  return file;
}

interface BadConfigCase {
  readonly name: string;
  readonly make: () => Promise<{ file: string; id?: string }>;
  /** Text the stderr line must contain (the field, or what is wrong). */
  readonly mentions: readonly string[];
}

const cases: BadConfigCase[] = [
  {
    name: 'a node without raftAddress',
    make: async () => {
      const config = await validConfig();
      delete config.nodes[1]?.['raftAddress'];
      return { file: writeConfig(config) };
    },
    mentions: ['nodes[1].raftAddress'],
  },
  {
    name: 'a port out of range',
    make: async () => {
      const config = await validConfig();
      (config.nodes[0] as Record<string, unknown>)['clientAddress'] = '127.0.0.1:70000';
      return { file: writeConfig(config) };
    },
    mentions: ['nodes[0].clientAddress', '70000'],
  },
  {
    name: 'a port that is not a number',
    make: async () => {
      const config = await validConfig();
      (config.nodes[2] as Record<string, unknown>)['raftAddress'] = '127.0.0.1:http';
      return { file: writeConfig(config) };
    },
    mentions: ['nodes[2].raftAddress'],
  },
  {
    name: 'a duplicate id',
    make: async () => {
      const config = await validConfig();
      (config.nodes[2] as Record<string, unknown>)['id'] = 1;
      return { file: writeConfig(config) };
    },
    mentions: ['nodes[2].id'],
  },
  {
    name: 'malformed JSON',
    make: async () => ({ file: writeConfig('{ "nodes": [ { "id": 1, ') }),
    mentions: ['JSON'],
  },
  {
    name: 'a config file that does not exist',
    make: async () => ({ file: path.join(dir, 'missing.json') }),
    mentions: ['missing.json'],
  },
  {
    name: 'a bad timing value',
    make: async () => {
      const config = await validConfig();
      config.timing = { tickMs: -1 };
      return { file: writeConfig(config) };
    },
    mentions: ['timing.tickMs'],
  },
  {
    name: 'an unknown node id',
    make: async () => ({ file: writeConfig(await validConfig()), id: '9' }),
    mentions: ['9', 'nodes'],
  },
];

for (const badCase of cases) {
  test(`cli: ${badCase.name} exits 1 with one clear line on stderr`, { timeout: 30_000 }, async (t) => {
    const { file, id } = await badCase.make();
    const result = await runNode([id ?? '1', '--config', file]);
    t.equal(result.code, 1, 'exit code 1');
    const lines = result.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
    for (const text of badCase.mentions) t.ok(result.stderr.includes(text), `the message names ${text}`);
    t.notOk(/^\s+at /m.test(result.stderr + result.stdout), 'no stack trace');
  });
}

test('cli: a client port that is already in use exits 1 with a clear message', { timeout: 30_000 }, async (t) => {
  const config = await validConfig();
  const clientAddress = (config.nodes[0] as Record<string, unknown>)['clientAddress'] as string;
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(Number(clientAddress.split(':')[1]), '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const result = await runNode(['1', '--config', writeConfig(config)]);
  t.equal(result.code, 1, 'exit code 1');
  t.equal(result.stderr.trimEnd().split('\n').length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  t.ok(result.stderr.includes(clientAddress), 'the message names the address');
  t.notOk(/^\s+at /m.test(result.stderr + result.stdout), 'no stack trace');
});

test('cli: SIGTERM makes a serving node log it and exit 0', { timeout: 60_000 }, async (t) => {
  const cluster = await LocalCluster.create({ nodeCount: 1 });
  cluster.watch(t);
  t.teardown(() => cluster.stop().then(() => undefined));
  await cluster.start();
  const leader = await cluster.waitForLeader();
  const client = await ProtocolClient.connect(cluster.clientAddress(leader));
  t.teardown(() => client.destroy());
  t.equal((await client.write('cli/file', 'x')).line, 'OK 1', 'a one-node cluster serves');
  const exit = await cluster.stopNode(1);
  t.deepEqual(exit, { code: 0, signal: null }, 'exit code 0 on SIGTERM');
  const output = cluster.output(1).join('\n');
  t.ok(output.includes('SIGTERM'), 'the node logged the SIGTERM');
  t.ok(await client.waitClosed(5000), 'client connections are closed');
  t.notOk(output.includes('stderr:'), 'nothing on stderr');
});
