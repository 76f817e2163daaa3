/**
 * What a leader knows about one follower's log (Raft Figure 2, "volatile state on leaders"), plus
 * the flow control etcd-io/raft calls `Progress`: a follower is either being probed for the point
 * where its log matches, or being fed a pipeline of AppendEntries.
 */
import { assert } from '../util/assert.js';
import type { SnapshotMeta } from './types.js';
import { indexPlus, indexZero, maxOf, type LogIndex } from '../util/types.js';

/**
 * `probe`: the leader does not know where the follower's log matches; one AppendEntries at a time.
 * `replicate`: the logs match up to matchIndex; AppendEntries are pipelined optimistically.
 * `snapshot`: the follower needs entries the leader has compacted; it is sent the leader's
 * snapshot in chunks (Raft §7) and then replicated from just after it.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** One InstallSnapshot chunk the follower has not acknowledged yet. */
export interface ChunkInflight {
  readonly offset: number;
  readonly end: number;
  readonly sentTick: number;
}

/** The snapshot being streamed to a follower in the snapshot state. */
export interface SnapshotStream {
  /** Pinned for the whole stream: a newer snapshot taken meanwhile does not restart it. */
  readonly snapshot: SnapshotMeta;
  /** The stream's length: the snapshot's bytes when known, else learnt from SnapshotStreamEnded (Infinity until then). */
  totalBytes: number;
  /** The next byte to send. */
  nextOffset: number;
  /** Unacknowledged chunks, oldest first. The last chunk stays here until the follower reports it installed. */
  inflights: ChunkInflight[];
}

/** One AppendEntries with entries that the follower has not acknowledged yet. */
export interface Inflight {
  /** Index of the last entry the message carried. */
  readonly lastIndex: LogIndex;
  /** The leader's tick count when it was sent; old ones are presumed lost. */
  readonly sentTick: number;
}

/** Replication state of one follower, owned by the leader for the length of its term. */
export class Progress {
  /** Index of the next entry to send (Raft Figure 2). */
  nextIndex: LogIndex;
  /** Highest index known to be replicated, durably, on the follower (Raft Figure 2). */
  matchIndex: LogIndex = indexZero;
  state: ProgressState = 'probe';
  /** In probe state: an AppendEntries is outstanding, so wait for its answer or the next heartbeat. */
  probeSent = false;
  /** In replicate state: unacknowledged AppendEntries, oldest first. */
  inflights: Inflight[] = [];
  /** The follower answered in the current check-quorum window (Raft thesis §6.2). */
  recentActive = false;
  /** Highest quorum round the follower has echoed in this term (ReadIndex, thesis §6.4). */
  ackedRound = 0;
  /** Rejections below matchIndex since the last success: a few in a row mean the follower lost its log. */
  lowRejections = 0;
  /** In snapshot state: the stream; null otherwise. */
  stream: SnapshotStream | null = null;

  constructor(nextIndex: LogIndex) {
    this.nextIndex = nextIndex;
  }

  /** True when no more AppendEntries may be sent now. */
  isPaused(inflightAppendsMax: number): boolean {
    if (this.state === 'snapshot') return true;
    return this.state === 'probe' ? this.probeSent : this.inflights.length >= inflightAppendsMax;
  }

  /** Starts probing at `nextIndex`; pipelined messages are forgotten (their answers are still harmless). */
  becomeProbe(nextIndex: LogIndex): void {
    assert(nextIndex > this.matchIndex, `probe at ${nextIndex} at or below matchIndex ${this.matchIndex}`);
    this.state = 'probe';
    this.nextIndex = nextIndex;
    this.probeSent = false;
    this.inflights = [];
    this.stream = null;
  }

  /** The logs match up to matchIndex: stream from just after it. */
  becomeReplicate(): void {
    this.state = 'replicate';
    this.nextIndex = indexPlus(this.matchIndex, 1);
    this.probeSent = false;
    this.inflights = [];
    this.stream = null;
  }

  /** The follower needs compacted entries: stream `snapshot` to it from byte 0. */
  becomeSnapshot(snapshot: SnapshotMeta): void {
    this.state = 'snapshot';
    this.probeSent = false;
    this.inflights = [];
    this.stream = { snapshot, totalBytes: snapshot.bytes > 0 ? snapshot.bytes : Infinity, nextOffset: 0, inflights: [] };
  }

  /**
   * Records an acknowledgement up to `matchIndex` (which may be stale or duplicated: the network
   * reorders). Returns true when matchIndex advanced.
   */
  acknowledge(matchIndex: LogIndex): boolean {
    this.lowRejections = 0;
    const advanced = matchIndex > this.matchIndex;
    this.matchIndex = maxOf(this.matchIndex, matchIndex);
    this.nextIndex = maxOf(this.nextIndex, indexPlus(this.matchIndex, 1));
    while (this.inflights.length > 0 && this.inflights[0]!.lastIndex <= this.matchIndex) this.inflights.shift();
    return advanced;
  }

  /** Records a pipelined AppendEntries whose last entry is `lastIndex`. */
  sent(lastIndex: LogIndex, nowTick: number): void {
    if (this.state === 'probe') {
      this.probeSent = true;
      return;
    }
    this.inflights.push({ lastIndex, sentTick: nowTick });
    this.nextIndex = indexPlus(lastIndex, 1);
  }

  /**
   * True when the oldest pipelined message has gone unanswered for `timeoutTicks`. A dropped
   * AppendEntries in replicate state would otherwise leave a gap the follower never reports
   * (it only answers what it receives) and the follower would fall behind forever.
   */
  isStalled(nowTick: number, timeoutTicks: number): boolean {
    const oldest = this.inflights[0];
    return this.state === 'replicate' && oldest !== undefined && nowTick - oldest.sentTick >= timeoutTicks;
  }

  /**
   * Records the follower's answer that it holds `bytesStored` bytes of the streamed snapshot.
   * Chunks it covers are done; if the oldest chunk still outstanding does not start there, a
   * chunk was lost (or the follower restarted): resend from `bytesStored`.
   */
  acknowledgeChunks(bytesStored: number): void {
    const stream = this.stream;
    if (stream === null) return;
    const total = stream.totalBytes;
    // The last chunk stays in flight until `installed`: if the follower crashes before installing,
    // its retransmission is what tells the leader to start over.
    stream.inflights = stream.inflights.filter((chunk) => chunk.end > bytesStored || chunk.end === total);
    const oldest = stream.inflights[0];
    if (oldest !== undefined && oldest.offset !== bytesStored && bytesStored < total) {
      stream.inflights = [];
      stream.nextOffset = bytesStored;
    }
    if (stream.inflights.length === 0 && bytesStored < total) stream.nextOffset = Math.min(stream.nextOffset, bytesStored);
  }

  /**
   * The stream turned out to be `bytes` long: chunks asked for past it are dropped, and the one
   * that holds its end ends there.
   */
  streamEnded(bytes: number): void {
    const stream = this.stream;
    if (stream === null) return;
    stream.totalBytes = bytes;
    stream.inflights = stream.inflights.filter((chunk) => chunk.offset < bytes || (bytes === 0 && chunk.offset === 0)).map((chunk) => ({ ...chunk, end: Math.min(chunk.end, bytes) }));
    stream.nextOffset = Math.min(stream.nextOffset, bytes);
  }

  /** True when the oldest chunk has gone unanswered for `timeoutTicks`: it (and all after it) is sent again. */
  chunksStalled(nowTick: number, timeoutTicks: number): boolean {
    const oldest = this.stream?.inflights[0];
    return oldest !== undefined && nowTick - oldest.sentTick >= timeoutTicks;
  }
}
