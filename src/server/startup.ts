/**
 * What a restarting node's core starts from: the Raft log and hard state as stored, and the
 * snapshot the state machine's durable state stands for (its last sync point, at applied index
 * X). The state is the snapshot; the log's own snapshot record only says how far the log was
 * compacted, and may lag the state by one sync point (a crash between the state's sync point
 * and the log's compaction), which is harmless.
 */
import type { LogBase, RaftInitialState, SnapshotMeta } from '../raft/types.js';
import { StorageCorruptError, type RaftStorage } from '../storage/raft_storage.js';
import { indexZero, termZero, type LogIndex, type Term } from '../util/types.js';

/** The applied index and term of the state a node restarts with. */
export interface AppliedPoint {
  readonly index: LogIndex;
  readonly term: Term;
}

/**
 * The core's initial state for a node whose state machine is at `applied`. When the state is
 * ahead of the whole log (a state received from a leader was switched to, and the node stopped
 * before the log recorded it), the log is discarded, as the install would have done. A state
 * behind the log's base, or disagreeing with the log on the term of its index, is damage and
 * throws StorageCorruptError naming what disagrees.
 */
export async function initialStateFor(stored: RaftInitialState, applied: AppliedPoint, storage: RaftStorage, where: string): Promise<RaftInitialState> {
  const base: LogBase = stored.base ?? { index: indexZero, term: termZero };
  const lastIndex = stored.entries[stored.entries.length - 1]?.index ?? base.index;
  if (applied.index === 0) {
    if (base.index > 0) throw new StorageCorruptError(`${where}: the state is empty but the log was compacted to ${base.index}; move logDir and stateDir aside to rebuild this node from the leader`);
    return withoutSnapshot(stored);
  }
  const snapshot: SnapshotMeta = { index: applied.index, term: applied.term, bytes: 0 };
  if (applied.index < base.index) {
    throw new StorageCorruptError(`${where}: the state is at index ${applied.index}, behind the log compacted to ${base.index}; move logDir and stateDir aside to rebuild this node from the leader`);
  }
  if (applied.index > lastIndex) {
    // The received state was switched to; the log's reset never reached the disk.
    const discarded: LogBase = { index: applied.index, term: applied.term };
    await storage.write({ entryOps: [{ compact: { base: discarded, snapshot, discardLog: true } }] });
    return { hardState: stored.hardState, snapshot, base: discarded, entries: [] };
  }
  const term = applied.index === base.index ? base.term : stored.entries[applied.index - base.index - 1]!.term;
  if (term !== applied.term) {
    throw new StorageCorruptError(`${where}: the state is at index ${applied.index} of term ${applied.term}, but the log has term ${term} there`);
  }
  return { hardState: stored.hardState, snapshot, base, entries: stored.entries };
}

function withoutSnapshot(stored: RaftInitialState): RaftInitialState {
  return { hardState: stored.hardState, entries: stored.entries, ...(stored.base === undefined ? {} : { base: stored.base }) };
}
