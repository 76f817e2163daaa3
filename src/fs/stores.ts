/**
 * The two small stores the file-system state machine keeps its state in, as interfaces so the
 * same state-machine code runs over LevelDB and sparse files on a node (src/storage/) and over
 * memory in the unit tests and the simulator.
 *
 * KvStore: ordered byte keys to byte values (LevelDB's model). Point reads are synchronous (an
 * apply must not interleave with another); scans are async. Writes are atomic batches.
 *
 * ContentStore: the contents of large files, one sparse byte array per inode. Writes take effect
 * at once for later reads (they are not yet durable); `sync` makes every write so far durable.
 */

/** One put (value given) or delete (value undefined) of a batch. */
export interface KvWrite {
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

/** An ascending key range [gte or gt, lt), at most `limit` entries. */
export interface KvRange {
  readonly gte?: Uint8Array;
  readonly gt?: Uint8Array;
  readonly lt: Uint8Array;
  readonly limit: number;
}

/** A consistent, unchanging view of a KvStore as of the moment it was taken. */
export interface KvView {
  get(key: Uint8Array): Uint8Array | undefined;
  range(range: KvRange): Promise<Array<readonly [Uint8Array, Uint8Array]>>;
}

/** The ordered key-value store. */
export interface KvStore extends KvView {
  /** Applies the batch atomically; with `sync`, resolves once it is on stable storage. */
  write(batch: readonly KvWrite[], sync: boolean): Promise<void>;
  /** A view that later writes do not change; `release` it when done. */
  snapshot(): KvSnapshot;
  close(): Promise<void>;
}

/** A KvView that holds resources until released. */
export interface KvSnapshot extends KvView {
  release(): Promise<void>;
}

/** Which way `seek` looks: the next byte of data, or the next hole (the end counts as a hole). */
export type SeekWhence = 'data' | 'hole';

/**
 * Sparse contents by inode. A missing inode reads as empty. Offsets and sizes are byte counts
 * below 2^53. Reads of holes give zeros; nothing is stored for them.
 */
export interface ContentStore {
  /** Writes `bytes` at `offset`, growing the content if needed (a gap becomes a hole). */
  write(ino: number, offset: number, bytes: Uint8Array): void;
  /** Up to `length` bytes from `offset`; fewer at the end. */
  read(ino: number, offset: number, length: number): Uint8Array;
  /** Sets the length: a shorter one drops the tail, a longer one adds a hole. */
  truncate(ino: number, size: number): void;
  /** Frees [offset, offset + length) (it reads as zeros); the length is unchanged. */
  punchHole(ino: number, offset: number, length: number): void;
  /**
   * Reserves storage for [offset, offset + length) so later writes there do not run out of space
   * (fallocate mode 0); it reads as before and the length is unchanged. May do nothing.
   */
  allocate(ino: number, offset: number, length: number): void;
  /** Drops the content altogether. */
  remove(ino: number): void;
  /** 512-byte blocks the content takes (holes take none). */
  blocks(ino: number): number;
  /** The first offset >= `offset` that is data (or a hole); -1 when there is none before `size`. */
  seek(ino: number, offset: number, whence: SeekWhence, size: number): number;
  /** Makes every write, truncate, punch and removal so far durable. */
  sync(): Promise<void>;
}
