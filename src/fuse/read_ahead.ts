/**
 * Sequential read-ahead for one open file: the kernel reads in pieces of at most 128 KiB, so a
 * `cat` of a large file would cost one round trip per 128 KiB. When reads follow each other, one
 * readat fetches a whole window (up to contentBytesMax) and the next kernel reads are answered
 * from it. The bytes all windows hold together are bounded by a shared budget; a window is
 * dropped when this mount writes or truncates the file. Like the kernel's page cache, a window
 * may show another mount's change late, but never across close-to-open: it lives in one handle.
 */

/** The read-ahead bytes all open files may hold together. */
export class ReadAheadBudget {
  /** Bytes held now. */
  used = 0;
  constructor(readonly bytesMax: number) {}
}

/** One file's window. */
export class ReadAhead {
  private window: { readonly offset: number; readonly data: Uint8Array; readonly endOfFile: boolean } | undefined;
  /** Where the last read ended: a read starting there is sequential. */
  private lastEnd = 0;

  constructor(private readonly budget: ReadAheadBudget) {}

  /** The bytes of [position, position + length) if the window holds them (fewer at end of file). */
  take(position: number, length: number): Uint8Array | undefined {
    const window = this.window;
    if (window === undefined || position < window.offset) return undefined;
    const start = position - window.offset;
    const end = Math.min(start + length, window.data.length);
    if (start > window.data.length || (end - start < length && !window.endOfFile)) return undefined;
    this.lastEnd = position + (end - start);
    return window.data.subarray(start, end);
  }

  /** True if a read at `position` of `length` bytes continues the previous one (or starts the file). */
  isSequential(position: number): boolean {
    return position === this.lastEnd;
  }

  /** Keeps `data` read at `offset` as the window, if the budget has room; true if kept. */
  keep(offset: number, data: Uint8Array, endOfFile: boolean): boolean {
    this.drop();
    if (this.budget.used + data.length > this.budget.bytesMax) return false;
    this.budget.used += data.length;
    this.window = { offset, data, endOfFile };
    return true;
  }

  /** Notes a read this window did not answer, for isSequential. */
  readDone(position: number, count: number): void {
    this.lastEnd = position + count;
  }

  /** Forgets the window (the file changed, or the handle closes). */
  drop(): void {
    if (this.window !== undefined) this.budget.used -= this.window.data.length;
    this.window = undefined;
  }
}
