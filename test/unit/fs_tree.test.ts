import test from 'tape';
import { FileServerState } from '../../src/fs/file_server.js';
import type { FsCommand, FsQueryResult, FsRequest, FsResult } from '../../src/fs/types.js';
import { limits } from '../../src/util/limits.js';
import { SeededRandom } from '../../src/util/prng.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (value: string): Uint8Array => encoder.encode(value);

/** Applies commands in order at one stamp each (stamps advance by 1 ms unless given). */
class Harness {
  readonly state: FileServerState;
  stampMs = 1000;

  constructor(options: ConstructorParameters<typeof FileServerState>[0] = {}) {
    this.state = new FileServerState(options);
  }

  run(command: FsCommand, stampMs = this.stampMs + 1, clientId = 0, sequence = 0): FsResult {
    this.stampMs = stampMs;
    return this.state.apply({ clientId, sequence, stampMs, command });
  }

  write(name: string, content = 'x', exptimeSeconds = 0): FsResult {
    return this.run({ op: 'write', name, content: bytes(content), exptimeSeconds });
  }

  cas(name: string, version: number, content = 'x', exptimeSeconds = 0): FsResult {
    return this.run({ op: 'cas', name, version, content: bytes(content), exptimeSeconds });
  }

  create(name: string, mode = 0o600, exclusive = false): FsResult {
    return this.run({ op: 'create', name, mode, exclusive });
  }

  mkdir(name: string, mode = 0o700): FsResult {
    return this.run({ op: 'mkdir', name, mode });
  }

  rmdir(name: string): FsResult {
    return this.run({ op: 'rmdir', name });
  }

  remove(name: string): FsResult {
    return this.run({ op: 'delete', name });
  }

  rename(name: string, to: string): FsResult {
    return this.run({ op: 'rename', name, to });
  }

  truncate(name: string, size: number): FsResult {
    return this.run({ op: 'truncate', name, size });
  }

  writeAt(name: string, offset: number, content: string | Uint8Array): FsResult {
    return this.run({ op: 'writeat', name, offset, content: typeof content === 'string' ? bytes(content) : content });
  }

  setattr(name: string, attrs: { mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number }): FsResult {
    const { mode, uid, gid, atimeMs, mtimeMs } = attrs;
    return this.run({ op: 'setattr', name, mode, uid, gid, atimeMs, mtimeMs });
  }

  stat(name: string, nowMs = this.stampMs): FsQueryResult {
    return this.state.query({ op: 'stat', name }, nowMs);
  }

  kind(name: string, nowMs = this.stampMs): string {
    const result = this.stat(name, nowMs);
    return result.type === 'stat' ? result.stat.kind : result.type;
  }

  names(name: string, nowMs = this.stampMs): string[] | string {
    const result = this.state.query({ op: 'list', name }, nowMs);
    return result.type === 'list' ? result.entries.map((entry) => entry.name) : result.type;
  }

  text(name: string, nowMs = this.stampMs): string {
    const result = this.state.read(name, nowMs);
    return result.type === 'contents' ? decoder.decode(result.content) : result.type;
  }

  readAt(name: string, offset: number, count: number): string {
    const result = this.state.query({ op: 'readat', name, offset, count }, this.stampMs);
    return result.type === 'contents' ? decoder.decode(result.content) : result.type;
  }
}

const ok = (version: number): FsResult => ({ type: 'ok', version });
const error = (type: string): FsResult => ({ type }) as FsResult;

test('fs tree: the root exists, is an empty directory, and only stat/list/setattr accept it', (t) => {
  const h = new Harness();
  const root = h.stat('/');
  t.equal(root.type === 'stat' ? `${root.stat.kind} ${root.stat.mode.toString(8)} ${root.stat.version}` : root.type, 'dir 755 0');
  t.deepEqual(h.names('/'), []);
  for (const command of [
    () => h.create('/'),
    () => h.mkdir('/'),
    () => h.rmdir('/'),
    () => h.remove('/'),
    () => h.rename('/', 'a'),
    () => h.truncate('/', 0),
    () => h.writeAt('/', 0, 'x'),
  ]) {
    t.deepEqual(command(), error('invalid'));
  }
  h.mkdir('a');
  t.deepEqual(h.rename('a', '/'), error('invalid'), 'rename onto the root');
  t.equal(h.readAt('/', 0, 1), 'invalid');
  t.deepEqual(h.setattr('/', { mode: 0o700 }), ok(2));
  const after = h.stat('/');
  t.equal(after.type === 'stat' ? after.stat.mode : 0, 0o700);
  t.end();
});

test('fs tree: create makes an empty file; exclusive refuses an existing one; never truncates', (t) => {
  const h = new Harness();
  t.deepEqual(h.create('f', 0o640, true), ok(1));
  const stat = h.stat('f');
  t.deepEqual(stat, { type: 'stat', stat: { kind: 'file', version: 1, size: 0, mode: 0o640, uid: 0, gid: 0, atimeMs: 1001, mtimeMs: 1001, ctimeMs: 1001, exptimeRemainingSeconds: 0 } });
  t.deepEqual(h.create('f', 0o640, true), error('exists'));
  h.writeAt('f', 0, 'data');
  t.deepEqual(h.create('f', 0o600, false), ok(2), 'non-exclusive: OK with the current version');
  t.equal(h.text('f'), 'data', 'not truncated');
  h.mkdir('d');
  t.deepEqual(h.create('d', 0o600, false), error('is_dir'));
  t.deepEqual(h.create('d', 0o600, true), error('exists'));
  t.deepEqual(h.create('missing/f'), error('not_found'), 'no implicit parents');
  t.deepEqual(h.create('f/g'), error('not_dir'), 'a parent that is a file');
  t.deepEqual(h.create('g', 0o10000), error('invalid'), 'mode beyond 7777');
  t.equal(h.state.lastVersion, 3);
  t.end();
});

test('fs tree: mkdir and rmdir, with their errors', (t) => {
  const h = new Harness();
  t.deepEqual(h.mkdir('a', 0o750), ok(1));
  t.deepEqual(h.mkdir('a/b'), ok(2));
  t.deepEqual(h.mkdir('a'), error('exists'));
  t.deepEqual(h.mkdir('x/y'), error('not_found'));
  h.write('file');
  t.deepEqual(h.mkdir('file'), error('exists'));
  t.deepEqual(h.mkdir('file/y'), error('not_dir'));
  t.deepEqual(h.rmdir('a'), error('not_empty'));
  t.deepEqual(h.rmdir('file'), error('not_dir'));
  t.deepEqual(h.rmdir('nope'), error('not_found'));
  t.deepEqual(h.rmdir('file/x'), error('not_dir'));
  t.deepEqual(h.rmdir('a/b'), { type: 'done' });
  t.deepEqual(h.rmdir('a'), { type: 'done' });
  t.equal(h.kind('a'), 'not_found');
  t.deepEqual(h.names('/'), ['file']);
  t.equal(h.state.lastVersion, 3, 'rmdir took no version');
  t.end();
});

test('fs tree: list is sorted by UTF-8 bytes and reports each entry', (t) => {
  const h = new Harness();
  for (const name of ['b', 'a', 'B', '\u{1F600}', '\uFFFD', 'a b']) h.write(`d/${name}`, name);
  h.mkdir('d/sub');
  t.deepEqual(h.names('d'), ['B', 'a', 'a b', 'b', 'sub', '\uFFFD', '\u{1F600}']);
  const list = h.state.query({ op: 'list', name: 'd' }, h.stampMs);
  const sub = list.type === 'list' ? list.entries.find((entry) => entry.name === 'sub') : undefined;
  t.equal(sub?.kind, 'dir');
  t.equal(sub?.size, 0);
  t.equal(h.names('d/a'), 'not_dir');
  t.equal(h.names('none'), 'not_found');
  t.end();
});

test('fs tree: course write creates missing parents (755, same version) and refuses a file parent', (t) => {
  const h = new Harness();
  t.deepEqual(h.write('a/b/c', 'hi'), ok(1));
  const a = h.stat('a');
  t.equal(a.type === 'stat' ? `${a.stat.kind} ${a.stat.mode.toString(8)} v${a.stat.version}` : a.type, 'dir 755 v1');
  t.equal(h.kind('a/b'), 'dir');
  const c = h.stat('a/b/c');
  t.equal(c.type === 'stat' ? c.stat.mode : 0, 0o644, 'course files are 644');
  t.deepEqual(h.write('a/b/c/d'), error('not_dir'));
  t.deepEqual(h.write('a/b'), error('is_dir'));
  t.deepEqual(h.cas('a/b', 1), error('is_dir'));
  t.deepEqual(h.cas('q/r', 1), error('not_found'), 'cas of a missing file with a version');
  t.deepEqual(h.cas('q/r', 0, 'new'), ok(2), 'cas 0 creates parents like write');
  t.equal(h.text('q/r'), 'new');
  t.deepEqual(h.remove('a/b'), error('is_dir'));
  t.equal(h.text('a/b'), 'is_dir');
  t.equal(h.text('a/b/c/d'), 'not_dir');
  t.equal(h.state.lastVersion, 2, 'refused writes took no version and made no directory');
  t.deepEqual(h.names('/'), ['a', 'q']);
  t.end();
});

test('fs tree: rename follows POSIX rename(2)', (t) => {
  const h = new Harness();
  h.write('f1', 'one');
  h.write('f2', 'two');
  h.mkdir('d1');
  h.mkdir('d2');
  h.write('full/x');
  t.deepEqual(h.rename('f1', 'f1'), { type: 'done' }, 'from == to');
  t.deepEqual(h.rename('f1', 'f2'), { type: 'done' }, 'file onto file replaces');
  t.equal(h.text('f2'), 'one');
  t.equal(h.kind('f1'), 'not_found');
  const moved = h.stat('f2');
  t.equal(moved.type === 'stat' ? moved.stat.version : 0, 1, 'rename keeps the version');
  t.deepEqual(h.rename('f2', 'd1'), error('is_dir'), 'file onto dir');
  t.deepEqual(h.rename('d1', 'f2'), error('not_dir'), 'dir onto file');
  t.deepEqual(h.rename('d1', 'full'), error('not_empty'), 'onto a non-empty dir');
  t.deepEqual(h.rename('d1', 'd2'), { type: 'done' }, 'dir onto empty dir replaces');
  t.deepEqual(h.names('/'), ['d2', 'f2', 'full']);
  t.deepEqual(h.rename('full', 'full/x/y'), error('not_dir'));
  h.mkdir('full/sub');
  t.deepEqual(h.rename('full', 'full/sub/inner'), error('invalid'), 'into its own subtree');
  t.deepEqual(h.rename('full', 'full/inner'), error('invalid'), 'into itself');
  t.deepEqual(h.rename('nope', 'x'), error('not_found'));
  t.deepEqual(h.rename('f2', 'nodir/x'), error('not_found'), "to's parent must exist");
  t.deepEqual(h.rename('f2/x', 'y'), error('not_dir'));
  t.deepEqual(h.rename('full', 'd2/moved'), { type: 'done' }, 'a directory moves with its subtree');
  t.equal(h.text('d2/moved/x'), 'x');
  t.equal(h.kind('d2/moved/sub'), 'dir');
  t.deepEqual(h.write('d2/moved/x', 'new'), ok(7), 'the moved tree stays writable');
  t.end();
});

test('fs tree: times follow the stamps; rename touches both parents and the node ctime; reads keep atime', (t) => {
  const h = new Harness();
  h.mkdir('a', 0o755); // 1001
  h.mkdir('b', 0o755); // 1002
  h.create('a/f'); // 1003
  const times = (name: string): string => {
    const result = h.stat(name);
    return result.type === 'stat' ? `${result.stat.atimeMs}/${result.stat.mtimeMs}/${result.stat.ctimeMs}` : result.type;
  };
  t.equal(times('a'), '1001/1003/1003', 'a new entry touches the directory');
  h.writeAt('a/f', 0, 'x', ); // 1004
  t.equal(times('a/f'), '1003/1004/1004', 'content change: mtime and ctime');
  h.readAt('a/f', 0, 1);
  h.state.read('a/f', 5000);
  t.equal(times('a/f'), '1003/1004/1004', 'reads never change atime');
  h.rename('a/f', 'b/g'); // 1005
  t.equal(times('b/g'), '1003/1004/1005', 'rename: ctime');
  t.equal(times('a'), '1001/1005/1005');
  t.equal(times('b'), '1002/1005/1005');
  h.setattr('b/g', { atimeMs: 7, mtimeMs: 8, uid: 1000, gid: 100 }); // 1006
  const stat = h.stat('b/g');
  t.deepEqual(stat.type === 'stat' ? [stat.stat.atimeMs, stat.stat.mtimeMs, stat.stat.ctimeMs, stat.stat.uid, stat.stat.gid, stat.stat.mode] : [], [7, 8, 1006, 1000, 100, 0o600]);
  h.setattr('b/g', {}); // 1007: nothing but ctime and version
  t.equal(times('b/g'), '7/8/1007');
  t.deepEqual(h.setattr('nope', {}), error('not_found'));
  t.deepEqual(h.setattr('b/g', { uid: 2 ** 32 }), error('invalid'));
  h.remove('b/g'); // 1010
  t.equal(times('b'), `1002/${h.stampMs}/${h.stampMs}`, 'delete touches the directory');
  t.end();
});

test('fs tree: writeat writes, fills gaps with zeros, appends at -1; truncate grows and shrinks', (t) => {
  const h = new Harness();
  h.create('f');
  t.deepEqual(h.writeAt('f', 0, 'hello'), ok(2));
  t.deepEqual(h.writeAt('f', -1, ' world'), ok(3));
  t.equal(h.text('f'), 'hello world');
  h.writeAt('f', 0, 'J');
  t.equal(h.text('f'), 'Jello world');
  h.writeAt('f', 13, '!');
  t.equal(h.text('f'), 'Jello world\0\0!');
  t.deepEqual(h.truncate('f', 5), ok(6));
  t.equal(h.text('f'), 'Jello');
  h.truncate('f', 8);
  t.equal(h.text('f'), 'Jello\0\0\0');
  t.equal(h.readAt('f', 1, 3), 'ell');
  t.equal(h.readAt('f', 6, 100), '\0\0', 'fewer at the end');
  t.equal(h.readAt('f', 100, 5), '', 'nothing past the end');
  t.deepEqual(h.writeAt('missing', 0, 'x'), error('not_found'));
  t.deepEqual(h.truncate('missing', 0), error('not_found'));
  h.mkdir('d');
  t.deepEqual(h.writeAt('d', 0, 'x'), error('is_dir'));
  t.deepEqual(h.truncate('d', 0), error('is_dir'));
  t.equal(h.readAt('d', 0, 1), 'is_dir');
  t.equal(h.readAt('missing', 0, 1), 'not_found');
  // Across chunk boundaries: bytes straddling two chunks read back whole.
  const chunk = limits.fileChunkBytes;
  h.truncate('f', 0);
  h.writeAt('f', chunk - 2, 'abcd');
  t.equal(h.readAt('f', chunk - 3, 6), '\0abcd');
  h.truncate('f', chunk - 1);
  h.truncate('f', 3 * chunk + 5);
  t.equal(h.readAt('f', chunk - 3, 6), '\0a\0\0\0\0', 'shrink then grow: the cut bytes read as zeros');
  t.end();
});

test('fs tree: fileBytesMax bounds writeat and truncate with too_large, refusing huge offsets without allocating', (t) => {
  const h = new Harness({ fileBytesMax: 100 });
  h.create('f');
  t.deepEqual(h.truncate('f', 100), ok(2));
  t.deepEqual(h.truncate('f', 101), error('too_large'));
  t.deepEqual(h.writeAt('f', 99, 'x'), ok(3));
  t.deepEqual(h.writeAt('f', 100, 'x'), error('too_large'));
  t.deepEqual(h.writeAt('f', -1, 'x'), error('too_large'), 'append past the limit');
  t.deepEqual(h.writeAt('f', Number.MAX_SAFE_INTEGER, 'x'), error('too_large'));
  const big = new Harness();
  big.create('f');
  t.deepEqual(big.truncate('f', Number.MAX_SAFE_INTEGER), error('too_large'), 'default limit');
  t.deepEqual(big.writeAt('f', 2 ** 50, 'x'), error('too_large'));
  t.deepEqual(big.truncate('f', limits.fileBytesMaxDefault), ok(2), 'exactly 1 GiB shares one zero chunk');
  const chunks = big.state.fileChunks('f') ?? [];
  t.equal(chunks.length, limits.fileBytesMaxDefault / limits.fileChunkBytes);
  t.equal(chunks[0]?.buffer, chunks[chunks.length - 1]?.buffer, 'zeros are not allocated per chunk');
  t.equal(h.state.lastVersion, 3);
  t.end();
});

test('fs tree: a 64 MiB file built by 1 MiB writeat calls; each call replaces only the chunks it touches', (t) => {
  const h = new Harness();
  h.create('big');
  const mib = 1024 * 1024;
  const chunk = limits.fileChunkBytes;
  const piece = new Uint8Array(mib);
  let untouchedKept = true;
  let touchedReplaced = true;
  for (let i = 0; i < 64; i++) {
    piece.fill(i);
    const before = [...(h.state.fileChunks('big') ?? [])];
    // Offset by half a chunk so every write straddles chunk boundaries at both ends.
    const offset = i === 0 ? 0 : i * mib - chunk / 2;
    h.writeAt('big', offset, piece);
    const after = h.state.fileChunks('big') ?? [];
    const first = Math.floor(offset / chunk);
    const last = Math.floor((offset + mib - 1) / chunk);
    before.forEach((old, index) => {
      if (index < first || index > last) untouchedKept &&= after[index] === old;
      else touchedReplaced &&= after[index] !== old;
    });
  }
  t.ok(untouchedKept, 'every chunk outside a write is the same object afterwards (no copy)');
  t.ok(touchedReplaced, 'every chunk inside a write is a new object (chunks are immutable)');
  const chunks = h.state.fileChunks('big') ?? [];
  t.ok(chunks.every((c, index) => c.length === chunk || index === chunks.length - 1), 'every chunk but the last is full');
  const stat = h.stat('big');
  t.equal(stat.type === 'stat' ? stat.stat.size : 0, 64 * mib - chunk / 2);
  const sample = h.state.query({ op: 'readat', name: 'big', offset: 5 * mib - chunk / 2 - 1, count: 2 }, h.stampMs);
  t.deepEqual(sample.type === 'contents' ? [...sample.content] : [], [4, 5]);
  t.end();
});

test('fs tree: an expired file is absent everywhere, does not block rmdir, and is reaped from its directory', (t) => {
  const h = new Harness();
  h.write('d/tmp', 'x', 2); // stamp 1001, expires at 3001
  h.mkdir('e');
  t.deepEqual(h.rmdir('d'), error('not_empty'));
  t.deepEqual(h.names('d', 3000), ['tmp']);
  t.deepEqual(h.names('d', 3001), [], 'list skips it at the deadline');
  t.equal(h.kind('d/tmp', 3001), 'not_found');
  t.equal(h.readAt('d/tmp', 0, 1), 'x', 'still there before the deadline');
  h.stampMs = 3001;
  t.deepEqual(h.rmdir('d'), { type: 'done' }, 'an expired file no longer blocks rmdir');
  t.equal(h.state.fileCount, 0);
  // A file that expires in a directory is reaped out of it on a later apply.
  h.write('e/gone', 'x', 1);
  h.run({ op: 'mkdir', name: 'later', mode: 0o755 }, h.stampMs + 5000);
  t.equal(h.state.fileCount, 0, 'reaped');
  t.deepEqual(h.names('e'), []);
  t.deepEqual(h.create('e/gone', 0o600, true), ok(5), 'the name is free again');
  t.end();
});

test('fs tree: expiry follows a file through renames and is kept by writeat, truncate and setattr', (t) => {
  const h = new Harness();
  h.write('a/f', 'data', 10); // stamp 1001, expires 11001
  h.mkdir('b');
  h.rename('a/f', 'b/g');
  h.writeAt('b/g', -1, '!');
  h.truncate('b/g', 3);
  h.setattr('b/g', { mode: 0o600 });
  h.rename('a', 'c');
  const stat = h.stat('b/g', 2001);
  t.equal(stat.type === 'stat' ? stat.stat.exptimeRemainingSeconds : -1, 9, 'the deadline is the write\'s');
  h.run({ op: 'mkdir', name: 'x', mode: 0o755 }, 11_001);
  t.equal(h.kind('b/g'), 'not_found', 'expired at its deadline under its new name');
  t.equal(h.state.fileCount, 0, 'reaped from its new directory');
  // A rename onto an expired (not yet reaped) file replaces it like an absent one.
  const lazy = new Harness({ expiredFilesReapedPerApplyMax: 0 });
  lazy.write('old', 'x', 1);
  lazy.write('new', 'y');
  lazy.run({ op: 'rename', name: 'new', to: 'old' }, 5000);
  t.equal(lazy.text('old'), 'y');
  t.equal(lazy.state.fileCount, 1, 'the expired file was dropped, not counted');
  t.end();
});

test('fs tree: new commands are applied exactly once per session request', (t) => {
  const h = new Harness();
  const commands: FsCommand[] = [
    { op: 'mkdir', name: 'd', mode: 0o755 },
    { op: 'create', name: 'd/f', mode: 0o644, exclusive: true },
    { op: 'writeat', name: 'd/f', offset: -1, content: bytes('ab') },
    { op: 'truncate', name: 'd/f', size: 1 },
    { op: 'setattr', name: 'd/f', mode: 0o600, uid: undefined, gid: undefined, atimeMs: undefined, mtimeMs: undefined },
    { op: 'rename', name: 'd/f', to: 'd/g' },
    { op: 'delete', name: 'd/g' },
    { op: 'rmdir', name: 'd' },
  ];
  commands.forEach((command, index) => {
    const first = h.run(command, h.stampMs + 1, 9, index + 1);
    t.notOk(first.type.startsWith('not') || first.type === 'exists' || first.type === 'invalid', `${command.op} applied: ${first.type}`);
    const retry = h.run(command, h.stampMs + 1, 9, index + 1);
    t.deepEqual(retry, first, `${command.op}: the retry gets the first answer, not an error from applying again`);
  });
  t.equal(h.state.lastVersion, 5);
  t.end();
});

/** Random tree commands over a small name space, so every error and replacement happens. */
function randomTreeRequests(random: SeededRandom, count: number): FsRequest[] {
  const names = ['a', 'b', 'a/x', 'a/y', 'b/x', 'a/x/z', 'b/x/z'];
  const pick = (): string => names[random.nextInt(names.length)]!;
  const requests: FsRequest[] = [];
  let stampMs = 0;
  for (let i = 0; i < count; i++) {
    stampMs += random.nextInt(600);
    const name = pick();
    const choices: FsCommand[] = [
      { op: 'write', name, content: bytes(`w${i}`), exptimeSeconds: random.nextInt(3) - 1 },
      { op: 'cas', name, version: random.nextInt(i + 1), content: bytes(`c${i}`), exptimeSeconds: 0 },
      { op: 'delete', name },
      { op: 'create', name, mode: 0o644, exclusive: random.nextInt(2) === 0 },
      { op: 'mkdir', name, mode: 0o755 },
      { op: 'rmdir', name },
      { op: 'rename', name, to: pick() },
      { op: 'truncate', name, size: random.nextInt(100_000) },
      { op: 'writeat', name, offset: random.nextInt(3) === 0 ? -1 : random.nextInt(140_000), content: bytes(`p${i}`) },
      { op: 'setattr', name, mode: random.nextInt(0o777), uid: undefined, gid: random.nextInt(5), atimeMs: undefined, mtimeMs: i },
    ];
    const clientId = random.nextInt(3);
    requests.push({ clientId, sequence: clientId === 0 ? 0 : Math.max(1, i + 1 - 3 * random.nextInt(3)), stampMs, command: choices[random.nextInt(choices.length)]! });
  }
  return requests;
}

/** Every observable of a tree: each path's stat and content, and each directory's listing. */
function observe(state: FileServerState, nowMs: number): string {
  const lines: string[] = [];
  const walk = (name: string): void => {
    lines.push(JSON.stringify([name, state.query({ op: 'stat', name }, nowMs)]));
    const list = state.query({ op: 'list', name }, nowMs);
    if (list.type !== 'list') {
      const read = state.read(name, nowMs);
      lines.push(JSON.stringify([name, read.type === 'contents' ? [...read.content].join(',') : read.type]));
      return;
    }
    for (const entry of list.entries) walk(name === '/' ? entry.name : `${name}/${entry.name}`);
  };
  walk('/');
  return lines.join('\n');
}

test('fs tree: two replicas applying the same random tree commands end equal, result by result', (t) => {
  const seed = 0x7ee;
  const requests = randomTreeRequests(new SeededRandom(seed), 4000);
  const one = new FileServerState({ sessionsMax: 2, expiredFilesReapedPerApplyMax: 1 });
  const two = new FileServerState({ sessionsMax: 2, expiredFilesReapedPerApplyMax: 1 });
  const lazy = new FileServerState({ sessionsMax: 2, expiredFilesReapedPerApplyMax: 0 });
  let disagreements = 0;
  const kinds = new Set<string>();
  for (const request of requests) {
    const a = one.apply(request);
    const b = two.apply(request);
    const c = lazy.apply(request);
    kinds.add(a.type);
    if (JSON.stringify(a) !== JSON.stringify(b) || JSON.stringify(a) !== JSON.stringify(c)) disagreements++;
  }
  t.equal(disagreements, 0, `seed ${seed}`);
  const last = requests[requests.length - 1]!.stampMs;
  t.equal(observe(one, last), observe(two, last), 'same tree, attributes and contents');
  t.equal(observe(one, last), observe(lazy, last), 'reaping eagerly or lazily is unobservable');
  t.equal(one.lastVersion, two.lastVersion);
  for (const kind of ['ok', 'deleted', 'done', 'not_found', 'exists', 'not_dir', 'is_dir', 'not_empty', 'invalid', 'version_mismatch', 'stale_request']) {
    t.ok(kinds.has(kind), `outcome ${kind} was exercised`);
  }
  t.end();
});
