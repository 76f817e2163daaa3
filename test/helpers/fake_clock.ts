/**
 * A DeadlineClock whose time moves only when a test says so, so a test of a deadline checks the
 * exact moment something gives up instead of sleeping through it.
 */
import type { Clock, DeadlineClock } from '../../src/clock/clock.js';

interface Timer {
  readonly atMs: number;
  readonly sequence: number;
  readonly callback: () => void;
}

/** Lets every promise callback queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Fake time: starts at 0, advanced by `advance`. */
export class FakeClock implements Clock, DeadlineClock {
  private currentMs = 0;
  private sequence = 0;
  private timers: Timer[] = [];

  monotonicMs(): number {
    return this.currentMs;
  }

  /** Wall-clock time: the fake time, from an epoch of 0. */
  nowMs(): number {
    return this.currentMs;
  }

  /** Repeats `callback` every `intervalMs` of fake time until stopped. */
  every(intervalMs: number, callback: () => void): () => void {
    let cancel: () => void = () => undefined;
    const schedule = (): void => {
      cancel = this.after(intervalMs, () => {
        schedule();
        callback();
      });
    };
    schedule();
    return () => cancel();
  }

  after(delayMs: number, callback: () => void): () => void {
    const timer: Timer = { atMs: this.currentMs + Math.max(0, delayMs), sequence: this.sequence++, callback };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((other) => other !== timer);
    };
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order of time (then of creation) and letting
   * promise callbacks run after each, so work they start at once sees the time it fired at.
   */
  async advance(ms: number): Promise<void> {
    const targetMs = this.currentMs + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((timer) => timer.atMs <= targetMs).sort((a, b) => a.atMs - b.atMs || a.sequence - b.sequence)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.currentMs = due.atMs;
      due.callback();
      await settle();
    }
    this.currentMs = targetMs;
    await settle();
  }
}
