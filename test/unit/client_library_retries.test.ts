/**
 * The typed client's retry rules against scripted fake nodes on 127.0.0.1 (no Raft): redirects,
 * the same request id on every retry, a bounded give-up on endless ERR_INTERNAL, a silent node
 * that must not stall discovery, and one shared discovery for many waiting requests.
 */
import test from 'tape';
import { FsraftUnavailableError } from '../../src/client/errors.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';
import { fakeNode, type Script } from '../helpers/fake_node.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const probeName = '__fsraft_client_probe__';

/** A node that leads: probes find nothing, writes get OK <next version>. */
function leaderScript(): Script {
  let version = 0;
  return (parsed) => (parsed.command.op === 'read' ? 'ERR_FILE_NOT_FOUND\r\n' : `OK ${++version}\r\n`);
}

/** A leader whose first mutation gets `first` and every later one `later`; probes find nothing. */
function firstThen(first: ReturnType<Script>, later: ReturnType<Script>): Script {
  let mutations = 0;
  return (parsed) => {
    if (parsed.command.op === 'read') return 'ERR_FILE_NOT_FOUND\r\n';
    mutations += 1;
    return mutations === 1 ? first : later;
  };
}

test('client retries: a redirect is followed and each new write takes the next sequence', async (t) => {
  const leader = await fakeNode(leaderScript());
  const follower = await fakeNode(() => `ERR_REDIRECT ${leader.address}\r\n`);
  const client = FsraftClient.fromAddresses([follower.address]);
  try {
    t.deepEqual(await client.write('a', bytes('x')), { version: 1 }, 'the write reached the leader named by the redirect');
    await client.write('b', bytes('y'));
    const writes = leader.received.filter((line) => line.startsWith('write'));
    const ids = writes.map((line) => line.split(' ')[2]!.split(':'));
    t.equal(ids.length, 2, 'two writes reached the leader');
    t.ok(ids[0]![0] === ids[1]![0] && Number(ids[0]![0]) >= 1 && Number(ids[0]![0]) < 2 ** 48, 'one session id in [1, 2^48) for sequential writes');
    t.deepEqual([ids[0]![1], ids[1]![1]], ['1', '2'], 'sequences 1 then 2');
  } finally {
    client.close();
    await Promise.all([leader.close(), follower.close()]);
  }
});

test('client retries: a write whose connection dies is retried with the same request id', async (t) => {
  const leader = await fakeNode(firstThen('close', 'OK 7\r\n'));
  const client = FsraftClient.fromAddresses([leader.address]);
  try {
    t.deepEqual(await client.write('a', bytes('x')), { version: 7 }, 'the retry was answered');
    const ids = leader.received.filter((line) => line.startsWith('write')).map((line) => line.split(' ')[2]);
    t.equal(ids.length, 2, 'sent twice');
    t.equal(ids[0], ids[1], `both carried the same id ${ids[0]}`);
  } finally {
    client.close();
    await leader.close();
  }
});

test('client retries: endless ERR_INTERNAL (a stale id) ends in UNAVAILABLE after requestTimeoutMs', async (t) => {
  const leader = await fakeNode((parsed) => (parsed.command.op === 'read' ? 'ERR_FILE_NOT_FOUND\r\n' : 'ERR_INTERNAL\r\n'));
  const client = FsraftClient.fromAddresses([leader.address], { requestTimeoutMs: 500 });
  try {
    const startedMs = Date.now();
    const error = await client.write('a', bytes('x')).catch((caught: unknown) => caught);
    const elapsedMs = Date.now() - startedMs;
    t.ok(error instanceof FsraftUnavailableError && error.code === 'UNAVAILABLE', 'UNAVAILABLE');
    t.ok(/ERR_INTERNAL/.test((error as Error).message), `the message names the last failure: ${(error as Error).message}`);
    t.ok(elapsedMs >= 450 && elapsedMs < 1_500, `gave up after ${elapsedMs} ms`);
  } finally {
    client.close();
    await leader.close();
  }
});

/** After ERR_INTERNAL, what the deadline cuts short: a silent second attempt, or a discovery of silent probes. */
const cutShortCases: ReadonlyArray<{ what: string; script: () => Script; then: RegExp; writes: number }> = [
  { what: 'an attempt', script: () => firstThen('ERR_INTERNAL\r\n', 'silent'), then: /then [^;]*no reply within \d+ ms, cut short by the deadline/, writes: 2 },
  {
    what: 'a leader discovery',
    script: () => {
      let commands = 0;
      // The first probe finds a leader and the write gets ERR_INTERNAL; every later probe is unanswered.
      return () => (++commands === 1 ? 'ERR_FILE_NOT_FOUND\r\n' : commands === 2 ? 'ERR_INTERNAL\r\n' : 'silent');
    },
    then: /then leader discovery: [^;]*, cut short by the deadline$/,
    writes: 1,
  },
];

for (const { what, script, then, writes } of cutShortCases) {
  test(`client retries: ${what} the deadline cuts short does not hide the failure before it`, async (t) => {
    const leader = await fakeNode(script());
    const client = FsraftClient.fromAddresses([leader.address], { requestTimeoutMs: 400, discoveryAttemptMs: 100 });
    try {
      const error = await client.write('a', bytes('x')).catch((caught: unknown) => caught);
      t.ok(error instanceof FsraftUnavailableError, 'UNAVAILABLE');
      const message = (error as Error).message;
      t.ok(/last failure: [^;]*ERR_INTERNAL/.test(message), `the node's answer is the last failure: ${message}`);
      t.ok(then.test(message), `${what} is named after it`);
      t.equal(leader.received.filter((line) => line.startsWith('write')).length, writes, `${writes} attempt(s)`);
    } finally {
      client.close();
      await leader.close();
    }
  });
}

test('client retries: a silent node does not stall discovery, and waiting requests share one discovery', async (t) => {
  const silent = await fakeNode(() => 'silent');
  const leader = await fakeNode(leaderScript());
  const client = FsraftClient.fromAddresses([silent.address, leader.address], { discoveryAttemptMs: 200 });
  try {
    const startedMs = Date.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.write(`f${i}`, bytes('x'))));
    const elapsedMs = Date.now() - startedMs;
    t.ok(elapsedMs < 1_500, `10 writes done in ${elapsedMs} ms despite the silent node`);
    t.equal(silent.received.length, 1, 'the silent node was probed once, not once per request');
    t.equal(leader.received.filter((line) => line === `read ${probeName}`).length, 1, 'the leader was probed once');
  } finally {
    client.close();
    await Promise.all([silent.close(), leader.close()]);
  }
});

test('client retries: close() fails calls in flight with CLOSED, and bad options are refused up front', async (t) => {
  const silent = await fakeNode(() => 'silent');
  const client = FsraftClient.fromAddresses([silent.address], { discoveryAttemptMs: 100 });
  try {
    const pending = client.read('a').catch((caught: unknown) => caught);
    client.close();
    const error = await pending;
    t.equal((error as { code?: string }).code, 'CLOSED', 'the pending read fails with CLOSED');
    t.throws(() => FsraftClient.fromAddresses(['nohost']), /not host:port/, 'an address without a port is refused');
    t.throws(() => FsraftClient.fromAddresses([silent.address], { requestTimeoutMs: 0 }), /requestTimeoutMs/, 'a zero timeout is refused');
  } finally {
    client.close();
    await silent.close();
  }
});

test('client retries: a tree command retried after ERR_INTERNAL carries the same request id', async (t) => {
  const leader = await fakeNode(firstThen('ERR_INTERNAL\r\n', 'OK 9\r\n'));
  const client = FsraftClient.fromAddresses([leader.address], { backoffBaseMs: 1 });
  try {
    t.deepEqual(await client.writeAt('f', -1, bytes('x')), { version: 9 });
    const attempts = leader.received.filter((line) => line.startsWith('writeat'));
    t.equal(attempts.length, 2, 'sent twice');
    t.equal(attempts[0], attempts[1], 'with the same name and id');
  } finally {
    client.close();
    await leader.close();
  }
});

test('client retries: each filesystem error reply becomes an FsraftFsError with its errno name', async (t) => {
  const replies: Record<string, string> = {
    mkdir: 'ERR_EXISTS\r\n',
    rmdir: 'ERR_NOT_EMPTY\r\n',
    rename: 'ERR_INVALID\r\n',
    truncate: 'ERR_TOO_LARGE\r\n',
    create: 'ERR_NOT_DIR\r\n',
    setattr: 'ERR_FILE_NOT_FOUND\r\n',
    list: 'ERR_NOT_DIR\r\n',
    stat: 'STAT file 1 2 644\r\n',
    delete: 'ERR_IS_DIR\r\n',
    writeat: 'ERR_NO_SPACE\r\n',
  };
  const leader = await fakeNode((parsed) => (parsed.command.name === probeName ? 'ERR_FILE_NOT_FOUND\r\n' : (replies[parsed.command.op] ?? 'ERR_CMD_ERR\r\n')));
  const client = FsraftClient.fromAddresses([leader.address]);
  const code = (promise: Promise<unknown>): Promise<string> =>
    promise.then(
      () => 'resolved',
      (error: unknown) => `${(error as Error).constructor.name} ${(error as { code?: string }).code ?? ''}`,
    );
  try {
    t.equal(await code(client.mkdir('d', 0o755)), 'FsraftFsError EEXIST');
    t.equal(await code(client.rmdir('d')), 'FsraftFsError ENOTEMPTY');
    t.equal(await code(client.rename('d', 'd/e')), 'FsraftFsError EINVAL');
    t.equal(await code(client.truncate('f', 1)), 'FsraftFsError EFBIG');
    t.equal(await code(client.create('f/g', 0o644, false)), 'FsraftFsError ENOTDIR');
    t.equal(await code(client.setattr('f', { mode: 0o600 })), 'FsraftFsError ENOENT');
    t.equal(await code(client.delete('d')), 'FsraftFsError EISDIR');
    t.equal(await code(client.writeAt('f', 0, new Uint8Array([1]))), 'FsraftFsError ENOSPC', 'a nearly full disk is ENOSPC');
    t.equal(await code(client.stat('f')), 'ProtocolError BAD_REPLY', 'a malformed STAT is a bad reply, not a filesystem error');
    t.equal(await code(client.mkdir('d', 0o10000)), 'TypeError ', 'a bad mode is refused before sending');
  } finally {
    client.close();
    await leader.close();
  }
});
