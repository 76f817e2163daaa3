import test from 'tape';
import { FileServerState } from '../../src/fs/file_server.js';
import { FsSnapshotCorruptError } from '../../src/fs/fs_snapshot.js';
import type { FsCommand, FsRequest } from '../../src/fs/types.js';
import { limits } from '../../src/util/limits.js';
import { SeededRandom } from '../../src/util/prng.js';

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const chunk = limits.fileChunkBytes;
const options = { sessionsMax: 3, expiredFilesReapedPerApplyMax: 2 };

/** Random tree commands with sessions, expiries and multi-chunk files, from `seed`. */
function requests(seed: number, count: number, startMs = 0): FsRequest[] {
  const random = new SeededRandom(seed);
  const names = ['a', 'b', 'a/x', 'a/y', 'b/x', 'a/x/z', 'big', 'sp ace/f'];
  const pick = (): string => names[random.nextInt(names.length)]!;
  const out: FsRequest[] = [];
  let stampMs = startMs;
  for (let i = 0; i < count; i++) {
    stampMs += random.nextInt(400);
    const name = pick();
    const choices: FsCommand[] = [
      { op: 'write', name, content: bytes(`w${i}`.repeat(random.nextInt(4))), exptimeSeconds: random.nextInt(4) - 1 },
      { op: 'cas', name, version: random.nextInt(i + 1), content: bytes(`c${i}`), exptimeSeconds: 0 },
      { op: 'delete', name },
      { op: 'create', name, mode: 0o600, exclusive: random.nextInt(2) === 0 },
      { op: 'mkdir', name, mode: 0o700 },
      { op: 'rmdir', name },
      { op: 'rename', name, to: pick() },
      { op: 'truncate', name, size: random.nextInt(3 * chunk) },
      { op: 'writeat', name, offset: random.nextInt(3) === 0 ? -1 : random.nextInt(3 * chunk), content: new Uint8Array(random.nextInt(chunk + 10)).fill(i & 0xff) },
      { op: 'setattr', name, mode: random.nextInt(0o7777), uid: random.nextInt(3), gid: undefined, atimeMs: i, mtimeMs: undefined },
    ];
    const clientId = random.nextInt(5);
    out.push({ clientId, sequence: clientId === 0 ? 0 : Math.max(1, i + 1 - 3 * random.nextInt(2)), stampMs, command: choices[random.nextInt(choices.length)]! });
  }
  return out;
}

/** Every observable: each path's stat, listing or content, plus the counters. */
function observe(state: FileServerState, nowMs: number): string {
  const lines: string[] = [`v${state.lastVersion} s${state.lastStampMs} files${state.fileCount} sessions${state.sessionCount}`];
  const stack = ['/'];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    lines.push(JSON.stringify([name, state.query({ op: 'stat', name }, nowMs)]));
    const list = state.query({ op: 'list', name }, nowMs);
    if (list.type === 'list') {
      for (const entry of list.entries) stack.push(name === '/' ? entry.name : `${name}/${entry.name}`);
      continue;
    }
    const read = state.read(name, nowMs);
    lines.push(`${name}: ${read.type === 'contents' ? Buffer.from(read.content).toString('base64') : read.type}`);
  }
  return lines.join('\n');
}

function concat(pieces: Iterable<Uint8Array>): Uint8Array {
  const all = [...pieces];
  const out = new Uint8Array(all.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of all) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

function build(list: readonly FsRequest[]): FileServerState {
  const state = new FileServerState(options);
  for (const request of list) state.apply(request);
  return state;
}

test('fs snapshot: capture, mutate the live state, encode: the restored state equals the state at capture', (t) => {
  const before = requests(1, 1500);
  const after = requests(2, 1500, before[before.length - 1]!.stampMs);
  const live = build(before);
  const capture = live.captureSnapshot();
  for (const request of after) live.apply(request);
  const nowMs = before[before.length - 1]!.stampMs;
  for (const pieceBytesMax of [1, 13, 4096, 1 << 20]) {
    const reference = build(before);
    const restored = FileServerState.fromSnapshot(concat(capture.encode(pieceBytesMax)), options);
    t.equal(observe(restored, nowMs), observe(reference, nowMs), `pieces of ${pieceBytesMax}: every observable equal`);
    // Sessions (with their LRU order), expiries and the inode order show in what later requests do.
    let disagreements = 0;
    for (const request of after) {
      if (JSON.stringify(restored.apply(request)) !== JSON.stringify(reference.apply(request))) disagreements++;
    }
    t.equal(disagreements, 0, `pieces of ${pieceBytesMax}: the same later requests give the same results`);
    t.equal(observe(restored, nowMs + 10_000_000), observe(reference, nowMs + 10_000_000));
  }
  t.end();
});

test('fs snapshot: pieces stay within pieceBytesMax except whole chunks, which are shared, not copied', (t) => {
  const state = new FileServerState();
  state.apply({ clientId: 0, sequence: 0, stampMs: 1, command: { op: 'create', name: 'f', mode: 0o644, exclusive: true } });
  state.apply({ clientId: 0, sequence: 0, stampMs: 2, command: { op: 'writeat', name: 'f', offset: 0, content: new Uint8Array(3 * chunk + 5).fill(7) } });
  const chunks = [...(state.fileChunks('f') ?? [])];
  const capture = state.captureSnapshot();
  // Changing the file after the capture must not change what the capture encodes.
  state.apply({ clientId: 0, sequence: 0, stampMs: 3, command: { op: 'writeat', name: 'f', offset: 0, content: new Uint8Array(10) } });
  state.apply({ clientId: 0, sequence: 0, stampMs: 4, command: { op: 'truncate', name: 'f', size: 1 } });
  const pieceBytesMax = 1000;
  const pieces = [...capture.encode(pieceBytesMax)];
  const oversized = pieces.filter((piece) => piece.length > pieceBytesMax);
  t.equal(oversized.length, 3, 'the three full chunks went out whole');
  t.ok(oversized.every((piece, index) => piece === chunks[index]), 'as the very chunk objects (no copy)');
  const restored = FileServerState.fromSnapshot(concat(pieces));
  const read = restored.read('f', 10);
  t.ok(read.type === 'contents' && read.content.length === 3 * chunk + 5 && read.content.every((byte) => byte === 7), 'content as at capture');
  t.end();
});

test('fs snapshot: an empty state and a tree made very deep by renames round-trip', (t) => {
  const empty = new FileServerState();
  const restoredEmpty = FileServerState.fromSnapshot(concat(empty.captureSnapshot().encode(64)));
  t.equal(observe(restoredEmpty, 0), observe(empty, 0));
  t.equal(restoredEmpty.lastStampMs, -Infinity);
  // Renaming the chain's root into a fresh directory each time nests it one level deeper.
  const deep = new FileServerState();
  let stampMs = 1;
  const apply = (command: FsCommand): void => void deep.apply({ clientId: 0, sequence: 0, stampMs: stampMs++, command });
  apply({ op: 'write', name: 'n0/leaf', content: bytes('deep'), exptimeSeconds: 0 });
  for (let level = 1; level < 20_000; level++) {
    apply({ op: 'mkdir', name: `n${level}`, mode: 0o755 });
    apply({ op: 'rename', name: `n${level - 1}`, to: `n${level}/n${level - 1}` });
  }
  const restored = FileServerState.fromSnapshot(concat(deep.captureSnapshot().encode(1 << 16)));
  t.equal(restored.fileCount, 1);
  t.equal(restored.lastVersion, deep.lastVersion);
  t.end();
});

test('fs snapshot: random corruptions and truncations give FsSnapshotCorruptError and nothing else', (t) => {
  const state = build(requests(3, 600));
  const good = concat(state.captureSnapshot().encode(1 << 16));
  const seed = 0xbad5;
  const random = new SeededRandom(seed);
  let other = 0;
  let corrupt = 0;
  let accepted = 0;
  for (let round = 0; round < 3000; round++) {
    const input = round % 3 === 0 ? good.subarray(0, random.nextInt(good.length)) : good.slice();
    if (round % 3 !== 0) {
      for (let flips = 1 + random.nextInt(4); flips > 0; flips--) input[random.nextInt(input.length)] = random.nextInt(256);
    }
    try {
      const restored = FileServerState.fromSnapshot(input);
      // Whatever a flip in content bytes decodes to must still be a working state.
      observe(restored, 0);
      restored.apply({ clientId: 1, sequence: 1, stampMs: 1e13, command: { op: 'write', name: 'a/x/z', content: bytes('x'), exptimeSeconds: 1 } });
      accepted++;
    } catch (error) {
      if (error instanceof FsSnapshotCorruptError && error.code === 'FS_SNAPSHOT_CORRUPT') corrupt++;
      else other++;
    }
  }
  t.equal(other, 0, `seed ${seed}: never another error (${corrupt} corrupt, ${accepted} accepted)`);
  t.ok(corrupt > 1000, 'most were refused');
  for (const garbage of [new Uint8Array(0), bytes('FSRAFTSN'), new Uint8Array(100_000).fill(0xff)]) {
    t.throws(() => FileServerState.fromSnapshot(garbage), FsSnapshotCorruptError);
  }
  t.end();
});
