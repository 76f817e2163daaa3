import test from 'tape';
import { TestState } from '../helpers/fs_state.js';
import type { FsCommand, FsRequest, FsResult } from '../../src/fs/types.js';
import { SeededRandom } from '../../src/util/prng.js';

const text = new TextEncoder();
const bytes = (value: string): Uint8Array => text.encode(value);

function write(name: string, content: string, exptimeSeconds = 0): FsCommand {
  return { op: 'write', name, content: bytes(content), exptimeSeconds };
}

function cas(name: string, version: number, content: string, exptimeSeconds = 0): FsCommand {
  return { op: 'cas', name, version, content: bytes(content), exptimeSeconds };
}

function remove(name: string): FsCommand {
  return { op: 'delete', name };
}

function request(command: FsCommand, stampMs = 1000, clientId = 0, sequence = 0): FsRequest {
  return { clientId, sequence, stampMs, command };
}

async function readText(state: TestState, name: string, nowMs: number): Promise<unknown> {
  const result = await state.read(name, nowMs);
  if (result.type !== 'contents') return result;
  return { ...result, content: new TextDecoder().decode(result.content) };
}

test('fs state machine: versions come from one counter across all files, starting at 1', async (t) => {
  const state = await TestState.create();
  t.deepEqual(await state.apply(request(write('a', 'x'))), { type: 'ok', version: 1 });
  t.deepEqual(await state.apply(request(write('b', 'y'))), { type: 'ok', version: 2 });
  t.deepEqual(await state.apply(request(write('a', 'z'))), { type: 'ok', version: 3 });
  t.deepEqual(await readText(state, 'a', 1000), { type: 'contents', version: 3, content: 'z', exptimeRemainingSeconds: 0 });
  t.equal(state.lastVersion, 3);
  t.equal(state.machine.inodeCount, 3, 'the root and two files');
  t.end();
});

test('fs state machine: delete and failed commands do not advance the version', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x')));
  t.deepEqual(await state.apply(request(remove('a'))), { type: 'deleted' });
  t.deepEqual(await state.apply(request(remove('a'))), { type: 'not_found' });
  t.deepEqual(await state.apply(request(cas('a', 1, 'y'))), { type: 'not_found' });
  t.deepEqual(await state.apply(request(write('b', 'x'))), { type: 'ok', version: 2 });
  t.deepEqual(await state.apply(request(cas('b', 1, 'y'))), { type: 'version_mismatch', currentVersion: 2 });
  t.deepEqual(await state.apply(request(write('c', 'x'))), { type: 'ok', version: 3 });
  t.deepEqual(await state.read('a', 1000), { type: 'not_found' });
  t.end();
});

test('fs state machine: cas with the current version replaces content and takes a new version', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'one')));
  t.deepEqual(await state.apply(request(cas('a', 1, 'two'))), { type: 'ok', version: 2 });
  t.deepEqual(await state.apply(request(cas('a', 1, 'three'))), { type: 'version_mismatch', currentVersion: 2 });
  t.deepEqual(await readText(state, 'a', 1000), { type: 'contents', version: 2, content: 'two', exptimeRemainingSeconds: 0 });
  t.end();
});

test('fs state machine: cas 0 creates only if absent', async (t) => {
  const state = await TestState.create();
  t.deepEqual(await state.apply(request(cas('a', 0, 'new'))), { type: 'ok', version: 1 });
  t.deepEqual(await state.apply(request(cas('a', 0, 'again'))), { type: 'version_mismatch', currentVersion: 1 });
  t.deepEqual(await state.apply(request(cas('missing', 5, 'x'))), { type: 'not_found' });
  t.deepEqual(await readText(state, 'a', 1000), { type: 'contents', version: 1, content: 'new', exptimeRemainingSeconds: 0 });
  t.end();
});

test('fs state machine: a file expires exactly at stamp + exptime*1000, not before', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', 2), 10_000));
  t.equal((await state.read('a', 11_999)).type, 'contents', 'alive 1 ms before the deadline');
  t.deepEqual(await state.read('a', 12_000), { type: 'not_found' }, 'gone at the deadline');
  t.deepEqual(await state.apply(request(remove('a'), 11_999)), { type: 'deleted' }, 'a stamp 1 ms before still sees it');
  await state.apply(request(write('b', 'x', 2), 20_000));
  t.deepEqual(await state.apply(request(remove('b'), 22_000)), { type: 'not_found' }, 'a stamp at the deadline does not');
  t.end();
});

test('fs state machine: cas of an expired file behaves as if it were missing', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', 1), 0));
  t.deepEqual(await state.apply(request(cas('a', 1, 'y'), 1000)), { type: 'not_found' });
  t.deepEqual(await state.apply(request(cas('a', 0, 'y'), 1000)), { type: 'ok', version: 2 });
  t.end();
});

test('fs state machine: zero or negative exptime never expires', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('zero', 'x', 0), 0));
  await state.apply(request(write('negative', 'x', -5), 0));
  const farMs = 1e15;
  t.deepEqual(await state.read('zero', farMs), { type: 'contents', version: 1, content: bytes('x'), exptimeRemainingSeconds: 0 });
  t.equal((await state.read('negative', farMs)).type, 'contents');
  t.end();
});

test('fs state machine: a rewrite replaces the expiry and a cas too', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', 1), 0));
  await state.apply(request(write('a', 'y', 0), 500));
  await state.apply(request(write('b', 'z'), 5000));
  t.equal((await state.read('a', 5000)).type, 'contents', 'rewrite without exptime never expires');
  await state.apply(request(write('c', 'x', 1), 6000));
  await state.apply(request(cas('c', 4, 'y', 3), 6500));
  t.equal((await state.read('c', 9499)).type, 'contents');
  t.deepEqual(await state.read('c', 9500), { type: 'not_found' }, 'cas set a new expiry from its own stamp');
  t.end();
});

test('fs state machine: a file deleted and recreated does not inherit the old expiry', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', 1), 0));
  await state.apply(request(remove('a'), 100));
  await state.apply(request(write('a', 'y'), 200));
  await state.apply(request(write('other', 'y'), 5000));
  t.equal((await state.read('a', 5000)).type, 'contents', 'the old expiry did not remove the new file');
  t.end();
});

test('fs state machine: read reports remaining seconds rounded up', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', 10), 0));
  const remaining = async (nowMs: number): Promise<unknown> => {
    const result = await state.read('a', nowMs);
    return result.type === 'contents' ? result.exptimeRemainingSeconds : result.type;
  };
  t.equal(await remaining(0), 10);
  t.equal(await remaining(1), 10, '9.999 s rounds up to 10');
  t.equal(await remaining(1000), 9);
  t.equal(await remaining(9999), 1, '1 ms left reports 1');
  t.equal(await remaining(10_000), 'not_found');
  t.end();
});

test('fs state machine: the largest exptime the protocol accepts reads back as a printable count', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', Number.MAX_SAFE_INTEGER), 1_700_000_000_000));
  const result = await state.read('a', 1_700_000_000_000);
  t.ok(result.type === 'contents' && Number.isSafeInteger(result.exptimeRemainingSeconds));
  t.end();
});

test('fs state machine: read is evaluated at no earlier than the last applied stamp and does not mutate', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x', 1), 0));
  await state.apply(request(write('b', 'x', 0), 100));
  t.equal((await state.read('a', 2000)).type, 'not_found');
  await state.apply(request(write('c', 'x'), 5000));
  t.equal((await state.read('b', 10)).type, 'contents');
  t.equal((await state.read('a', 10)).type, 'not_found', 'a clock behind the log cannot resurrect a file');
  t.end();
});

test('fs state machine: names with and without a leading slash are the same file; invalid names are not found', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('/dir/a', 'x')));
  t.equal((await state.read('dir/a', 1000)).type, 'contents');
  t.deepEqual(await state.apply(request(write('dir/a', 'y'))), { type: 'ok', version: 2 });
  t.deepEqual(await state.apply(request(write('../etc', 'y'))), { type: 'not_found' });
  t.deepEqual(await state.read('a//b', 0), { type: 'not_found' });
  t.equal(state.lastVersion, 2);
  t.end();
});

test('fs state machine: stored content is a copy, unaffected by later changes to the request bytes', async (t) => {
  const state = await TestState.create();
  const content = bytes('abc');
  await state.apply(request({ op: 'write', name: 'a', content, exptimeSeconds: 0 }));
  content[0] = 0x7a;
  const result = await state.read('a', 0);
  t.equal(result.type === 'contents' ? new TextDecoder().decode(result.content) : '', 'abc');
  t.end();
});

test('fs state machine: a duplicate session request returns the cached result without applying again', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x'), 1000, 7, 1));
  const first = await state.apply(request(cas('a', 1, 'y'), 1000, 7, 2));
  t.deepEqual(first, { type: 'ok', version: 2 });
  const retry = await state.apply(request(cas('a', 1, 'y'), 2000, 7, 2));
  t.deepEqual(retry, first, 'the retry gets the first answer, not version_mismatch');
  t.equal(state.lastVersion, 2, 'nothing was applied');
  t.deepEqual(await state.apply(request(write('a', 'z'), 2000, 7, 3)), { type: 'ok', version: 3 });
  t.end();
});

test('fs state machine: an older session request is stale and changes nothing', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x'), 1000, 7, 5));
  t.deepEqual(await state.apply(request(write('a', 'y'), 1000, 7, 4)), { type: 'stale_request' });
  t.deepEqual(await state.apply(request(write('a', 'y'), 1000, 8, 4)), { type: 'ok', version: 2 }, 'another client is independent');
  t.deepEqual(await state.apply(request(write('a', 'y'), 1000, 7, 5)), { type: 'ok', version: 1 }, 'the last answer is still cached');
  t.end();
});

test('fs state machine: clientId 0 has no session and is always applied', async (t) => {
  const state = await TestState.create();
  await state.apply(request(write('a', 'x'), 1000, 0, 1));
  t.deepEqual(await state.apply(request(write('a', 'x'), 1000, 0, 1)), { type: 'ok', version: 2 });
  t.equal(state.sessionCount, 0);
  t.end();
});

test('fs state machine: sessions beyond the limit evict the least recently used', async (t) => {
  const state = await TestState.create({ sessionsMax: 2 });
  await state.apply(request(write('a', 'x'), 1000, 1, 1)); // v1
  await state.apply(request(write('a', 'x'), 1000, 2, 1)); // v2
  await state.apply(request(write('a', 'x'), 1000, 1, 1)); // duplicate: client 1 becomes most recent
  await state.apply(request(write('a', 'x'), 1000, 3, 1)); // v3, evicts client 2
  t.equal(state.sessionCount, 2);
  t.deepEqual(await state.apply(request(write('a', 'x'), 1000, 1, 1)), { type: 'ok', version: 1 }, 'client 1 still cached');
  t.deepEqual(await state.apply(request(write('a', 'x'), 1000, 2, 1)), { type: 'ok', version: 4 }, 'client 2 was forgotten');
  t.end();
});

test('fs state machine: the leader sweeps expired files; until then they are already absent', async (t) => {
  const state = await TestState.create();
  for (let i = 0; i < 5; i++) await state.apply(request(write(`f${i}`, 'x', 1), 0));
  t.equal(state.machine.inodeCount, 6);
  t.equal(await state.machine.housekeeping(999), null, 'nothing is due before the deadline');
  t.deepEqual(await state.apply(request(remove('f4'), 1000)), { type: 'not_found' }, 'expired: absent before any sweep');
  t.equal((await state.read('f0', 1000)).type, 'not_found');
  const sweep = await state.machine.housekeeping(1000);
  t.equal(sweep?.op === 'reap' ? sweep.expired.length : 0, 5, 'all five are due');
  t.deepEqual(await state.apply(request(cas('f4', 0, 'y'), 1000)), { type: 'ok', version: 6 }, 'an unswept expired file is absent');
  await state.apply(request(sweep!, 1000));
  t.equal(state.machine.inodeCount, 2, 'the sweep removed the expired files and kept the recreated one');
  t.equal((await state.read('f4', 1000)).type, 'contents');
  t.equal(await state.machine.housekeeping(1000), null, 'nothing left to sweep');
  t.end();
});

test('fs state machine: rewriting an expiring file many times keeps one expiry record', async (t) => {
  const state = await TestState.create();
  for (let i = 0; i < 2_000; i++) await state.apply(request(write('hot', `${i}`, 100), i));
  const result = await state.read('hot', 2_000);
  t.equal(result.type === 'contents' ? result.version : 0, 2_000);
  t.equal((await state.read('hot', 101_998)).type, 'contents', 'the last write expires 100 s after its stamp');
  t.equal((await state.read('hot', 101_999)).type, 'not_found');
  const sweep = await state.machine.housekeeping(101_999);
  t.equal(sweep?.op === 'reap' ? sweep.expired.length : -1, 1, 'one record, not one per rewrite');
  await state.apply(request(sweep!, 101_999));
  t.equal(state.machine.inodeCount, 1);
  t.end();
});

/** A random request stream over a few names, so collisions, cas hits and expiries all happen. */
function randomRequests(random: SeededRandom, count: number): FsRequest[] {
  const requests: FsRequest[] = [];
  let stampMs = 0;
  const sequences = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    stampMs += random.nextInt(700);
    const name = `d/${random.nextInt(6)}`;
    const kind = random.nextInt(3);
    const exptimeSeconds = random.nextInt(4) - 1;
    const command: FsCommand =
      kind === 0
        ? write(name, `c${i}`, exptimeSeconds)
        : kind === 1
          ? cas(name, random.nextInt(4) === 0 ? 0 : random.nextInt(i + 1), `c${i}`, exptimeSeconds)
          : remove(name);
    const clientId = random.nextInt(4);
    // Sessions sometimes retry (same sequence) or send an old one, as after a leader change.
    const last = sequences.get(clientId) ?? 0;
    const sequence = clientId === 0 ? 0 : Math.max(0, last + random.nextInt(4) - 1);
    sequences.set(clientId, Math.max(last, sequence));
    requests.push({ clientId, sequence, stampMs, command });
  }
  return requests;
}

async function summarize(state: TestState, names: readonly string[], nowMs: number): Promise<unknown[]> {
  return Promise.all(names.map((name) => state.read(name, nowMs)));
}

test('fs state machine: two replicas applying the same random requests agree on every result, read and digest', async (t) => {
  const seed = Number(0x5eed);
  const requests = randomRequests(new SeededRandom(seed), 3000);
  const one = await TestState.create({ sessionsMax: 3 });
  const two = await TestState.create({ sessionsMax: 3 });
  const names = Array.from({ length: 6 }, (_, i) => `d/${i}`);
  let disagreements = 0;
  const results: FsResult[] = [];
  for (const item of requests) {
    const a = await one.apply(item);
    const b = await two.apply(item);
    results.push(a);
    if (JSON.stringify(a) !== JSON.stringify(b)) disagreements++;
    if (JSON.stringify(await summarize(one, names, item.stampMs)) !== JSON.stringify(await summarize(two, names, item.stampMs))) {
      disagreements++;
    }
  }
  t.equal(disagreements, 0, `seed ${seed}`);
  t.equal(one.lastVersion, two.lastVersion);
  t.equal(one.machine.inodeCount, two.machine.inodeCount);
  t.equal(one.machine.digest, two.machine.digest, 'the digests agree');
  const kinds = new Set(results.map((result) => result.type));
  t.deepEqual([...kinds].sort(), ['deleted', 'not_found', 'ok', 'stale_request', 'version_mismatch'], 'every outcome was exercised');
  t.end();
});

test('fs state machine: sweeping expired files early or late gives the same results (expiry is decided by stamps only)', async (t) => {
  const requests = randomRequests(new SeededRandom(42), 3000);
  const eager = await TestState.create();
  const lazy = await TestState.create();
  let disagreements = 0;
  for (const item of requests) {
    if (JSON.stringify(await eager.apply(item)) !== JSON.stringify(await lazy.apply(item))) disagreements++;
    // The leader's sweep, proposed after every request on one replica and never on the other.
    const sweep = await eager.machine.housekeeping(item.stampMs);
    if (sweep !== null) await eager.apply({ clientId: 0, sequence: 0, stampMs: item.stampMs, command: sweep });
  }
  t.equal(disagreements, 0, 'seed 42');
  t.end();
});
