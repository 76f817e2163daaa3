/**
 * A raw TCP client for the fsraft client protocol (../shared/protocol.md), written independently
 * of the rest of src/ (it imports none of it) so the integration tests check the server against
 * the protocol text, not against the server's own codec. Every wait is bounded by a timeout.
 */
import net from 'node:net';

/** One parsed server reply. `line` is the reply's first line without CRLF, for messages. */
export type Reply =
  /** `OK <version>` after write/cas, `OK` (version undefined) after delete. */
  | { readonly kind: 'ok'; readonly version: number | undefined; readonly line: string }
  /** `CONTENTS <version> <numbytes> <exptime>\r\n<bytes>\r\n` */
  | { readonly kind: 'contents'; readonly version: number; readonly exptime: number; readonly content: Buffer; readonly line: string }
  /** `ERR_<CODE> [argument]`, e.g. code `ERR_VERSION` with argument `7`. */
  | { readonly kind: 'error'; readonly code: string; readonly argument: string | undefined; readonly line: string };

/** The server closed the connection (or it failed) before a whole reply arrived. */
export class ConnectionClosedError extends Error {
  readonly code = 'CONNECTION_CLOSED';
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

/** No reply (or connection) within the allowed time. */
export class TimeoutError extends Error {
  readonly code = 'TIMEOUT';
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** The server sent bytes that are not a reply of the protocol. */
export class MalformedReplyError extends Error {
  readonly code = 'MALFORMED_REPLY';
  constructor(message: string) {
    super(message);
    this.name = 'MalformedReplyError';
  }
}

/** Default bound on one reply; generous because 5 nodes share 2 cores in the tests. */
export const replyTimeoutMsDefault = 10_000;
/** Default bound on opening a connection. */
export const connectTimeoutMsDefault = 5_000;
/** A reply header line longer than this is malformed (the protocol's lines are short). */
const replyLineBytesMax = 1024;
/** Bytes buffered from a server before the client gives up on it. */
const receiveBytesMax = 128 * 1024 * 1024;

const crlf = Buffer.from('\r\n');

/** Formats `write` as bytes: `write <name> <numbytes> [<exptime>]\r\n<content>\r\n`. */
export function encodeWrite(name: string, content: Buffer | string, exptime?: number): Buffer {
  const body = Buffer.from(content);
  const header = `write ${name} ${body.length}${exptime === undefined ? '' : ` ${exptime}`}\r\n`;
  return Buffer.concat([Buffer.from(header), body, crlf]);
}

/** Formats `cas` as bytes: `cas <name> <version> <numbytes> [<exptime>]\r\n<content>\r\n`. */
export function encodeCas(name: string, version: number, content: Buffer | string, exptime?: number): Buffer {
  const body = Buffer.from(content);
  const header = `cas ${name} ${version} ${body.length}${exptime === undefined ? '' : ` ${exptime}`}\r\n`;
  return Buffer.concat([Buffer.from(header), body, crlf]);
}

/** Formats `read <name>\r\n`. */
export function encodeRead(name: string): Buffer {
  return Buffer.from(`read ${name}\r\n`);
}

/** Formats `delete <name>\r\n`. */
export function encodeDelete(name: string): Buffer {
  return Buffer.from(`delete ${name}\r\n`);
}

/**
 * Parses one reply from the front of `buffer`. Returns undefined if more bytes are needed, or the
 * reply and how many bytes it used. Throws MalformedReplyError on bytes no reply starts with.
 */
export function parseReply(buffer: Buffer): { reply: Reply; bytesUsed: number } | undefined {
  const lineEnd = buffer.indexOf(crlf);
  if (lineEnd === -1) {
    if (buffer.length > replyLineBytesMax) throw new MalformedReplyError(`reply line longer than ${replyLineBytesMax} bytes: ${preview(buffer)}`);
    return undefined;
  }
  const line = buffer.subarray(0, lineEnd).toString('latin1');
  const fields = line.split(' ');
  const head = fields[0] ?? '';
  const afterLine = lineEnd + 2;
  if (head === 'OK') {
    if (fields.length === 1) return { reply: { kind: 'ok', version: undefined, line }, bytesUsed: afterLine };
    if (fields.length === 2) return { reply: { kind: 'ok', version: integerField(fields[1], line), line }, bytesUsed: afterLine };
    throw new MalformedReplyError(`bad OK reply: ${JSON.stringify(line)}`);
  }
  if (head === 'CONTENTS') {
    if (fields.length !== 4) throw new MalformedReplyError(`bad CONTENTS reply: ${JSON.stringify(line)}`);
    const version = integerField(fields[1], line);
    const numbytes = integerField(fields[2], line);
    const exptime = integerField(fields[3], line);
    const contentEnd = afterLine + numbytes;
    if (buffer.length < contentEnd + 2) return undefined;
    if (!buffer.subarray(contentEnd, contentEnd + 2).equals(crlf)) {
      throw new MalformedReplyError(`CONTENTS of ${numbytes} bytes not followed by CRLF: ${JSON.stringify(line)}`);
    }
    const content = Buffer.from(buffer.subarray(afterLine, contentEnd));
    return { reply: { kind: 'contents', version, exptime, content, line }, bytesUsed: contentEnd + 2 };
  }
  if (/^ERR_[A-Z_]+$/.test(head) && fields.length <= 2) {
    return { reply: { kind: 'error', code: head, argument: fields[1], line }, bytesUsed: afterLine };
  }
  throw new MalformedReplyError(`unknown reply: ${JSON.stringify(line)}`);
}

function integerField(field: string | undefined, line: string): number {
  if (field === undefined || !/^-?\d+$/.test(field)) throw new MalformedReplyError(`non-numeric field in ${JSON.stringify(line)}`);
  return Number(field);
}

function preview(buffer: Buffer): string {
  return JSON.stringify(buffer.subarray(0, 80).toString('latin1'));
}

/** Renders a reply for assertion messages. */
export function describeReply(reply: Reply): string {
  if (reply.kind === 'contents') return `${reply.line} <${reply.content.length} bytes>`;
  return reply.line;
}

/**
 * One TCP connection speaking the protocol. Replies are parsed as bytes arrive, however the
 * server splits them; `readReply` takes them in order.
 */
export class ProtocolClient {
  private received: Buffer = Buffer.alloc(0);
  private readonly replies: Reply[] = [];
  private failure: Error | undefined;
  private closedFlag = false;
  /** Wakes every pending wait when bytes arrive or the connection closes. */
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly socket: net.Socket,
    /** The `host:port` this client is connected to. */
    readonly address: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.failure ??= new ConnectionClosedError(`connection to ${address} failed: ${error.message}`);
      this.notify();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.notify();
    });
    // The server half-closing (FIN) is "closed" for a protocol client: nothing more will come.
    socket.on('end', () => {
      this.closedFlag = true;
      this.notify();
      socket.end();
    });
  }

  /** Opens a connection to `host:port`; rejects on refusal or after `timeoutMs`. */
  static connect(address: string, timeoutMs: number = connectTimeoutMsDefault): Promise<ProtocolClient> {
    const { host, port } = splitAddress(address);
    return new Promise<ProtocolClient>((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TimeoutError(`connecting to ${address} took more than ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectionClosedError(`cannot connect to ${address}: ${error.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ProtocolClient(socket, address));
      });
    });
  }

  /** True once the server closed the connection (or it failed). */
  get closed(): boolean {
    return this.closedFlag || this.failure !== undefined;
  }

  /** Stops reading from the socket, as a client that never reads its replies would. */
  stopReading(): void {
    this.socket.pause();
  }

  /** Sends raw bytes as one write (the kernel may still split them). */
  send(bytes: Buffer | string): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /**
   * Resolves with the next reply. Rejects with ConnectionClosedError if the connection closes
   * first, TimeoutError after `timeoutMs`, MalformedReplyError on bytes that are no reply.
   */
  async readReply(timeoutMs: number = replyTimeoutMsDefault): Promise<Reply> {
    const outcome = await this.nextReplyOrClose(timeoutMs);
    if (outcome === 'closed') {
      throw this.failure ?? new ConnectionClosedError(`${this.address} closed the connection before replying${this.received.length > 0 ? ` (partial reply ${preview(this.received)})` : ''}`);
    }
    return outcome;
  }

  /** Like readReply, but resolves 'closed' instead of rejecting when the server closes first. */
  async nextReplyOrClose(timeoutMs: number = replyTimeoutMsDefault): Promise<Reply | 'closed'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.replies.shift();
      if (reply !== undefined) return reply;
      if (this.failure instanceof MalformedReplyError) throw this.failure;
      if (this.closed) return 'closed';
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new TimeoutError(`no reply from ${this.address} within ${timeoutMs} ms`);
      await this.waitForEvent(remainingMs);
    }
  }

  /**
   * Resolves true when the server has closed the connection, false if it is still open after
   * `timeoutMs`. Replies that arrive meanwhile stay queued for readReply.
   */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) return false;
      await this.waitForEvent(remainingMs);
    }
    return true;
  }

  /** Replies received but not yet read. */
  get queuedReplies(): number {
    return this.replies.length;
  }

  /** Sends `write` and returns its reply. */
  async write(name: string, content: Buffer | string, exptime?: number, timeoutMs?: number): Promise<Reply> {
    this.send(encodeWrite(name, content, exptime));
    return this.readReply(timeoutMs);
  }

  /** Sends `read` and returns its reply. */
  async read(name: string, timeoutMs?: number): Promise<Reply> {
    this.send(encodeRead(name));
    return this.readReply(timeoutMs);
  }

  /** Sends `cas` and returns its reply. */
  async cas(name: string, version: number, content: Buffer | string, exptime?: number, timeoutMs?: number): Promise<Reply> {
    this.send(encodeCas(name, version, content, exptime));
    return this.readReply(timeoutMs);
  }

  /** Sends `delete` and returns its reply. */
  async delete(name: string, timeoutMs?: number): Promise<Reply> {
    this.send(encodeDelete(name));
    return this.readReply(timeoutMs);
  }

  /** Half-closes (FIN) after pending writes; the server may still answer. */
  end(): void {
    this.socket.end();
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    try {
      if (this.received.length > receiveBytesMax) throw new MalformedReplyError(`more than ${receiveBytesMax} bytes buffered from ${this.address}`);
      for (;;) {
        const parsed = parseReply(this.received);
        if (parsed === undefined) break;
        this.replies.push(parsed.reply);
        this.received = this.received.subarray(parsed.bytesUsed);
      }
    } catch (error) {
      this.failure = error as Error;
      this.socket.destroy();
    }
    this.notify();
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  private waitForEvent(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.waiters.add(wake);
    });
  }
}

/** Splits `host:port`; throws on anything else (test addresses are always IPv4 loopback). */
export function splitAddress(address: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(address);
  if (match === null) throw new Error(`not a host:port address: ${JSON.stringify(address)}`);
  return { host: match[1] as string, port: Number(match[2]) };
}

/** Options of a LeaderClient. */
export interface LeaderClientOptions {
  /** A request gives up (rejects with TimeoutError) after this long. */
  readonly deadlineMs?: number;
  /** Bound on one attempt's reply. */
  readonly replyTimeoutMs?: number;
  /**
   * Retry after outcomes that leave it unknown whether the command ran (ERR_INTERNAL, a
   * connection lost after sending, a reply timeout). Fine for writes whose version the test does
   * not predict; must be false for cas loops whose effect must happen exactly once.
   */
  readonly retryAmbiguous?: boolean;
}

/** Pause between attempts while the cluster elects a leader; a backoff, not a timing assumption. */
const retryBackoffMs = 50;

/**
 * A client that does not care who leads: it follows ERR_REDIRECT, and retries on connection
 * errors and ERR_INTERNAL against the other nodes until its deadline. It keeps its connection
 * to the last node that answered.
 */
export class LeaderClient {
  private client: ProtocolClient | undefined;
  private next = 0;
  private readonly deadlineMs: number;
  private readonly replyTimeoutMs: number;
  private readonly retryAmbiguous: boolean;

  /** `addresses` are every node's client address; the first is tried first. */
  constructor(
    private readonly addresses: readonly string[],
    options: LeaderClientOptions = {},
  ) {
    this.deadlineMs = options.deadlineMs ?? 20_000;
    this.replyTimeoutMs = options.replyTimeoutMs ?? 5_000;
    this.retryAmbiguous = options.retryAmbiguous ?? true;
  }

  /** The address of the node the last reply came from, if connected. */
  get connectedTo(): string | undefined {
    return this.client?.address;
  }

  /**
   * Sends one command (raw bytes) until a node that is leader answers it. Resolves with the
   * first reply that is not ERR_REDIRECT (nor ERR_INTERNAL when retrying ambiguous outcomes).
   */
  async request(command: Buffer): Promise<Reply> {
    const deadline = Date.now() + this.deadlineMs;
    let target: string | undefined;
    let lastProblem = 'no attempt';
    while (Date.now() < deadline) {
      const remainingMs = Math.max(1, deadline - Date.now());
      let client: ProtocolClient;
      try {
        client = await this.connection(target, Math.min(remainingMs, connectTimeoutMsDefault));
      } catch (error) {
        lastProblem = (error as Error).message;
        target = undefined;
        await pause(Math.min(retryBackoffMs, remainingMs));
        continue;
      }
      target = undefined;
      let reply: Reply;
      try {
        client.send(command);
        reply = await client.readReply(Math.min(this.replyTimeoutMs, Math.max(1, deadline - Date.now())));
      } catch (error) {
        this.drop();
        if (!this.retryAmbiguous) throw error;
        lastProblem = (error as Error).message;
        await pause(retryBackoffMs);
        continue;
      }
      if (reply.kind === 'error' && reply.code === 'ERR_REDIRECT' && reply.argument !== undefined) {
        // A redirect means the command did not run: always safe to retry at the leader.
        this.drop();
        target = reply.argument;
        lastProblem = `${client.address} redirected to ${reply.argument}`;
        continue;
      }
      if (reply.kind === 'error' && reply.code === 'ERR_INTERNAL' && this.retryAmbiguous) {
        this.drop();
        lastProblem = `${client.address} answered ERR_INTERNAL`;
        await pause(retryBackoffMs);
        continue;
      }
      return reply;
    }
    throw new TimeoutError(`no leader answered within ${this.deadlineMs} ms (last: ${lastProblem})`);
  }

  /** `write` through the leader. */
  write(name: string, content: Buffer | string, exptime?: number): Promise<Reply> {
    return this.request(encodeWrite(name, content, exptime));
  }

  /** `read` through the leader. */
  read(name: string): Promise<Reply> {
    return this.request(encodeRead(name));
  }

  /** `cas` through the leader. */
  cas(name: string, version: number, content: Buffer | string, exptime?: number): Promise<Reply> {
    return this.request(encodeCas(name, version, content, exptime));
  }

  /** `delete` through the leader. */
  delete(name: string): Promise<Reply> {
    return this.request(encodeDelete(name));
  }

  /** Closes the connection. */
  close(): void {
    this.drop();
  }

  private async connection(target: string | undefined, timeoutMs: number): Promise<ProtocolClient> {
    if (target === undefined && this.client !== undefined && !this.client.closed) return this.client;
    this.drop();
    const address = target ?? this.addresses[this.next++ % this.addresses.length];
    if (address === undefined) throw new Error('LeaderClient needs at least one address');
    this.client = await ProtocolClient.connect(address, timeoutMs);
    return this.client;
  }

  private drop(): void {
    this.client?.destroy();
    this.client = undefined;
  }
}

/** Resolves after `ms`; used only as a retry backoff inside deadline-bounded loops. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
