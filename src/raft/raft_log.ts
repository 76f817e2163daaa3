/**
 * The in-memory copy of one node's Raft log (Raft Figure 2, `log[]`), contiguous from index 1.
 * The durable copy lives in RaftStorage; the core mirrors every change it asks the driver to make.
 */
import { assert } from '../util/assert.js';
import type { LogIndex, Term } from '../util/types.js';
import type { LogEntry } from './types.js';

/** An append-only (except for conflict truncation) sequence of entries starting at index 1. */
export class RaftLog {
  /** Invariant: `entries[k].index === k + 1` and terms never decrease along the log. */
  private readonly entries: LogEntry[] = [];

  constructor(initial: readonly LogEntry[]) {
    this.append(initial);
  }

  /** Index of the last entry, 0 when the log is empty. */
  get lastIndex(): LogIndex {
    return this.entries.length;
  }

  /** Term of the last entry, 0 when the log is empty. */
  get lastTerm(): Term {
    return this.termAt(this.lastIndex);
  }

  /** Term of the entry at `index`; 0 for index 0 (the empty prefix every log shares). */
  termAt(index: LogIndex): Term {
    if (index === 0) return 0;
    const entry = this.entries[index - 1];
    assert(entry !== undefined, `termAt(${index}) beyond lastIndex ${this.lastIndex}`);
    return entry.term;
  }

  /** True when the log holds an entry at `index` whose term is `term` (the §5.3 consistency check). */
  matches(index: LogIndex, term: Term): boolean {
    return index <= this.lastIndex && this.termAt(index) === term;
  }

  /** The entry at `index`, or undefined outside [1, lastIndex]. */
  entryAt(index: LogIndex): LogEntry | undefined {
    return index >= 1 ? this.entries[index - 1] : undefined;
  }

  /** Entries with indexes in [fromIndex, toIndex] (inclusive), clamped to the log. */
  slice(fromIndex: LogIndex, toIndex: LogIndex): LogEntry[] {
    return this.entries.slice(Math.max(fromIndex, 1) - 1, Math.max(toIndex, 0));
  }

  /**
   * Entries starting at `fromIndex` for one AppendEntries message: at most `countMax` entries and
   * `bytesMax` payload bytes, but always at least one entry when any exist, so that one large
   * entry cannot stall replication forever.
   */
  batchFrom(fromIndex: LogIndex, countMax: number, bytesMax: number): LogEntry[] {
    const batch: LogEntry[] = [];
    let bytes = 0;
    for (let index = fromIndex; index <= this.lastIndex && batch.length < countMax; index++) {
      const entry = this.entries[index - 1]!;
      bytes += entry.data.byteLength;
      if (batch.length > 0 && bytes > bytesMax) break;
      batch.push(entry);
    }
    return batch;
  }

  /** Appends entries that continue the log exactly. */
  append(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.lastIndex + 1, `append of index ${entry.index} after ${this.lastIndex}`);
      // Terms only grow along a log (Raft §5.3); a decrease means the caller spliced two histories.
      assert(entry.term >= this.lastTerm, `append of term ${entry.term} after term ${this.lastTerm}`);
      this.entries.push(entry);
    }
  }

  /** Deletes every entry with index >= `fromIndex` (Raft §5.3, "delete the existing entry and all that follow it"). */
  truncateFrom(fromIndex: LogIndex): void {
    assert(fromIndex >= 1 && fromIndex <= this.lastIndex + 1, `truncateFrom(${fromIndex}) outside the log`);
    this.entries.length = fromIndex - 1;
  }

  /** The first index of the run of entries that share the term of the entry at `index`. */
  firstIndexOfTermAt(index: LogIndex): LogIndex {
    const term = this.termAt(index);
    // Terms never decrease along the log, so binary-search the first entry whose term is `term`.
    let low = 1;
    let high = index;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.termAt(middle) < term) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Raft §5.4.1: a candidate's log is at least as up-to-date as this one if its last term is
   * higher, or the last terms are equal and it is at least as long.
   */
  isUpToDate(lastLogIndex: LogIndex, lastLogTerm: Term): boolean {
    if (lastLogTerm !== this.lastTerm) return lastLogTerm > this.lastTerm;
    return lastLogIndex >= this.lastIndex;
  }
}
