/**
 * The mount's holds on open nodes (README "Open files"): while any descriptor of this mount has a
 * node open, the cluster keeps the node, even after its last name is removed (by this mount or
 * another), so it stays readable and writable through those descriptors until they close, as
 * POSIX requires. One hold per node however many descriptors; the hold goes when the last closes.
 *
 * A hold is sent when a node is first opened and not waited for by the open itself (an open costs
 * one read, not a commit); an unlink, rmdir or rename of this mount first waits for the holds on
 * their way, so "open, unlink, go on using it" works within one mount. The mount renews its lease
 * every quarter of the cluster's hold lease; a mount that dies loses its holds when the lease
 * lapses, and the leader then frees the nodes only it held.
 */
import type { Clock, DeadlineClock } from '../clock/clock.js';

/** What the keeper needs of the cluster. */
export interface HoldBackend {
  hold(name: string, holder: number, delta: 1 | -1 | 0): Promise<void>;
}

/** How often the mount renews its lease: a quarter of the cluster's default hold lease (10 min). */
const renewIntervalMs = 150_000;

/** This mount's holds. */
export class HoldKeeper {
  /** Open descriptors per node. */
  private readonly opens = new Map<number, number>();
  /** Per node, the last hold or release sent (they must reach the cluster in order). */
  private readonly sent = new Map<number, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopRenewing: () => void;

  constructor(
    private readonly backend: HoldBackend,
    /** This mount's holder id: random, one per mount process. */
    readonly holder: number,
    clock: Clock & DeadlineClock,
    private readonly onError: (what: string, error: unknown) => void,
  ) {
    this.stopRenewing = clock.every(renewIntervalMs, () => {
      if (this.opens.size > 0) this.track(this.backend.hold('/', this.holder, 0).catch((error: unknown) => this.onError('renewing the hold lease', error)));
    });
  }

  /** A descriptor of `ino` was opened. */
  opened(ino: number): void {
    const count = this.opens.get(ino) ?? 0;
    this.opens.set(ino, count + 1);
    if (count === 0) this.send(ino, 1);
  }

  /** A descriptor of `ino` was closed. */
  closed(ino: number): void {
    const count = this.opens.get(ino) ?? 0;
    if (count <= 1) {
      this.opens.delete(ino);
      if (count === 1) this.send(ino, -1);
    } else {
      this.opens.set(ino, count - 1);
    }
  }

  /** Resolves once every hold sent so far has been answered (failures were reported). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Stops renewing; open descriptors' holds are left to lapse with the lease. */
  close(): void {
    this.stopRenewing();
  }

  private send(ino: number, delta: 1 | -1): void {
    const previous = this.sent.get(ino) ?? Promise.resolve();
    const next = previous
      .then(() => this.backend.hold(`//${ino}`, this.holder, delta))
      .catch((error: unknown) => this.onError(`${delta === 1 ? 'holding' : 'releasing'} node ${ino}`, error));
    this.sent.set(ino, next);
    this.track(next);
    void next.then(() => {
      if (this.sent.get(ino) === next) this.sent.delete(ino);
    });
  }

  private track(promise: Promise<void>): void {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
  }
}
