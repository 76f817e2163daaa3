import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import nanomsg from 'nanomsg';
import test from 'tape';
import { encodeRaftMessage } from '../../src/codec/raft_message_codec.js';
import { EntryType } from '../../src/raft/types.js';
import type { AppendEntries, RaftMessage } from '../../src/raft/types.js';
import { NanomsgTransport, TransportError } from '../../src/transport/nanomsg_transport.js';
import type { NanomsgTransportOptions } from '../../src/transport/nanomsg_transport.js';
import { asNodeId, type NodeId } from '../../src/util/types.js';
import { branded } from '../helpers/plain_ids.js';

/** Ports the OS just handed out on 127.0.0.1 (bound together so they differ, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function cluster(count: number): Promise<Map<NodeId, string>> {
  const ports = await freePorts(count);
  return peerMap(ports.map((port, i) => [i + 1, `127.0.0.1:${port}`]));
}

/** Peer addresses by node id, the ids written as plain numbers. */
function peerMap(entries: ReadonlyArray<readonly [number, string]>): Map<NodeId, string> {
  return new Map(entries.map(([id, address]) => [asNodeId(id), address]));
}

/** Polls `condition` every 5 ms until it holds or `timeoutMs` passes; returns whether it held. */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

interface Node {
  readonly transport: NanomsgTransport;
  readonly inbox: RaftMessage[];
  readonly errors: TransportError[];
}

/** A transport for node `id`, closed when the test ends. */
function node(t: test.Test, id: number, peers: Map<NodeId, string>, extra: Partial<NanomsgTransportOptions> = {}): Node {
  const errors: TransportError[] = [];
  const transport = new NanomsgTransport({ id: asNodeId(id), peers, onError: (error) => errors.push(error), ...extra });
  t.teardown(() => transport.close());
  return { transport, inbox: [], errors };
}

async function started(t: test.Test, id: number, peers: Map<NodeId, string>, extra: Partial<NanomsgTransportOptions> = {}): Promise<Node> {
  const n = node(t, id, peers, extra);
  await n.transport.start((message) => n.inbox.push(message));
  return n;
}

function heartbeat(from: number, to: number, round: number): AppendEntries {
  return branded<AppendEntries>({ type: 'AppendEntries', from, to, term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, round });
}

test('nanomsg transport: two nodes exchange messages both ways, entries intact', async (t) => {
  const peers = await cluster(2);
  const a = await started(t, 1, peers);
  const b = await started(t, 2, peers);
  const data = Uint8Array.from({ length: 2000 }, (_, i) => (i * 7) & 0xff);
  const append = branded<AppendEntries>({
    type: 'AppendEntries',
    from: 1,
    to: 2,
    term: 3,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [
      { index: 1, term: 3, type: EntryType.Noop, data: new Uint8Array(0) },
      { index: 2, term: 3, type: EntryType.Command, data },
    ],
    leaderCommit: 0,
    round: 1,
  });
  a.transport.send(append);
  b.transport.send(branded<RaftMessage>({ type: 'AppendEntriesResponse', from: 2, to: 1, term: 3, success: true, matchIndex: 2, conflictIndex: 0, round: 1 }));
  t.ok(await waitFor(() => a.inbox.length === 1 && b.inbox.length === 1), 'each side received one message');
  const received = b.inbox[0];
  t.equal(received?.type, 'AppendEntries');
  if (received?.type === 'AppendEntries') {
    t.deepEqual(Array.from(received.entries[1]?.data ?? []), Array.from(data), 'binary entry data intact');
    t.equal(received.entries[1]?.data.constructor, Uint8Array, 'entry data are plain Uint8Arrays');
    t.deepEqual({ ...received, entries: [] }, { ...append, entries: [] }, 'fields intact');
  }
  t.deepEqual(a.inbox[0], { type: 'AppendEntriesResponse', from: 2, to: 1, term: 3, success: true, matchIndex: 2, conflictIndex: 0, round: 1 });
  t.deepEqual([a.errors, b.errors], [[], []], 'no errors');
});

test('nanomsg transport: a message larger than the nanomsg default 1 MiB receive limit arrives', async (t) => {
  const peers = await cluster(2);
  const a = await started(t, 1, peers);
  const b = await started(t, 2, peers);
  const data = new Uint8Array(3 * 1024 * 1024).fill(0x5a);
  a.transport.send(branded<RaftMessage>({ ...heartbeat(1, 2, 1), entries: [{ index: 1, term: 1, type: EntryType.Command, data }] }));
  t.ok(await waitFor(() => b.inbox.length === 1), 'a 3 MiB AppendEntries arrived');
  const received = b.inbox[0];
  t.equal(received?.type === 'AppendEntries' ? received.entries[0]?.data.length : -1, data.length, 'whole entry');
});

test('nanomsg transport: three nodes, every pair, messages in order', async (t) => {
  const peers = await cluster(3);
  const nodes = await Promise.all([1, 2, 3].map((id) => started(t, id, peers)));
  const perPair = 200;
  for (let round = 0; round < perPair; round++) {
    for (const from of [1, 2, 3]) {
      for (const to of [1, 2, 3]) if (from !== to) nodes[from - 1]!.transport.send(heartbeat(from, to, round));
    }
  }
  t.ok(await waitFor(() => nodes.every((n) => n.inbox.length === 2 * perPair)), 'every node received every message');
  for (const [i, n] of nodes.entries()) {
    for (const from of [1, 2, 3]) {
      const rounds = n.inbox.filter((m) => m.from === from).map((m) => (m as AppendEntries).round);
      if (from !== i + 1) t.deepEqual(rounds, Array.from({ length: perPair }, (_, r) => r), `n${i + 1} got n${from}'s messages in order`);
    }
  }
});

test('nanomsg transport: sending to a down peer never throws and its queue stays bounded', async (t) => {
  const peers = await cluster(2);
  const a = await started(t, 1, peers, { queueMessagesMax: 100, queueBytesMax: 64 * 1024 });
  const big = branded<AppendEntries>({
    ...heartbeat(1, 2, 0),
    entries: [{ index: 1, term: 1, type: EntryType.Command, data: new Uint8Array(1024) }],
  });
  for (let i = 0; i < 20000; i++) a.transport.send(branded<RaftMessage>({ ...big, round: i }));
  const stats = a.transport.stats();
  const queue = stats.queues.find((q) => q.peer === 2);
  t.ok(queue !== undefined && queue.messages <= 100 && queue.bytes <= 64 * 1024, `queue bounded: ${JSON.stringify(queue)}`);
  t.equal(stats.droppedQueueFull + (queue?.messages ?? 0) + stats.messagesSent, 20000, 'every message is sent, queued or counted as dropped');
  t.equal(a.errors.filter((e) => e.code === 'TRANSPORT_QUEUE_FULL').length, 1, 'overflow reported once');
  t.ok(a.errors[0]?.message.includes(peers.get(asNodeId(2))!), `report names the peer: ${a.errors[0]?.message}`);
});

test('nanomsg transport: a peer that starts later receives what is sent after it is up', async (t) => {
  const peers = await cluster(2);
  const a = await started(t, 1, peers, { queueMessagesMax: 10 });
  for (let i = 0; i < 50; i++) a.transport.send(heartbeat(1, 2, i)); // while n2 is down
  const b = await started(t, 2, peers);
  const marker = 1000;
  let next = marker;
  // Send one message per 10 ms until one arrives: at most one reconnect interval passes before
  // the connection is up, and everything sent since then must arrive.
  const delivered = await waitFor(() => {
    a.transport.send(heartbeat(1, 2, next++));
    return b.inbox.some((m) => (m as AppendEntries).round >= marker);
  });
  t.ok(delivered, 'messages sent after the peer started arrived');
  const sentAfter = next - marker;
  t.ok(await waitFor(() => b.inbox.filter((m) => (m as AppendEntries).round >= marker).length === sentAfter), `all ${sentAfter} arrived`);
  const early = b.inbox.filter((m) => (m as AppendEntries).round < marker).length;
  t.ok(early <= 10, `at most the queue cap of messages from before it was up arrived (${early})`);
});

test('nanomsg transport: close() releases the port for a new transport, and a busy port is a clear error', async (t) => {
  const peers = await cluster(2);
  const first = await started(t, 1, peers);
  const clash = node(t, 1, peers);
  try {
    await clash.transport.start(() => undefined);
    t.fail('a second transport bound the same address');
  } catch (error) {
    t.ok(error instanceof TransportError && error.code === 'TRANSPORT_BIND_FAILED', 'TRANSPORT_BIND_FAILED');
    t.ok((error as Error).message.includes(peers.get(asNodeId(1))!), (error as Error).message);
  }
  await first.transport.close();
  const second = await started(t, 1, peers);
  const b = await started(t, 2, peers);
  b.transport.send(heartbeat(2, 1, 7));
  t.ok(await waitFor(() => second.inbox.length === 1), 'the new transport receives on the reused port');
  await first.transport.close(); // closing twice is harmless
});

test('nanomsg transport: bad addresses are refused at construction, naming the address', (t) => {
  const cases: Array<[string, Map<NodeId, string>, string]> = [
    ['no port', peerMap([[1, '127.0.0.1'], [2, '127.0.0.1:9002']]), '"127.0.0.1"'],
    ['port 0', peerMap([[1, '127.0.0.1:0'], [2, '127.0.0.1:9002']]), '"127.0.0.1:0"'],
    ['port too large', peerMap([[1, '127.0.0.1:9001'], [2, '127.0.0.1:70000']]), '"127.0.0.1:70000"'],
    ['octet too large', peerMap([[1, '127.0.0.1:9001'], [2, '300.0.0.1:9002']]), '"300.0.0.1:9002"'],
    ['IPv6', peerMap([[1, '127.0.0.1:9001'], [2, '[::1]:9002']]), '"[::1]:9002"'],
    ['empty host', peerMap([[1, '127.0.0.1:9001'], [2, ':9002']]), '":9002"'],
    ['own host name', peerMap([[1, 'example.com:9001'], [2, '127.0.0.1:9002']]), '"example.com:9001"'],
    ['own id missing', peerMap([[2, '127.0.0.1:9002']]), 'node 1'],
  ];
  for (const [what, peers, fragment] of cases) {
    try {
      new NanomsgTransport({ id: asNodeId(1), peers });
      t.fail(`${what}: accepted`);
    } catch (error) {
      t.ok(error instanceof TransportError && error.code === 'TRANSPORT_BAD_ADDRESS' && error.message.includes(fragment), `${what}: ${(error as Error).message}`);
    }
  }
  t.doesNotThrow(() => new NanomsgTransport({ id: asNodeId(1), peers: peerMap([[1, 'localhost:9001'], [2, 'node-2.example:9002']]) }), 'host names for peers, localhost for self');
  t.end();
});

test('nanomsg transport: garbage and misaddressed messages are dropped, counted and reported', async (t) => {
  const peers = await cluster(3);
  const a = await started(t, 1, peers);
  const nn = nanomsg._bindings;
  const raw = nn.Socket(nn.AF_SP, nn.NN_PUSH);
  t.teardown(() => nn.Close(raw));
  nn.Setopt(raw, nn.NN_SOL_SOCKET, nn.NN_RECONNECT_IVL, 10);
  // A blocking send that can never complete would hang the test run instead of failing it.
  nn.Setopt(raw, nn.NN_SOL_SOCKET, nn.NN_SNDTIMEO, 5000);
  nn.Connect(raw, `tcp://${peers.get(asNodeId(1))!}`);
  const garbage = [Buffer.from('hello'), Buffer.alloc(0), Buffer.from([1, 3, 0, 0, 0, 2, 0, 0, 0, 1])];
  const sendRaw = (bytes: Buffer): boolean => nn.Send(raw, bytes, 0) >= 0;
  for (const bytes of garbage) t.ok(sendRaw(bytes), 'sent raw bytes');
  // A well-formed message for node 3 reaching node 1 (ports mixed up in a cluster file).
  t.ok(sendRaw(Buffer.from(encodeRaftMessage(heartbeat(2, 3, 1)))), 'sent a message for n3');
  t.ok(sendRaw(Buffer.from(encodeRaftMessage(heartbeat(2, 1, 2)))), 'sent a good message');
  t.ok(await waitFor(() => a.inbox.length === 1), 'the good message after the garbage is delivered');
  const stats = a.transport.stats();
  t.equal(stats.receivedUndecodable, 3, 'undecodable counted');
  t.equal(stats.receivedMisaddressed, 1, 'misaddressed counted');
  t.deepEqual(a.errors.map((e) => e.code), ['TRANSPORT_UNDECODABLE', 'TRANSPORT_MISADDRESSED'], 'one report per kind within the interval');
});

test('nanomsg transport: send before start, after close, or to a non-member is dropped without throwing', async (t) => {
  const peers = await cluster(2);
  const a = node(t, 1, peers);
  a.transport.send(heartbeat(1, 2, 0));
  await a.transport.start(() => undefined);
  a.transport.send(heartbeat(1, 9, 0));
  a.transport.send(heartbeat(1, 1, 0));
  await a.transport.close();
  a.transport.send(heartbeat(1, 2, 0));
  const stats = a.transport.stats();
  t.equal(stats.droppedNotRunning, 2, 'before start and after close');
  t.equal(stats.droppedUnknownPeer, 2, 'to n9 and to itself');
  t.deepEqual(a.errors.map((e) => e.code), ['TRANSPORT_UNKNOWN_PEER'], 'reported once');
});

test('nanomsg transport: round-trip latency of small messages on 127.0.0.1 (printed, not asserted)', async (t) => {
  const peers = await cluster(2);
  const rounds = 2000;
  const warmupRound = 1e9;
  const samplesUs: number[] = [];
  let started = 0n;
  let finished = false;
  const finish = (): void => {
    finished = true;
  };
  const a = new NanomsgTransport({ id: asNodeId(1), peers });
  const b = new NanomsgTransport({ id: asNodeId(2), peers });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await b.start((message) => b.send(branded<RaftMessage>({ type: 'AppendEntriesResponse', from: 2, to: 1, term: 1, success: true, matchIndex: 0, conflictIndex: 0, round: (message as AppendEntries).round })));
  await a.start((message) => {
    const round = (message as { round: number }).round;
    if (round === warmupRound) return;
    samplesUs.push(Number(process.hrtime.bigint() - started) / 1000);
    if (round + 1 >= rounds) return finish();
    started = process.hrtime.bigint();
    a.send(heartbeat(1, 2, round + 1));
  });
  // Warm up until connected: the first messages may wait for the connection.
  a.send(heartbeat(1, 2, warmupRound));
  t.ok(await waitFor(() => a.stats().messagesReceived > 0), 'connected');
  started = process.hrtime.bigint();
  a.send(heartbeat(1, 2, 0));
  t.ok(await waitFor(() => finished, 30_000), 'ping-pong finished');
  samplesUs.sort((x, y) => x - y);
  const at = (q: number): string => (samplesUs[Math.floor(q * (samplesUs.length - 1))] ?? NaN).toFixed(0);
  t.comment(`round trip of a heartbeat and its response over ${samplesUs.length} rounds: p50 ${at(0.5)} us, p90 ${at(0.9)} us, p99 ${at(0.99)} us, max ${at(1)} us`);
  t.equal(samplesUs.length, rounds, 'all rounds completed');
});
