/**
 * The leader's side of the answers to its appends and snapshot chunks, and the commit rule
 * (Raft §5.3, §5.4.2): a follower's progress moves on its answers, and commitIndex moves when a
 * majority durably holds an entry of the current term.
 */
import { assert } from '../util/assert.js';
import { indexPlus, indexZero, minOf, type LogIndex, type NodeId, type Term } from '../util/types.js';
import { sendAppends } from './append_sender.js';
import { acceptPersisted } from './durability.js';
import { confirmRounds, registerReads } from './read_index.js';
import { sendChunks } from './snapshot_sender.js';
import type { Progress } from './progress.js';
import type { RaftState } from './raft_state.js';
import type { AppendEntriesResponse, InstallSnapshotResponse } from './types.js';

/** Rejections below a follower's matchIndex, in a row, that show it lost its log (see onAppendRejected). */
const lostLogRejectionsMin = 3;

/** A follower's answer to an AppendEntries: moves its progress, then commitIndex and read rounds. */
export function onAppendEntriesResponse(raft: RaftState, response: AppendEntriesResponse): void {
  if (raft.role !== 'leader' || response.term !== raft.currentTerm) return;
  // A term-only rejection answers a request from an older term: the responder's currentTerm
  // can equal ours, but its round belongs to our previous leadership. Counting it would
  // confirm a ReadIndex round of this term that no follower answered (thesis §6.4).
  if (!response.success && response.conflictIndex === indexZero) return;
  const progress = raft.progress.get(response.from)!;
  assert(response.round <= raft.round, `round ${response.round} echoed, only ${raft.round} started`);
  progress.recentActive = true;
  progress.ackedRound = Math.max(progress.ackedRound, response.round);
  if (response.success) onAppendAccepted(raft, response.from, progress, response.matchIndex);
  else onAppendRejected(raft, response.from, progress, response.conflictIndex);
  confirmRounds(raft);
}

function onAppendAccepted(raft: RaftState, peer: NodeId, progress: Progress, matchIndex: LogIndex): void {
  assert(matchIndex <= raft.log.lastIndex, `follower ${peer} matched ${matchIndex} beyond lastIndex ${raft.log.lastIndex}`);
  const wasProbing = progress.state === 'probe';
  const advanced = progress.acknowledge(matchIndex);
  // A follower being sent a snapshot that turns out to match at or after our base can be fed
  // from the log after all (it caught up from another leader, or the heartbeat found a match).
  const canLeaveSnapshot = progress.state === 'snapshot' && progress.matchIndex >= raft.log.baseIndex;
  if (wasProbing || canLeaveSnapshot) progress.becomeReplicate();
  if (advanced) maybeCommit(raft);
  sendAppends(raft, peer, progress);
}

function onAppendRejected(raft: RaftState, peer: NodeId, progress: Progress, conflictIndex: LogIndex): void {
  // The follower durably holds our entries up to matchIndex, so a conflict at or below it is
  // usually the answer to an older request (duplicated or reordered): acting on it would throw
  // away a healthy pipeline. Several in a row with no success between them mean the follower
  // lost its log (its data directory was wiped): start over from where it says it is. Lowering
  // matchIndex only delays commits; commitIndex never goes back.
  if (conflictIndex <= progress.matchIndex) {
    progress.lowRejections++;
    if (progress.lowRejections < lostLogRejectionsMin) return;
    progress.matchIndex = indexPlus(conflictIndex, -1);
  }
  progress.lowRejections = 0;
  // While a snapshot streams, the heartbeats' rejections only say what we know already.
  if (progress.state === 'snapshot') return;
  progress.becomeProbe(minOf(conflictIndex, indexPlus(raft.log.lastIndex, 1)));
  sendAppends(raft, peer, progress);
}

/** A follower's answer to a snapshot chunk: the stream goes on from what it holds, or replication resumes after an install. */
export function onInstallSnapshotResponse(raft: RaftState, response: InstallSnapshotResponse): void {
  if (raft.role !== 'leader' || response.term !== raft.currentTerm) return;
  const progress = raft.progress.get(response.from)!;
  progress.recentActive = true;
  if (response.installed) {
    // The follower holds every entry up to the snapshot: replicate from just after it.
    assert(response.lastIncludedIndex <= raft.commitIndex, `follower ${response.from} installed ${response.lastIncludedIndex} beyond commitIndex`);
    const advanced = progress.acknowledge(response.lastIncludedIndex);
    if (progress.state !== 'replicate') progress.becomeReplicate();
    if (advanced) maybeCommit(raft);
    sendAppends(raft, response.from, progress);
    return;
  }
  const stream = progress.stream;
  if (progress.state !== 'snapshot' || stream === null || stream.snapshot.index !== response.lastIncludedIndex) return;
  progress.acknowledgeChunks(response.bytesStored);
  sendChunks(raft, response.from, progress);
}

/**
 * Raft §5.4.2: commit the highest index stored on a majority, but only if its entry is of the
 * current term. Counting replicas of an older-term entry is the Figure 8 hazard: such an entry
 * can still be overwritten by a leader that never saw it.
 */
function maybeCommit(raft: RaftState): void {
  const matched = [raft.persistedIndex];
  for (const progress of raft.progress.values()) matched.push(progress.matchIndex);
  matched.sort((a, b) => b - a);
  const majorityIndex = matched[raft.quorum - 1]!;
  if (majorityIndex <= raft.commitIndex || raft.log.termAt(majorityIndex) !== raft.currentTerm) return;
  raft.commitIndex = majorityIndex;
  if (raft.reads.size > 0) registerReads(raft, raft.reads.takeDeferred());
}

/** The driver made entries durable up to (index, term): a leader may commit them now. */
export function onPersisted(raft: RaftState, index: LogIndex, term: Term): void {
  if (acceptPersisted(raft, index, term) && raft.role === 'leader') maybeCommit(raft);
}
