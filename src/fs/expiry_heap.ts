/**
 * A binary min-heap of expiry deadlines, so the state machine can drop expired files in
 * O(log n) each instead of scanning every file on every apply.
 *
 * Entries are never removed from the middle: when a file is rewritten or deleted its old entry
 * simply stops matching (the state machine keeps a reference to each file's current entry) and is
 * discarded when popped. An entry points at the file itself, not at its name, so it follows the
 * file through renames.
 */

/** One deadline: `target` expires at `expiresAtMs`. */
export interface ExpiryEntry<T> {
  readonly expiresAtMs: number;
  /** Unique per target (its inode number): breaks ties so the pop order is deterministic. */
  readonly order: number;
  readonly target: T;
}

/** Ties broken by `order` so the pop order is a pure function of the pushes (determinism). */
function less<T>(a: ExpiryEntry<T>, b: ExpiryEntry<T>): boolean {
  return a.expiresAtMs < b.expiresAtMs || (a.expiresAtMs === b.expiresAtMs && a.order < b.order);
}

/** Min-heap ordered by (expiresAtMs, order). */
export class ExpiryHeap<T> {
  private entries: ExpiryEntry<T>[] = [];

  /** Number of entries, stale ones included. */
  get size(): number {
    return this.entries.length;
  }

  /** The earliest deadline, or undefined when empty. */
  peek(): ExpiryEntry<T> | undefined {
    return this.entries[0];
  }

  /** Adds a deadline in O(log n). */
  push(entry: ExpiryEntry<T>): void {
    this.entries.push(entry);
    this.siftUp(this.entries.length - 1);
  }

  /** Removes and returns the earliest deadline. */
  pop(): ExpiryEntry<T> | undefined {
    const top = this.entries[0];
    const last = this.entries.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.entries.length > 0) {
      this.entries[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /**
   * Keeps only the entries `keep` accepts and restores heap order in O(n). Used to shed stale
   * entries: without it a file rewritten with an expiry a million times holds a million entries.
   */
  retain(keep: (entry: ExpiryEntry<T>) => boolean): void {
    this.entries = this.entries.filter(keep);
    for (let i = (this.entries.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(start: number): void {
    const entries = this.entries;
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const child = entries[i]!;
      const above = entries[parent]!;
      if (!less(child, above)) return;
      entries[i] = above;
      entries[parent] = child;
      i = parent;
    }
  }

  private siftDown(start: number): void {
    const entries = this.entries;
    const length = entries.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= length) return;
      const right = left + 1;
      const smaller = right < length && less(entries[right]!, entries[left]!) ? right : left;
      const current = entries[i]!;
      const child = entries[smaller]!;
      if (!less(child, current)) return;
      entries[i] = child;
      entries[smaller] = current;
      i = smaller;
    }
  }
}
