import test from 'tape';
import { FileServerState } from '../../src/fs/file_server.js';
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

function readText(state: FileServerState, name: string, nowMs: number): unknown {
  const result = state.read(name, nowMs);
  if (result.type !== 'contents') return result;
  return { ...result, content: new TextDecoder().decode(result.content) };
}

test('file server: versions come from one counter across all files, starting at 1', (t) => {
  const state = new FileServerState();
  t.deepEqual(state.apply(request(write('a', 'x'))), { type: 'ok', version: 1 });
  t.deepEqual(state.apply(request(write('b', 'y'))), { type: 'ok', version: 2 });
  t.deepEqual(state.apply(request(write('a', 'z'))), { type: 'ok', version: 3 });
  t.deepEqual(readText(state, 'a', 1000), { type: 'contents', version: 3, content: 'z', exptimeRemainingSeconds: 0 });
  t.equal(state.lastVersion, 3);
  t.equal(state.fileCount, 2);
  t.end();
});

test('file server: delete and failed commands do not advance the version', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x')));
  t.deepEqual(state.apply(request(remove('a'))), { type: 'deleted' });
  t.deepEqual(state.apply(request(remove('a'))), { type: 'not_found' });
  t.deepEqual(state.apply(request(cas('a', 1, 'y'))), { type: 'not_found' });
  t.deepEqual(state.apply(request(write('b', 'x'))), { type: 'ok', version: 2 });
  t.deepEqual(state.apply(request(cas('b', 1, 'y'))), { type: 'version_mismatch', currentVersion: 2 });
  t.deepEqual(state.apply(request(write('c', 'x'))), { type: 'ok', version: 3 });
  t.deepEqual(state.read('a', 1000), { type: 'not_found' });
  t.end();
});

test('file server: cas with the current version replaces content and takes a new version', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'one')));
  t.deepEqual(state.apply(request(cas('a', 1, 'two'))), { type: 'ok', version: 2 });
  t.deepEqual(state.apply(request(cas('a', 1, 'three'))), { type: 'version_mismatch', currentVersion: 2 });
  t.deepEqual(readText(state, 'a', 1000), { type: 'contents', version: 2, content: 'two', exptimeRemainingSeconds: 0 });
  t.end();
});

test('file server: cas 0 creates only if absent', (t) => {
  const state = new FileServerState();
  t.deepEqual(state.apply(request(cas('a', 0, 'new'))), { type: 'ok', version: 1 });
  t.deepEqual(state.apply(request(cas('a', 0, 'again'))), { type: 'version_mismatch', currentVersion: 1 });
  t.deepEqual(state.apply(request(cas('missing', 5, 'x'))), { type: 'not_found' });
  t.deepEqual(readText(state, 'a', 1000), { type: 'contents', version: 1, content: 'new', exptimeRemainingSeconds: 0 });
  t.end();
});

test('file server: a file expires exactly at stamp + exptime*1000, not before', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', 2), 10_000));
  t.equal(state.read('a', 11_999).type, 'contents', 'alive 1 ms before the deadline');
  t.deepEqual(state.read('a', 12_000), { type: 'not_found' }, 'gone at the deadline');
  t.deepEqual(state.apply(request(remove('a'), 11_999)), { type: 'deleted' }, 'a stamp 1 ms before still sees it');
  state.apply(request(write('b', 'x', 2), 20_000));
  t.deepEqual(state.apply(request(remove('b'), 22_000)), { type: 'not_found' }, 'a stamp at the deadline does not');
  t.equal(state.fileCount, 0, 'the expired file was reaped');
  t.end();
});

test('file server: cas of an expired file behaves as if it were missing', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', 1), 0));
  t.deepEqual(state.apply(request(cas('a', 1, 'y'), 1000)), { type: 'not_found' });
  t.deepEqual(state.apply(request(cas('a', 0, 'y'), 1000)), { type: 'ok', version: 2 });
  t.end();
});

test('file server: zero or negative exptime never expires', (t) => {
  const state = new FileServerState();
  state.apply(request(write('zero', 'x', 0), 0));
  state.apply(request(write('negative', 'x', -5), 0));
  const farMs = 1e15;
  t.deepEqual(state.read('zero', farMs), { type: 'contents', version: 1, content: bytes('x'), exptimeRemainingSeconds: 0 });
  t.equal(state.read('negative', farMs).type, 'contents');
  t.end();
});

test('file server: a rewrite replaces the expiry and a cas too', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', 1), 0));
  state.apply(request(write('a', 'y', 0), 500));
  state.apply(request(write('b', 'z'), 5000));
  t.equal(state.read('a', 5000).type, 'contents', 'rewrite without exptime never expires');
  state.apply(request(write('c', 'x', 1), 6000));
  state.apply(request(cas('c', 4, 'y', 3), 6500));
  t.equal(state.read('c', 9499).type, 'contents');
  t.deepEqual(state.read('c', 9500), { type: 'not_found' }, 'cas set a new expiry from its own stamp');
  t.end();
});

test('file server: a file deleted and recreated does not inherit the old expiry', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', 1), 0));
  state.apply(request(remove('a'), 100));
  state.apply(request(write('a', 'y'), 200));
  state.apply(request(write('other', 'y'), 5000));
  t.equal(state.read('a', 5000).type, 'contents', 'the stale heap entry did not remove the new file');
  t.end();
});

test('file server: read reports remaining seconds rounded up', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', 10), 0));
  const remaining = (nowMs: number): unknown => {
    const result = state.read('a', nowMs);
    return result.type === 'contents' ? result.exptimeRemainingSeconds : result.type;
  };
  t.equal(remaining(0), 10);
  t.equal(remaining(1), 10, '9.999 s rounds up to 10');
  t.equal(remaining(1000), 9);
  t.equal(remaining(9999), 1, '1 ms left reports 1');
  t.equal(remaining(10_000), 'not_found');
  t.end();
});

test('file server: the largest exptime the protocol accepts reads back as a printable count', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', Number.MAX_SAFE_INTEGER), 1_700_000_000_000));
  const result = state.read('a', 1_700_000_000_000);
  t.ok(result.type === 'contents' && Number.isSafeInteger(result.exptimeRemainingSeconds));
  t.end();
});

test('file server: read is evaluated at no earlier than the last applied stamp and does not mutate', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x', 1), 0));
  state.apply(request(write('b', 'x', 0), 100));
  t.equal(state.read('a', 2000).type, 'not_found');
  t.equal(state.fileCount, 2, 'read did not reap');
  state.apply(request(write('c', 'x'), 5000));
  t.equal(state.read('b', 10).type, 'contents');
  t.equal(state.read('a', 10).type, 'not_found', 'a clock behind the log cannot resurrect a file');
  t.end();
});

test('file server: names with and without a leading slash are the same file; invalid names are not found', (t) => {
  const state = new FileServerState();
  state.apply(request(write('/dir/a', 'x')));
  t.equal(state.read('dir/a', 1000).type, 'contents');
  t.deepEqual(state.apply(request(write('dir/a', 'y'))), { type: 'ok', version: 2 });
  t.deepEqual(state.apply(request(write('../etc', 'y'))), { type: 'not_found' });
  t.deepEqual(state.read('a//b', 0), { type: 'not_found' });
  t.equal(state.lastVersion, 2);
  t.end();
});

test('file server: stored content is a copy, unaffected by later changes to the request bytes', (t) => {
  const state = new FileServerState();
  const content = bytes('abc');
  state.apply(request({ op: 'write', name: 'a', content, exptimeSeconds: 0 }));
  content[0] = 0x7a;
  const result = state.read('a', 0);
  t.equal(result.type === 'contents' ? new TextDecoder().decode(result.content) : '', 'abc');
  t.end();
});

test('file server: a duplicate session request returns the cached result without applying again', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x'), 1000, 7, 1));
  const first = state.apply(request(cas('a', 1, 'y'), 1000, 7, 2));
  t.deepEqual(first, { type: 'ok', version: 2 });
  const retry = state.apply(request(cas('a', 1, 'y'), 2000, 7, 2));
  t.deepEqual(retry, first, 'the retry gets the first answer, not version_mismatch');
  t.equal(state.lastVersion, 2, 'nothing was applied');
  t.deepEqual(state.apply(request(write('a', 'z'), 2000, 7, 3)), { type: 'ok', version: 3 });
  t.end();
});

test('file server: an older session request is stale and changes nothing', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x'), 1000, 7, 5));
  t.deepEqual(state.apply(request(write('a', 'y'), 1000, 7, 4)), { type: 'stale_request' });
  t.deepEqual(state.apply(request(write('a', 'y'), 1000, 8, 4)), { type: 'ok', version: 2 }, 'another client is independent');
  t.deepEqual(state.apply(request(write('a', 'y'), 1000, 7, 5)), { type: 'ok', version: 1 }, 'the last answer is still cached');
  t.end();
});

test('file server: clientId 0 has no session and is always applied', (t) => {
  const state = new FileServerState();
  state.apply(request(write('a', 'x'), 1000, 0, 1));
  t.deepEqual(state.apply(request(write('a', 'x'), 1000, 0, 1)), { type: 'ok', version: 2 });
  t.equal(state.sessionCount, 0);
  t.end();
});

test('file server: sessions beyond the limit evict the least recently used', (t) => {
  const state = new FileServerState({ sessionsMax: 2 });
  state.apply(request(write('a', 'x'), 1000, 1, 1)); // v1
  state.apply(request(write('a', 'x'), 1000, 2, 1)); // v2
  state.apply(request(write('a', 'x'), 1000, 1, 1)); // duplicate: client 1 becomes most recent
  state.apply(request(write('a', 'x'), 1000, 3, 1)); // v3, evicts client 2
  t.equal(state.sessionCount, 2);
  t.deepEqual(state.apply(request(write('a', 'x'), 1000, 1, 1)), { type: 'ok', version: 1 }, 'client 1 still cached');
  t.deepEqual(state.apply(request(write('a', 'x'), 1000, 2, 1)), { type: 'ok', version: 4 }, 'client 2 was forgotten');
  t.end();
});

test('file server: reaping is bounded per apply but expired files are missing immediately', (t) => {
  const state = new FileServerState({ expiredFilesReapedPerApplyMax: 2 });
  for (let i = 0; i < 5; i++) state.apply(request(write(`f${i}`, 'x', 1), 0));
  t.deepEqual(state.apply(request(remove('f4'), 1000)), { type: 'not_found' });
  t.equal(state.fileCount, 3, 'only two reaped by that apply');
  t.equal(state.read('f0', 1000).type, 'not_found');
  // This apply reaps f2 and f3 first; f4 is still held but expired.
  t.deepEqual(state.apply(request(cas('f4', 0, 'y'), 1000)), { type: 'ok', version: 6 }, 'an unreaped expired file is absent');
  state.apply(request(remove('zz'), 1000));
  t.equal(state.fileCount, 1, 'later applies finish the reaping and keep the recreated file');
  t.equal(state.read('f4', 1000).type, 'contents');
  t.end();
});

test('file server: rewriting an expiring file many times keeps the heap bounded and correct', (t) => {
  const state = new FileServerState();
  for (let i = 0; i < 10_000; i++) state.apply(request(write('hot', `${i}`, 100), i));
  const result = state.read('hot', 10_000);
  t.equal(result.type === 'contents' ? result.version : 0, 10_000);
  t.equal(state.read('hot', 109_998).type, 'contents', 'the last write expires 100 s after its stamp');
  state.apply(request(remove('none'), 109_999));
  t.equal(state.read('hot', 109_999).type, 'not_found');
  for (let i = 0; i < 4; i++) state.apply(request(remove('none'), 109_999));
  t.equal(state.fileCount, 0, 'reaped within a few applies: stale heap entries were shed');
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

function summarize(state: FileServerState, names: readonly string[], nowMs: number): unknown[] {
  return names.map((name) => state.read(name, nowMs));
}

test('file server: two replicas applying the same random requests agree on every result and read', (t) => {
  const seed = Number(0x5eed);
  const requests = randomRequests(new SeededRandom(seed), 3000);
  const one = new FileServerState({ sessionsMax: 3, expiredFilesReapedPerApplyMax: 1 });
  const two = new FileServerState({ sessionsMax: 3, expiredFilesReapedPerApplyMax: 1 });
  const names = Array.from({ length: 6 }, (_, i) => `d/${i}`);
  let disagreements = 0;
  const results: FsResult[] = [];
  for (const item of requests) {
    const a = one.apply(item);
    const b = two.apply(item);
    results.push(a);
    if (JSON.stringify(a) !== JSON.stringify(b)) disagreements++;
    if (JSON.stringify(summarize(one, names, item.stampMs)) !== JSON.stringify(summarize(two, names, item.stampMs))) {
      disagreements++;
    }
  }
  t.equal(disagreements, 0, `seed ${seed}`);
  t.equal(one.lastVersion, two.lastVersion);
  t.equal(one.fileCount, two.fileCount);
  const kinds = new Set(results.map((result) => result.type));
  t.deepEqual([...kinds].sort(), ['deleted', 'not_found', 'ok', 'stale_request', 'version_mismatch'], 'every outcome was exercised');
  t.end();
});

test('file server: reaping eagerly or lazily gives the same results (expiry is decided by stamps only)', (t) => {
  const requests = randomRequests(new SeededRandom(42), 3000);
  const eager = new FileServerState({ expiredFilesReapedPerApplyMax: 1_000_000 });
  const lazy = new FileServerState({ expiredFilesReapedPerApplyMax: 0 });
  let disagreements = 0;
  for (const item of requests) {
    if (JSON.stringify(eager.apply(item)) !== JSON.stringify(lazy.apply(item))) disagreements++;
  }
  t.equal(disagreements, 0, 'seed 42');
  t.end();
});
