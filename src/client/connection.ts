/**
 * One TCP connection to one node, speaking the client protocol with replies in order. It never
 * throws a reply it cannot use at the caller silently: every failure (refused, reset, closed,
 * timed out, unparsable bytes) rejects every waiting request with a ConnectionFailure, so the
 * client can retry them elsewhere.
 */
import net from 'node:net';
import type { ClientReply } from '../codec/client_protocol.js';
import { ReplyParser } from '../codec/client_reply_parser.js';

/** A transport-level failure: the request may or may not have reached the node. */
export class ConnectionFailure extends Error {
  /**
   * 'bad_reply' when the node's bytes could not be parsed (not a reason to retry elsewhere),
   * 'timed_out' when no reply came in time, 'lost' for anything else (refused, reset, closed).
   */
  readonly kind: FailureKind;

  constructor(message: string, kind: FailureKind = 'lost') {
    super(message);
    this.name = 'ConnectionFailure';
    this.kind = kind;
  }
}

export type FailureKind = 'lost' | 'bad_reply' | 'timed_out';

interface Waiter {
  resolve(reply: ClientReply): void;
  reject(error: ConnectionFailure): void;
  timer: NodeJS.Timeout;
}

/** A `host:port` split for net.connect. */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

/** Formats an address as the protocol and the config spell it. */
export function addressText(address: NodeAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * A connection whose requests are answered in the order sent. Once failed it stays failed;
 * `usable` tells the pool whether to open a new one.
 */
export class Connection {
  readonly address: NodeAddress;
  private readonly socket: net.Socket;
  private readonly parser: ReplyParser;
  private readonly waiters: Waiter[] = [];
  private failure: ConnectionFailure | undefined;
  /** Set after ERR_REDIRECT or ERR_CMD_ERR: the server closes the connection after those. */
  private closing = false;

  constructor(address: NodeAddress, contentBytesMax: number) {
    this.address = address;
    this.parser = new ReplyParser({ contentBytesMax });
    this.socket = net.connect({ host: address.host, port: address.port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.fail(`${addressText(address)}: ${error.message}`));
    this.socket.on('close', () => this.fail(`${addressText(address)}: connection closed`));
  }

  /** False once the connection failed or the server announced it will close it. */
  get usable(): boolean {
    return this.failure === undefined && !this.closing;
  }

  /**
   * Sends one command and resolves with its reply; rejects with a ConnectionFailure when the
   * connection fails or no reply comes within `timeoutMs` (a frozen node would otherwise hold
   * the request forever). A timeout fails the whole connection: later replies would be misaligned.
   */
  async request(command: Uint8Array, timeoutMs: number): Promise<ClientReply> {
    if (this.failure !== undefined) throw this.failure;
    const reply = new Promise<ClientReply>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`${addressText(this.address)}: no reply within ${timeoutMs} ms`, 'timed_out'), timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
    this.socket.write(command);
    return reply;
  }

  /** Closes the socket; pending requests fail. */
  close(): void {
    this.fail(`${addressText(this.address)}: closed by the client`);
  }

  private onData(chunk: Buffer): void {
    this.parser.push(chunk);
    for (;;) {
      const reply = this.parser.next();
      if (reply === undefined) return;
      if (reply.type === 'error') {
        this.fail(`${addressText(this.address)}: bad reply: ${reply.reason}`, 'bad_reply');
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter === undefined) {
        this.fail(`${addressText(this.address)}: a reply nobody asked for`, 'bad_reply');
        return;
      }
      clearTimeout(waiter.timer);
      if (reply.type === 'redirect' || reply.type === 'command_error') this.closing = true;
      waiter.resolve(reply);
    }
  }

  private fail(message: string, kind: FailureKind = 'lost'): void {
    if (this.failure !== undefined) return;
    this.failure = new ConnectionFailure(message, kind);
    this.socket.destroy();
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
  }
}

/** Whether two addresses name the same endpoint. */
export function sameAddress(a: NodeAddress, b: NodeAddress): boolean {
  return a.host === b.host && a.port === b.port;
}
