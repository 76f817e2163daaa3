/**
 * What the leader sends each follower (Raft §5.3): pipelined AppendEntries under flow control
 * (progress.ts), heartbeats, and the switch to a snapshot stream when the entries a follower
 * needs were compacted (Raft §7).
 */
import { assert } from '../util/assert.js';
import { indexPlus, maxOf, type LogIndex, type NodeId } from '../util/types.js';
import { sendChunks } from './snapshot_sender.js';
import type { Progress } from './progress.js';
import type { RaftState } from './raft_state.js';
import type { LogEntry } from './types.js';

/** Sends every follower what flow control allows now (after an append to the leader's log). */
export function broadcastAppends(raft: RaftState): void {
  for (const [peer, progress] of raft.progress) sendAppends(raft, peer, progress);
}

/**
 * Sends what flow control allows: one probe, or pipelined batches up to inflightAppendsMax, or
 * snapshot chunks when the follower needs entries that were compacted (Raft §7).
 */
export function sendAppends(raft: RaftState, peer: NodeId, progress: Progress): void {
  if (progress.state !== 'snapshot' && progress.nextIndex - 1 < raft.log.baseIndex) {
    // The entry before nextIndex is compacted: its term, needed for prevLogTerm, is gone.
    assert(raft.snapshot !== null, `log compacted to ${raft.log.baseIndex} without a snapshot`);
    progress.becomeSnapshot(raft.snapshot);
  }
  if (progress.state === 'snapshot') {
    sendChunks(raft, peer, progress);
    return;
  }
  while (!progress.isPaused(raft.options.inflightAppendsMax)) {
    if (progress.state === 'replicate' && progress.nextIndex > raft.log.lastIndex) return;
    const entries = raft.log.batchFrom(progress.nextIndex, raft.options.appendEntriesMax, raft.options.appendBytesMax);
    sendAppend(raft, peer, indexPlus(progress.nextIndex, -1), entries);
    progress.sent(indexPlus(progress.nextIndex, entries.length - 1), raft.nowTick);
  }
}

/**
 * Heartbeats (Raft §5.2) keep followers from campaigning and carry commitIndex. In replicate
 * state one is anchored at matchIndex, so it succeeds whatever is in flight; in probe state it
 * is anchored at nextIndex - 1 and doubles as the probe.
 */
export function broadcastHeartbeats(raft: RaftState): void {
  for (const [peer, progress] of raft.progress) {
    if (progress.isStalled(raft.nowTick, raft.options.electionTimeoutTicks)) progress.becomeProbe(indexPlus(progress.matchIndex, 1));
    sendHeartbeat(raft, peer, progress);
    if (progress.chunksStalled(raft.nowTick, raft.options.snapshotRetransmitTicks)) {
      // A chunk (or its answer) was lost: send again from the oldest unanswered byte.
      const stream = progress.stream!;
      stream.nextOffset = stream.inflights[0]!.offset;
      stream.inflights = [];
      sendChunks(raft, peer, progress);
    }
  }
}

/** One empty AppendEntries to `peer`, anchored where its progress state says (see broadcastHeartbeats). */
export function sendHeartbeat(raft: RaftState, peer: NodeId, progress: Progress): void {
  if (progress.state === 'replicate') {
    // Anchored at the base if matchIndex was compacted meanwhile: a rejection moves it to probe and on to a snapshot.
    sendAppend(raft, peer, maxOf(progress.matchIndex, raft.log.baseIndex), []);
    return;
  }
  if (progress.state === 'snapshot') {
    // Keeps the follower from campaigning while the snapshot streams, and carries read rounds.
    sendAppend(raft, peer, maxOf(progress.matchIndex, raft.log.baseIndex), []);
    return;
  }
  if (progress.nextIndex - 1 < raft.log.baseIndex) {
    sendAppends(raft, peer, progress);
    return;
  }
  sendAppend(raft, peer, indexPlus(progress.nextIndex, -1), []);
  progress.probeSent = true;
}

function sendAppend(raft: RaftState, peer: NodeId, prevLogIndex: LogIndex, entries: readonly LogEntry[]): void {
  raft.send({
    type: 'AppendEntries',
    from: raft.id,
    to: peer,
    term: raft.currentTerm,
    prevLogIndex,
    prevLogTerm: raft.log.termAt(prevLogIndex),
    entries,
    leaderCommit: raft.commitIndex,
    round: raft.round,
  });
}
