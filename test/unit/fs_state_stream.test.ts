import test from 'tape';
import { FsStateMachine } from '../../src/fs/fs_state_machine.js';
import { StateStreamError, StateStreamParser, stateStream } from '../../src/fs/state_stream.js';
import type { FsCommand, FsRequest } from '../../src/fs/types.js';
import { LevelKvStore } from '../../src/storage/level_kv_store.js';
import { MemoryContentStore } from '../../src/storage/memory_content_store.js';
import { SeededRandom } from '../../src/util/prng.js';
import { memoryLevel, openMemoryState, type MemoryState } from '../helpers/fs_state.js';

const mib = 1024 * 1024;

/** A state with directories, small (inline) and large (sparse, content-store) files, links and xattrs. */
async function populated(): Promise<MemoryState> {
  const stores = await openMemoryState();
  const random = new SeededRandom(7);
  const commands: FsCommand[] = [
    { op: 'mkdir', name: 'd', mode: 0o755 },
    { op: 'write', name: 'd/small', content: new TextEncoder().encode('hello'), exptimeSeconds: 0 },
    { op: 'create', name: 'd/big', mode: 0o644, exclusive: true },
    { op: 'truncate', name: 'd/big', size: 64 * mib },
    { op: 'writeat', name: 'd/big', offset: 3 * mib + 5, content: randomBytes(random, 300_000) },
    { op: 'writeat', name: 'd/big', offset: 40 * mib, content: randomBytes(random, 70_000) },
    { op: 'symlink', name: 'd/link', target: new TextEncoder().encode('small') },
    { op: 'link', name: 'd/small', to: 'hard' },
    { op: 'setxattr', name: 'd/big', attr: 'user.note', value: new TextEncoder().encode('v'), mode: 'any' },
    { op: 'mknod', name: 'fifo', kind: 'fifo', mode: 0o600, rdev: 0 },
  ];
  let index = 0;
  for (const command of commands) {
    const request: FsRequest = { clientId: 0, sequence: 0, stampMs: 1000 + index, command };
    const [applied] = await stores.machine.applyEntry(++index, 1, [request]);
    if (applied?.result.type !== 'ok' && applied?.result.type !== 'done') throw new Error(`${command.op}: ${JSON.stringify(applied?.result)}`);
  }
  await stores.machine.syncPoint();
  return stores;
}

function randomBytes(random: SeededRandom, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = random.nextInt(256);
  return out;
}

async function streamBytes(stores: MemoryState, pieceBytes?: number): Promise<Uint8Array[]> {
  const view = stores.machine.view();
  if (view === null) throw new Error('no view');
  const pieces: Uint8Array[] = [];
  for await (const piece of stateStream(view.kv, view.content, view.index, view.term, pieceBytes)) pieces.push(piece);
  await view.release();
  return pieces;
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** Parses `stream` cut into chunks of `chunkBytes` into fresh memory stores. */
async function receive(stream: Uint8Array, chunkBytes: number): Promise<{ kv: LevelKvStore; content: MemoryContentStore; parser: StateStreamParser }> {
  const kv = new LevelKvStore(await memoryLevel(), 'received');
  const content = new MemoryContentStore();
  const parser = new StateStreamParser({ write: (batch) => kv.write(batch, false), content });
  for (let at = 0; at < stream.length; at += chunkBytes) await parser.push(stream.subarray(at, at + chunkBytes));
  await parser.finish();
  return { kv, content, parser };
}

test('state stream: a state streamed and parsed in any chunking is the same state (digest, files, holes)', async (t) => {
  const source = await populated();
  const stream = concat(await streamBytes(source));
  t.ok(stream.length < 1 * mib, `the stream holds the data, not the holes: ${stream.length} bytes for a 64 MiB sparse file`);
  for (const chunkBytes of [7, 977, 4096, 1 * mib]) {
    const received = await receive(stream, chunkBytes);
    const copy = await FsStateMachine.open(received.kv, received.content);
    t.equal(copy.appliedIndex, source.machine.appliedIndex, `chunks of ${chunkBytes}: same applied index`);
    t.equal(copy.digest, source.machine.digest, `chunks of ${chunkBytes}: same digest`);
    const big = await copy.query({ op: 'readat', name: 'd/big', offset: 3 * mib, count: 400_000 }, 0);
    const original = await source.machine.query({ op: 'readat', name: 'd/big', offset: 3 * mib, count: 400_000 }, 0);
    t.deepEqual(big, original, 'the large file reads the same');
    const hole = await copy.query({ op: 'seek', name: 'd/big', offset: 0, whence: 'data' }, 0);
    t.deepEqual(hole, { type: 'offset', offset: 3 * mib }, 'its leading hole is still a hole (in 4 KiB blocks)');
    const link = await copy.query({ op: 'readlink', name: 'd/link' }, 0);
    t.equal(link.type === 'bytes' ? new TextDecoder().decode(link.value) : link.type, 'small');
    const hard = await copy.query({ op: 'stat', name: 'hard' }, 0);
    t.equal(hard.type === 'stat' ? hard.stat.nlink : 0, 2, 'the hard link keeps nlink 2');
    await copy.close();
  }
  t.end();
});

test('state stream: a damaged, cut or extended stream is refused, never half taken', async (t) => {
  const source = await populated();
  const stream = concat(await streamBytes(source, 4096));
  const refused = async (bytes: Uint8Array, what: string): Promise<void> => {
    try {
      await receive(bytes, 8192);
      t.fail(`${what}: accepted`);
    } catch (error) {
      t.ok(error instanceof StateStreamError, `${what}: ${(error as Error).message}`);
    }
  };
  for (const at of [0, 10, Math.floor(stream.length / 2), stream.length - 3]) {
    const flipped = stream.slice();
    flipped[at]! ^= 0x40;
    await refused(flipped, `a bit flipped at byte ${at}`);
  }
  await refused(stream.subarray(0, stream.length - 20), 'the end cut off');
  await refused(stream.subarray(0, Math.floor(stream.length / 3)), 'a third of it');
  const longer = new Uint8Array(stream.length + 5);
  longer.set(stream);
  await refused(longer, 'bytes after the end record');
  t.end();
});
