import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import test from 'tape';
import { isSegmentEntryRef } from '../../src/codec/log_entry_codec.js';
import { EntryType } from '../../src/raft/types.js';
import type { LogEntry, RaftInitialState } from '../../src/raft/types.js';
import { LevelRaftStorage, entryKey } from '../../src/storage/level_storage.js';
import { StorageCorruptError, type StorageWrite } from '../../src/storage/raft_storage.js';
import { asLogIndex, asTerm } from '../../src/util/types.js';
import { branded } from '../helpers/plain_ids.js';

// Small limits, so that a few entries of a few hundred bytes span several segments.
const limits = { entryBytesMin: 200, segmentBytesMax: 1000 };

async function tempDirectory(t: test.Test): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fsraft-segments-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

async function openStorage(t: test.Test, directory: string): Promise<LevelRaftStorage> {
  const storage = await LevelRaftStorage.open(directory, limits);
  t.teardown(() => storage.close());
  return storage;
}

/** Entry `index` with `bytes` bytes of data derived from the index (large: >= 200 goes to a segment). */
function entry(index: number, term: number, bytes: number): LogEntry {
  return { index: asLogIndex(index), term: asTerm(term), type: EntryType.Command, data: Uint8Array.from({ length: bytes }, (_, i) => (index * 31 + i) & 0xff) };
}

function summary(state: RaftInitialState): Array<[number, number, number[]]> {
  return state.entries.map((e) => [e.index, e.term, Array.from(e.data)]);
}

function expected(entries: readonly LogEntry[]): Array<[number, number, number[]]> {
  return entries.map((e) => [e.index, e.term, Array.from(e.data)]);
}

async function reload(t: test.Test, directory: string): Promise<RaftInitialState> {
  const storage = await openStorage(t, directory);
  const state = await storage.load();
  await storage.close();
  return state;
}

async function segmentFiles(directory: string): Promise<string[]> {
  return (await readdir(join(directory, 'segments'))).sort();
}

/** The raw values stored under the entry keys `indexes`. */
async function storedValues(directory: string, indexes: readonly number[]): Promise<Uint8Array[]> {
  const db = new Level<Uint8Array, Uint8Array>(directory, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    return await Promise.all(indexes.map(async (index) => (await db.get(entryKey(asLogIndex(index))))!));
  } finally {
    await db.close();
  }
}

/** Writes large entries 1..4 (300 bytes each: three to a 1000-byte segment) and small entry 5. */
async function seed(t: test.Test, directory: string): Promise<LogEntry[]> {
  const entries = [entry(1, 1, 300), entry(2, 1, 300), entry(3, 1, 300), entry(4, 1, 300), entry(5, 1, 20)];
  const storage = await openStorage(t, directory);
  await storage.load();
  await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 1, votedFor: 1 }, entryOps: [{ entries: entries.slice(0, 2) }] }));
  await storage.write(branded<StorageWrite>({ entryOps: [{ entries: entries.slice(2) }] }));
  await storage.close();
  return entries;
}

test('segments: large entries live in segment files, small ones in LevelDB, and both survive a reopen', async (t) => {
  const directory = await tempDirectory(t);
  const entries = await seed(t, directory);
  // Entries 1+2 went to segment 1 (2 x 323 bytes, not full), and so did 3 and 4 (1,292 bytes).
  t.deepEqual(await segmentFiles(directory), ['0000000001.seg']);
  const values = await storedValues(directory, [1, 2, 3, 4, 5]);
  t.deepEqual(values.map(isSegmentEntryRef), [true, true, true, true, false], 'LevelDB holds references for the large entries only');
  const state = await reload(t, directory);
  t.deepEqual(summary(state), expected(entries));
  t.deepEqual(state.hardState, { currentTerm: 1, votedFor: 1 });
});

test('segments: a torn tail and an unreferenced segment left by a crash are ignored, and the leftover removed', async (t) => {
  const directory = await tempDirectory(t);
  const entries = await seed(t, directory);
  // As if a crash came after the records of the next write reached the segment (or part of
  // them), but before the LevelDB batch naming them: garbage after the last referenced record,
  // and a whole segment nothing references.
  await appendFile(join(directory, 'segments', '0000000001.seg'), Buffer.alloc(123, 0xee));
  await writeFile(join(directory, 'segments', '0000000002.seg'), Buffer.alloc(500, 0xab));
  const storage = await openStorage(t, directory);
  const state = await storage.load();
  t.deepEqual(summary(state), expected(entries));
  t.deepEqual(await segmentFiles(directory), ['0000000001.seg'], 'the unreferenced segment is deleted at load');
  // Appends after a restart never go after a possibly torn tail: they start a new segment.
  const next = entry(6, 1, 300);
  await storage.write(branded<StorageWrite>({ entryOps: [{ entries: [next] }] }));
  await storage.close();
  t.deepEqual(await segmentFiles(directory), ['0000000001.seg', '0000000003.seg']);
  t.deepEqual(summary(await reload(t, directory)), expected([...entries, next]));
});

test('segments: a flipped byte in a segment record is corruption naming the entry and the segment', async (t) => {
  const directory = await tempDirectory(t);
  await seed(t, directory);
  const file = join(directory, 'segments', '0000000001.seg');
  const bytes = await readFile(file);
  bytes[300 + 150] = bytes[300 + 150]! ^ 0x10; // inside entry 2's record (the second 323-byte record)
  await writeFile(file, bytes);
  const storage = await openStorage(t, directory);
  try {
    await storage.load();
    t.fail('load() accepted a damaged segment');
  } catch (error) {
    t.ok(error instanceof StorageCorruptError, (error as Error).message);
    for (const fragment of [directory, 'log entry 2', '0000000001.seg', 'checksum mismatch']) t.ok((error as Error).message.includes(fragment), `names ${fragment}`);
  }
});

test('segments: a missing or cut-short segment is corruption naming the entry', async (t) => {
  for (const damage of ['missing', 'short'] as const) {
    const directory = await tempDirectory(t);
    await seed(t, directory);
    const file = join(directory, 'segments', '0000000001.seg');
    if (damage === 'missing') await rm(file);
    else await writeFile(file, (await readFile(file)).subarray(0, 700));
    const storage = await openStorage(t, directory);
    try {
      await storage.load();
      t.fail(`load() accepted a ${damage} segment`);
    } catch (error) {
      t.ok(error instanceof StorageCorruptError, (error as Error).message);
      const first = damage === 'missing' ? 'log entry 1' : 'log entry 3';
      for (const fragment of [first, '0000000001.seg', 'has no']) t.ok((error as Error).message.includes(fragment), `${damage}: names ${fragment}`);
    }
  }
});

test('segments: truncation rewrites large entries; compaction deletes segments whose entries are all compacted', async (t) => {
  const directory = await tempDirectory(t);
  const storage = await openStorage(t, directory);
  await storage.load();
  const log: LogEntry[] = [];
  // Each write fills its segment (4 x 323 bytes > 1000), so the next write starts a new one.
  for (let first = 1; first <= 9; first += 4) {
    const entries = [0, 1, 2, 3].map((k) => entry(first + k, 1, 300));
    log.push(...entries);
    await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 1, votedFor: 1 }, entryOps: [{ entries }] }));
  }
  t.deepEqual(await segmentFiles(directory), ['0000000001.seg', '0000000002.seg', '0000000003.seg']);
  // A new leader's entries replace 7..12 (whose records stay in segments 2 and 3 until compacted).
  const replacing = [entry(7, 2, 250), entry(8, 2, 10), entry(9, 2, 300)];
  await storage.write(branded<StorageWrite>({ hardState: { currentTerm: 2, votedFor: 2 }, entryOps: [{ truncateFrom: 7, entries: replacing }] }));
  log.splice(6, 6, ...replacing);
  t.deepEqual(await segmentFiles(directory), ['0000000001.seg', '0000000002.seg', '0000000003.seg', '0000000004.seg']);
  // Compacting through 4 frees segment 1 (entries 1-4), not 2 (5-8).
  await storage.write(branded<StorageWrite>({ entryOps: [{ compact: { base: { index: 4, term: 1 }, snapshot: { index: 4, term: 1, bytes: 10 }, discardLog: false } }] }));
  t.deepEqual(await segmentFiles(directory), ['0000000002.seg', '0000000003.seg', '0000000004.seg']);
  // Through 8 frees segment 2; segment 3 held entries up to 12 (truncated, but only compaction
  // past them reclaims it); segment 4 is the one being appended to.
  await storage.write(branded<StorageWrite>({ entryOps: [{ compact: { base: { index: 8, term: 2 }, snapshot: { index: 8, term: 2, bytes: 10 }, discardLog: false } }] }));
  t.deepEqual(await segmentFiles(directory), ['0000000003.seg', '0000000004.seg']);
  await storage.close();
  const state = await reload(t, directory);
  t.deepEqual(summary(state), expected(log.filter((e) => e.index > 8)));
  t.deepEqual(await segmentFiles(directory), ['0000000004.seg'], 'a reload finds segment 3 unreferenced and deletes it');
  // Installing a snapshot that discards the whole log frees every segment but the current one.
  const again = await openStorage(t, directory);
  await again.load();
  await again.write(branded<StorageWrite>({ entryOps: [{ entries: [entry(10, 2, 300)] }] }));
  t.deepEqual(await segmentFiles(directory), ['0000000004.seg', '0000000005.seg']);
  await again.write(branded<StorageWrite>({ entryOps: [{ compact: { base: { index: 20, term: 3 }, snapshot: { index: 20, term: 3, bytes: 10 }, discardLog: true } }] }));
  t.deepEqual(await segmentFiles(directory), ['0000000005.seg']);
  await again.close();
  t.deepEqual(summary(await reload(t, directory)), []);
  t.deepEqual(await segmentFiles(directory), []);
});
