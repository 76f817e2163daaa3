/**
 * The leader's queue of linearizable reads (Raft thesis §6.4, ReadIndex). A read is safe to serve
 * at readIndex (the commitIndex when it arrived) once a majority has confirmed, in a quorum round
 * started after the read arrived, that this node was still the leader.
 *
 * ReadIndexQueue holds the reads; the functions after it are the leader's handling of them, over
 * the node's RaftState.
 */
import type { LogIndex, NodeId } from '../util/types.js';
import { sendHeartbeat } from './append_sender.js';
import type { RaftState } from './raft_state.js';

/** A read waiting for its quorum round. */
interface WaitingRead {
  readonly requestId: number;
  readonly readIndex: LogIndex;
  /** The quorum round that must be confirmed before the read is safe. */
  readonly round: number;
}

/** Reads released together because they share a readIndex. */
export interface ReadyReads {
  readonly requestIds: number[];
  readonly readIndex: LogIndex;
}

/** Pending reads of one leader term, in arrival order. */
export class ReadIndexQueue {
  /**
   * Reads that arrived before the leader committed an entry of its own term. Until then its
   * commitIndex may be behind entries committed by earlier leaders (thesis §6.4 step 1), so a
   * read served at it could miss an acknowledged write.
   */
  private deferred: number[] = [];
  /** Registered reads; rounds never decrease along the array. */
  private waiting: WaitingRead[] = [];

  /** Reads held, deferred or waiting. */
  get size(): number {
    return this.deferred.length + this.waiting.length;
  }

  /** True when some registered read still needs a round. */
  get hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** Holds a read until the leader commits an entry of its term. */
  defer(requestId: number): void {
    this.deferred.push(requestId);
  }

  /** Removes and returns the deferred reads. */
  takeDeferred(): number[] {
    const taken = this.deferred;
    this.deferred = [];
    return taken;
  }

  /** Registers a read that becomes safe once `round` is confirmed. */
  register(requestId: number, readIndex: LogIndex, round: number): void {
    this.waiting.push({ requestId, readIndex, round });
  }

  /** Removes the reads whose round is <= `confirmedRound`, grouped by readIndex. */
  release(confirmedRound: number): ReadyReads[] {
    const ready: ReadyReads[] = [];
    let count = 0;
    for (const read of this.waiting) {
      if (read.round > confirmedRound) break;
      count++;
      const last = ready[ready.length - 1];
      if (last !== undefined && last.readIndex === read.readIndex) last.requestIds.push(read.requestId);
      else ready.push({ requestIds: [read.requestId], readIndex: read.readIndex });
    }
    this.waiting.splice(0, count);
    return ready;
  }

  /** Removes and returns every read (on loss of leadership, to fail them). */
  takeAll(): number[] {
    const all = [...this.deferred, ...this.waiting.map((read) => read.requestId)];
    this.deferred = [];
    this.waiting = [];
    return all;
  }
}

/** A linearizable read arrived (leader only; anywhere else it fails at once). */
export function onReadIndex(raft: RaftState, requestId: number): void {
  if (raft.role !== 'leader') {
    raft.notice({ type: 'ReadFailed', requestIds: [requestId], leaderId: raft.leaderId });
    return;
  }
  if (raft.reads.size >= raft.options.pendingReadsMax) {
    // Overloaded, not deposed: the hint names this node, so the client may retry here later.
    raft.notice({ type: 'ReadFailed', requestIds: [requestId], leaderId: raft.id });
    return;
  }
  if (raft.log.termAt(raft.commitIndex) !== raft.currentTerm) {
    raft.reads.defer(requestId);
    return;
  }
  registerReads(raft, [requestId]);
}

/**
 * Thesis §6.4: the reads are safe at the current commitIndex once a majority confirms this
 * node's leadership in a round started after they arrived. A round already in flight started
 * before them, so they join the next one, which starts now if nothing is in flight.
 */
export function registerReads(raft: RaftState, requestIds: readonly number[]): void {
  if (requestIds.length === 0) return;
  if (raft.quorum === 1) {
    raft.notice({ type: 'ReadReady', requestIds: [...requestIds], readIndex: raft.commitIndex });
    return;
  }
  for (const requestId of requestIds) raft.reads.register(requestId, raft.commitIndex, raft.round + 1);
  if (raft.round === raft.confirmedRound) startRound(raft);
}

function startRound(raft: RaftState): void {
  raft.round++;
  for (const [peer, progress] of raft.progress) sendHeartbeat(raft, peer, progress);
}

/** Releases the reads of every round a majority has answered (this node answers every round). */
export function confirmRounds(raft: RaftState): void {
  if (raft.round === raft.confirmedRound) return;
  const acked = [raft.round];
  for (const progress of raft.progress.values()) acked.push(progress.ackedRound);
  acked.sort((a, b) => b - a);
  const confirmed = acked[raft.quorum - 1]!;
  if (confirmed <= raft.confirmedRound) return;
  raft.confirmedRound = confirmed;
  for (const ready of raft.reads.release(confirmed)) raft.notice({ type: 'ReadReady', ...ready });
  if (raft.reads.hasWaiting) startRound(raft);
}

/** Fails every pending read, naming `leaderId` (0: unknown) as where to retry. */
export function failReads(raft: RaftState, leaderId: NodeId): void {
  const requestIds = raft.reads.takeAll();
  if (requestIds.length > 0) raft.notice({ type: 'ReadFailed', requestIds, leaderId });
}
