/**
 * Writes to this node's own log and what the core knows of their durability: every change to the
 * in-memory log is mirrored by a `PersistEntries` action, and a `Persisted` event counts only for
 * a write that still holds the entry in the log (see `persistBarrier`).
 */
import { indexPlus, indexZero, maxOf, minOf, type LogIndex, type Term } from '../util/types.js';
import type { RaftState } from './raft_state.js';
import { EntryType, type LogEntry } from './types.js';

/** Appends entries of the current term holding `payloads`, one each, after the last entry. */
export function appendAsLeader(raft: RaftState, type: EntryType, payloads: readonly Uint8Array[]): void {
  const first = indexPlus(raft.log.lastIndex, 1);
  const term = raft.currentTerm;
  appendEntries(raft, payloads.map((data, offset) => ({ index: indexPlus(first, offset), term, type, data })));
}

/** Appends entries that follow the last one, and asks the driver to store them. */
export function appendEntries(raft: RaftState, entries: readonly LogEntry[]): void {
  raft.log.append(entries);
  notePersist(raft, entries);
  raft.persistActions.push({ type: 'PersistEntries', entries });
}

/** Replaces the entries from `truncateFrom` on with `entries` (a conflict, Raft §5.3), in memory and on disk. */
export function truncateAndAppend(raft: RaftState, truncateFrom: LogIndex, entries: readonly LogEntry[]): void {
  raft.log.truncateFrom(truncateFrom);
  raft.log.append(entries);
  discardedAfter(raft, indexPlus(truncateFrom, -1));
  notePersist(raft, entries);
  raft.persistActions.push({ type: 'PersistEntries', truncateFrom, entries });
}

function notePersist(raft: RaftState, entries: readonly LogEntry[]): void {
  const last = entries[entries.length - 1];
  if (last === undefined) return;
  raft.writtenIndexMax = maxOf(raft.writtenIndexMax, last.index);
  raft.writtenTermMax = maxOf(raft.writtenTermMax, last.term);
}

/**
 * The log no longer holds what it held after `lastKeptIndex` (a truncation, or a snapshot
 * installed in place of the log). Writes still pending may have held anything written so far,
 * and a `Persisted` from one of them must not count for an entry written again later; see
 * persistBarrier.
 */
export function discardedAfter(raft: RaftState, lastKeptIndex: LogIndex): void {
  raft.persistBarrier = { index: raft.writtenIndexMax, term: raft.writtenTermMax };
  raft.persistedIndex = minOf(raft.persistedIndex, lastKeptIndex);
}

/**
 * The driver made entries durable up to (index, term). Writes complete in order, so everything
 * before it is durable too, provided the entry is still the one in our log. Returns false for a
 * report that does not count (the entry is gone, or the write is older than a truncation).
 */
export function acceptPersisted(raft: RaftState, index: LogIndex, term: Term): boolean {
  if (index === indexZero || !raft.log.matches(index, term)) return false;
  const barrier = raft.persistBarrier;
  if (barrier !== null && index <= barrier.index && term <= barrier.term) return false;
  raft.persistBarrier = null;
  raft.persistedIndex = maxOf(raft.persistedIndex, index);
  return true;
}
