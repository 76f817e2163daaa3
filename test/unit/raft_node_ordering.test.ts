/**
 * The driver's ordering (src/server/raft_node.ts, and the ORDERING RULE of src/raft/types.ts),
 * observed through fakes of the transport, storage and clock around a real core and state machine:
 * acks and votes leave only after the write they depend on; a leader's AppendEntries leave before
 * its own write starts; committed entries are applied only once the write of the same step has
 * started.
 */
import test from 'tape';
import { encodeFsRequest, fsBatchFormat } from '../../src/codec/fs_request_codec.js';
import type { Clock, DeadlineClock } from '../../src/clock/clock.js';
import { systemClock } from '../../src/clock/clock.js';
import { FsStateMachine } from '../../src/fs/fs_state_machine.js';
import type { FsRequest } from '../../src/fs/types.js';
import { EntryType, type LogEntry, type RaftMessage } from '../../src/raft/types.js';
import { ClientServer } from '../../src/server/client_server.js';
import { RaftNode } from '../../src/server/raft_node.js';
import type { RaftStorage, StorageWrite } from '../../src/storage/raft_storage.js';
import type { Transport } from '../../src/transport/transport.js';
import { asNodeId } from '../../src/util/types.js';
import { branded } from '../helpers/plain_ids.js';
import { freePorts } from '../../src/launch/local_cluster.js';
import { MemoryStateHost } from '../helpers/memory_state_host.js';
import { ProtocolClient, encodeWrite } from '../../src/launch/protocol_client.js';
import { appendEntries, appendResponse, machine, voteResponse } from './raft_fixtures.js';

/** Lets promise callbacks and setImmediate work run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Small enough that the back-pressure test reaches it with two 2 MiB writes, large enough for the 1 MiB write above. */
const pendingBytesMax = 3 * 1024 * 1024;

class Harness {
  readonly events: string[] = [];
  readonly sent: RaftMessage[] = [];
  private deliver: (message: RaftMessage) => void = () => undefined;
  private tick: () => void = () => undefined;
  private readonly pendingWrites: Array<() => void> = [];
  node!: RaftNode;
  /** What the node's disk-space check answers. */
  diskLow = false;

  static async create(id: number): Promise<Harness> {
    const harness = new Harness();
    await harness.build(id);
    return harness;
  }

  private async build(id: number): Promise<void> {
    const transport: Transport = {
      start: (onMessage) => {
        this.deliver = onMessage;
        return Promise.resolve();
      },
      send: (message) => {
        this.sent.push(message);
        this.events.push(`send ${message.type} to n${message.to}`);
      },
      close: () => Promise.resolve(),
    };
    const storage: RaftStorage = {
      load: () => Promise.reject(new Error('not used')),
      write: (write: StorageWrite) => {
        const last = write.entryOps.flatMap((op) => ('entries' in op ? op.entries : [])).at(-1);
        this.events.push(`write start${last === undefined ? '' : ` ${last.index}`}`);
        return new Promise<void>((resolve) => this.pendingWrites.push(resolve));
      },
      close: () => Promise.resolve(),
    };
    const clock: Clock & DeadlineClock = {
      nowMs: () => 1_700_000_000_000,
      monotonicMs: () => performance.now(),
      after: (delayMs, callback) => {
        const timer = setTimeout(callback, delayMs);
        return () => clearTimeout(timer);
      },
      every: (intervalMs, callback) => {
        // The tick is driven by the test; housekeeping (every second) never runs here.
        if (intervalMs === 10) this.tick = callback;
        return () => undefined;
      },
    };
    const host = await MemoryStateHost.create();
    const state = await FsStateMachine.open(host.current.kv, host.current.content);
    const apply = state.applyEntry.bind(state);
    state.applyEntry = (index: number, term: number, requests: readonly FsRequest[]) => {
      for (const request of requests) this.events.push(`apply ${request.command.name}`);
      return apply(index, term, requests);
    };
    this.node = new RaftNode({
      machine: machine({ id, members: [1, 2, 3] }),
      storage,
      transport,
      clock,
      state,
      stateOptions: {},
      host,
      snapshotPolicy: { logEntriesMax: 1e9, logBytesMax: 1e12 },
      tickMs: 10,
      log: () => undefined,
      onFatal: (error) => {
        throw error;
      },
      diskSpaceLow: () => this.diskLow,
      pendingBytesMax,
    });
  }

  /**
   * Starts node 1 and elects it by real events (pre-votes, then the vote, whose RequestVotes wait
   * for its durable vote for itself); both followers then acknowledge its no-op (entry 1), so
   * both are replicated to from then on.
   */
  async becomeLeader(): Promise<void> {
    await this.node.start();
    while (!this.sent.some((message) => message.type === 'RequestVote')) this.ticks(1);
    this.receive(voteResponse({ from: 2, to: 1, term: 1, preVote: true }));
    await this.completeAllWrites();
    this.receive(voteResponse({ from: 2, to: 1, term: 1 }));
    await this.completeAllWrites();
    for (const from of [2, 3]) this.ack(from, 1);
    await this.completeAllWrites();
  }

  receive(message: RaftMessage): void {
    this.deliver(message);
  }

  /** Node `from` acknowledges the leader's (node 1's, term 1) log up to `matchIndex`. */
  ack(from: number, matchIndex: number): void {
    this.receive(appendResponse({ from, to: 1, term: 1, success: true, matchIndex, conflictIndex: 0, round: 0 }));
  }

  ticks(count: number): void {
    for (let k = 0; k < count; k++) this.tick();
  }

  /** Completes the oldest write in flight and lets the driver react. */
  async completeWrite(): Promise<void> {
    const resolve = this.pendingWrites.shift();
    if (resolve === undefined) throw new Error('no write in flight');
    resolve();
    await settle();
  }

  async completeAllWrites(): Promise<void> {
    while (this.pendingWrites.length > 0) await this.completeWrite();
  }

  /** The highest index this node has sent in an AppendEntries. */
  lastProposedIndex(): number {
    return Math.max(0, ...this.sent.flatMap((message) => (message.type === 'AppendEntries' ? message.entries.map((entry) => entry.index) : [])));
  }

  get writesInFlight(): number {
    return this.pendingWrites.length;
  }

  /** The events since `mark` (an index into `events`). */
  since(mark: number): string[] {
    return this.events.slice(mark);
  }
}

function writeEntry(index: number, term: number, name: string): LogEntry {
  const data = encodeFsRequest({ clientId: 0, sequence: 0, stampMs: 1_700_000_000_000, command: { op: 'write', name, content: new Uint8Array([1]), exptimeSeconds: 0 } });
  return branded<LogEntry>({ index, term, type: EntryType.Command, data });
}

test('raft node ordering: a follower acks only after its write, and applies only after starting the next one', async (t) => {
  const h = await Harness.create(2);
  await h.node.start();
  h.receive(appendEntries({ from: 1, to: 2, term: 1, entries: [writeEntry(1, 1, 'a'), writeEntry(2, 1, 'b')] }));
  t.deepEqual(h.events, ['write start 2'], 'the entries go to storage; nothing is sent yet');
  await h.completeWrite();
  t.deepEqual(h.since(1), ['send AppendEntriesResponse to n1'], 'the ack leaves once the write is durable');

  const mark = h.events.length;
  h.receive(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 2, prevLogTerm: 1, entries: [writeEntry(3, 1, 'c')], leaderCommit: 2 }));
  await settle();
  t.deepEqual(h.since(mark), ['write start 3', 'apply a', 'apply b'], 'the write of entry 3 starts before entries 1 and 2 are applied');
  await h.completeWrite();
  t.deepEqual(h.since(mark + 3), ['send AppendEntriesResponse to n1']);
  await h.node.stop();
  t.end();
});

test('raft node ordering: a leader sends its AppendEntries before starting its own write', async (t) => {
  const h = await Harness.create(1);
  await h.becomeLeader();
  t.equal(h.node.role, 'leader');

  const mark = h.events.length;
  const result = h.node.submit({ op: 'write', name: 'x', content: new Uint8Array([7]), exptimeSeconds: 0 });
  await settle();
  t.deepEqual(
    h.since(mark),
    ['send AppendEntries to n2', 'send AppendEntries to n3', 'write start 2'],
    'both followers are sent the entry before this node starts writing it',
  );
  await h.completeWrite();
  t.equal(h.writesInFlight, 0);
  h.ack(3, 2);
  await settle();
  t.deepEqual(h.events.at(-1), 'apply x', 'committed by this node and n3, it is applied');
  t.equal((await result).result.type, 'ok', 'and the client gets its result');
  await h.node.stop();
  t.end();
});

test('raft node ordering: a leader holds new commands while earlier ones are uncommitted, then proposes them together', async (t) => {
  const h = await Harness.create(1);
  await h.becomeLeader();

  const small = (name: string): Promise<unknown> => h.node.submit({ op: 'write', name, content: new Uint8Array([1]), exptimeSeconds: 0 });
  const first = small('a');
  await settle();
  const afterFirst = h.events.length;
  const held = [small('b'), small('c')];
  await settle();
  t.deepEqual(h.since(afterFirst), [], 'b and c wait: a is not committed yet');

  const sentBefore = h.sent.length;
  const large = h.node.submit({ op: 'write', name: 'big', content: new Uint8Array(1024 * 1024), exptimeSeconds: 0 });
  await settle();
  t.ok(h.since(afterFirst).includes('send AppendEntries to n2'), 'a megabyte of waiting commands is proposed at once, so large writes stay pipelined');
  const entry3 = h.sent.slice(sentBefore).flatMap((message) => (message.type === 'AppendEntries' ? message.entries : []))[0];
  t.equal(entry3?.index, 3, 'entry 2 holds a alone');
  t.equal(entry3?.data[0], fsBatchFormat, 'b and c share entry 3 (big, over the 256 KiB batch bound, goes alone in entry 4)');
  await h.completeAllWrites();
  h.ack(2, 4);
  await Promise.all([first, ...held, large]);
  t.deepEqual(h.events.filter((event) => event.startsWith('apply')), ['apply a', 'apply b', 'apply c', 'apply big'], 'each applied once, in order');
  await h.node.stop();
  t.end();
});

/** How a submitted command ended: its result's type, or the name of the error it was refused with. */
function outcome(command: Promise<unknown>): Promise<string> {
  return command.then(
    (result) => (result as { result: { type: string } }).result.type,
    (error: Error) => error.name,
  );
}

/** Elects node 1, commits `a` (entry 2) while `b` waits; resolves once a's client is answered. */
async function commitWithOneQueued(h: Harness): Promise<{ second: Promise<unknown>; mark: number }> {
  await h.becomeLeader();
  const first = writeSmall(h, 'a');
  await settle();
  await h.completeAllWrites();
  const second = writeSmall(h, 'b');
  await settle();
  const mark = h.events.length;
  h.ack(2, 2);
  await first;
  return { second, mark };
}

function writeSmall(h: Harness, name: string): Promise<unknown> {
  return h.node.submit({ op: 'write', name, content: new Uint8Array([1]), exptimeSeconds: 0 });
}

/** Makes entry 3 durable here and on n3, which commits it. */
async function commitEntry3(h: Harness): Promise<void> {
  await h.completeAllWrites();
  h.ack(3, 3);
}

test('raft node ordering: after a commit, held commands wait for the answered client, then go out with its next command', async (t) => {
  const h = await Harness.create(1);
  const { second, mark } = await commitWithOneQueued(h);
  await settle();
  t.deepEqual(h.since(mark), ['apply a'], 'b waits for the client just answered');
  const sentBefore = h.sent.length;
  const third = writeSmall(h, 'c');
  await settle();
  t.deepEqual(h.since(mark), ['apply a', 'send AppendEntries to n2', 'send AppendEntries to n3', 'write start 3'], "the answered client's next command releases b");
  const entry3 = h.sent.slice(sentBefore).flatMap((message) => (message.type === 'AppendEntries' ? message.entries : []))[0];
  t.equal(entry3?.data[0], fsBatchFormat, 'b and c share entry 3');
  await commitEntry3(h);
  t.deepEqual([await outcome(second), await outcome(third)], ['ok', 'ok']);
  await h.node.stop();
  t.end();
});

test('raft node ordering: held commands leave on their own when the answered client sends nothing more', async (t) => {
  const h = await Harness.create(1);
  const { second, mark } = await commitWithOneQueued(h);
  // The hold lasts at most as long as a took to commit (here well under a millisecond).
  const deadline = Date.now() + 1000;
  while (h.events.length === mark + 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  t.deepEqual(h.since(mark), ['apply a', 'send AppendEntries to n2', 'send AppendEntries to n3', 'write start 3'], 'b leaves once the hold ends');
  await commitEntry3(h);
  t.equal(await outcome(second), 'ok');
  await h.node.stop();
  t.end();
});

test('raft node ordering: a leader that steps down during a hold fails the held commands and proposes nothing', async (t) => {
  const h = await Harness.create(1);
  const { second, mark } = await commitWithOneQueued(h);
  h.receive(appendEntries({ from: 2, to: 1, term: 2, prevLogIndex: 2, prevLogTerm: 1, leaderCommit: 2 }));
  t.equal(await outcome(second), 'OutcomeUnknownError', 'the held command gets an error, never silence');
  await new Promise((resolve) => setTimeout(resolve, 20));
  await h.completeAllWrites();
  t.notOk(h.since(mark).some((event) => event === 'write start 3' || event === 'send AppendEntries to n3'), 'no entry 3 is proposed after the hold would have ended');
  await h.node.stop();
  t.end();
});

test('raft node ordering: a lone client is never held', async (t) => {
  const h = await Harness.create(1);
  await h.becomeLeader();

  const first = writeSmall(h, 'a');
  await settle();
  await h.completeAllWrites();
  h.ack(2, 2);
  await first;
  await settle();
  const mark = h.events.length;
  const second = writeSmall(h, 'b');
  await settle();
  t.deepEqual(h.since(mark), ['send AppendEntries to n2', 'send AppendEntries to n3', 'write start 3'], 'its next command is proposed on arrival');
  await commitEntry3(h);
  t.equal(await outcome(second), 'ok');
  await h.node.stop();
  t.end();
});

test('raft node ordering: while the disk is nearly full, commands that add data are refused before proposing; deletes go through', async (t) => {
  const h = await Harness.create(1);
  await h.becomeLeader();
  h.diskLow = true;
  const mark = h.events.length;
  t.equal(await outcome(writeSmall(h, 'a')), 'NoSpaceError', 'a write is refused');
  t.equal(await outcome(h.node.submit({ op: 'mkdir', name: 'd', mode: 0o755 })), 'NoSpaceError', 'so is a mkdir');
  await settle();
  t.deepEqual(h.since(mark), [], 'nothing was proposed or written');
  const removal = h.node.submit({ op: 'delete', name: 'a' });
  await settle();
  t.deepEqual(h.since(mark), ['send AppendEntries to n2', 'send AppendEntries to n3', 'write start 2'], 'a delete is proposed');
  await h.completeAllWrites();
  h.ack(2, 2);
  t.equal(await outcome(removal), 'not_found', 'and answered');
  await h.node.stop();
  t.end();
});

test('raft node back-pressure: a leader stops accepting commands at pendingBytesMax unanswered bytes and says when it has room again', async (t) => {
  const h = await Harness.create(1);
  await h.becomeLeader();
  let rooms = 0;
  h.node.onRoom(() => rooms++);
  const big = (name: string): Promise<unknown> => h.node.submit({ op: 'write', name, content: new Uint8Array(2 * 1024 * 1024), exptimeSeconds: 0 });
  const first = big('a');
  t.equal(h.node.acceptingCommands, true, '2 MiB of 3 MiB: still accepting');
  const second = big('b');
  t.equal(h.node.acceptingCommands, false, '4 MiB: full');
  await settle();
  await h.completeAllWrites();
  h.ack(2, h.lastProposedIndex());
  await Promise.all([first, second]);
  t.equal(h.node.acceptingCommands, true, 'accepting again once they are answered');
  t.equal(rooms, 1, 'and listeners are told once');
  await h.node.stop();
  t.end();
});

/** A client handler on a free 127.0.0.1 port over node 1 of `h`, which is made leader; counts submits. */
async function serveClients(h: Harness, options: { contentBytesMax: number; partialCommandTimeoutMs?: number; receiveBytesMax?: number }): Promise<{ server: ClientServer; address: string; submitted: () => number }> {
  await h.becomeLeader();
  let submitted = 0;
  const submit = h.node.submit.bind(h.node);
  h.node.submit = (command, session) => {
    submitted++;
    return submit(command, session);
  };
  const [port] = await freePorts(1);
  const address = `127.0.0.1:${port}`;
  const server = new ClientServer({
    node: h.node,
    address,
    clientAddresses: new Map([[asNodeId(1), address]]),
    contentBytesMax: options.contentBytesMax,
    leaderWaitMs: 1000,
    partialCommandTimeoutMs: options.partialCommandTimeoutMs ?? 30_000,
    ...(options.receiveBytesMax === undefined ? {} : { receiveBytesMax: options.receiveBytesMax }),
    log: () => undefined,
    clock: systemClock,
  });
  await server.listen();
  return { server, address, submitted: () => submitted };
}

test('raft node back-pressure: the client handler stops reading pipelined commands while the leader is full, and resumes', async (t) => {
  const h = await Harness.create(1);
  const { server, address, submitted } = await serveClients(h, { contentBytesMax: 4 * 1024 * 1024 });
  const client = await ProtocolClient.connect(address);
  try {
    const content = Buffer.alloc(1200 * 1024, 'x');
    for (const name of ['a', 'b', 'c', 'd']) client.send(encodeWrite(name, content));
    const until = async (condition: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await until(() => submitted() >= 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.equal(submitted(), 3, 'three 1.2 MiB writes fill the 3 MiB; the fourth is not read yet');
    const commitAll = async (): Promise<void> => {
      await h.completeAllWrites();
      h.ack(2, h.lastProposedIndex());
    };
    await commitAll();
    await until(() => submitted() === 4);
    t.equal(submitted(), 4, 'once they are answered, the fourth is read and proposed');
    await until(() => h.writesInFlight > 0);
    await commitAll();
    const lines = [];
    for (let i = 0; i < 4; i++) lines.push((await client.readReply(5000)).line.split(' ')[0]);
    t.deepEqual(lines, ['OK', 'OK', 'OK', 'OK'], 'and every write is answered, in order');
  } finally {
    client.end();
    await server.close();
    await h.node.stop();
  }
  t.end();
});

test('client handler receive budget: connections holding partial commands past the budget stop being read until stalled ones are closed', async (t) => {
  const h = await Harness.create(1);
  const stallMs = 600;
  const { server, address, submitted } = await serveClients(h, { contentBytesMax: 1024 * 1024, partialCommandTimeoutMs: stallMs, receiveBytesMax: 2 * 1024 * 1024 });
  const clients: ProtocolClient[] = [];
  try {
    const startedMs = Date.now();
    // Three clients each send 800 KiB of a 1 MiB write and stop: 2.4 MiB held, over the 2 MiB.
    for (const name of ['a1', 'a2', 'a3']) {
      const client = await ProtocolClient.connect(address);
      clients.push(client);
      client.send(Buffer.concat([Buffer.from(`write ${name} ${1024 * 1024}\r\n`), Buffer.alloc(800 * 1024, 'a')]));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const legit = await ProtocolClient.connect(address);
    clients.push(legit);
    legit.send(encodeWrite('legit', Buffer.alloc(900 * 1024, 'l')));
    await new Promise((resolve) => setTimeout(resolve, startedMs + stallMs * 0.75 - Date.now()));
    t.equal(submitted(), 0, 'a whole write sent while the budget is exceeded is not read meanwhile');
    const deadline = Date.now() + 5000;
    while (submitted() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    t.equal(submitted(), 1, 'once the stalled clients are closed, it is read and proposed');
    while (h.writesInFlight === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await h.completeAllWrites();
    h.ack(2, h.lastProposedIndex());
    t.equal((await legit.readReply(5000)).line.split(' ')[0], 'OK', 'and answered');
    for (const attacker of clients.slice(0, 3)) {
      const reply = await attacker.nextReplyOrClose(5000);
      t.equal(reply === 'closed' ? 'closed' : reply.line, 'ERR_CMD_ERR', 'each stalled client is told and closed');
    }
  } finally {
    for (const client of clients) client.end();
    await server.close();
    await h.node.stop();
  }
  t.end();
});
