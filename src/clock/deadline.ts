/**
 * A deadline: the moment by which some work (a client call with its retries, a FUSE operation
 * made of several calls) must end. Every wait inside that work goes through one Deadline, so the
 * work as a whole, not just each step of it, ends on time: without it a FUSE utimens that first
 * waited for four chained writes and then set the times took five request timeouts.
 */
import type { DeadlineClock } from './clock.js';

/** A fixed point in time on a DeadlineClock, with the budget it was given. */
export class Deadline {
  private constructor(
    private readonly clock: DeadlineClock,
    private readonly startedMs: number,
    /** The budget given when the deadline was set. */
    readonly budgetMs: number,
  ) {}

  /** The deadline `budgetMs` from now. */
  static after(clock: DeadlineClock, budgetMs: number): Deadline {
    return new Deadline(clock, clock.monotonicMs(), Math.max(0, budgetMs));
  }

  /** Whole milliseconds since the deadline was set. */
  elapsedMs(): number {
    return Math.round(this.clock.monotonicMs() - this.startedMs);
  }

  /** Whole milliseconds left, rounded up (so a timer of this length fires at or after the deadline); 0 once passed. */
  remainingMs(): number {
    return Math.max(0, Math.ceil(this.startedMs + this.budgetMs - this.clock.monotonicMs()));
  }

  /** True once the deadline is reached. */
  get passed(): boolean {
    return this.remainingMs() === 0;
  }

  /**
   * Settles as `work` does if it settles first; otherwise, `graceMs` after the deadline, with what
   * `atExpiry` returns (or rejects with what it throws). `work` keeps running: its late outcome is
   * dropped (a late rejection is not reported as unhandled).
   */
  race<T>(work: Promise<T>, atExpiry: () => T, graceMs = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const expire = (): void => {
        try {
          resolve(atExpiry());
        } catch (error) {
          reject(error);
        }
      };
      const cancel = this.clock.after(this.remainingMs() + graceMs, expire);
      work.then(
        (value) => {
          cancel();
          resolve(value);
        },
        (error: unknown) => {
          cancel();
          reject(error);
        },
      );
    });
  }

  /** Resolves after `ms`, or at the deadline if that comes first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.after(Math.min(Math.max(0, ms), this.remainingMs()), resolve));
  }
}
