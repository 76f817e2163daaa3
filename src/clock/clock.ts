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

/** The system clock and Node timers. */
export class SystemClock implements Clock {
  nowMs(): number {
    return Date.now();
  }

  every(intervalMs: number, callback: () => void): () => void {
    const timer = setInterval(callback, intervalMs);
    return () => clearInterval(timer);
  }
}
