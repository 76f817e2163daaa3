/**
 * The leader's queue of linearizable reads (Raft thesis §6.4, ReadIndex). A read is safe to serve
 * at readIndex (the commitIndex when it arrived) once a majority has confirmed, in a quorum round
 * started after the read arrived, that this node was still the leader.
 */
import type { LogIndex } from '../util/types.js';

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
