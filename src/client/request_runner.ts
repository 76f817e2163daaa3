/**
 * How every call of the typed client reaches the leader: a pool of exactly-once sessions (one
 * request in flight each), leader discovery and redirects, retries with exponential backoff and
 * full jitter, all bounded by one deadline per call.
 *
 * Deadline: every call ends within its timeout (requestTimeoutMs, or the call's own timeoutMs)
 * plus limits.deadlineSlackMs, whatever it waits for: a free connection, leader discovery, a
 * reply, a backoff. One Deadline, set when the call starts, bounds every one of those waits.
 */
import { randomInt } from 'node:crypto';
import type { ClientReply, RequestId } from '../codec/client_protocol.js';
import { systemClock } from '../clock/clock.js';
import { Deadline } from '../clock/deadline.js';
import { limits } from '../util/limits.js';
import { Connection, ConnectionFailure, addressText, sameAddress, type NodeAddress } from './connection.js';
import { FsraftClosedError, FsraftOverloadedError, FsraftUnavailableError, ProtocolError } from './errors.js';
import { LeaderFinder } from './leader_finder.js';

/** Tunables of a client; every field has a default. */
export interface FsraftClientOptions {
  /**
   * How long one call may take, retries and waiting for a connection included, before
   * FsraftUnavailableError (it ends by then plus limits.deadlineSlackMs). Default 10 s.
   */
  readonly requestTimeoutMs?: number;
  /** How long one attempt waits for its reply before the node is given up on. Default 3 s. */
  readonly attemptTimeoutMs?: number;
  /**
   * How long leader discovery waits for one node. Short, because a node that knows no leader
   * only answers after the server's leaderWaitMs (3 s); others may know better. Default 1 s.
   */
  readonly discoveryAttemptMs?: number;
  /** Requests in flight at once (one connection and one exactly-once session each). Default 16. */
  readonly connectionsMax?: number;
  /** Requests waiting for a free connection before new ones fail with OVERLOADED. Default 10,000. */
  readonly queuedRequestsMax?: number;
  /** Largest content sent or accepted in a reply. Default the cluster default, 1 MiB. */
  readonly contentBytesMax?: number;
  /** First retry delay bound; doubles per attempt up to backoffMaxMs (full jitter). Default 20 ms. */
  readonly backoffBaseMs?: number;
  /** Largest retry delay. Default 500 ms. */
  readonly backoffMaxMs?: number;
}

/** Settings of one call. */
export interface CallOptions {
  /**
   * How long this call may take, retries included, instead of requestTimeoutMs. A caller with a
   * deadline of its own (a FUSE operation made of several calls) passes what is left of it, so
   * the calls together end on time; 0 fails at once with UNAVAILABLE, sending nothing.
   */
  readonly timeoutMs?: number;
}

/** Settings of one `request`. */
export interface RequestOptions extends CallOptions {
  /** What the request is, for error messages (`setattr a/b`). Default 'request'. */
  readonly what?: string;
}

/** Builds a command's bytes given its request id (undefined for reads). Called once per request. */
export type CommandBuilder = (request: RequestId | undefined) => Uint8Array;

/**
 * One exactly-once session with at most one request in flight. Why not one id sequence shared
 * by concurrent requests: the server remembers only each client's last answer, so if sequence 5
 * applied and the retry of 4 arrives after it, 4 is answered ERR_INTERNAL (stale) and its outcome
 * is lost. One session per in-flight request keeps every retry the session's latest.
 */
interface Slot {
  readonly clientId: number;
  sequence: number;
  connection: Connection | undefined;
}

/** Why one attempt failed, to retry; `timedOut` when no reply came within the attempt's time. */
class AttemptFailure {
  constructor(
    readonly reason: string,
    readonly timedOut = false,
  ) {}
}

interface QueuedAcquire {
  resolve(slot: Slot): void;
  reject(error: Error): void;
}

const defaults = {
  requestTimeoutMs: 10_000,
  attemptTimeoutMs: 3_000,
  discoveryAttemptMs: 1_000,
  connectionsMax: 16,
  queuedRequestsMax: 10_000,
  contentBytesMax: limits.contentBytesMaxDefault,
  backoffBaseMs: 20,
  backoffMaxMs: 500,
};

/** Resolved options: every field set. */
export type ResolvedClientOptions = { readonly [K in keyof typeof defaults]: number };

/** The sessions, leader finder and retry loop behind an FsraftClient. */
export class RequestRunner {
  readonly options: ResolvedClientOptions;
  readonly finder: LeaderFinder;
  private readonly freeSlots: Slot[] = [];
  private readonly allSlots: Slot[] = [];
  private readonly queue: QueuedAcquire[] = [];
  private closed = false;

  constructor(addresses: NodeAddress[], options: FsraftClientOptions) {
    this.options = { ...defaults, ...definedOnly(options) };
    checkOptions(this.options);
    this.finder = new LeaderFinder(addresses, this.options, () => this.closed);
    for (let i = 0; i < this.options.connectionsMax; i++) {
      // [1, 2^48): random so two clients (or two runs) do not share a session on the server.
      const slot: Slot = { clientId: randomInt(1, 2 ** 48), sequence: 0, connection: undefined };
      this.allSlots.push(slot);
      this.freeSlots.push(slot);
    }
  }

  /**
   * The generic path every command takes: waits for a free session, builds the command once
   * (with the session's next request id when `isMutation`), and sends the same bytes on every
   * retry until a leader answers or the call's timeout (requestTimeoutMs unless
   * `options.timeoutMs`) passes; the time spent waiting for the session counts. New commands only
   * need a builder and a reply mapping. ERR_CMD_ERR throws ProtocolError; every other reply is
   * returned.
   */
  async request(build: CommandBuilder, isMutation: boolean, options: RequestOptions = {}): Promise<ClientReply> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    // Infinity or NaN would reach setTimeout, which fires such a timer at once.
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new TypeError(`fsraft client: timeoutMs must be a finite number >= 0, not ${timeoutMs}`);
    const deadline = Deadline.after(systemClock, timeoutMs);
    const what = options.what ?? 'request';
    const slot = await this.acquire(deadline, what);
    try {
      const id = isMutation ? { clientId: slot.clientId, sequence: ++slot.sequence } : undefined;
      return await this.run(slot, build(id), deadline, what);
    } finally {
      this.release(slot);
    }
  }

  /** Closes every connection; calls in flight or queued fail with FsraftClosedError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.allSlots) slot.connection?.close();
    for (const waiter of this.queue.splice(0)) waiter.reject(new FsraftClosedError());
  }

  /**
   * Attempts until a leader answers: one attempt per loop, backoff after failures. Each wait is
   * bounded by what is left of `deadline` when it starts, so the loop ends at the deadline.
   */
  private async run(slot: Slot, command: Uint8Array, deadline: Deadline, what: string): Promise<ClientReply> {
    let failures = 0;
    let lastFailure: string | undefined;
    // What the deadline cut short after lastFailure: a discovery ("none yet") or an attempt it
    // shortened ("no reply within 1 ms"). Either says less than the failure before it (ERR_INTERNAL,
    // a refused connection, ...), so it is named after that one, not instead of it.
    let cutShort: string | undefined;
    for (;;) {
      if (this.closed) throw new FsraftClosedError();
      if (deadline.passed) {
        const last = lastFailure ?? cutShort ?? 'no attempt finished';
        const then = lastFailure !== undefined && cutShort !== undefined ? `; then ${cutShort}, cut short by the deadline` : '';
        throw new FsraftUnavailableError(`${what}: no leader answered within ${deadline.elapsedMs()} ms (${failures} failed attempts); last failure: ${last}${then}`);
      }
      const leader = await this.finder.leader(deadline);
      if (leader === undefined) {
        cutShort = `leader discovery: ${this.finder.lastFailure}`;
        continue;
      }
      // What is left now, not before the discovery: an attempt given the time left before a
      // discovery that used most of it ran up to attemptTimeoutMs past the deadline.
      const attemptMs = Math.min(this.options.attemptTimeoutMs, deadline.remainingMs());
      if (attemptMs === 0) continue;
      const outcome = await this.attempt(slot, leader, command, attemptMs);
      if (!(outcome instanceof AttemptFailure)) return outcome;
      if (outcome.timedOut && attemptMs < this.options.attemptTimeoutMs) cutShort = outcome.reason;
      else [lastFailure, cutShort] = [outcome.reason, undefined];
      failures += 1;
      await this.backoff(failures, deadline);
    }
  }

  /** One try on the given leader: the reply to return, or why it failed (to retry). */
  private async attempt(slot: Slot, leader: NodeAddress, command: Uint8Array, timeoutMs: number): Promise<ClientReply | AttemptFailure> {
    const connection = this.connectionTo(slot, leader);
    let reply: ClientReply;
    try {
      reply = await connection.request(command, timeoutMs);
    } catch (error) {
      if (!(error instanceof ConnectionFailure)) throw error;
      if (error.kind === 'bad_reply') throw new ProtocolError('BAD_REPLY', error.message);
      this.finder.failed(leader);
      return new AttemptFailure(error.message, error.kind === 'timed_out');
    }
    switch (reply.type) {
      case 'redirect':
        this.finder.redirected(leader, { host: reply.host, port: reply.port });
        return new AttemptFailure(`${addressText(leader)} redirected to ${reply.host}:${reply.port}`);
      case 'internal_error':
        // Leadership lost (outcome unknown: retried with the same id), no leader known, overload,
        // or a stale id; a node that keeps answering this must not pin us, so look around again.
        this.finder.failed(leader);
        return new AttemptFailure(`${addressText(leader)} answered ERR_INTERNAL`);
      case 'command_error':
        throw new ProtocolError('CMD_ERR', `${addressText(leader)} answered ERR_CMD_ERR (malformed command or name)`);
      default:
        return reply;
    }
  }

  /** The slot's open connection to `leader`, replacing one to an old leader or a failed one. */
  private connectionTo(slot: Slot, leader: NodeAddress): Connection {
    const current = slot.connection;
    if (current !== undefined && current.usable && sameAddress(current.address, leader)) return current;
    current?.close();
    slot.connection = new Connection(leader, this.options.contentBytesMax);
    return slot.connection;
  }

  private backoff(failures: number, deadline: Deadline): Promise<void> {
    const boundMs = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** Math.min(failures - 1, 20));
    return deadline.sleep(Math.random() * boundMs);
  }

  /**
   * A free session, waiting in FIFO order; bounded in count and in time. The wait is part of the
   * call's deadline: behind many slow calls, a request that only then started its own clock could
   * wait for several of them and then retry for a whole timeout of its own.
   */
  private acquire(deadline: Deadline, what: string): Promise<Slot> {
    if (this.closed) return Promise.reject(new FsraftClosedError());
    const free = this.freeSlots.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (this.queue.length >= this.options.queuedRequestsMax) {
      return Promise.reject(new FsraftOverloadedError(`${what}: ${this.queue.length} requests already wait for a connection`));
    }
    return new Promise<Slot>((resolve, reject) => {
      const entry: QueuedAcquire = { resolve, reject };
      const cancel = systemClock.after(deadline.remainingMs(), () => {
        const index = this.queue.indexOf(entry);
        if (index >= 0) this.queue.splice(index, 1);
        // Never sent, so it did not apply; still UNAVAILABLE, the one error a caller retries on.
        reject(new FsraftUnavailableError(`${what}: no connection became free within ${deadline.elapsedMs()} ms (all ${this.options.connectionsMax} busy); not sent`));
      });
      entry.resolve = (slot) => {
        cancel();
        resolve(slot);
      };
      entry.reject = (error) => {
        cancel();
        reject(error);
      };
      this.queue.push(entry);
    });
  }

  private release(slot: Slot): void {
    const waiter = this.queue.shift();
    if (waiter !== undefined) waiter.resolve(slot);
    else this.freeSlots.push(slot);
  }
}

/** A zero or fractional bound would make every request fail at once or never be bounded at all. */
function checkOptions(options: ResolvedClientOptions): void {
  for (const [key, value] of Object.entries(options)) {
    const least = key === 'queuedRequestsMax' || key === 'contentBytesMax' ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least) throw new TypeError(`fsraft client: option ${key} must be an integer >= ${least}, not ${value}`);
  }
}

function definedOnly(options: FsraftClientOptions): Partial<ResolvedClientOptions> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<ResolvedClientOptions>;
}
