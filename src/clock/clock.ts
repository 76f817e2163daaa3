/**
 * The only door to wall-clock time and timers. The pure core counts ticks; the driver gets ticks
 * and timestamps from a Clock, so tests can substitute their own.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
  /** Calls `callback` every `intervalMs`; returns a function that stops it. */
  every(intervalMs: number, callback: () => void): () => void;
}

/**
 * Time for deadlines: a clock that never goes back and one-shot timers on that same clock. A
 * deadline measured with Date.now() drifts from Node's timers (which run on the monotonic clock)
 * whenever the wall clock is stepped (NTP, a resumed VM), so a wait would end early or late.
 */
export interface DeadlineClock {
  /** Milliseconds since an arbitrary origin; never decreases. */
  monotonicMs(): number;
  /** Calls `callback` once, `delayMs` from now; returns a function that cancels it. */
  after(delayMs: number, callback: () => void): () => void;
}

/** The system clock and Node timers. */
export class SystemClock implements Clock, DeadlineClock {
  nowMs(): number {
    return Date.now();
  }

  monotonicMs(): number {
    return performance.now();
  }

  after(delayMs: number, callback: () => void): () => void {
    const timer = setTimeout(callback, delayMs);
    return () => clearTimeout(timer);
  }

  every(intervalMs: number, callback: () => void): () => void {
    const timer = setInterval(callback, intervalMs);
    return () => clearInterval(timer);
  }
}

/** One SystemClock for the code that has no clock injected (the client's deadlines). */
export const systemClock = new SystemClock();
