/**
 * Deterministic simulation of the file-system state machine's durability (fs/fs_state_machine.ts)
 * over in-memory stores: several replicas apply one random log of tree commands; each takes sync
 * points at random moments, crashes at random moments (losing everything since its last sync
 * point in the KvStore, and a random part of its unsynced content writes), restarts from what
 * survived and replays the log after it; now and then a replica is rebuilt from another's state
 * stream instead. At every point where replicas have applied the same entries they must hold the
 * same digest and the same observable tree (every path's attributes and contents). A seed replays
 * a run exactly.
 *
 *   FS_SIM_SEEDS=n   seeds 1..n (default 40)
 *   SEED=n           replay seed n only
 */
import test from 'tape';
import { FsStateMachine, type FsStateMachineOptions } from '../../src/fs/fs_state_machine.js';
import { StateStreamParser, stateStream } from '../../src/fs/state_stream.js';
import type { FsCommand, FsRequest } from '../../src/fs/types.js';
import { LevelKvStore } from '../../src/storage/level_kv_store.js';
import { MemoryContentStore } from '../../src/storage/memory_content_store.js';
import { limits } from '../../src/util/limits.js';
import { SeededRandom } from '../../src/util/prng.js';
import { memoryLevel } from '../helpers/fs_state.js';

const seedCount = Number(process.env['FS_SIM_SEEDS'] ?? 40);
const replaySeed = process.env['SEED'];
const entriesPerSeed = 600;
const replicaCount = 3;
/** Small inline bound and overlay, so large contents and automatic sync points are exercised. */
const options: FsStateMachineOptions = { inlineBytesMax: 512, overlayBytesMax: 64 * 1024, sessionsMax: 4 };
const names = ['a', 'b', 'd/x', 'd/y', 'd/e/z', 'e', 'd/e'];

interface Replica {
  kv: LevelKvStore;
  content: MemoryContentStore;
  machine: FsStateMachine;
}

async function newReplica(): Promise<Replica> {
  const kv = new LevelKvStore(await memoryLevel(), 'replica');
  const content = new MemoryContentStore();
  return { kv, content, machine: await FsStateMachine.open(kv, content, options) };
}

function randomBytes(random: SeededRandom, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = random.nextInt(256);
  return out;
}

/** One random command over a small name space, sizes around the inline bound. */
function randomCommand(random: SeededRandom, i: number): FsCommand {
  const name = names[random.nextInt(names.length)]!;
  const other = names[random.nextInt(names.length)]!;
  const size = (): number => [0, 10, 500, 513, 4096, 70_000, 1 << 20][random.nextInt(7)]! + random.nextInt(3);
  const choices: FsCommand[] = [
    { op: 'write', name, content: randomBytes(random, Math.min(size(), 6000)), exptimeSeconds: random.nextInt(8) === 0 ? 2 : 0 },
    { op: 'writeat', name, offset: random.nextInt(3) === 0 ? -1 : size(), content: randomBytes(random, random.nextInt(3000)) },
    { op: 'truncate', name, size: size() },
    { op: 'fallocate', name, offset: random.nextInt(80_000), length: 1 + random.nextInt(80_000), punch: true, keepSize: true },
    { op: 'create', name, mode: 0o644, exclusive: false },
    { op: 'mkdir', name, mode: 0o755 },
    { op: 'delete', name },
    { op: 'rmdir', name },
    { op: 'rename', name, to: other, mode: random.nextInt(4) === 0 ? 'exchange' : 'replace' },
    { op: 'link', name, to: other },
    { op: 'symlink', name, target: new TextEncoder().encode(`t${i}`) },
    { op: 'setattr', name, mode: random.nextInt(0o777), mtime: { sec: i, nsec: random.nextInt(1e9) } },
    { op: 'setxattr', name, attr: `user.k${random.nextInt(3)}`, value: randomBytes(random, random.nextInt(40)), mode: 'any' },
    { op: 'hold', name, holder: 1 + random.nextInt(2), delta: random.nextInt(2) === 0 ? 1 : -1 },
  ];
  return choices[random.nextInt(choices.length)]!;
}

/** Every observable of a state: each path's attributes and contents, walking from the root. */
async function observe(machine: FsStateMachine, nowMs: number): Promise<string> {
  const lines: string[] = [];
  const walk = async (name: string, depth: number): Promise<void> => {
    const stat = await machine.query({ op: 'stat', name }, nowMs);
    // Blocks are each node's own (holes may be stored differently): everything else must agree.
    lines.push(JSON.stringify([name, stat.type === 'stat' ? { ...stat.stat, blocks: undefined } : stat]));
    if (stat.type !== 'stat' || depth > 8) return;
    if (stat.stat.kind === 'dir') {
      const list = await machine.query({ op: 'list', name, entriesMax: limits.listEntriesMax }, nowMs);
      if (list.type === 'list') for (const entry of list.entries) await walk(name === '/' ? entry.name : `${name}/${entry.name}`, depth + 1);
    } else if (stat.stat.kind === 'file') {
      const read = await machine.query({ op: 'readat', name, offset: 0, count: stat.stat.size }, nowMs);
      lines.push(JSON.stringify([name, read.type === 'contents' ? checksum(read.content) : read.type]));
    }
  };
  await walk('/', 0);
  return lines.join('\n');
}

function checksum(bytes: Uint8Array): string {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return `${bytes.length}:${b.toString(16)}${a.toString(16)}`;
}

/** Streams `from`'s latest sync point into new stores and opens a replica over them. */
async function rebuiltFrom(from: Replica): Promise<Replica> {
  await from.machine.syncPoint();
  const view = from.machine.view();
  if (view === null) throw new Error('no view after a sync point');
  const kv = new LevelKvStore(await memoryLevel(), 'rebuilt');
  const content = new MemoryContentStore();
  const parser = new StateStreamParser({ write: (batch) => kv.write(batch, false), content });
  for await (const piece of stateStream(view.kv, view.content, view.index, view.term, 4096)) await parser.push(piece);
  await parser.finish();
  await view.release();
  // As a node seals a received state before switching to it (StateHost.seal).
  await content.sync();
  return { kv, content, machine: await FsStateMachine.open(kv, content, options) };
}

async function runSeed(seed: number): Promise<string | null> {
  const random = new SeededRandom(seed);
  const log: FsRequest[][] = [];
  for (let i = 0; i < entriesPerSeed; i++) {
    const count = 1 + random.nextInt(3);
    log.push(Array.from({ length: count }, (_, k) => ({ clientId: random.nextInt(3) === 0 ? 1 + random.nextInt(6) : 0, sequence: i * 4 + k + 1, stampMs: 1000 + i * 137, command: randomCommand(random, i) })));
  }
  const replicas: Replica[] = [];
  for (let k = 0; k < replicaCount; k++) replicas.push(await newReplica());
  const applyTo = async (replica: Replica, index: number): Promise<void> => {
    await replica.machine.applyEntry(index, 1, log[index - 1]!);
  };
  for (let index = 1; index <= entriesPerSeed; index++) {
    for (const [k, replica] of replicas.entries()) {
      // A replica behind (after a crash) catches up first: the log after its durable state.
      while (replica.machine.appliedIndex < index - 1) await applyTo(replica, replica.machine.appliedIndex + 1);
      await applyTo(replica, index);
      const draw = random.nextFloat();
      if (draw < 0.03) {
        await replica.machine.syncPoint();
      } else if (draw < 0.05 && !process.env["FS_SIM_NO_CRASH"]) {
        // A crash: the KvStore keeps its last sync point; unsynced content survives in part.
        if (process.env["FS_SIM_TRACE"]) console.log(`# crash replica ${k} at ${index}, durable ${replica.machine.appliedIndex}`);
        replica.content.crash(() => random.nextInt(2) === 0);
        replica.machine = await FsStateMachine.open(replica.kv, replica.content, options);
      } else if (draw < 0.055 && k > 0 && !process.env["FS_SIM_NO_REBUILD"]) {
        if (process.env["FS_SIM_TRACE"]) console.log(`# rebuild replica ${k} at ${index}`);
        replicas[k] = await rebuiltFrom(replicas[0]!);
      }
    }
    if (index % 50 === 0 || index === entriesPerSeed) {
      for (const replica of replicas) while (replica.machine.appliedIndex < index) await applyTo(replica, replica.machine.appliedIndex + 1);
      const nowMs = 1000 + index * 137;
      const reference = await observe(replicas[0]!.machine, nowMs);
      for (const [k, replica] of replicas.entries()) {
        if (replica.machine.digest !== replicas[0]!.machine.digest) return `after entry ${index}: replica ${k} digest ${replica.machine.digest}, replica 0 ${replicas[0]!.machine.digest}`;
        const seen = await observe(replica.machine, nowMs);
        if (seen !== reference) {
          const lines = seen.split('\n');
          const first = reference.split('\n').findIndex((line, at) => line !== lines[at]);
          return `after entry ${index}: replica ${k} differs from replica 0 at ${reference.split('\n')[first]} vs ${lines[first]}`;
        }
      }
    }
  }
  return null;
}

test(`fs replicas: ${replaySeed ?? seedCount} seeds of random tree commands, sync points, crashes that lose unsynced state, and rebuilds from a stream end equal`, async (t) => {
  const seeds = replaySeed !== undefined ? [Number(replaySeed)] : Array.from({ length: seedCount }, (_, k) => k + 1);
  let failures = 0;
  for (const seed of seeds) {
    const failure = await runSeed(seed);
    if (failure === null) continue;
    failures++;
    t.fail(`seed ${seed} (replay with SEED=${seed}): ${failure}`);
  }
  t.equal(failures, 0, `${seeds.length} seeds x ${entriesPerSeed} entries x ${replicaCount} replicas: no divergence`);
});
