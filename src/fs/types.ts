/**
 * The replicated file-server state machine's vocabulary: the commands that go through the Raft
 * log, their results, and the queries a leader answers as linearizable reads.
 * See README.md "The protocol" for the semantics.
 *
 * A name is a path from the root (`a/b/c`, `/a/b`, `/` for the root) or anchored at an inode
 * (`//17` is inode 17 itself, `//17/c` the entry `c` of directory inode 17): the FUSE mount
 * addresses what the kernel knows by inode number, so a rename elsewhere can never redirect it.
 */

/** What a node of the tree is. */
export type FsNodeKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chr' | 'blk';

/** The kinds mknod creates. */
export type FsSpecialKind = 'fifo' | 'socket' | 'chr' | 'blk';

/** A point in time: whole seconds since the epoch and nanoseconds (0..999,999,999). */
export interface Timespec {
  readonly sec: number;
  readonly nsec: number;
}

/** Who creates a node: it is owned by this uid and (unless the directory is setgid) this gid. */
export interface FsOwner {
  readonly uid: number;
  readonly gid: number;
}

/** rename(2)'s flags: replace a compatible target (plain), never replace, or swap the two. */
export type RenameMode = 'replace' | 'noreplace' | 'exchange';

/** setxattr(2)'s flags: set either way, only create, only replace. */
export type XattrSetMode = 'any' | 'create' | 'replace';

/** A command that changes state. It reaches every replica through the log. */
export type FsCommand =
  | {
      readonly op: 'write';
      readonly name: string;
      readonly content: Uint8Array;
      /** Seconds until expiry, counted from the entry's stamp; 0 or negative means never. */
      readonly exptimeSeconds: number;
    }
  | {
      readonly op: 'cas';
      readonly name: string;
      /** The version the file must have now; 0 means "only if the file does not exist". */
      readonly version: number;
      readonly content: Uint8Array;
      readonly exptimeSeconds: number;
    }
  /** Removes a name that is not a directory (unlink(2)). */
  | { readonly op: 'delete'; readonly name: string }
  /** Creates an empty file if absent; with `exclusive` an existing one is an error. */
  | { readonly op: 'create'; readonly name: string; readonly mode: number; readonly exclusive: boolean; readonly owner?: FsOwner }
  | { readonly op: 'mkdir'; readonly name: string; readonly mode: number; readonly owner?: FsOwner }
  | { readonly op: 'rmdir'; readonly name: string }
  /**
   * Moves `name` to `to` atomically, as rename(2)/renameat2(2) with `mode`. With `ifVersion`, only
   * if `to` exists with exactly that version (a conditional replace: version_mismatch otherwise).
   */
  | { readonly op: 'rename'; readonly name: string; readonly to: string; readonly mode?: RenameMode; readonly ifVersion?: number }
  | { readonly op: 'truncate'; readonly name: string; readonly size: number }
  | {
      readonly op: 'writeat';
      readonly name: string;
      /** Byte offset, or -1 for "at the current end" (O_APPEND, atomic in the log). */
      readonly offset: number;
      readonly content: Uint8Array;
    }
  | {
      readonly op: 'setattr';
      readonly name: string;
      /** Each field undefined means "leave unchanged". */
      readonly mode?: number;
      readonly uid?: number;
      readonly gid?: number;
      readonly size?: number;
      /** 'now': the entry's stamp. */
      readonly atime?: Timespec | 'now';
      readonly mtime?: Timespec | 'now';
      /** Files: seconds from the stamp until the file expires; 0 or negative: never. */
      readonly exptimeSeconds?: number;
    }
  /** A second name for an existing non-directory (link(2)). */
  | { readonly op: 'link'; readonly name: string; readonly to: string }
  /** A symbolic link at `name` whose target is `target` (any bytes but NUL, at most 4095). */
  | { readonly op: 'symlink'; readonly name: string; readonly target: Uint8Array; readonly owner?: FsOwner }
  /** A FIFO, socket or device node (mknod(2)); `rdev` is the device number of chr/blk. */
  | { readonly op: 'mknod'; readonly name: string; readonly kind: FsSpecialKind; readonly mode: number; readonly rdev: number; readonly owner?: FsOwner }
  | { readonly op: 'setxattr'; readonly name: string; readonly attr: string; readonly value: Uint8Array; readonly mode: XattrSetMode }
  | { readonly op: 'removexattr'; readonly name: string; readonly attr: string }
  /**
   * fallocate(2) on a file: `punch` frees [offset, offset + length) (reads as zeros, size kept);
   * otherwise the range is allocated and, unless `keepSize`, the file grows to cover it.
   */
  | { readonly op: 'fallocate'; readonly name: string; readonly offset: number; readonly length: number; readonly punch: boolean; readonly keepSize: boolean }
  /**
   * `holder` (a mount, by a random id of its own) keeps the node open (`delta` 1) or closes it
   * (-1); delta 0 only renews the holder's lease (name '/'). A node whose last name is removed
   * lives on while held (README "Open files"); a holder silent for the hold lease loses its holds.
   */
  | { readonly op: 'hold'; readonly name: string; readonly holder: number; readonly delta: 1 | -1 | 0 }
  /**
   * Housekeeping the leader proposes: remove these files if they still carry this expiry and it
   * has passed, free these nodes that have no names and no holders left, and drop the holds of
   * these holders if their lease has lapsed.
   */
  | { readonly op: 'reap'; readonly name: string; readonly expired: readonly ReapTarget[]; readonly orphans: readonly number[]; readonly holders: readonly number[] };

/** A file the leader saw expire: its inode and the expiry it had. */
export interface ReapTarget {
  readonly ino: number;
  readonly expiresAtMs: number;
}

/** The operation names of FsCommand. */
export type FsCommandOp = FsCommand['op'];

/** One log entry's payload: a command, who sent it, and the leader's clock when it was proposed. */
export interface FsRequest {
  /**
   * Identifies a client session for exactly-once application; 0 means "no session" (the plain
   * course protocol, whose clients never retry a command on another connection).
   */
  readonly clientId: number;
  /** Per-client sequence number, starting at 1, increasing by 1 per new request. */
  readonly sequence: number;
  /**
   * The leader's wall-clock time in ms when it proposed the entry. Replicas decide expiry from
   * this stamp only, never from their own clocks, so every replica agrees (protocol.md).
   * The state machine's time never goes back: a stamp below an earlier one counts as that one.
   */
  readonly stampMs: number;
  readonly command: FsCommand;
}

/**
 * A filesystem failure, one per errno the mount reports: not_found ENOENT, exists EEXIST,
 * not_dir ENOTDIR, is_dir EISDIR, not_empty ENOTEMPTY, invalid EINVAL, too_large EFBIG,
 * not_permitted EPERM, name_too_long ENAMETOOLONG, no_data ENODATA (xattr), range ERANGE
 * (xattr too large), too_many_links EMLINK, no_space ENOSPC (a bound of the state itself),
 * past_end ENXIO (SEEK_DATA/SEEK_HOLE at or past the end of the file), not_supported EOPNOTSUPP
 * (an extended attribute namespace the file system does not keep).
 */
export type FsError =
  | { readonly type: 'not_found' }
  | { readonly type: 'exists' }
  | { readonly type: 'not_dir' }
  | { readonly type: 'is_dir' }
  | { readonly type: 'not_empty' }
  | { readonly type: 'invalid' }
  | { readonly type: 'too_large' }
  | { readonly type: 'not_permitted' }
  | { readonly type: 'name_too_long' }
  | { readonly type: 'no_data' }
  | { readonly type: 'range' }
  | { readonly type: 'too_many_links' }
  | { readonly type: 'no_space' }
  | { readonly type: 'past_end' }
  | { readonly type: 'not_supported' };

/** The `type` of every FsError. */
export type FsErrorType = FsError['type'];

/** The outcome of applying one FsRequest; identical on every replica. */
export type FsResult =
  /** `ino`: the node the command created or changed (0 when none, as for a course write's parents). */
  | { readonly type: 'ok'; readonly version: number; readonly ino: number }
  /** delete succeeded (it has no version). */
  | { readonly type: 'deleted' }
  /** rmdir, rename, setxattr and the other commands without a version succeeded. */
  | { readonly type: 'done' }
  | { readonly type: 'version_mismatch'; readonly currentVersion: number }
  /** A session's request older than its last applied one: its answer is no longer known. */
  | { readonly type: 'stale_request' }
  | FsError;

/** The attributes of one node as stat reports them. */
export interface FsNodeStat {
  readonly ino: number;
  readonly kind: FsNodeKind;
  readonly version: number;
  /** Bytes for a file, the target's length for a symlink, 0 for the others. */
  readonly size: number;
  /** 512-byte blocks stored on the answering node: holes take none. */
  readonly blocks: number;
  /** Permission bits only, 0..0o7777. */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  /** Device number of chr/blk nodes, else 0. */
  readonly rdev: number;
  readonly atime: Timespec;
  readonly mtime: Timespec;
  readonly ctime: Timespec;
  /** Remaining seconds until expiry, rounded up; 0 for never and for everything but files. */
  readonly exptimeRemainingSeconds: number;
}

/** One directory entry with its node's attributes (`list`, sorted by name). */
export interface FsDirEntry extends FsNodeStat {
  /** One component. */
  readonly name: string;
}

/** One directory entry of a `readdir` page: stable cookies, creation order. */
export interface FsReaddirEntry {
  readonly name: string;
  readonly ino: number;
  readonly kind: FsNodeKind;
  /** Ask from this cookie for the entries after this one. */
  readonly cookie: number;
  /** With `plus`: the node's attributes. */
  readonly stat?: FsNodeStat;
}

/** The answer to `read` or `readat`, evaluated at a time stamp on the leader. */
export type FsReadResult =
  | {
      readonly type: 'contents';
      readonly version: number;
      readonly content: Uint8Array;
      /** Remaining seconds until expiry, rounded up; 0 when the file never expires. */
      readonly exptimeRemainingSeconds: number;
    }
  | FsError;

/** A read-only question the leader answers after a ReadIndex round (linearizable). */
export type FsQuery =
  /** The whole file; a file larger than `bytesMax` is too_large rather than copied out. */
  | { readonly op: 'read'; readonly name: string; readonly bytesMax: number }
  | { readonly op: 'readat'; readonly name: string; readonly offset: number; readonly count: number }
  | { readonly op: 'stat'; readonly name: string }
  /** Every entry, sorted by name; a directory of more than `entriesMax` is too_large (use readdir). */
  | { readonly op: 'list'; readonly name: string; readonly entriesMax: number }
  /** Up to `count` entries after `cookie` (0: from the start), in cookie order. */
  | { readonly op: 'readdir'; readonly name: string; readonly cookie: number; readonly count: number; readonly plus: boolean }
  | { readonly op: 'readlink'; readonly name: string }
  | { readonly op: 'getxattr'; readonly name: string; readonly attr: string }
  | { readonly op: 'listxattr'; readonly name: string }
  /** lseek(2) SEEK_DATA / SEEK_HOLE from `offset`; past_end (ENXIO) at or past the end. */
  | { readonly op: 'seek'; readonly name: string; readonly offset: number; readonly whence: 'data' | 'hole' };

/** The answer to an FsQuery. */
export type FsQueryResult =
  | FsReadResult
  | { readonly type: 'stat'; readonly stat: FsNodeStat }
  /** Entries sorted by name in UTF-8 byte order. */
  | { readonly type: 'list'; readonly entries: readonly FsDirEntry[] }
  /** `done`: no entries after the last one given. */
  | { readonly type: 'readdir'; readonly entries: readonly FsReaddirEntry[]; readonly done: boolean }
  | { readonly type: 'bytes'; readonly value: Uint8Array }
  | { readonly type: 'names'; readonly names: readonly string[] }
  | { readonly type: 'offset'; readonly offset: number };

/** A command's outcome as the applying node reports it: the replicated result, and this node's view of the node it touched. */
export interface FsApplied {
  readonly result: FsResult;
  /** The attributes of result.ino right after the command (blocks are this node's own). */
  readonly stat?: FsNodeStat;
}
