/**
 * The typed client's deadline against scripted fake nodes on 127.0.0.1: every call ends within its
 * timeout plus limits.deadlineSlackMs, whatever it waits for (a free connection, leader discovery,
 * a reply that never comes on a live connection), and a mutation that times out is UNAVAILABLE,
 * never a success, even when its reply arrives just after.
 */
import test from 'tape';
import { FsraftUnavailableError } from '../../src/client/errors.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';
import { limits } from '../../src/util/limits.js';
import { fakeNode, type Script } from '../helpers/fake_node.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Runs `call`, returning what it threw (or its value) and how long it took. */
async function timed(call: () => Promise<unknown>): Promise<{ outcome: unknown; elapsedMs: number }> {
  const startedMs = performance.now();
  const outcome = await call().catch((error: unknown) => error);
  return { outcome, elapsedMs: Math.round(performance.now() - startedMs) };
}

/** Probes find a leader; mutations get what `mutation` says. */
function leaderWith(mutation: Script): Script {
  return (parsed) => (parsed.command.op === 'read' ? 'ERR_FILE_NOT_FOUND\r\n' : mutation(parsed));
}

test('client deadline: an attempt after a slow discovery gets only what is left of the timeout', async (t) => {
  // The first write gets ERR_INTERNAL, so the client looks for the leader again; that discovery
  // takes most of the budget, and the next attempt is never answered. Before the fix the attempt
  // was given the time left *before* the discovery and the call ended about 1,850 ms after a
  // 1,000 ms timeout.
  let probes = 0;
  let writes = 0;
  const node = await fakeNode((parsed) => {
    if (parsed.command.op === 'read') return ++probes === 1 ? 'ERR_FILE_NOT_FOUND\r\n' : { reply: 'ERR_FILE_NOT_FOUND\r\n', delayMs: 850 };
    return ++writes === 1 ? 'ERR_INTERNAL\r\n' : 'silent';
  });
  const timeoutMs = 1_000;
  const client = FsraftClient.fromAddresses([node.address], { requestTimeoutMs: timeoutMs, backoffBaseMs: 1, backoffMaxMs: 1 });
  try {
    const { outcome, elapsedMs } = await timed(() => client.writeAt('f', 0, bytes('abc')));
    t.ok(outcome instanceof FsraftUnavailableError, `UNAVAILABLE: ${(outcome as Error).message}`);
    t.ok(elapsedMs <= timeoutMs + limits.deadlineSlackMs, `ended ${elapsedMs} ms after it started (timeout ${timeoutMs} ms, slack ${limits.deadlineSlackMs} ms)`);
    t.match((outcome as Error).message, /^writeat f: no leader answered within \d+ ms/, 'the message names the call');
    t.match((outcome as Error).message, /last failure: [^;]*ERR_INTERNAL; then [^;]*no reply within \d+ ms, cut short by the deadline$/, 'and what it waited for');
    const sent = node.received.filter((line) => line.startsWith('writeat'));
    t.equal(sent.length, 2, 'sent twice');
    t.equal(sent[0], sent[1], 'with one request id');
  } finally {
    client.close();
    await node.close();
  }
});

test('client deadline: a request queued behind busy connections counts the wait, and is never sent late', async (t) => {
  const node = await fakeNode(leaderWith(() => 'silent'));
  const timeoutMs = 600;
  const client = FsraftClient.fromAddresses([node.address], { requestTimeoutMs: timeoutMs, connectionsMax: 1 });
  try {
    const [first, second] = await Promise.all([timed(() => client.write('a', bytes('x'))), timed(() => client.write('b', bytes('y')))]);
    for (const [name, { outcome, elapsedMs }] of [['first', first], ['second', second]] as const) {
      t.ok(outcome instanceof FsraftUnavailableError, `${name}: UNAVAILABLE: ${(outcome as Error).message}`);
      t.ok(elapsedMs <= timeoutMs + limits.deadlineSlackMs, `${name}: ended after ${elapsedMs} ms (timeout ${timeoutMs} ms)`);
    }
    t.match((second.outcome as Error).message, /^write b: no connection became free within \d+ ms .*not sent$/, 'the queued one says what it waited for');
    t.deepEqual(
      node.received.filter((line) => line.startsWith('write')).map((line) => line.split(' ')[1]),
      ['a'],
      'only the first was ever sent',
    );
  } finally {
    client.close();
    await node.close();
  }
});

test("client deadline: a call's own timeoutMs bounds it, and 0 sends nothing", async (t) => {
  const node = await fakeNode(leaderWith(() => 'silent'));
  const client = FsraftClient.fromAddresses([node.address], { requestTimeoutMs: 10_000 });
  try {
    const { outcome, elapsedMs } = await timed(() => client.setattr('f', { mtimeMs: 5 }, { timeoutMs: 300 }));
    t.ok(outcome instanceof FsraftUnavailableError, `UNAVAILABLE: ${(outcome as Error).message}`);
    t.ok(elapsedMs <= 300 + limits.deadlineSlackMs, `a live connection that never answers held it ${elapsedMs} ms (timeout 300 ms)`);
    const sentBefore = node.received.length;
    const none = await timed(() => client.setattr('g', { mtimeMs: 5 }, { timeoutMs: 0 }));
    t.ok(none.outcome instanceof FsraftUnavailableError, `timeoutMs 0: UNAVAILABLE at once: ${(none.outcome as Error).message}`);
    t.equal(node.received.length, sentBefore, 'and nothing was sent');
  } finally {
    client.close();
    await node.close();
  }
});

test('client deadline: a reply that comes after the deadline is not a success; the next call takes a new request id', async (t) => {
  let writes = 0;
  const node = await fakeNode(leaderWith(() => (++writes === 1 ? { reply: 'OK 5\r\n', delayMs: 500 } : `OK ${5 + writes}\r\n`)));
  const client = FsraftClient.fromAddresses([node.address], { requestTimeoutMs: 200 });
  try {
    const late = await timed(() => client.write('a', bytes('x')));
    t.ok(late.outcome instanceof FsraftUnavailableError, `a timed-out write is UNAVAILABLE (outcome unknown): ${(late.outcome as Error).message}`);
    t.ok(late.elapsedMs <= 200 + limits.deadlineSlackMs, `after ${late.elapsedMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 400)); // the late OK arrives now, on a closed connection
    t.deepEqual(await client.write('b', bytes('y')), { version: 7 }, 'the next write is answered as itself');
    const ids = node.received.filter((line) => line.startsWith('write')).map((line) => line.split(' ')[2]!.split(':'));
    t.equal(ids.length, 2, 'each sent once');
    t.equal(ids[0]![0], ids[1]![0], 'by one session');
    t.deepEqual([ids[0]![1], ids[1]![1]], ['1', '2'], 'the second with the next sequence, so its answer cannot be the first one');
  } finally {
    client.close();
    await node.close();
  }
});
