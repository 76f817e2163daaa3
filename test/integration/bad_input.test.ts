/**
 * Malformed input against live nodes (protocol.md: "Any input, however malformed, gets a clear
 * error and never disturbs another client"). Each case must end in ERR_CMD_ERR and a closed
 * connection (or just a closed connection), and afterwards the node still serves a client that
 * was connected all along and a new one, and no node process has exited.
 */
import test, { type Test } from 'tape';
import { connectLeader, fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { ProtocolClient, describeReply, pause, type Reply } from '../../src/launch/protocol_client.js';

/** Small on purpose, so "content larger than the configured maximum" is cheap to send. */
const contentBytesMax = 4096;
const cluster = await fileCluster({ contentBytesMax, timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

/** splitmix32, so the "random" garbage is the same bytes on every run. */
function garbage(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    bytes[i] = (z ^ (z >>> 16)) & 0xff;
  }
  return bytes;
}

interface BadCase {
  readonly name: string;
  readonly bytes: Buffer;
  /** A file the bad command must not have created. */
  readonly mustNotExist?: string;
}

const badCases: BadCase[] = [
  { name: 'an empty line', bytes: Buffer.from('\r\n') },
  { name: 'delete with no name', bytes: Buffer.from('delete\r\n') },
  { name: 'read with no name', bytes: Buffer.from('read\r\n') },
  { name: 'a negative numbytes', bytes: Buffer.from('write bad/negative -5\r\nabc\r\n'), mustNotExist: 'bad/negative' },
  { name: 'a huge numbytes', bytes: Buffer.from('write bad/huge 99999999999\r\n'), mustNotExist: 'bad/huge' },
  { name: 'content over contentBytesMax', bytes: Buffer.from(`write bad/big ${contentBytesMax + 1}\r\n`), mustNotExist: 'bad/big' },
  { name: 'a non-numeric numbytes', bytes: Buffer.from('write bad/nan abc\r\nabc\r\n'), mustNotExist: 'bad/nan' },
  { name: 'cas with missing fields', bytes: Buffer.from('cas bad/cas 1\r\n'), mustNotExist: 'bad/cas' },
  { name: 'an unknown command', bytes: Buffer.from('frobnicate bad/x\r\n') },
  { name: 'a command name in capitals (names are case-sensitive)', bytes: Buffer.from('READ bad/x\r\n') },
  { name: 'a 10,000-byte line', bytes: Buffer.from(`read ${'a'.repeat(9995)}\r\n`) },
  { name: 'a 10,000-byte line without any CRLF', bytes: Buffer.from(`write bad/long ${'9'.repeat(9985)}`) },
  { name: 'content not followed by CRLF', bytes: Buffer.from('write bad/nocrlf 3\r\nabcXY'), mustNotExist: 'bad/nocrlf' },
  { name: '4 KiB of random binary garbage', bytes: garbage(4096, 733) },
  { name: "a name with a '..' component", bytes: Buffer.from('write bad/../escaped 1\r\nx\r\n'), mustNotExist: 'escaped' },
  { name: 'a name with an empty component', bytes: Buffer.from('write bad//empty 1\r\nx\r\n'), mustNotExist: 'bad/empty' },
  { name: 'a name with a bad percent escape', bytes: Buffer.from('write bad/%zz 1\r\nx\r\n') },
  { name: 'a header ended by a bare LF', bytes: Buffer.from('write bad/bare 3\nabc\r\n'), mustNotExist: 'bad/bare' },
];

/**
 * Sends `bytes` and waits (bounded) for the connection to close. Resolves with the replies seen;
 * rejects if the connection is still open after `timeoutMs`.
 */
async function sendExpectingClose(address: string, bytes: Buffer, timeoutMs = 10_000): Promise<Reply[]> {
  const client = await ProtocolClient.connect(address);
  try {
    client.send(bytes);
    const replies: Reply[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const outcome = await client.nextReplyOrClose(Math.max(1, deadline - Date.now()));
      if (outcome === 'closed') return replies;
      replies.push(outcome);
    }
  } finally {
    client.destroy();
  }
}

/** Asserts a normal write and read work, on the bystander connection and on a new one. */
async function checkStillServing(t: Test, bystander: ProtocolClient, after: string): Promise<void> {
  const content = `after ${after}`;
  const v = okVersion(await bystander.write('bad/bystander', content), `bystander write after ${after}`);
  const read = await bystander.read('bad/bystander');
  t.equal(read.line, `CONTENTS ${v} ${content.length} 0`, `after ${after}: a client connected all along is still served`);
  const fresh = await connectLeader(cluster);
  try {
    const freshV = okVersion(await fresh.write('bad/fresh', content), `new client write after ${after}`);
    t.equal((await fresh.read('bad/fresh')).line, `CONTENTS ${freshV} ${content.length} 0`, `after ${after}: a new client is served`);
  } finally {
    fresh.destroy();
  }
  t.deepEqual(cluster.unexpectedExits(), [], `after ${after}: no node process exited`);
}

function acceptable(replies: Reply[]): boolean {
  return replies.length === 0 || (replies.length === 1 && replies[0]?.line === 'ERR_CMD_ERR');
}

test('bad input: each malformed command gets ERR_CMD_ERR and a closed connection from the leader', { timeout: 180_000 }, async (t) => {
  cluster.watch(t);
  const bystander = await connectLeader(cluster);
  t.teardown(() => bystander.destroy());
  for (const badCase of badCases) {
    const leader = await cluster.waitForLeader();
    const replies = await sendExpectingClose(cluster.clientAddress(leader), badCase.bytes).catch((error: Error) => error);
    if (replies instanceof Error) t.fail(`${badCase.name}: ${replies.message}`);
    else t.ok(acceptable(replies), `${badCase.name}: ${replies.length === 0 ? 'closed without a reply' : replies.map(describeReply).join(', ')}, then closed`);
    if (badCase.mustNotExist !== undefined) {
      const read = await bystander.read(badCase.mustNotExist);
      t.equal(read.line, 'ERR_FILE_NOT_FOUND', `${badCase.name}: ${badCase.mustNotExist} was not created`);
    }
    await checkStillServing(t, bystander, badCase.name);
  }
});

test('bad input: each malformed command sent to a follower ends its connection without harm', { timeout: 180_000 }, async (t) => {
  cluster.watch(t);
  const bystander = await connectLeader(cluster);
  t.teardown(() => bystander.destroy());
  for (const badCase of badCases) {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leader)?.id as number;
    const replies = await sendExpectingClose(cluster.clientAddress(follower), badCase.bytes).catch((error: Error) => error);
    if (replies instanceof Error) {
      t.fail(`${badCase.name} to node ${follower}: ${replies.message}`);
    } else {
      const fine = acceptable(replies) || (replies.length === 1 && replies[0]?.kind === 'error' && replies[0].code === 'ERR_REDIRECT');
      t.ok(fine, `${badCase.name} to node ${follower}: ${replies.length === 0 ? 'closed without a reply' : replies.map(describeReply).join(', ')}, then closed`);
    }
    await checkStillServing(t, bystander, `${badCase.name} to a follower`);
  }
});

test('bad input: a client that disconnects in the middle of a write changes nothing', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const bystander = await connectLeader(cluster);
  t.teardown(() => bystander.destroy());
  for (const [what, bytes] of [
    ['half the content', Buffer.from('write bad/half 10\r\nabcde')],
    ['all content but no CRLF', Buffer.from('write bad/half 10\r\nabcdefghij')],
    ['half the header', Buffer.from('write bad/half 1')],
  ] as const) {
    const client = await connectLeader(cluster);
    client.send(bytes);
    // Let the bytes reach the node before the connection goes away: a bounded wait for a reply
    // that must not come (the command is incomplete).
    const early = await client.nextReplyOrClose(300).catch(() => 'no reply');
    t.equal(typeof early === 'string' ? early : describeReply(early), 'no reply', `${what}: no reply to an incomplete command`);
    client.destroy();
    await checkStillServing(t, bystander, `a disconnect after ${what}`);
    t.equal((await bystander.read('bad/half')).line, 'ERR_FILE_NOT_FOUND', `${what}: nothing was written`);
  }
});

test('bad input: extra trailing fields are ignored', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  client.send('write bad/extra 3 0 extra fields\r\nabc\r\n');
  const v = okVersion(await client.readReply(), 'write with extra fields');
  client.send('read bad/extra trailing\r\n');
  t.equal((await client.readReply()).line, `CONTENTS ${v} 3 0`, 'read with an extra field');
  client.send('write\tbad/tabs  3\t\r\nxyz\r\n');
  const tabs = okVersion(await client.readReply(), 'fields separated by tabs and runs of spaces');
  t.equal((await client.read('bad/tabs')).line, `CONTENTS ${tabs} 3 0`, 'tabs and runs of spaces separate fields');
});

test('bad input: a slow client does not hold up others', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const slow = await connectLeader(cluster);
  t.teardown(() => slow.destroy());
  slow.send('write bad/slow 5\r\nab');
  const other = await connectLeader(cluster);
  t.teardown(() => other.destroy());
  okVersion(await other.write('bad/other', 'quick'), 'another client is served while one is mid-command');
  await pause(50);
  slow.send('cde\r\n');
  const v = okVersion(await slow.readReply(), 'the slow command completes');
  t.equal((await slow.read('bad/slow')).line, `CONTENTS ${v} 5 0`, 'with its full contents');
});

stopTest(cluster);
