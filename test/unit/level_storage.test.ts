import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import test from 'tape';
import { encodeLogEntry } from '../../src/codec/log_entry_codec.js';
import { EntryType } from '../../src/raft/types.js';
import type { LogEntry, RaftInitialState } from '../../src/raft/types.js';
import { LevelRaftStorage, StorageOpenError, StorageWriteError, entryKey } from '../../src/storage/level_storage.js';
import { StorageCorruptError, type StorageWrite } from '../../src/storage/raft_storage.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { asLogIndex } from '../../src/util/types.js';
import { branded } from '../helpers/plain_ids.js';

/** A fresh directory under the OS temp dir, removed when the test ends. */
async function tempDirectory(t: test.Test): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fsraft-level-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

/** Opens storage in `directory`, closed when the test ends (closing twice is harmless). */
async function openStorage(t: test.Test, directory: string): Promise<LevelRaftStorage> {
  const storage = await LevelRaftStorage.open(directory);
  t.teardown(() => storage.close());
  return storage;
}

function entry(index: number, term: number, text = `command ${index}`): LogEntry {
  return branded<LogEntry>({ index, term, type: EntryType.Command, data: new TextEncoder().encode(text) });
}

function comparable(state: RaftInitialState): unknown {
  return { hardState: state.hardState, entries: state.entries.map((e) => ({ ...e, data: Array.from(e.data) })) };
}

async function reload(t: test.Test, directory: string): Promise<RaftInitialState> {
  const storage = await openStorage(t, directory);
  const state = await storage.load();
  await storage.close();
  return state;
}

/** Writes entries 1..terms.length with the given terms and hard state, then closes. */
async function seed(t: test.Test, directory: string, terms: readonly number[], currentTerm: number): Promise<void> {
  const storage = await openStorage(t, directory);
  await storage.load();
  await storage.write(branded<StorageWrite>({
    hardState: { currentTerm, votedFor: 1 },
    entryOps: [{ entries: terms.map((term, i) => entry(i + 1, term)) }],
  }));
  await storage.close();
}

/** Runs `change` on the raw LevelDB (as if a disk or another program damaged it). */
async function tamper(directory: string, change: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(directory, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await change(db);
  } finally {
    await db.close();
  }
}

async function expectCorrupt(t: test.Test, directory: string, fragments: readonly string[]): Promise<void> {
  const storage = await openStorage(t, directory);
  try {
    await storage.load();
    t.fail('load() accepted damaged storage');
  } catch (error) {
    t.ok(error instanceof StorageCorruptError, `StorageCorruptError: ${(error as Error).message}`);
    for (const fragment of [directory, ...fragments]) {
      t.ok((error as Error).message.includes(fragment), `message names ${fragment}`);
    }
  }
}

test('level storage: a fresh directory loads term 0, no vote, empty log', async (t) => {
  const directory = join(await tempDirectory(t), 'nested', 'log');
  const state = await reload(t, directory);
  t.deepEqual(state, { hardState: { currentTerm: 0, votedFor: 0 }, entries: [] });
});

test('level storage: written hard state and entries survive a reopen', async (t) => {
  const directory = await tempDirectory(t);
  const storage = await openStorage(t, directory);
  await storage.load();
  const binary = { index: 3, term: 2, type: EntryType.Command, data: Uint8Array.from({ length: 256 }, (_, i) => i) };
  await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 2, votedFor: 3 }, entryOps: [{ entries: [entry(1, 1), entry(2, 2)] }] }));
  await storage.write(branded<StorageWrite>({ entryOps: [{ entries: [binary, { index: 4, term: 2, type: EntryType.Noop, data: new Uint8Array(0) }] }] }));
  await storage.close();
  const state = await reload(t, directory);
  t.deepEqual(comparable(state), {
    hardState: { currentTerm: 2, votedFor: 3 },
    entries: [entry(1, 1), entry(2, 2), binary, { index: 4, term: 2, type: EntryType.Noop, data: new Uint8Array(0) }].map(
      (e) => ({ ...e, data: Array.from(e.data) }),
    ),
  });
  t.notOk(Buffer.isBuffer(state.entries[0]?.data), 'entry data are plain Uint8Arrays');
});

test('level storage: truncate then append replaces the tail, in one write and across writes', async (t) => {
  const directory = await tempDirectory(t);
  const storage = await openStorage(t, directory);
  await storage.load();
  await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 2, votedFor: 1 }, entryOps: [{ entries: [1, 1, 2, 2, 2].map((term, i) => entry(i + 1, term)) }] }));
  await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 3, votedFor: 0 }, entryOps: [{ truncateFrom: 3, entries: [entry(3, 3, 'new 3')] }] }));
  // Several ops in one write apply in order: append 4, then replace it and add 5.
  await storage.write(branded<StorageWrite>({
    entryOps: [{ entries: [entry(4, 3, 'first 4')] }, { truncateFrom: 4, entries: [entry(4, 3, 'second 4'), entry(5, 3)] }],
  }));
  // A truncation with no entries just shortens the log.
  await storage.write(branded<StorageWrite>({ entryOps: [{ truncateFrom: 5, entries: [] }] }));
  await storage.close();
  const state = await reload(t, directory);
  t.deepEqual(
    state.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]),
    [
      [1, 1, 'command 1'],
      [2, 1, 'command 2'],
      [3, 3, 'new 3'],
      [4, 3, 'second 4'],
    ],
  );
  t.deepEqual(state.hardState, { currentTerm: 3, votedFor: 0 });
});

test('level storage: a hard-state-only write keeps the log', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory, [1, 1], 1);
  const storage = await openStorage(t, directory);
  await storage.load();
  await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 5, votedFor: 4 }, entryOps: [] }));
  await storage.write({ entryOps: [] });
  await storage.close();
  const state = await reload(t, directory);
  t.deepEqual(state.hardState, { currentTerm: 5, votedFor: 4 });
  t.equal(state.entries.length, 2);
});

test('level storage: garbage in an entry value is reported naming the index', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory, [1, 1, 1], 1);
  await tamper(directory, (db) => db.put(entryKey(asLogIndex(2)), Uint8Array.of(1, 2, 3)));
  await expectCorrupt(t, directory, ['log entry 2', 'truncated']);
});

test('level storage: one flipped byte in an entry is a checksum mismatch naming the index', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory, [1, 1, 1], 1);
  await tamper(directory, async (db) => {
    const value = (await db.get(entryKey(asLogIndex(3))))!.slice();
    value[value.length - 1] = value[value.length - 1]! ^ 0x04;
    await db.put(entryKey(asLogIndex(3)), value);
  });
  await expectCorrupt(t, directory, ['log entry 3', 'checksum mismatch']);
});

test('level storage: an entry record stored under another index is reported', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory, [1, 1, 1], 1);
  await tamper(directory, (db) => db.put(entryKey(asLogIndex(2)), encodeLogEntry(entry(3, 1))));
  await expectCorrupt(t, directory, ['log entry 2', 'wrong index']);
});

test('level storage: a missing entry in the middle or at the start is reported', async (t) => {
  const middle = await tempDirectory(t);
  await seed(t, middle, [1, 1, 1, 1], 1);
  await tamper(middle, (db) => db.del(entryKey(asLogIndex(2))));
  await expectCorrupt(t, middle, ['not contiguous', 'entry 3']);

  const start = await tempDirectory(t);
  await seed(t, start, [1, 1], 1);
  await tamper(start, (db) => db.del(entryKey(asLogIndex(1))));
  await expectCorrupt(t, start, ['starts at index 2']);
});

test('level storage: decreasing terms and a log newer than currentTerm are reported', async (t) => {
  const decreasing = await tempDirectory(t);
  await seed(t, decreasing, [1, 2, 2], 2);
  await tamper(decreasing, (db) => db.put(entryKey(asLogIndex(3)), encodeLogEntry(entry(3, 1))));
  await expectCorrupt(t, decreasing, ['log entry 3', 'below term 2']);

  const newer = await tempDirectory(t);
  await seed(t, newer, [1, 2, 4], 4);
  await tamper(newer, (db) => db.del(Uint8Array.of(0x68)));
  await expectCorrupt(t, newer, ['term 4', 'currentTerm 0']);
});

test('level storage: a damaged hard state and a malformed log key are reported', async (t) => {
  const hard = await tempDirectory(t);
  await seed(t, hard, [1], 1);
  await tamper(hard, (db) => db.put(Uint8Array.of(0x68), new Uint8Array(18)));
  await expectCorrupt(t, hard, ['hard state', 'checksum mismatch']);

  const key = await tempDirectory(t);
  await seed(t, key, [1], 1);
  await tamper(key, (db) => db.put(Uint8Array.of(0x65, 1, 2), Uint8Array.of(0)));
  await expectCorrupt(t, key, ['malformed key', '0x650102']);
});

test('level storage: a second open of a directory in use says another node is using it', async (t) => {
  const directory = await tempDirectory(t);
  await openStorage(t, directory);
  try {
    await LevelRaftStorage.open(directory);
    t.fail('second open succeeded');
  } catch (error) {
    t.ok(error instanceof StorageOpenError && error.code === 'STORAGE_LOCKED', 'STORAGE_LOCKED');
    t.ok((error as Error).message.includes(`another fsraft-node seems to be using ${directory}`), (error as Error).message);
  }
});

test('level storage: a directory locked by another process says another node is using it', async (t) => {
  const directory = await tempDirectory(t);
  const script =
    `import { Level } from 'level';` +
    `const db = new Level(process.argv[1]); await db.open(); process.stdout.write('ready\\n');` +
    `process.stdin.on('end', () => db.close()); process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, directory], {
    cwd: process.cwd(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  t.ok(ready, 'child process holds the database');
  try {
    await LevelRaftStorage.open(directory);
    t.fail('open succeeded while another process holds the lock');
  } catch (error) {
    t.ok(error instanceof StorageOpenError && error.code === 'STORAGE_LOCKED', 'STORAGE_LOCKED');
    t.ok((error as Error).message.includes(`another fsraft-node seems to be using ${directory}`), (error as Error).message);
  }
  child.stdin.end();
});

test('level storage: an unusable directory is an open error naming it', async (t) => {
  const file = join(await tempDirectory(t), 'not-a-directory');
  await writeFile(file, 'x');
  try {
    await LevelRaftStorage.open(file);
    t.fail('opened a file as a directory');
  } catch (error) {
    t.ok(error instanceof StorageOpenError && error.code === 'STORAGE_OPEN_FAILED', 'STORAGE_OPEN_FAILED');
    t.ok((error as Error).message.includes(file), (error as Error).message);
  }
});

test('level storage: a failed write rejects naming the directory and refuses later writes', async (t) => {
  const directory = await tempDirectory(t);
  const storage = await openStorage(t, directory);
  await storage.load();
  await storage.close(); // the simplest way to make LevelDB refuse a batch
  try {
    await storage.write({ entryOps: [{ entries: [entry(1, 1)] }] });
    t.fail('write to a closed database succeeded');
  } catch (error) {
    t.ok(error instanceof StorageWriteError, 'StorageWriteError');
    t.ok((error as Error).message.includes(directory), (error as Error).message);
  }
  try {
    await storage.write({ entryOps: [{ entries: [entry(1, 1)] }] });
    t.fail('write after a failed write was accepted');
  } catch (error) {
    t.ok(error instanceof AssertionFailure, `then: ${(error as Error).message}`);
  }
});

test('level storage: misuse by the caller fails assertions before touching the disk', async (t) => {
  const directory = await tempDirectory(t);
  const storage = await openStorage(t, directory);
  await rejectsWith(t, storage.write({ entryOps: [] }), 'before load', 'write before load');
  await storage.load();
  await rejectsWith(t, storage.write({ entryOps: [{ entries: [entry(2, 1)] }] }), 'appending entry 2 after 0', 'gap');
  await rejectsWith(t, storage.write(branded<StorageWrite>({ entryOps: [{ truncateFrom: 2, entries: [] }] })), 'truncateFrom 2', 'truncate past the end');
  const first = storage.write(branded<StorageWrite>({ hardState: { currentTerm: 1, votedFor: 0 }, entryOps: [{ entries: [entry(1, 1)] }] }));
  await rejectsWith(t, storage.write({ entryOps: [{ entries: [entry(2, 1)] }] }), 'overlapping', 'overlapping writes');
  await first;
  const state = await storage.load();
  t.equal(state.entries.length, 1, 'only the first write landed');
});

async function rejectsWith(t: test.Test, promise: Promise<unknown>, fragment: string, what: string): Promise<void> {
  try {
    await promise;
    t.fail(`${what}: accepted`);
  } catch (error) {
    t.ok(error instanceof AssertionFailure && error.message.includes(fragment), `${what}: ${(error as Error).message}`);
  }
}

test('level storage: a compaction records the snapshot and deletes the entries up to its base in one batch (§7)', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory, [1, 1, 2, 2, 2, 3], 3);
  const storage = await openStorage(t, directory);
  await storage.load();
  const snapshot = { index: 5, term: 2, bytes: 100 };
  await storage.write(branded<StorageWrite>({ entryOps: [{ compact: { base: { index: 3, term: 2 }, snapshot, discardLog: false } }, { entries: [entry(7, 3)] }] }));
  await storage.close();
  const state = await reload(t, directory);
  t.deepEqual(state.snapshot, snapshot);
  t.deepEqual(state.base, { index: 3, term: 2 });
  t.deepEqual(state.entries.map((e) => e.index), [4, 5, 6, 7]);
  await tamper(directory, async (db) => {
    const keys: number[] = [];
    for await (const key of db.keys({ gte: Uint8Array.of(0x65), lt: Uint8Array.of(0x66) })) keys.push(key[8]!);
    t.deepEqual(keys, [4, 5, 6, 7], 'entries 1..3 are gone from disk too');
  });
  t.end();
});

test('level storage: an installed snapshot that discards the log leaves only entries after it', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory, [1, 1, 2], 4);
  const storage = await openStorage(t, directory);
  await storage.load();
  const snapshot = { index: 10, term: 4, bytes: 100 };
  await storage.write(branded<StorageWrite>({ entryOps: [{ compact: { base: { index: 10, term: 4 }, snapshot, discardLog: true } }, { entries: [entry(11, 4)] }] }));
  await storage.close();
  const state = await reload(t, directory);
  t.deepEqual([state.snapshot, state.base, state.entries.map((e) => e.index)], [snapshot, { index: 10, term: 4 }, [11]]);
  t.end();
});

/** Entries 1..3 with a snapshot at 2 and the log compacted through 1. */
async function seedCompacted(t: test.Test, directory: string): Promise<void> {
  await seed(t, directory, [1, 1, 2], 4);
  const storage = await openStorage(t, directory);
  await storage.load();
  await storage.write(branded<StorageWrite>({ entryOps: [{ compact: { base: { index: 1, term: 1 }, snapshot: { index: 2, term: 1, bytes: 50 }, discardLog: false } }] }));
  await storage.close();
}

test('level storage: a log that does not start right after the recorded base is corrupt', async (t) => {
  const directory = await tempDirectory(t);
  await seedCompacted(t, directory);
  await tamper(directory, (db) => db.put(entryKey(asLogIndex(1)), encodeLogEntry(entry(1, 1))));
  await expectCorrupt(t, directory, ['log starts at index 1', 'expected 2']);
  t.end();
});

test('level storage: a snapshot record beyond the end of the log is corrupt', async (t) => {
  const directory = await tempDirectory(t);
  await seedCompacted(t, directory);
  await tamper(directory, async (db) => {
    await db.del(entryKey(asLogIndex(2)));
    await db.del(entryKey(asLogIndex(3)));
  });
  await expectCorrupt(t, directory, ['snapshot record (key "s") names index 2', 'the log ends at 1']);
  t.end();
});
