/**
 * The replicated file-server state machine's vocabulary: the commands that go through the Raft
 * log, their results, and the queries a leader answers as linearizable reads.
 * See README.md "The protocol" for the semantics.
 */

/** What a node of the tree is. */
export type FsNodeKind = 'file' | 'dir';

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
  | { readonly op: 'delete'; readonly name: string }
  /** Creates an empty file if absent; with `exclusive` an existing one is an error. */
  | { readonly op: 'create'; readonly name: string; readonly mode: number; readonly exclusive: boolean }
  | { readonly op: 'mkdir'; readonly name: string; readonly mode: number }
  | { readonly op: 'rmdir'; readonly name: string }
  /** Moves `name` to `to` atomically, replacing `to` as POSIX rename(2) does. */
  | { readonly op: 'rename'; readonly name: string; readonly to: string }
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
      readonly mode: number | undefined;
      readonly uid: number | undefined;
      readonly gid: number | undefined;
      readonly atimeMs: number | undefined;
      readonly mtimeMs: number | undefined;
    };

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
 * not_dir ENOTDIR, is_dir EISDIR, not_empty ENOTEMPTY, invalid EINVAL, too_large EFBIG.
 */
export type FsError =
  | { readonly type: 'not_found' }
  | { readonly type: 'exists' }
  | { readonly type: 'not_dir' }
  | { readonly type: 'is_dir' }
  | { readonly type: 'not_empty' }
  | { readonly type: 'invalid' }
  | { readonly type: 'too_large' };

/** The `type` of every FsError. */
export type FsErrorType = FsError['type'];

/** The outcome of applying one FsRequest; identical on every replica. */
export type FsResult =
  | { readonly type: 'ok'; readonly version: number }
  /** delete succeeded (it has no version). */
  | { readonly type: 'deleted' }
  /** rmdir or rename succeeded (they have no version). */
  | { readonly type: 'done' }
  | { readonly type: 'version_mismatch'; readonly currentVersion: number }
  /** A session's request older than its last applied one: its answer is no longer known. */
  | { readonly type: 'stale_request' }
  | FsError;

/** The attributes of one node as stat reports them. */
export interface FsNodeStat {
  readonly kind: FsNodeKind;
  readonly version: number;
  /** Bytes for a file, 0 for a directory. */
  readonly size: number;
  /** Permission bits only, 0..0o7777. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /** Remaining seconds until expiry, rounded up; 0 for never and for directories. */
  readonly exptimeRemainingSeconds: number;
}

/** One directory entry: a single component name and its node's attributes. */
export interface FsDirEntry extends FsNodeStat {
  readonly name: string;
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
  | { readonly op: 'list'; readonly name: string };

/** The answer to an FsQuery. */
export type FsQueryResult =
  | FsReadResult
  | { readonly type: 'stat'; readonly stat: FsNodeStat }
  /** Entries sorted by name in UTF-8 byte order. */
  | { readonly type: 'list'; readonly entries: readonly FsDirEntry[] };
