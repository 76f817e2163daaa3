/**
 * Leader discovery for the typed client: remembers the leader, and when it is unknown runs one
 * shared discovery that every waiting request joins, so a leader crash under many concurrent
 * requests costs one sweep over the nodes rather than one per request.
 */
import { systemClock } from '../clock/clock.js';
import { Deadline } from '../clock/deadline.js';
import { formatCommand } from '../codec/command_format.js';
import { Connection, ConnectionFailure, addressText, sameAddress, type NodeAddress } from './connection.js';

/** The timing a finder needs (a subset of the client's resolved options). */
export interface LeaderFinderOptions {
  readonly requestTimeoutMs: number;
  readonly discoveryAttemptMs: number;
  readonly contentBytesMax: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

type ProbeResult = { readonly type: 'leader' } | { readonly type: 'redirect'; readonly to: NodeAddress } | { readonly type: 'failed'; readonly reason: string };

/** A name no one writes: a read of it is answered by a leader only (followers redirect). */
const probeName = '__fsraft_client_probe__';

/** Knows (or finds) the leader's client address. */
export class LeaderFinder {
  /** Why the latest probe failed, for the caller's error message. */
  lastFailure = 'none yet';
  private known: NodeAddress | undefined;
  /** The leader before `known` was dropped: tried first by the next discovery. */
  private lastKnown: NodeAddress | undefined;
  private discovery: Promise<NodeAddress | undefined> | undefined;

  constructor(
    readonly addresses: readonly NodeAddress[],
    private readonly options: LeaderFinderOptions,
    private readonly isClosed: () => boolean,
  ) {}

  /**
   * The leader, waiting for the discovery in progress (starting one if none); undefined at the
   * caller's deadline. A discovery outlives the callers that gave up on it (it is shared), but
   * never holds one past its deadline.
   */
  async leader(deadline: Deadline): Promise<NodeAddress | undefined> {
    if (this.known !== undefined) return this.known;
    if (this.discovery === undefined) {
      this.discovery = this.discover().finally(() => (this.discovery = undefined));
    }
    return deadline.race<NodeAddress | undefined>(this.discovery, () => undefined);
  }

  /** `address` failed (refused, reset, timed out, ERR_INTERNAL): stop sending to it as leader. */
  failed(address: NodeAddress): void {
    if (this.known !== undefined && sameAddress(this.known, address)) {
      this.lastKnown = this.known;
      this.known = undefined;
    }
  }

  /** A node named the leader in ERR_REDIRECT: use it directly, no sweep needed. */
  redirected(from: NodeAddress, to: NodeAddress): void {
    this.lastKnown = this.known ?? from;
    this.known = to;
  }

  /** Sweeps the nodes (last known leader first, redirects followed) until one leads, with backoff between sweeps. */
  private async discover(): Promise<NodeAddress | undefined> {
    const deadline = Deadline.after(systemClock, this.options.requestTimeoutMs);
    for (let sweep = 1; !this.isClosed() && !deadline.passed; sweep++) {
      const leader = await this.sweep();
      if (leader !== undefined) {
        this.known = leader;
        this.lastKnown = leader;
        return leader;
      }
      const boundMs = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** Math.min(sweep, 20));
      await deadline.sleep(Math.random() * boundMs);
    }
    return undefined;
  }

  /** One pass over the candidates; a redirect puts its target next (bounded, so two nodes naming each other cannot loop). */
  private async sweep(): Promise<NodeAddress | undefined> {
    const last = this.lastKnown;
    const pending = last === undefined ? [...this.addresses] : [last, ...this.addresses.filter((address) => !sameAddress(address, last))];
    let redirectsLeft = this.addresses.length;
    while (pending.length > 0 && !this.isClosed()) {
      const candidate = pending.shift() as NodeAddress;
      const result = await this.probe(candidate);
      if (result.type === 'leader') return candidate;
      if (result.type === 'failed') {
        this.lastFailure = result.reason;
        continue;
      }
      this.lastFailure = `${addressText(candidate)} redirected to ${addressText(result.to)}, which did not answer as leader`;
      if (redirectsLeft > 0 && !sameAddress(result.to, candidate)) {
        redirectsLeft -= 1;
        const index = pending.findIndex((address) => sameAddress(address, result.to));
        if (index >= 0) pending.splice(index, 1);
        pending.unshift(result.to);
      }
    }
    return undefined;
  }

  /**
   * A linearizable read on one node, bounded by discoveryAttemptMs: a node that knows no leader
   * holds its answer for the server's leaderWaitMs (3 s), which must not stall the whole sweep.
   */
  private async probe(address: NodeAddress): Promise<ProbeResult> {
    const connection = new Connection(address, this.options.contentBytesMax);
    try {
      const reply = await connection.request(formatCommand({ op: 'read', name: probeName }), this.options.discoveryAttemptMs);
      if (reply.type === 'contents' || reply.type === 'file_not_found') return { type: 'leader' };
      if (reply.type === 'redirect') return { type: 'redirect', to: { host: reply.host, port: reply.port } };
      return { type: 'failed', reason: `${addressText(address)} answered ${reply.type === 'internal_error' ? 'ERR_INTERNAL' : reply.type}` };
    } catch (error) {
      if (!(error instanceof ConnectionFailure)) throw error;
      return { type: 'failed', reason: error.message };
    } finally {
      connection.close();
    }
  }
}
