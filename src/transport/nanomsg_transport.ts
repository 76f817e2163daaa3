/**
 * Transport over nanomsg TCP: each node binds one PULL socket on its own address and connects one
 * PUSH socket to every other member. A message is encoded with raft_message_codec and handed to
 * the kernel at once from send() (non-blocking nn_send), so a client write's round trip is not
 * held back by a timer or an event-loop turn.
 *
 * Bounded memory: when a peer's connection cannot take a message (peer down, or its socket buffer
 * full), the message waits in a per-peer queue of at most `queueMessagesMax` messages and
 * `queueBytesMax` bytes; beyond that the OLDEST queued messages are dropped and counted. Without
 * the cap, a leader heartbeating a peer that is down for an hour would queue every heartbeat and
 * AppendEntries in memory. Dropping the oldest keeps the newest state (latest commit index, latest
 * term) for when the peer returns; Raft retransmits whatever was lost.
 *
 * Bad input from the network (undecodable bytes, messages not addressed to this node or from a
 * non-member) is dropped and counted, and reported through `onError` at most once per
 * `reportIntervalMs` per kind; it never throws.
 */
import nanomsg from 'nanomsg';
import type { PollHandle } from 'nanomsg';
import { SystemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { decodeRaftMessage, encodeRaftMessage } from '../codec/raft_message_codec.js';
import type { RaftMessage } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import type { NodeId } from '../util/types.js';
import type { PeerAddresses, Transport } from './transport.js';

const nn = nanomsg._bindings;

/** What went wrong, for callers that react to a kind of transport error. */
export type TransportErrorCode =
  | 'TRANSPORT_BAD_ADDRESS'
  | 'TRANSPORT_BIND_FAILED'
  | 'TRANSPORT_SOCKET_FAILED'
  | 'TRANSPORT_UNDECODABLE'
  | 'TRANSPORT_MISADDRESSED'
  | 'TRANSPORT_QUEUE_FULL'
  | 'TRANSPORT_SEND_FAILED'
  | 'TRANSPORT_UNKNOWN_PEER';

/** A transport failure; the message names the node and the address or peer concerned. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** Options of NanomsgTransport. Only `id` and `peers` are required. */
export interface NanomsgTransportOptions {
  readonly id: NodeId;
  /** Every member including this node, as "host:port" (own host: an IPv4 address or localhost). */
  readonly peers: PeerAddresses;
  /** Told about dropped bad input, queue overflow and send failures (rate-limited); never fatal. */
  readonly onError?: (error: TransportError) => void;
  /** Messages queued per peer while it cannot take them; the oldest are dropped beyond. Default 1024. */
  readonly queueMessagesMax?: number;
  /** Encoded bytes queued per peer; the oldest are dropped beyond. Default 64 MiB. */
  readonly queueBytesMax?: number;
  /** Wait between attempts to reach a peer that is down. Default 50 ms. */
  readonly reconnectIntervalMs?: number;
  /** Least time between two onError reports of one kind. Default 1000 ms. */
  readonly reportIntervalMs?: number;
  /** Source of time for rate-limiting reports. Default: the system clock. */
  readonly clock?: Clock;
}

/** Counters since construction, for tests, benchmarks and status output. */
export interface NanomsgTransportStats {
  readonly messagesSent: number;
  readonly messagesReceived: number;
  /** Dropped because a peer's queue was full (the oldest queued message goes). */
  readonly droppedQueueFull: number;
  /** Dropped because send() was called before start() or after close(). */
  readonly droppedNotRunning: number;
  /** Dropped because message.to is not a member (or is this node). */
  readonly droppedUnknownPeer: number;
  /** Dropped because nanomsg refused them with an error other than "would block". */
  readonly droppedSendFailed: number;
  /** Received bytes that did not decode. */
  readonly receivedUndecodable: number;
  /** Received messages addressed to another node or from a non-member. */
  readonly receivedMisaddressed: number;
  /** Per peer: messages and bytes waiting now. */
  readonly queues: ReadonlyArray<{ readonly peer: NodeId; readonly messages: number; readonly bytes: number }>;
}

interface MutableStats {
  messagesSent: number;
  messagesReceived: number;
  droppedQueueFull: number;
  droppedNotRunning: number;
  droppedUnknownPeer: number;
  droppedSendFailed: number;
  receivedUndecodable: number;
  receivedMisaddressed: number;
}

const queueMessagesMaxDefault = 1024;
const queueBytesMaxDefault = 64 * 1024 * 1024;
const reconnectIntervalMsDefault = 50;
const reportIntervalMsDefault = 1000;
/** The kernel send buffer asked for (Linux caps it at net.core.wmem_max). */
const socketSendBufferBytes = 4 * 1024 * 1024;
/** Messages read per readiness callback, so a flood from one peer cannot starve timers and I/O. */
const receiveBatchMax = 256;

/** A validated "host:port". */
interface ParsedAddress {
  readonly host: string;
  readonly port: number;
}

const ipv4Pattern = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const hostnamePattern = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function isIpv4(host: string): boolean {
  const match = ipv4Pattern.exec(host);
  return match !== null && match.slice(1).every((octet) => Number(octet) <= 255);
}

/**
 * Parses "host:port" where host is an IPv4 address or a DNS name and port is 1..65535. Throws a
 * TransportError naming the node and the address, so a typo in the cluster file is reported at
 * startup instead of as a peer that silently never answers.
 */
export function parsePeerAddress(node: NodeId, address: string): ParsedAddress {
  const bad = (why: string): TransportError =>
    new TransportError('TRANSPORT_BAD_ADDRESS', `bad address ${JSON.stringify(address)} for node ${node}: ${why}`);
  if (address.startsWith('[') || address.split(':').length > 2) throw bad('IPv6 addresses are not supported');
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw bad('expected host:port');
  const host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw bad('the port must be a number from 1 to 65535');
  }
  if (/^[\d.]+$/.test(host) ? !isIpv4(host) : !hostnamePattern.test(host)) {
    throw bad('the host must be an IPv4 address or a host name');
  }
  return { host, port: Number(portText) };
}

/**
 * The nanomsg URL this node binds. nanomsg binds only to addresses and interface names, not host
 * names (nn_bind fails with ENODEV), so the own address must be an IPv4 address or localhost.
 */
function bindUrl(node: NodeId, address: string, parsed: ParsedAddress): string {
  if (parsed.host === 'localhost') return `tcp://127.0.0.1:${parsed.port}`;
  if (!isIpv4(parsed.host)) {
    throw new TransportError(
      'TRANSPORT_BAD_ADDRESS',
      `bad address ${JSON.stringify(address)} for node ${node} (this node): it must be an IPv4 address or localhost to listen on`,
    );
  }
  return `tcp://${parsed.host}:${parsed.port}`;
}

/** Throws TRANSPORT_SOCKET_FAILED with nanomsg's error text when a nanomsg call failed. */
function check(result: number, what: string): number {
  if (result < 0) throw new TransportError('TRANSPORT_SOCKET_FAILED', `${what}: ${nn.Err()}`);
  return result;
}

function setOption(socket: number, level: number, option: number, value: number, what: string): void {
  check(nn.Setopt(socket, level, option, value), `setting ${what}`);
}

/** One outgoing connection and the messages waiting for it. */
class PeerLink {
  readonly peer: NodeId;
  readonly address: string;
  readonly socket: number;
  /** FIFO of encoded messages: live entries are queue[head..]. */
  private queue: Uint8Array[] = [];
  private head = 0;
  queuedBytes = 0;
  /** True from the first drop until the queue drains, so overflow is reported once per episode. */
  dropping = false;
  private poll: PollHandle | null = null;

  constructor(peer: NodeId, address: string, socket: number) {
    this.peer = peer;
    this.address = address;
    this.socket = socket;
  }

  get queuedMessages(): number {
    return this.queue.length - this.head;
  }

  /** Appends to the queue; returns the oldest messages removed to respect the caps. */
  enqueue(bytes: Uint8Array, messagesMax: number, bytesMax: number): number {
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    let dropped = 0;
    while (this.queuedMessages > messagesMax || this.queuedBytes > bytesMax) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  peek(): Uint8Array | undefined {
    return this.queue[this.head];
  }

  shift(): void {
    const bytes = this.queue[this.head];
    assert(bytes !== undefined, 'shift() on an empty peer queue');
    this.queue[this.head] = EMPTY; // release the message for garbage collection
    this.head++;
    this.queuedBytes -= bytes.length;
    // Compact now and then so the array does not grow with every message ever queued.
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
  }

  startPolling(onWritable: () => void): void {
    if (this.poll === null) this.poll = nn.PollSocket(this.socket, true, onWritable);
  }

  stopPolling(): void {
    if (this.poll !== null) nn.PollStop(this.poll);
    this.poll = null;
  }
}

const EMPTY = new Uint8Array(0);
/** Messages up to this size are encoded into the transport's reused buffer. */
const scratchBytesMax = 4 * 1024 * 1024;

/** Rate limiter for onError: at most one report per kind per interval, with the count since. */
class Reporter {
  private readonly lastMs = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly onError: ((error: TransportError) => void) | undefined,
  ) {}

  report(kind: string, code: TransportErrorCode, message: () => string): void {
    if (this.onError === undefined) return;
    const nowMs = this.clock.nowMs();
    const last = this.lastMs.get(kind);
    const suppressed = this.suppressed.get(kind) ?? 0;
    if (last !== undefined && nowMs - last < this.intervalMs) {
      this.suppressed.set(kind, suppressed + 1);
      return;
    }
    this.lastMs.set(kind, nowMs);
    this.suppressed.set(kind, 0);
    const more = suppressed > 0 ? ` (and ${suppressed} more since the last report)` : '';
    this.onError(new TransportError(code, `${message()}${more}`));
  }
}

type State = 'new' | 'starting' | 'running' | 'closed';

/**
 * Transport over nanomsg PUSH/PULL sockets on TCP. See the module comment for the delivery and
 * memory guarantees. Not thread-safe (Node is single-threaded; nanomsg's worker threads never
 * call into JavaScript).
 */
export class NanomsgTransport implements Transport {
  private readonly id: NodeId;
  private readonly ownBindUrl: string;
  private readonly ownAddress: string;
  private readonly peerAddresses: ReadonlyArray<readonly [NodeId, string, string]>;
  private readonly members: ReadonlySet<NodeId>;
  private readonly queueMessagesMax: number;
  private readonly queueBytesMax: number;
  private readonly reconnectIntervalMs: number;
  private readonly reporter: Reporter;
  private readonly counters: MutableStats = {
    messagesSent: 0,
    messagesReceived: 0,
    droppedQueueFull: 0,
    droppedNotRunning: 0,
    droppedUnknownPeer: 0,
    droppedSendFailed: 0,
    receivedUndecodable: 0,
    receivedMisaddressed: 0,
  };
  private state: State = 'new';
  private pullSocket = -1;
  private pullPoll: PollHandle | null = null;
  private readonly links = new Map<NodeId, PeerLink>();
  private onMessage: (message: RaftMessage) => void = () => undefined;
  /** Where messages are encoded before nn_send copies them (grown up to scratchBytesMax). */
  private scratch = new Uint8Array(64 * 1024);

  /** Validates every address (throws TransportError TRANSPORT_BAD_ADDRESS); opens no sockets. */
  constructor(options: NanomsgTransportOptions) {
    this.id = options.id;
    const own = options.peers.get(options.id);
    if (own === undefined) {
      throw new TransportError('TRANSPORT_BAD_ADDRESS', `node ${options.id} has no address in the peer map`);
    }
    const peers: Array<readonly [NodeId, string, string]> = [];
    for (const [peer, address] of options.peers) {
      if (!Number.isSafeInteger(peer) || peer <= 0 || peer > 0xffff_ffff) {
        throw new TransportError('TRANSPORT_BAD_ADDRESS', `bad node id ${peer} for address ${JSON.stringify(address)}`);
      }
      const parsed = parsePeerAddress(peer, address);
      if (peer !== options.id) peers.push([peer, address, `tcp://${parsed.host}:${parsed.port}`]);
    }
    this.ownAddress = own;
    this.ownBindUrl = bindUrl(options.id, own, parsePeerAddress(options.id, own));
    this.peerAddresses = peers;
    this.members = new Set(options.peers.keys());
    this.queueMessagesMax = options.queueMessagesMax ?? queueMessagesMaxDefault;
    this.queueBytesMax = options.queueBytesMax ?? queueBytesMaxDefault;
    this.reconnectIntervalMs = options.reconnectIntervalMs ?? reconnectIntervalMsDefault;
    assert(Number.isInteger(this.queueMessagesMax) && this.queueMessagesMax >= 1, 'queueMessagesMax must be >= 1');
    assert(Number.isInteger(this.queueBytesMax) && this.queueBytesMax >= 1, 'queueBytesMax must be >= 1');
    assert(Number.isInteger(this.reconnectIntervalMs) && this.reconnectIntervalMs >= 1, 'reconnectIntervalMs must be >= 1');
    this.reporter = new Reporter(options.clock ?? new SystemClock(), options.reportIntervalMs ?? reportIntervalMsDefault, options.onError);
  }

  /**
   * Binds this node's address and starts connecting to every peer (in the background: peers may
   * start later). Rejects with TRANSPORT_BIND_FAILED naming the address if it cannot listen.
   */
  async start(onMessage: (message: RaftMessage) => void): Promise<void> {
    assert(this.state === 'new', `n${this.id}: transport start() called twice`);
    this.state = 'starting';
    this.onMessage = onMessage;
    try {
      this.openPullSocket();
      for (const [peer, address, url] of this.peerAddresses) this.links.set(peer, this.openPushSocket(peer, address, url));
    } catch (error) {
      this.closeSockets();
      this.state = 'closed';
      throw error;
    }
    this.state = 'running';
  }

  /**
   * Sends `message` to `message.to` now if its connection can take it, else queues it (bounded,
   * see the module comment). Never throws for a down peer; drops and counts instead.
   */
  send(message: RaftMessage): void {
    if (this.state !== 'running') {
      this.counters.droppedNotRunning++;
      return;
    }
    const link = this.links.get(message.to);
    if (link === undefined) {
      this.counters.droppedUnknownPeer++;
      this.reporter.report('unknown-peer', 'TRANSPORT_UNKNOWN_PEER', () => `n${this.id}: dropped a ${message.type} to n${message.to}, which is not a peer`);
      return;
    }
    // Encoded into a reused buffer: nn_send copies what it takes, so only a message that must
    // wait in the queue needs bytes of its own. A fresh buffer per message (four copies of each
    // 1 MiB entry on a leader of five) cost a zero-fill each and drove the garbage collector.
    const bytes = encodeRaftMessage(message, this.scratch);
    if (bytes.buffer !== this.scratch.buffer && bytes.length <= scratchBytesMax) this.scratch = new Uint8Array(Math.min(scratchBytesMax, Math.max(bytes.length, 2 * this.scratch.length)));
    if (link.queuedMessages === 0 && this.trySend(link, bytes)) return;
    const dropped = link.enqueue(bytes.buffer === this.scratch.buffer ? bytes.slice() : bytes, this.queueMessagesMax, this.queueBytesMax);
    if (dropped > 0) this.countQueueDrops(link, dropped);
    link.startPolling(() => this.flush(link));
  }

  /** Closes every socket, dropping queued messages; resolves once the listening port is free. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeSockets();
    // nn_close has shut the TCP endpoints when it returns; libuv frees the poll handles on the
    // next loop turn, after which nothing of this transport remains.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** A snapshot of the counters and current queue sizes. */
  stats(): NanomsgTransportStats {
    const queues = [...this.links.values()].map((link) => ({ peer: link.peer, messages: link.queuedMessages, bytes: link.queuedBytes }));
    return { ...this.counters, queues };
  }

  private openPullSocket(): void {
    const socket = check(nn.Socket(nn.AF_SP, nn.NN_PULL), `n${this.id}: creating the listening socket`);
    this.pullSocket = socket;
    // nanomsg's default 1 MiB receive limit would close the connection on any larger
    // AppendEntries, and the leader would resend it forever.
    setOption(socket, nn.NN_SOL_SOCKET, nn.NN_RCVMAXSIZE, limits.messageBytesMax, 'NN_RCVMAXSIZE');
    setOption(socket, nn.NN_SOL_SOCKET, nn.NN_LINGER, 0, 'NN_LINGER');
    if (nn.Bind(socket, this.ownBindUrl) < 0) {
      throw new TransportError('TRANSPORT_BIND_FAILED', `n${this.id}: cannot listen on ${this.ownAddress}: ${nn.Err()}`);
    }
    this.pullPoll = nn.PollSocket(socket, false, () => this.receive());
  }

  private openPushSocket(peer: NodeId, address: string, url: string): PeerLink {
    const socket = check(nn.Socket(nn.AF_SP, nn.NN_PUSH), `n${this.id}: creating the socket to n${peer}`);
    const link = new PeerLink(peer, address, socket);
    // Registered before anything can fail, so closeSockets() closes this socket too.
    this.links.set(peer, link);
    setOption(socket, nn.NN_SOL_SOCKET, nn.NN_LINGER, 0, 'NN_LINGER');
    setOption(socket, nn.NN_SOL_SOCKET, nn.NN_SNDBUF, socketSendBufferBytes, 'NN_SNDBUF');
    setOption(socket, nn.NN_SOL_SOCKET, nn.NN_RECONNECT_IVL, this.reconnectIntervalMs, 'NN_RECONNECT_IVL');
    // 0 = no exponential backoff: a restarted peer is reached within one interval.
    setOption(socket, nn.NN_SOL_SOCKET, nn.NN_RECONNECT_IVL_MAX, 0, 'NN_RECONNECT_IVL_MAX');
    // nanomsg leaves Nagle's algorithm on; with it a small message sent while the previous one is
    // unacknowledged waits for the peer's delayed ACK (~40 ms), wrecking commit latency.
    setOption(socket, nn.NN_TCP, nn.NN_TCP_NODELAY, 1, 'NN_TCP_NODELAY');
    check(nn.Connect(socket, url), `n${this.id}: connecting to n${peer} at ${address}`);
    return link;
  }

  private closeSockets(): void {
    if (this.pullPoll !== null) nn.PollStop(this.pullPoll);
    this.pullPoll = null;
    if (this.pullSocket >= 0) nn.Close(this.pullSocket);
    this.pullSocket = -1;
    for (const link of this.links.values()) {
      link.stopPolling();
      link.clear();
      nn.Close(link.socket);
    }
    this.links.clear();
  }

  /**
   * Hands `bytes` to nanomsg without blocking. Returns false if the connection cannot take it now
   * (the caller queues it); true if it was sent, or dropped because nanomsg refused it for good.
   */
  private trySend(link: PeerLink, bytes: Uint8Array): boolean {
    const sent = nn.Send(link.socket, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), nn.NN_DONTWAIT);
    if (sent >= 0) {
      this.counters.messagesSent++;
      return true;
    }
    const errno = nn.Errno();
    if (errno === nn.EAGAIN || errno === nn.EINTR) return false;
    this.counters.droppedSendFailed++;
    const reason = nn.Err();
    this.reporter.report(`send-failed-${link.peer}`, 'TRANSPORT_SEND_FAILED', () => `n${this.id}: sending to n${link.peer} at ${link.address} failed: ${reason}`);
    return true;
  }

  /** Runs while a peer's connection is writable and its queue is not empty. */
  private flush(link: PeerLink): void {
    if (this.state !== 'running') return;
    for (let bytes = link.peek(); bytes !== undefined; bytes = link.peek()) {
      if (!this.trySend(link, bytes)) return; // still blocked: keep polling
      link.shift();
    }
    link.stopPolling();
    link.dropping = false;
  }

  private countQueueDrops(link: PeerLink, dropped: number): void {
    this.counters.droppedQueueFull += dropped;
    if (link.dropping) return;
    link.dropping = true;
    this.reporter.report(
      `queue-full-${link.peer}`,
      'TRANSPORT_QUEUE_FULL',
      () =>
        `n${this.id}: n${link.peer} at ${link.address} is not taking messages (down or slow); ` +
        `dropping the oldest beyond ${this.queueMessagesMax} messages / ${this.queueBytesMax} bytes`,
    );
  }

  /** Reads what has arrived, up to receiveBatchMax messages (the poll fires again for the rest). */
  private receive(): void {
    for (let i = 0; i < receiveBatchMax && this.state === 'running'; i++) {
      const received = nn.Recv(this.pullSocket, nn.NN_DONTWAIT);
      if (typeof received === 'number') return;
      // A plain Uint8Array view (no copy): decoded entry data alias it and reach the core and the
      // state machine, which should see ordinary Uint8Arrays, not Buffers.
      this.deliver(new Uint8Array(received.buffer, received.byteOffset, received.byteLength));
    }
  }

  private deliver(bytes: Uint8Array): void {
    const decoded = decodeRaftMessage(bytes);
    if (!decoded.ok) {
      this.counters.receivedUndecodable++;
      this.reporter.report('undecodable', 'TRANSPORT_UNDECODABLE', () => `n${this.id}: dropped an undecodable message of ${bytes.length} bytes: ${decoded.error}`);
      return;
    }
    const message = decoded.message;
    // A message for another node means two nodes disagree about the cluster file (e.g. swapped
    // ports); acting on it would let a vote or an ack count for the wrong node.
    if (message.to !== this.id || !this.members.has(message.from) || message.from === this.id) {
      this.counters.receivedMisaddressed++;
      this.reporter.report(
        'misaddressed',
        'TRANSPORT_MISADDRESSED',
        () => `n${this.id}: dropped a ${message.type} from n${message.from} to n${message.to} (check the cluster addresses)`,
      );
      return;
    }
    this.counters.messagesReceived++;
    this.onMessage(message);
  }
}
