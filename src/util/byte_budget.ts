/**
 * A count of bytes held, with a bound: full once the count reaches `bytesMax`, and not full again
 * until it falls to half of it (so a holder at the bound does not flip between the two states with
 * every byte). Listeners hear each return to room. Used for the commands a leader holds
 * unanswered (RaftNode) and for the partial commands of all client connections (ClientServer).
 */
export class ByteBudget {
  private used = 0;
  private isFull = false;
  private readonly listeners = new Set<() => void>();

  constructor(readonly bytesMax: number) {}

  /** True from the moment the count reaches bytesMax until it falls to half. */
  get full(): boolean {
    return this.isFull;
  }

  /** Adds `bytes` (negative to release) to the count. */
  change(bytes: number): void {
    this.used += bytes;
    if (this.used >= this.bytesMax) {
      this.isFull = true;
    } else if (this.isFull && this.used <= this.bytesMax / 2) {
      this.isFull = false;
      for (const listener of [...this.listeners]) listener();
    }
  }

  /** Calls `listener` each time the budget has room again; returns a function that stops it. */
  onRoom(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
