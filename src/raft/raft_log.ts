/**
 * The in-memory copy of one node's Raft log (Raft Figure 2, `log[]`), contiguous after a base:
 * the last entry compacted into a snapshot (Raft §7), or index 0 before any compaction. The
 * durable copy lives in RaftStorage; the core mirrors every change it asks the driver to make.
 */
import { assert } from '../util/assert.js';
import { indexPlus, indexZero, asLogIndex, termZero, type LogIndex, type Term } from '../util/types.js';
import type { LogBase, LogEntry } from './types.js';

/** An append-only (except for conflict truncation and compaction) sequence of entries after a base. */
export class RaftLog {
  /** Invariant: `entries[k].index === baseIndex + k + 1` and terms never decrease along the log. */
  private entries: LogEntry[] = [];
  #baseIndex: LogIndex;
  #baseTerm: Term;

  constructor(initial: readonly LogEntry[], base: LogBase = { index: indexZero, term: termZero }) {
    this.#baseIndex = base.index;
    this.#baseTerm = base.term;
    this.append(initial);
  }

  /** The last compacted index (0 when nothing was compacted): entries start after it. */
  get baseIndex(): LogIndex {
    return this.#baseIndex;
  }

  /** The term of the entry at baseIndex (0 when nothing was compacted). */
  get baseTerm(): Term {
    return this.#baseTerm;
  }

  /** Index of the last entry; baseIndex when the log holds none. */
  get lastIndex(): LogIndex {
    return indexPlus(this.#baseIndex, this.entries.length);
  }

  /** Term of the last entry; baseTerm when the log holds none. */
  get lastTerm(): Term {
    return this.termAt(this.lastIndex);
  }

  /** Term of the entry at `index`, which must be in [baseIndex, lastIndex]. */
  termAt(index: LogIndex): Term {
    if (index === this.#baseIndex) return this.#baseTerm;
    assert(index > this.#baseIndex, `termAt(${index}) below the compacted base ${this.#baseIndex}`);
    const entry = this.entries[index - this.#baseIndex - 1];
    assert(entry !== undefined, `termAt(${index}) beyond lastIndex ${this.lastIndex}`);
    return entry.term;
  }

  /**
   * True when the log holds an entry at `index` whose term is `term` (the §5.3 consistency check).
   * Compacted entries are unknown here, so an index below the base never matches.
   */
  matches(index: LogIndex, term: Term): boolean {
    return index >= this.#baseIndex && index <= this.lastIndex && this.termAt(index) === term;
  }

  /** The entry at `index`, or undefined outside [baseIndex + 1, lastIndex]. */
  entryAt(index: LogIndex): LogEntry | undefined {
    return index > this.#baseIndex ? this.entries[index - this.#baseIndex - 1] : undefined;
  }

  /** Entries with indexes in [fromIndex, toIndex] (inclusive), clamped to the log. */
  slice(fromIndex: LogIndex, toIndex: LogIndex): LogEntry[] {
    const base = this.#baseIndex;
    return this.entries.slice(Math.max(fromIndex - base, 1) - 1, Math.max(toIndex - base, 0));
  }

  /**
   * Forgets every entry up to `base.index`, which must be in the log (or its base): they are in a
   * snapshot now. Entries after it are kept.
   */
  compactThrough(base: LogBase): void {
    assert(base.index >= this.#baseIndex && base.index <= this.lastIndex, `compactThrough(${base.index}) outside the log`);
    assert(this.termAt(base.index) === base.term, `compactThrough(${base.index}) with term ${base.term}, log has ${this.termAt(base.index)}`);
    this.entries = this.entries.slice(base.index - this.#baseIndex);
    this.#baseIndex = base.index;
    this.#baseTerm = base.term;
  }

  /** Replaces the whole log by a snapshot's base (Raft §7, "discard the entire log"). */
  reset(base: LogBase): void {
    this.entries = [];
    this.#baseIndex = base.index;
    this.#baseTerm = base.term;
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
      const entry = this.entries[index - this.#baseIndex - 1]!;
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
    // Compacted entries are committed, and committed entries are never truncated (§5.4).
    assert(fromIndex > this.#baseIndex && fromIndex <= this.lastIndex + 1, `truncateFrom(${fromIndex}) outside the log`);
    this.entries.length = fromIndex - this.#baseIndex - 1;
  }

  /** The first index after the base of the run of entries that share the term of the entry at `index`. */
  firstIndexOfTermAt(index: LogIndex): LogIndex {
    const term = this.termAt(index);
    // Terms never decrease along the log, so binary-search the first entry whose term is `term`.
    let low = indexPlus(this.#baseIndex, 1);
    let high = index;
    while (low < high) {
      const middle = asLogIndex((low + high) >>> 1);
      if (this.termAt(middle) < term) low = indexPlus(middle, 1);
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
