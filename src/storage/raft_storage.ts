/**
 * Durable storage for the Raft log and hard state, behind a small interface so that LevelDB
 * could be swapped for another store.
 */
import type { HardState, LogBase, LogEntry, RaftInitialState, SnapshotMeta } from '../raft/types.js';
import type { LogIndex } from '../util/types.js';

/** A truncation (optional) followed by appends, from one `PersistEntries`. */
export interface AppendOp {
  readonly truncateFrom?: LogIndex;
  readonly entries: readonly LogEntry[];
}

/** A log compaction from one `CompactLog`: the new snapshot record, and entries up to base deleted. */
export interface CompactOp {
  readonly compact: { readonly base: LogBase; readonly snapshot: SnapshotMeta; readonly discardLog: boolean };
}

/** One operation on the stored log. */
export type LogOp = AppendOp | CompactOp;

/** True for a compaction, false for an append. */
export function isCompactOp(op: LogOp): op is CompactOp {
  return 'compact' in op;
}

/** One atomic, synced write: the union of the Persist actions of one or more steps. */
export interface StorageWrite {
  /** The newest hard state, if it changed. */
  readonly hardState?: HardState;
  /** Truncations, appends and compactions in the order the core emitted them. */
  readonly entryOps: ReadonlyArray<LogOp>;
}

export interface RaftStorage {
  /** Loads everything a restarting node needs. Throws StorageCorruptError on damaged data. */
  load(): Promise<RaftInitialState>;
  /** Applies `write` as one atomic batch and resolves only after it is on stable storage. */
  write(write: StorageWrite): Promise<void>;
  close(): Promise<void>;
}

/** Stored data that cannot be decoded; the message names the file or key. */
export class StorageCorruptError extends Error {
  readonly code = 'STORAGE_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'StorageCorruptError';
  }
}
