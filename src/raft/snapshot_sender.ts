/**
 * The leader's snapshot stream to one follower (Raft §7): chunks the driver fills from the
 * snapshot file, sent up to snapshotChunksInflightMax at a time. The bytes never pass through
 * the core.
 */
import type { LogIndex, NodeId } from '../util/types.js';
import type { Progress } from './progress.js';
import type { RaftState } from './raft_state.js';

const noBytes = new Uint8Array(0);

/** Sends the next chunks of the follower's snapshot stream, up to snapshotChunksInflightMax. */
export function sendChunks(raft: RaftState, peer: NodeId, progress: Progress): void {
  const stream = progress.stream!;
  const { snapshot } = stream;
  while (stream.inflights.length < raft.options.snapshotChunksInflightMax && stream.nextOffset < stream.totalBytes) {
    const offset = stream.nextOffset;
    const length = Math.min(raft.options.snapshotChunkBytesMax, stream.totalBytes - offset);
    const done = offset + length === stream.totalBytes;
    raft.send({
      type: 'InstallSnapshot',
      from: raft.id,
      to: peer,
      term: raft.currentTerm,
      lastIncludedIndex: snapshot.index,
      lastIncludedTerm: snapshot.term,
      totalBytes: snapshot.bytes,
      offset,
      length,
      done,
      data: noBytes,
    });
    stream.inflights.push({ offset, end: offset + length, sentTick: raft.nowTick });
    stream.nextOffset = offset + length;
  }
}

/** The driver cannot produce a chunk of the pinned snapshot: restart `to` from byte 0 with the newest. */
export function onSnapshotUnavailable(raft: RaftState, to: NodeId, index: LogIndex): void {
  const progress = raft.progress.get(to);
  if (raft.role !== 'leader' || progress?.state !== 'snapshot' || progress.stream?.snapshot.index !== index) return;
  if (raft.snapshot === null) return;
  progress.becomeSnapshot(raft.snapshot);
  sendChunks(raft, to, progress);
}

/** The driver generated the whole stream of `index` to `to`: it is `bytes` long. */
export function onSnapshotStreamEnded(raft: RaftState, to: NodeId, index: LogIndex, bytes: number): void {
  const progress = raft.progress.get(to);
  if (raft.role !== 'leader' || progress?.state !== 'snapshot' || progress.stream?.snapshot.index !== index) return;
  progress.streamEnded(bytes);
}
