/**
 * The follower's side of AppendEntries (Raft §5.3, receiver implementation in Figure 2): the
 * consistency check, appending or replacing entries, and advancing commitIndex.
 */
import { assert } from '../util/assert.js';
import { indexPlus, indexZero, maxOf, minOf, type LogIndex } from '../util/types.js';
import { appendEntries, truncateAndAppend } from './durability.js';
import { followLeader } from './election.js';
import type { RaftState } from './raft_state.js';
import type { AppendEntries } from './types.js';

/** Raft §5.3, receiver implementation of AppendEntries (Figure 2). */
export function onAppendEntries(raft: RaftState, received: AppendEntries): void {
  if (received.term < raft.currentTerm) {
    // A deposed leader learns the new term from this answer and steps down (§5.1). The
    // conflictIndex 0 marks it as a term-only answer (a real rejection's hint is always >= 1).
    sendAppendResponse(raft, received, false, indexZero, indexZero);
    return;
  }
  followLeader(raft, received.from);
  const request = skipCompacted(raft, received);
  const conflictIndex = findConsistencyFailure(raft, request);
  if (conflictIndex !== indexZero) {
    sendAppendResponse(raft, request, false, indexZero, conflictIndex);
    return;
  }
  appendFromLeader(raft, request);
  const lastNewIndex = indexPlus(request.prevLogIndex, request.entries.length);
  // Figure 2: commitIndex = min(leaderCommit, index of last new entry). Capping at what this
  // request proved matches keeps a follower from committing a stale suffix it has not replaced.
  const commitIndex = minOf(request.leaderCommit, lastNewIndex);
  if (commitIndex > raft.commitIndex) raft.commitIndex = commitIndex;
  sendAppendResponse(raft, request, true, lastNewIndex, indexZero);
}

/**
 * The request without the entries this node has compacted. Compacted entries are committed,
 * and committed entries are in every later leader's log (§5.4), so they match: the request is
 * re-anchored at the base, whose term this node still knows.
 */
function skipCompacted(raft: RaftState, request: AppendEntries): AppendEntries {
  const base = raft.log.baseIndex;
  if (request.prevLogIndex >= base) return request;
  const entries = request.entries.filter((entry) => entry.index > base);
  return { ...request, prevLogIndex: base, prevLogTerm: raft.log.baseTerm, entries };
}

/**
 * Returns 0 when the log holds prevLogIndex with prevLogTerm; otherwise the index the leader
 * should probe next (§5.3 optimization): past our last entry, or the start of the conflicting term.
 */
function findConsistencyFailure(raft: RaftState, request: AppendEntries): LogIndex {
  if (request.prevLogIndex > raft.log.lastIndex) return indexPlus(raft.log.lastIndex, 1);
  if (raft.log.termAt(request.prevLogIndex) === request.prevLogTerm) return indexZero;
  // Committed entries are in every later leader's log (§5.4 Leader Completeness), so they cannot conflict.
  assert(request.prevLogIndex > raft.commitIndex, `conflict at committed index ${request.prevLogIndex}`);
  return maxOf(raft.log.firstIndexOfTermAt(request.prevLogIndex), indexPlus(raft.commitIndex, 1));
}

/**
 * Appends the entries not already present. Entries that match are kept: a delayed, shorter
 * AppendEntries from the same leader must not cut off entries that a later one delivered (and
 * that this node may already have acknowledged).
 */
function appendFromLeader(raft: RaftState, request: AppendEntries): void {
  let skip = 0;
  for (const [offset, entry] of request.entries.entries()) {
    assert(entry.index === request.prevLogIndex + 1 + offset, 'AppendEntries entries are not contiguous');
    if (skip === offset && raft.log.matches(entry.index, entry.term)) skip++;
  }
  if (skip === request.entries.length) return;
  const fresh = request.entries.slice(skip);
  const firstIndex = fresh[0]!.index;
  if (firstIndex > raft.log.lastIndex) {
    appendEntries(raft, fresh);
    return;
  }
  // §5.3: "If an existing entry conflicts with a new one, delete the existing entry and all that follow it."
  assert(firstIndex > raft.commitIndex, `truncating committed index ${firstIndex} (commitIndex ${raft.commitIndex})`);
  truncateAndAppend(raft, firstIndex, fresh);
}

function sendAppendResponse(raft: RaftState, request: AppendEntries, success: boolean, matchIndex: LogIndex, conflictIndex: LogIndex): void {
  raft.send({
    type: 'AppendEntriesResponse',
    from: raft.id,
    to: request.from,
    term: raft.currentTerm,
    success,
    matchIndex,
    conflictIndex,
    round: request.round,
  });
}
