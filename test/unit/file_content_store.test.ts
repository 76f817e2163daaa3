/**
 * FileContentStore's sync: off the event loop, safe against files removed while it runs, and
 * through `sync -f` (one syncfs) when many files changed.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { FileContentStore } from '../../src/storage/file_content_store.js';

async function tempStore(t: test.Test): Promise<FileContentStore> {
  const directory = await mkdtemp(join(tmpdir(), 'fsraft-content-'));
  const store = new FileContentStore(join(directory, 'content'), undefined);
  t.teardown(async () => {
    store.close();
    await rm(directory, { recursive: true, force: true });
  });
  return store;
}

/** Counts event-loop turns until `promise` settles. */
async function turnsUntil(promise: Promise<unknown>): Promise<number> {
  let turns = 0;
  let settled = false;
  void promise.finally(() => (settled = true)).catch(() => undefined);
  while (!settled) {
    await new Promise((resolve) => setImmediate(resolve));
    turns += 1;
  }
  await promise;
  return turns;
}

test('content store: sync lets the event loop run while the data is flushed', async (t) => {
  const store = await tempStore(t);
  const block = new Uint8Array(1024 * 1024).fill(7);
  for (let i = 0; i < 16; i++) store.write(1, i * block.length, block);
  const turns = await turnsUntil(store.sync());
  // A sync done on the event loop would settle within the first turn (its promise is resolved
  // before sync() returns); one on the thread pool takes a turn for each open, fsync and close.
  t.ok(turns >= 2, `the event loop turned ${turns} times while 16 MiB were fsynced`);
  t.deepEqual(store.read(1, 15 * block.length, 4), new Uint8Array(4).fill(7), 'the bytes read back after the sync');
});

test('content store: a file removed while a sync runs is skipped, a file written meanwhile is left to the next sync', async (t) => {
  const store = await tempStore(t);
  store.write(1, 0, new Uint8Array([1, 2, 3]));
  store.write(2, 0, new Uint8Array([4, 5, 6]));
  const syncing = store.sync();
  store.remove(1);
  store.write(3, 0, new Uint8Array([7]));
  await syncing;
  t.pass('the sync ended without an error although file 1 went away');
  t.notOk(existsSync(store.pathOf(1)), 'file 1 is gone');
  const dirty = (store as unknown as { dirtyFiles: Set<number> }).dirtyFiles;
  t.deepEqual([...dirty], [3], 'only file 3, written while the sync ran, is left for the next one');
  await store.sync();
  t.deepEqual(store.read(3, 0, 1), new Uint8Array([7]), 'file 3, written during the first sync, is there after the second');
});

test('content store: many changed files are synced with one sync -f', async (t) => {
  const store = await tempStore(t);
  for (let ino = 1; ino <= 600; ino++) store.write(ino, 0, new Uint8Array([ino % 256]));
  const turns = await turnsUntil(store.sync());
  t.ok(turns >= 2, `600 files synced without holding the event loop (${turns} turns)`);
  t.deepEqual(store.read(600, 0, 1), new Uint8Array([600 % 256]), 'contents intact');
});
