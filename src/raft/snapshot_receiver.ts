/**
 * The follower's side of InstallSnapshot (Raft §7): chunks stored in order from byte 0 by the
 * driver, then, once the driver has checked the whole file, the snapshot installed in place of
 * the log entries it covers.
 */
import type { LogIndex, NodeId } from '../util/types.js';
import { discardedAfter } from './durability.js';
import { followLeader } from './election.js';
import type { IncomingSnapshot, RaftState } from './raft_state.js';
import type { InstallSnapshot, LogBase, SnapshotMeta } from './types.js';

/**
 * Raft §7, receiver side, one chunk at a time: chunks are stored in order from byte 0; one
 * out of order is answered with the bytes held, so the leader resends from there.
 */
export function onInstallSnapshot(raft: RaftState, request: InstallSnapshot): void {
  if (request.term < raft.currentTerm) {
    sendSnapshotResponse(raft, request.from, request.lastIncludedIndex, 0, false);
    return;
  }
  followLeader(raft, request.from);
  const snapshot: SnapshotMeta = { index: request.lastIncludedIndex, term: request.lastIncludedTerm, bytes: request.totalBytes };
  if (snapshot.index <= raft.commitIndex) {
    // Everything it covers is committed here already (§7: "If existing log entry has same
    // index and term as snapshot's last included entry, retain log entries following it").
    sendSnapshotResponse(raft, request.from, snapshot.index, snapshot.bytes, true);
    return;
  }
  const incoming = raft.incoming;
  if (incoming !== null && incoming.awaitingCheck) {
    // The driver is checking a complete file; a new stream must wait until it is done.
    const same = isIncoming(incoming, request, snapshot);
    sendSnapshotResponse(raft, request.from, snapshot.index, same ? incoming.receivedBytes : 0, false);
    return;
  }
  const held = incoming !== null && isIncoming(incoming, request, snapshot) ? incoming.receivedBytes : 0;
  const continues = held > 0 && request.offset === held;
  // Out of order, or a duplicate of a chunk already stored (a late copy of chunk 0 must not
  // restart a stream that got further): answer with what is held.
  if (!continues && (request.offset !== 0 || held > 0)) {
    sendSnapshotResponse(raft, request.from, snapshot.index, held, false);
    return;
  }
  const stream: IncomingSnapshot = continues
    ? incoming!
    : { leaderId: request.from, leaderTerm: request.term, snapshot, receivedBytes: 0, awaitingCheck: false };
  raft.incoming = stream;
  raft.persistActions.push({ type: 'StoreSnapshotChunk', from: request.from, snapshot, offset: request.offset, length: request.length, done: request.done });
  stream.receivedBytes = request.offset + request.length;
  stream.awaitingCheck = request.done;
  // Answered once stored (ORDERING RULE: sends follow persists); the last chunk is answered
  // after the driver has checked the whole file (`SnapshotReceived`).
  if (!request.done) sendSnapshotResponse(raft, request.from, snapshot.index, stream.receivedBytes, false);
}

/** True when the chunk belongs to the stream being received (same leader, term and snapshot). */
function isIncoming(incoming: IncomingSnapshot, request: InstallSnapshot, snapshot: SnapshotMeta): boolean {
  return (
    incoming.leaderId === request.from &&
    incoming.leaderTerm === request.term &&
    incoming.snapshot.index === snapshot.index &&
    incoming.snapshot.term === snapshot.term &&
    incoming.snapshot.bytes === snapshot.bytes
  );
}

function sendSnapshotResponse(raft: RaftState, to: NodeId, lastIncludedIndex: LogIndex, bytesStored: number, installed: boolean): void {
  raft.send({ type: 'InstallSnapshotResponse', from: raft.id, to, term: raft.currentTerm, lastIncludedIndex, bytesStored, installed });
}

/**
 * The received snapshot is durable and checked. Raft §7: keep the log entries that follow it
 * if the log holds its last entry, else discard the whole log; the state machine is replaced
 * by the snapshot. A snapshot everything of which is committed here by now is dropped.
 */
export function onSnapshotReceived(raft: RaftState, snapshot: SnapshotMeta, valid: boolean): void {
  const incoming = raft.incoming;
  if (incoming === null || !incoming.awaitingCheck || incoming.snapshot.index !== snapshot.index || incoming.snapshot.term !== snapshot.term) return;
  raft.incoming = null;
  if (!valid) {
    sendSnapshotResponse(raft, incoming.leaderId, snapshot.index, 0, false);
    return;
  }
  if (snapshot.index > raft.commitIndex) installSnapshot(raft, snapshot);
  sendSnapshotResponse(raft, incoming.leaderId, snapshot.index, snapshot.bytes, true);
}

function installSnapshot(raft: RaftState, snapshot: SnapshotMeta): void {
  const base: LogBase = { index: snapshot.index, term: snapshot.term };
  const keep = raft.log.matches(snapshot.index, snapshot.term);
  if (keep) {
    raft.log.compactThrough(base);
  } else {
    raft.log.reset(base);
    // As with a truncation: an older write that held (i, t) may complete after this point and
    // must not count as durable for an (i, t) appended again after the install.
    discardedAfter(raft, snapshot.index);
  }
  raft.snapshot = snapshot;
  raft.commitIndex = snapshot.index;
  raft.appliedIndex = snapshot.index;
  raft.restored = snapshot;
  raft.persistActions.push({ type: 'CompactLog', base, snapshot, discardLog: !keep });
}
