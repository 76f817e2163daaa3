/**
 * Log compaction after a snapshot the driver took (Raft §7): how many entries to keep before it,
 * so that slightly lagging followers catch up from the log and a stream in progress stays useful.
 */
import { assert } from '../util/assert.js';
import { indexPlus, indexZero, asLogIndex, maxOf, minOf, type LogIndex } from '../util/types.js';
import type { RaftState } from './raft_state.js';
import type { LogBase, SnapshotMeta } from './types.js';

/**
 * The driver durably wrote a snapshot at an applied index: remember it (for followers that need
 * it) and compact the log, keeping compactionKeepEntries before it for slightly lagging followers.
 */
export function onSnapshotTaken(raft: RaftState, snapshot: SnapshotMeta): void {
  const previous = raft.snapshot?.index ?? indexZero;
  // A snapshot installed from a leader meanwhile may already be newer: nothing to do then.
  if (snapshot.index <= previous) return;
  assert(snapshot.index <= raft.appliedIndex, `snapshot at ${snapshot.index} beyond applied index ${raft.appliedIndex}`);
  assert(raft.log.termAt(snapshot.index) === snapshot.term, `snapshot at ${snapshot.index} with term ${snapshot.term}, log has ${raft.log.termAt(snapshot.index)}`);
  raft.snapshot = snapshot;
  // A follower being sent an older snapshot needs the entries after it once installed:
  // compacting them away would make it start over with this snapshot, and under steady writes
  // every stream would end that way.
  const throughIndex = maxOf(raft.log.baseIndex, minOf(indexPlus(keptFrom(raft, snapshot.index), -1), oldestStreamedIndex(raft)));
  const base: LogBase = { index: throughIndex, term: raft.log.termAt(throughIndex) };
  raft.log.compactThrough(base);
  raft.persistActions.push({ type: 'CompactLog', base, snapshot, discardLog: false });
}

/** What oldestStreamedIndex answers when no stream holds compaction back. */
const noStreamIndex = asLogIndex(Infinity);

/** The lowest snapshot index being streamed to a follower (Infinity when none is). */
function oldestStreamedIndex(raft: RaftState): LogIndex {
  let oldest = noStreamIndex;
  if (raft.role !== 'leader') return oldest;
  for (const progress of raft.progress.values()) {
    if (progress.state === 'snapshot' && progress.stream !== null) oldest = minOf(oldest, progress.stream.snapshot.index);
  }
  return oldest;
}

/**
 * The first index to keep when compacting up to a snapshot at `snapshotIndex`: at most
 * compactionKeepEntries entries before it, holding at most compactionKeepBytes of data.
 */
function keptFrom(raft: RaftState, snapshotIndex: LogIndex): LogIndex {
  let first = indexPlus(snapshotIndex, 1);
  let bytes = 0;
  const lowest = maxOf(indexPlus(raft.log.baseIndex, 1), indexPlus(snapshotIndex, 1 - raft.options.compactionKeepEntries));
  while (first > lowest) {
    const size = raft.log.entryAt(indexPlus(first, -1))?.data.length ?? 0;
    if (bytes + size > raft.options.compactionKeepBytes) break;
    bytes += size;
    first = indexPlus(first, -1);
  }
  return first;
}
