/**
 * Snapshot files on a real disk: written durably and read back checked, damage reported with
 * the file's name, crash leftovers removed, received chunks assembled and checked.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { snapshotHeaderBytes } from '../../src/codec/snapshot_file_codec.js';
import { StorageCorruptError } from '../../src/storage/raft_storage.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';

async function openStore(t: test.Test): Promise<SnapshotStore> {
  const directory = await mkdtemp(join(tmpdir(), 'fsraft-snap-'));
  const store = await SnapshotStore.open(directory);
  t.teardown(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });
  return store;
}

const pieces = [Uint8Array.of(1, 2, 3), new Uint8Array(5000).fill(7), Uint8Array.of(9)];
const body = Uint8Array.from(pieces.flatMap((piece) => Array.from(piece)));

test('snapshot store: a written snapshot loads back, and its chunks read from the file', async (t) => {
  const store = await openStore(t);
  const meta = await store.write(12, 3, pieces);
  t.deepEqual(meta, { index: 12, term: 3, bytes: snapshotHeaderBytes + body.length });
  t.deepEqual(Array.from(await store.load(meta)), Array.from(body));
  const chunk = await store.readChunk(12, snapshotHeaderBytes, 3);
  t.deepEqual(Array.from(chunk!), [1, 2, 3]);
  t.deepEqual(await readdir(store.directory), ['snapshot-12.snap'], 'no temp file is left');
  t.end();
});

test('snapshot store: a snapshot that fails while being written leaves no file behind', async (t) => {
  const store = await openStore(t);
  function* failing(): Generator<Uint8Array> {
    yield new Uint8Array(100_000).fill(1);
    throw new Error('ENOSPC: no space left on device, write');
  }
  await store.write(12, 3, failing()).then(
    () => t.fail('the write should fail'),
    (error: Error) => t.match(error.message, /ENOSPC/, 'the error comes through'),
  );
  t.deepEqual(await readdir(store.directory), [], 'the temp file is removed, so a full disk gets its space back');
  t.end();
});

test('snapshot store: a damaged, truncated or missing file is a StorageCorruptError naming it', async (t) => {
  const store = await openStore(t);
  const meta = await store.write(12, 3, pieces);
  const file = store.pathOf(12);
  const original = await readFile(file);
  const expectCorrupt = async (fragment: string, what: string): Promise<void> => {
    try {
      await store.load(meta);
      t.fail(`${what}: accepted`);
    } catch (error) {
      t.ok(error instanceof StorageCorruptError && error.message.includes(file) && error.message.includes(fragment), `${what}: ${(error as Error).message}`);
    }
  };
  const flipped = Buffer.from(original);
  flipped[snapshotHeaderBytes + 100] = flipped[snapshotHeaderBytes + 100]! ^ 1;
  await writeFile(file, flipped);
  await expectCorrupt('body checksum mismatch', 'a flipped body byte');
  await writeFile(file, original.subarray(0, original.length - 10));
  await expectCorrupt('truncated', 'a truncated file');
  const header = Buffer.from(original);
  header[15] = header[15]! ^ 1;
  await writeFile(file, header);
  await expectCorrupt('header checksum', 'a damaged header');
  await rm(file);
  await expectCorrupt('cannot be read', 'a missing file');
  t.end();
});

test('snapshot store: leftovers of a crash are removed at start; older snapshots once a newer one is recorded', async (t) => {
  const store = await openStore(t);
  await store.write(5, 1, pieces);
  await store.write(9, 2, pieces);
  await store.write(14, 2, pieces);
  await writeFile(join(store.directory, 'snapshot-20.snap.tmp'), 'half written');
  await writeFile(join(store.directory, 'incoming.snap.tmp'), 'half received');
  await store.removeOlderThan(9);
  t.deepEqual((await readdir(store.directory)).sort(), ['incoming.snap.tmp', 'snapshot-14.snap', 'snapshot-20.snap.tmp', 'snapshot-9.snap']);
  t.deepEqual(Array.from((await store.readChunk(5, snapshotHeaderBytes, 3))!), [1, 2, 3], 'a follower still being sent snapshot 5 can read it');
  await store.removeLeftovers(9);
  t.deepEqual(await readdir(store.directory), ['snapshot-9.snap'], 'only the recorded snapshot stays');
  t.end();
});

test('snapshot store: received chunks assemble into a checked snapshot; a damaged transfer is refused', async (t) => {
  const source = await openStore(t);
  const meta = await source.write(30, 4, pieces);
  const store = await openStore(t);
  for (let offset = 0; offset < meta.bytes; offset += 1000) {
    const length = Math.min(1000, meta.bytes - offset);
    await store.writeIncoming(offset, (await source.readChunk(30, offset, length))!);
  }
  await store.finishIncoming();
  const check = await store.checkIncoming(meta);
  t.ok(check.ok && Array.from(check.body).every((byte, k) => byte === body[k]), 'the body checks');
  t.deepEqual(await store.checkIncoming({ ...meta, term: 5 }), { ok: false, error: 'header says index 30 term 4, expected index 30 term 5' });
  await store.promoteIncoming(meta);
  t.deepEqual(Array.from(await store.load(meta)), Array.from(body), 'promoted under its final name');
  const damaged = (await source.readChunk(30, 0, meta.bytes))!;
  damaged[meta.bytes - 1] = damaged[meta.bytes - 1]! ^ 1;
  await store.writeIncoming(0, damaged);
  await store.finishIncoming();
  const refused = await store.checkIncoming(meta);
  t.ok(!refused.ok && refused.error.includes('body checksum mismatch'), 'a damaged transfer is refused');
  await store.discardIncoming();
  t.deepEqual(await readdir(store.directory), ['snapshot-30.snap']);
  t.end();
});
