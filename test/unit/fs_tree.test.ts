import test from 'tape';
import type { FsStateMachineOptions } from '../../src/fs/fs_state_machine.js';
import type { FsCommand, FsQueryResult, FsRequest, FsResult, Timespec } from '../../src/fs/types.js';
import { TestState } from '../helpers/fs_state.js';
import { limits } from '../../src/util/limits.js';
import { SeededRandom } from '../../src/util/prng.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (value: string): Uint8Array => encoder.encode(value);

/** Applies commands in order at one stamp each (stamps advance by 1 ms unless given). */
class Harness {
  stampMs = 1000;

  private constructor(readonly state: TestState) {}


  static async create(options: FsStateMachineOptions = {}): Promise<Harness> {
    return new Harness(await TestState.create(options));
  }

  run(command: FsCommand, stampMs = this.stampMs + 1, clientId = 0, sequence = 0): Promise<FsResult> {
    this.stampMs = stampMs;
    return this.state.apply({ clientId, sequence, stampMs, command });
  }

  write(name: string, content = 'x', exptimeSeconds = 0): Promise<FsResult> {
    return this.run({ op: 'write', name, content: bytes(content), exptimeSeconds });
  }

  cas(name: string, version: number, content = 'x', exptimeSeconds = 0): Promise<FsResult> {
    return this.run({ op: 'cas', name, version, content: bytes(content), exptimeSeconds });
  }

  create(name: string, mode = 0o600, exclusive = false): Promise<FsResult> {
    return this.run({ op: 'create', name, mode, exclusive });
  }

  mkdir(name: string, mode = 0o700): Promise<FsResult> {
    return this.run({ op: 'mkdir', name, mode });
  }

  rmdir(name: string): Promise<FsResult> {
    return this.run({ op: 'rmdir', name });
  }

  remove(name: string): Promise<FsResult> {
    return this.run({ op: 'delete', name });
  }

  rename(name: string, to: string): Promise<FsResult> {
    return this.run({ op: 'rename', name, to });
  }

  truncate(name: string, size: number): Promise<FsResult> {
    return this.run({ op: 'truncate', name, size });
  }

  writeAt(name: string, offset: number, content: string | Uint8Array): Promise<FsResult> {
    return this.run({ op: 'writeat', name, offset, content: typeof content === 'string' ? bytes(content) : content });
  }

  setattr(name: string, attrs: { mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number }): Promise<FsResult> {
    const { mode, uid, gid, atimeMs, mtimeMs } = attrs;
    return this.run({ op: 'setattr', name, mode, uid, gid, atime: atimeMs === undefined ? undefined : timeOfMs(atimeMs), mtime: mtimeMs === undefined ? undefined : timeOfMs(mtimeMs) });
  }

  stat(name: string, nowMs = this.stampMs): Promise<FsQueryResult> {
    return this.state.query({ op: 'stat', name }, nowMs);
  }

  async kind(name: string, nowMs = this.stampMs): Promise<string> {
    const result = await this.stat(name, nowMs);
    return result.type === 'stat' ? result.stat.kind : result.type;
  }

  async names(name: string, nowMs = this.stampMs): Promise<string[] | string> {
    const result = await this.state.query({ op: 'list', name, entriesMax: limits.listEntriesMax }, nowMs);
    return result.type === 'list' ? result.entries.map((entry) => entry.name) : result.type;
  }

  async text(name: string, nowMs = this.stampMs): Promise<string> {
    const result = await this.state.read(name, nowMs);
    return result.type === 'contents' ? decoder.decode(result.content) : result.type;
  }

  async readAt(name: string, offset: number, count: number): Promise<string> {
    const result = await this.state.query({ op: 'readat', name, offset, count }, this.stampMs);
    return result.type === 'contents' ? decoder.decode(result.content) : result.type;
  }

  /** The leader's sweep of expired files, applied at `stampMs`. */
  async sweep(stampMs = this.stampMs): Promise<void> {
    const reap = await this.state.machine.housekeeping(stampMs);
    if (reap !== null) await this.run(reap, stampMs);
  }
}

/** ms since the epoch as a time attribute. */
function timeOfMs(ms: number): Timespec {
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

/** A stat's times as ms (atime/mtime/ctime). */
function msOf(time: Timespec): number {
  return time.sec * 1000 + time.nsec / 1_000_000;
}

const ok = (version: number): FsResult => ({ type: 'ok', version }) as unknown as FsResult;
const error = (type: string): FsResult => ({ type }) as FsResult;

test('fs tree: the root exists, is an empty directory, and only stat/list/setattr accept it', async (t) => {
  const h = await Harness.create();
  const root = await h.stat('/');
  t.equal(root.type === 'stat' ? `${root.stat.kind} ${root.stat.mode.toString(8)} ${root.stat.version}` : root.type, 'dir 755 0');
  t.deepEqual(await h.names('/'), []);
  for (const command of [
    () => h.create('/'),
    () => h.mkdir('/'),
    () => h.rmdir('/'),
    () => h.remove('/'),
    () => h.rename('/', 'a'),
    () => h.truncate('/', 0),
    () => h.writeAt('/', 0, 'x'),
  ]) {
    t.deepEqual(await command(), error('invalid'));
  }
  await h.mkdir('a');
  t.deepEqual(await h.rename('a', '/'), error('invalid'), 'rename onto the root');
  t.equal(await h.readAt('/', 0, 1), 'invalid');
  t.deepEqual(await h.setattr('/', { mode: 0o700 }), ok(2));
  const after = await h.stat('/');
  t.equal(after.type === 'stat' ? after.stat.mode : 0, 0o700);
  t.end();
});

test('fs tree: create makes an empty file; exclusive refuses an existing one; never truncates', async (t) => {
  const h = await Harness.create();
  t.deepEqual(await h.create('f', 0o640, true), ok(1));
  const stat = await h.stat('f');
  t.deepEqual(stat, { type: 'stat', stat: { ino: 2, kind: 'file', version: 1, size: 0, blocks: 0, mode: 0o640, nlink: 1, uid: 0, gid: 0, rdev: 0, atime: timeOfMs(1001), mtime: timeOfMs(1001), ctime: timeOfMs(1001), exptimeRemainingSeconds: 0 } });
  t.deepEqual(await h.create('f', 0o640, true), error('exists'));
  await h.writeAt('f', 0, 'data');
  t.deepEqual(await h.create('f', 0o600, false), ok(2), 'non-exclusive: OK with the current version');
  t.equal(await h.text('f'), 'data', 'not truncated');
  await h.mkdir('d');
  t.deepEqual(await h.create('d', 0o600, false), error('is_dir'));
  t.deepEqual(await h.create('d', 0o600, true), error('exists'));
  t.deepEqual(await h.create('missing/f'), error('not_found'), 'no implicit parents');
  t.deepEqual(await h.create('f/g'), error('not_dir'), 'a parent that is a file');
  t.deepEqual(await h.create('g', 0o10000), error('invalid'), 'mode beyond 7777');
  t.equal(h.state.lastVersion, 3);
  t.end();
});

test('fs tree: mkdir and rmdir, with their errors', async (t) => {
  const h = await Harness.create();
  t.deepEqual(await h.mkdir('a', 0o750), ok(1));
  t.deepEqual(await h.mkdir('a/b'), ok(2));
  t.deepEqual(await h.mkdir('a'), error('exists'));
  t.deepEqual(await h.mkdir('x/y'), error('not_found'));
  await h.write('file');
  t.deepEqual(await h.mkdir('file'), error('exists'));
  t.deepEqual(await h.mkdir('file/y'), error('not_dir'));
  t.deepEqual(await h.rmdir('a'), error('not_empty'));
  t.deepEqual(await h.rmdir('file'), error('not_dir'));
  t.deepEqual(await h.rmdir('nope'), error('not_found'));
  t.deepEqual(await h.rmdir('file/x'), error('not_dir'));
  t.deepEqual(await h.rmdir('a/b'), { type: 'done' });
  t.deepEqual(await h.rmdir('a'), { type: 'done' });
  t.equal(await h.kind('a'), 'not_found');
  t.deepEqual(await h.names('/'), ['file']);
  t.equal(h.state.lastVersion, 3, 'rmdir took no version');
  t.end();
});

test('fs tree: list is sorted by UTF-8 bytes and reports each entry', async (t) => {
  const h = await Harness.create();
  for (const name of ['b', 'a', 'B', '\u{1F600}', '\uFFFD', 'a b']) await h.write(`d/${name}`, name);
  await h.mkdir('d/sub');
  t.deepEqual(await h.names('d'), ['B', 'a', 'a b', 'b', 'sub', '\uFFFD', '\u{1F600}']);
  const list = await h.state.query({ op: 'list', name: 'd', entriesMax: limits.listEntriesMax }, h.stampMs);
  const sub = list.type === 'list' ? list.entries.find((entry) => entry.name === 'sub') : undefined;
  t.equal(sub?.kind, 'dir');
  t.equal(sub?.size, 0);
  t.equal(await h.names('d/a'), 'not_dir');
  t.equal(await h.names('none'), 'not_found');
  t.end();
});

test('fs tree: course write creates missing parents (755, same version) and refuses a file parent', async (t) => {
  const h = await Harness.create();
  t.deepEqual(await h.write('a/b/c', 'hi'), ok(1));
  const a = await h.stat('a');
  t.equal(a.type === 'stat' ? `${a.stat.kind} ${a.stat.mode.toString(8)} v${a.stat.version}` : a.type, 'dir 755 v1');
  t.equal(await h.kind('a/b'), 'dir');
  const c = await h.stat('a/b/c');
  t.equal(c.type === 'stat' ? c.stat.mode : 0, 0o644, 'course files are 644');
  t.deepEqual(await h.write('a/b/c/d'), error('not_dir'));
  t.deepEqual(await h.write('a/b'), error('is_dir'));
  t.deepEqual(await h.cas('a/b', 1), error('is_dir'));
  t.deepEqual(await h.cas('q/r', 1), error('not_found'), 'cas of a missing file with a version');
  t.deepEqual(await h.cas('q/r', 0, 'new'), ok(2), 'cas 0 creates parents like write');
  t.equal(await h.text('q/r'), 'new');
  t.deepEqual(await h.remove('a/b'), error('is_dir'));
  t.equal(await h.text('a/b'), 'is_dir');
  t.equal(await h.text('a/b/c/d'), 'not_dir');
  t.equal(h.state.lastVersion, 2, 'refused writes took no version and made no directory');
  t.deepEqual(await h.names('/'), ['a', 'q']);
  t.end();
});

test('fs tree: rename follows POSIX rename(2)', async (t) => {
  const h = await Harness.create();
  await h.write('f1', 'one');
  await h.write('f2', 'two');
  await h.mkdir('d1');
  await h.mkdir('d2');
  await h.write('full/x');
  t.deepEqual(await h.rename('f1', 'f1'), { type: 'done' }, 'from == to');
  t.deepEqual(await h.rename('f1', 'f2'), { type: 'done' }, 'file onto file replaces');
  t.equal(await h.text('f2'), 'one');
  t.equal(await h.kind('f1'), 'not_found');
  const moved = await h.stat('f2');
  t.equal(moved.type === 'stat' ? moved.stat.version : 0, 1, 'rename keeps the version');
  t.deepEqual(await h.rename('f2', 'd1'), error('is_dir'), 'file onto dir');
  t.deepEqual(await h.rename('d1', 'f2'), error('not_dir'), 'dir onto file');
  t.deepEqual(await h.rename('d1', 'full'), error('not_empty'), 'onto a non-empty dir');
  t.deepEqual(await h.rename('d1', 'd2'), { type: 'done' }, 'dir onto empty dir replaces');
  t.deepEqual(await h.names('/'), ['d2', 'f2', 'full']);
  t.deepEqual(await h.rename('full', 'full/x/y'), error('not_dir'));
  await h.mkdir('full/sub');
  t.deepEqual(await h.rename('full', 'full/sub/inner'), error('invalid'), 'into its own subtree');
  t.deepEqual(await h.rename('full', 'full/inner'), error('invalid'), 'into itself');
  t.deepEqual(await h.rename('nope', 'x'), error('not_found'));
  t.deepEqual(await h.rename('f2', 'nodir/x'), error('not_found'), "to's parent must exist");
  t.deepEqual(await h.rename('f2/x', 'y'), error('not_dir'));
  t.deepEqual(await h.rename('full', 'd2/moved'), { type: 'done' }, 'a directory moves with its subtree');
  t.equal(await h.text('d2/moved/x'), 'x');
  t.equal(await h.kind('d2/moved/sub'), 'dir');
  t.deepEqual(await h.write('d2/moved/x', 'new'), ok(7), 'the moved tree stays writable');
  t.end();
});

test('fs tree: user.fsraft.expect makes a rename a compare-and-swap of its target', async (t) => {
  const h = await Harness.create();
  const expect = (name: string, value: string): Promise<FsResult> => h.run({ op: 'setxattr', name, attr: 'user.fsraft.expect', value: bytes(value), mode: 'any' });
  await h.write('f', 'v1');
  await h.write('f', 'v2');
  await h.write('tmp', 'mine');
  await expect('tmp', '1');
  t.deepEqual(await h.rename('tmp', 'f'), { type: 'version_mismatch', currentVersion: 2 }, 'a target that moved on is refused');
  t.equal(await h.text('f'), 'v2', 'the target is untouched');
  t.equal(await h.text('tmp'), 'mine', 'the source stays where it was');
  await expect('tmp', '2');
  t.deepEqual(await h.rename('tmp', 'f'), { type: 'done' }, 'the expected version replaces');
  t.equal(await h.text('f'), 'mine');
  const attrs = await h.state.query({ op: 'listxattr', name: 'f' }, h.stampMs);
  t.notOk(JSON.stringify(attrs).includes('expect'), 'the condition is dropped once the rename happened');
  await h.write('new', 'n');
  await expect('new', '0');
  t.deepEqual(await h.rename('new', 'fresh'), { type: 'done' }, '0: the target must not exist, and it does not');
  await h.write('again', 'a');
  await expect('again', '0');
  t.equal((await h.rename('again', 'fresh')).type, 'version_mismatch', '0 and a target exists');
  await h.mkdir('adir');
  await expect('again', '0');
  t.deepEqual(await h.rename('again', 'adir/x'), { type: 'done' }, 'into a directory, no target: the condition holds');
  await h.write('third', '3');
  const adir = await h.stat('adir');
  await expect('third', String(adir.type === 'stat' ? adir.stat.version : -1));
  t.deepEqual(await h.rename('third', 'adir'), error('is_dir'), 'a rename refused for another reason');
  const kept = await h.state.query({ op: 'getxattr', name: 'third', attr: 'user.fsraft.expect' }, h.stampMs);
  t.equal(kept.type, 'bytes', '... keeps the condition: a refused rename changes nothing');
  t.deepEqual(await h.rename('adir/x', 'other'), { type: 'done' }, 'spent: the condition went with the first rename');
  await expect('third', 'soon');
  t.deepEqual(await h.rename('third', 'other'), error('invalid'), 'a value that is not a version');
  t.end();
});

test('fs tree: times follow the stamps; rename touches both parents and the node ctime; reads keep atime', async (t) => {
  const h = await Harness.create();
  await h.mkdir('a', 0o755); // 1001
  await h.mkdir('b', 0o755); // 1002
  await h.create('a/f'); // 1003
  const times = async (name: string): Promise<string> => {
    const result = await h.stat(name);
    return result.type === 'stat' ? `${msOf(result.stat.atime)}/${msOf(result.stat.mtime)}/${msOf(result.stat.ctime)}` : result.type;
  };
  t.equal(await times('a'), '1001/1003/1003', 'a new entry touches the directory');
  await h.writeAt('a/f', 0, 'x', ); // 1004
  t.equal(await times('a/f'), '1003/1004/1004', 'content change: mtime and ctime');
  await h.readAt('a/f', 0, 1);
  await h.state.read('a/f', 5000);
  t.equal(await times('a/f'), '1003/1004/1004', 'reads never change atime');
  await h.rename('a/f', 'b/g'); // 1005
  t.equal(await times('b/g'), '1003/1004/1005', 'rename: ctime');
  t.equal(await times('a'), '1001/1005/1005');
  t.equal(await times('b'), '1002/1005/1005');
  await h.setattr('b/g', { atimeMs: 7, mtimeMs: 8, uid: 1000, gid: 100 }); // 1006
  const stat = await h.stat('b/g');
  t.deepEqual(stat.type === 'stat' ? [msOf(stat.stat.atime), msOf(stat.stat.mtime), msOf(stat.stat.ctime), stat.stat.uid, stat.stat.gid, stat.stat.mode] : [], [7, 8, 1006, 1000, 100, 0o600]);
  await h.setattr('b/g', {}); // 1007: nothing but ctime and version
  t.equal(await times('b/g'), '7/8/1007');
  t.deepEqual(await h.setattr('nope', {}), error('not_found'));
  t.deepEqual(await h.setattr('b/g', { uid: 2 ** 32 }), error('invalid'));
  await h.remove('b/g'); // 1010
  t.equal(await times('b'), `1002/${h.stampMs}/${h.stampMs}`, 'delete touches the directory');
  t.end();
});

test('fs tree: writeat writes, fills gaps with zeros, appends at -1; truncate grows and shrinks', async (t) => {
  const h = await Harness.create();
  await h.create('f');
  t.deepEqual(await h.writeAt('f', 0, 'hello'), ok(2));
  t.deepEqual(await h.writeAt('f', -1, ' world'), ok(3));
  t.equal(await h.text('f'), 'hello world');
  await h.writeAt('f', 0, 'J');
  t.equal(await h.text('f'), 'Jello world');
  await h.writeAt('f', 13, '!');
  t.equal(await h.text('f'), 'Jello world\0\0!');
  t.deepEqual(await h.truncate('f', 5), ok(6));
  t.equal(await h.text('f'), 'Jello');
  await h.truncate('f', 8);
  t.equal(await h.text('f'), 'Jello\0\0\0');
  t.equal(await h.readAt('f', 1, 3), 'ell');
  t.equal(await h.readAt('f', 6, 100), '\0\0', 'fewer at the end');
  t.equal(await h.readAt('f', 100, 5), '', 'nothing past the end');
  t.deepEqual(await h.writeAt('missing', 0, 'x'), error('not_found'));
  t.deepEqual(await h.truncate('missing', 0), error('not_found'));
  await h.mkdir('d');
  t.deepEqual(await h.writeAt('d', 0, 'x'), error('is_dir'));
  t.deepEqual(await h.truncate('d', 0), error('is_dir'));
  t.equal(await h.readAt('d', 0, 1), 'is_dir');
  t.equal(await h.readAt('missing', 0, 1), 'not_found');
  // Across the inline bound: bytes straddling it read back whole, and shrink-then-grow reads zeros.
  const chunk = limits.inlineContentBytesMax;
  await h.truncate('f', 0);
  await h.writeAt('f', chunk - 2, 'abcd');
  t.equal(await h.readAt('f', chunk - 3, 6), '\0abcd');
  await h.truncate('f', chunk - 1);
  await h.truncate('f', 3 * chunk + 5);
  t.equal(await h.readAt('f', chunk - 3, 6), '\0a\0\0\0\0', 'shrink then grow: the cut bytes read as zeros');
  t.end();
});

test('fs tree: fileBytesMax bounds writeat and truncate with too_large, refusing huge offsets without allocating', async (t) => {
  const h = await Harness.create({ fileBytesMax: 100 });
  await h.create('f');
  t.deepEqual(await h.truncate('f', 100), ok(2));
  t.deepEqual(await h.truncate('f', 101), error('too_large'));
  t.deepEqual(await h.writeAt('f', 99, 'x'), ok(3));
  t.deepEqual(await h.writeAt('f', 100, 'x'), error('too_large'));
  t.deepEqual(await h.writeAt('f', -1, 'x'), error('too_large'), 'append past the limit');
  t.deepEqual(await h.writeAt('f', Number.MAX_SAFE_INTEGER, 'x'), error('too_large'));
  const big = await Harness.create();
  await big.create('f');
  t.deepEqual(await big.truncate('f', Number.MAX_SAFE_INTEGER), error('too_large'), 'default limit');
  t.deepEqual(await big.writeAt('f', 2 ** 50, 'x'), error('too_large'));
  t.deepEqual(await big.truncate('f', 2 ** 40), ok(2), '1 TiB is allowed and stores nothing');
  const stat = await big.stat('f');
  t.deepEqual(stat.type === 'stat' ? [stat.stat.size, stat.stat.blocks] : [], [2 ** 40, 0], 'a hole takes no blocks');
  t.deepEqual(await big.writeAt('f', 2 ** 40 - 3, 'end'), ok(3));
  t.equal(await big.readAt('f', 2 ** 40 - 4, 10), '\0end', 'the end of a 1 TiB file');
  t.equal(await big.readAt('f', 2 ** 39, 4), '\0\0\0\0', 'its middle is a hole');
  const after = await big.stat('f');
  t.equal(after.type === 'stat' ? after.stat.blocks : -1, 8, 'one 4 KiB block stored');
  t.equal(h.state.lastVersion, 3);
  t.end();
});

test('fs tree: a 64 MiB file built by 1 MiB writeat calls reads back byte for byte', async (t) => {
  const h = await Harness.create();
  await h.create('big');
  const mib = 1024 * 1024;
  const half = limits.inlineContentBytesMax / 2;
  const piece = new Uint8Array(mib);
  for (let i = 0; i < 64; i++) {
    piece.fill(i);
    // Offset by half the inline bound so writes straddle every boundary the store has.
    const offset = i === 0 ? 0 : i * mib - half;
    await h.writeAt('big', offset, piece);
  }
  const stat = await h.stat('big');
  t.equal(stat.type === 'stat' ? stat.stat.size : 0, 64 * mib - half);
  const sample = await h.state.query({ op: 'readat', name: 'big', offset: 5 * mib - half - 1, count: 2 }, h.stampMs);
  t.deepEqual(sample.type === 'contents' ? [...sample.content] : [], [4, 5]);
  const whole = await h.state.query({ op: 'readat', name: 'big', offset: 0, count: 64 * mib }, h.stampMs);
  let mismatches = 0;
  if (whole.type === 'contents') {
    for (let at = 0; at < whole.content.length; at += 4096) {
      const expected = at < mib - half ? 0 : Math.floor((at + half) / mib);
      if (whole.content[at] !== expected) mismatches++;
    }
  }
  t.equal(mismatches, 0, 'every 4 KiB sample holds the write that covered it last');
  t.end();
});

test('fs tree: an expired file is absent everywhere, does not block rmdir, and is reaped from its directory', async (t) => {
  const h = await Harness.create();
  await h.write('d/tmp', 'x', 2); // stamp 1001, expires at 3001
  await h.mkdir('e');
  t.deepEqual(await h.rmdir('d'), error('not_empty'));
  t.deepEqual(await h.names('d', 3000), ['tmp']);
  t.deepEqual(await h.names('d', 3001), [], 'list skips it at the deadline');
  t.equal(await h.kind('d/tmp', 3001), 'not_found');
  t.equal(await h.readAt('d/tmp', 0, 1), 'x', 'still there before the deadline');
  h.stampMs = 3001;
  t.deepEqual(await h.rmdir('d'), { type: 'done' }, 'an expired file no longer blocks rmdir');
  t.equal(h.state.machine.inodeCount, 2, 'the root and e');
  // A file that expires in a directory is swept out of it by the leader's reap.
  await h.write('e/gone', 'x', 1);
  await h.run({ op: 'mkdir', name: 'later', mode: 0o755 }, h.stampMs + 5000);
  await h.sweep();
  t.equal(h.state.machine.inodeCount, 3, 'swept: the root, e and later');
  t.deepEqual(await h.names('e'), []);
  t.deepEqual(await h.create('e/gone', 0o600, true), ok(5), 'the name is free again');
  t.end();
});

test('fs tree: expiry follows a file through renames and is kept by writeat, truncate and setattr', async (t) => {
  const h = await Harness.create();
  await h.write('a/f', 'data', 10); // stamp 1001, expires 11001
  await h.mkdir('b');
  await h.rename('a/f', 'b/g');
  await h.writeAt('b/g', -1, '!');
  await h.truncate('b/g', 3);
  await h.setattr('b/g', { mode: 0o600 });
  await h.rename('a', 'c');
  const stat = await h.stat('b/g', 2001);
  t.equal(stat.type === 'stat' ? stat.stat.exptimeRemainingSeconds : -1, 9, 'the deadline is the write\'s');
  await h.run({ op: 'mkdir', name: 'x', mode: 0o755 }, 11_001);
  t.equal(await h.kind('b/g'), 'not_found', 'expired at its deadline under its new name');
  await h.sweep();
  t.deepEqual(await h.names('b'), [], 'swept from its new directory');
  // A rename onto an expired (not yet swept) file replaces it like an absent one.
  const lazy = await Harness.create();
  await lazy.write('old', 'x', 1);
  await lazy.write('new', 'y');
  await lazy.run({ op: 'rename', name: 'new', to: 'old' }, 5000);
  t.equal(await lazy.text('old'), 'y');
  t.equal(lazy.state.machine.inodeCount, 2, 'the expired file was dropped, not counted');
  t.end();
});

test('fs tree: new commands are applied exactly once per session request', async (t) => {
  const h = await Harness.create();
  const commands: FsCommand[] = [
    { op: 'mkdir', name: 'd', mode: 0o755 },
    { op: 'create', name: 'd/f', mode: 0o644, exclusive: true },
    { op: 'writeat', name: 'd/f', offset: -1, content: bytes('ab') },
    { op: 'truncate', name: 'd/f', size: 1 },
    { op: 'setattr', name: 'd/f', mode: 0o600, uid: undefined, gid: undefined, atime: undefined, mtime: undefined },
    { op: 'rename', name: 'd/f', to: 'd/g' },
    { op: 'delete', name: 'd/g' },
    { op: 'rmdir', name: 'd' },
  ];
  for (const [index, command] of commands.entries()) {
    const first = await h.run(command, h.stampMs + 1, 9, index + 1);
    t.notOk(first.type.startsWith('not') || first.type === 'exists' || first.type === 'invalid', `${command.op} applied: ${first.type}`);
    const retry = await h.run(command, h.stampMs + 1, 9, index + 1);
    t.deepEqual(retry, first, `${command.op}: the retry gets the first answer, not an error from applying again`);
  }
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
      { op: 'setattr', name, mode: random.nextInt(0o777), uid: undefined, gid: random.nextInt(5), atime: undefined, mtime: timeOfMs(i) },
    ];
    const clientId = random.nextInt(3);
    requests.push({ clientId, sequence: clientId === 0 ? 0 : Math.max(1, i + 1 - 3 * random.nextInt(3)), stampMs, command: choices[random.nextInt(choices.length)]! });
  }
  return requests;
}

/** Every observable of a tree: each path's stat and content, and each directory's listing. */
async function observe(state: TestState, nowMs: number): Promise<string> {
  const lines: string[] = [];
  const walk = async (name: string): Promise<void> => {
    lines.push(JSON.stringify([name, await state.query({ op: 'stat', name }, nowMs)]));
    const list = await state.query({ op: 'list', name, entriesMax: limits.listEntriesMax }, nowMs);
    if (list.type !== 'list') {
      const read = await state.read(name, nowMs);
      lines.push(JSON.stringify([name, read.type === 'contents' ? [...read.content].join(',') : read.type]));
      return;
    }
    for (const entry of list.entries) await walk(name === '/' ? entry.name : `${name}/${entry.name}`);
  };
  await walk('/');
  return lines.join('\n');
}

test('fs tree: two replicas applying the same random tree commands end equal, result by result', async (t) => {
  const seed = 0x7ee;
  const requests = randomTreeRequests(new SeededRandom(seed), 4000);
  const one = await TestState.create({ sessionsMax: 2 });
  const two = await TestState.create({ sessionsMax: 2 });
  const lazy = await TestState.create({ sessionsMax: 2 });
  let disagreements = 0;
  const kinds = new Set<string>();
  for (const request of requests) {
    const a = await one.apply(request);
    const b = await two.apply(request);
    const c = await lazy.apply(request);
    // The leader's sweep: proposed on every request on two replicas, never on the third.
    const sweep = await one.machine.housekeeping(request.stampMs);
    if (sweep !== null) {
      const swept = { clientId: 0, sequence: 0, stampMs: request.stampMs, command: sweep };
      await one.apply(swept);
      await two.apply(swept);
      await lazy.machine.skipEntry(lazy.machine.appliedIndex + 1, 1);
    }
    kinds.add(a.type);
    if (JSON.stringify(a) !== JSON.stringify(b) || JSON.stringify(a) !== JSON.stringify(c)) disagreements++;
  }
  t.equal(disagreements, 0, `seed ${seed}`);
  const last = requests[requests.length - 1]!.stampMs;
  t.equal(await observe(one, last), await observe(two, last), 'same tree, attributes and contents');
  t.equal(await observe(one, last), await observe(lazy, last), 'sweeping early or never is unobservable');
  t.equal(one.lastVersion, two.lastVersion);
  t.equal(one.machine.digest, two.machine.digest, 'the digests agree');
  for (const kind of ['ok', 'deleted', 'done', 'not_found', 'exists', 'not_dir', 'is_dir', 'not_empty', 'invalid', 'version_mismatch', 'stale_request']) {
    t.ok(kinds.has(kind), `outcome ${kind} was exercised`);
  }
  t.end();
});
