/**
 * The replicated file-server state machine's vocabulary: the commands that go through the Raft
 * log, their results, and the answer to a (linearizable, leader-served) read.
 * See ../shared/protocol.md and README.md "Protocol" for the semantics.
 */

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
  | { readonly op: 'delete'; readonly name: string };

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

/** The outcome of applying one FsRequest; identical on every replica. */
export type FsResult =
  | { readonly type: 'ok'; readonly version: number }
  /** delete succeeded (it has no version). */
  | { readonly type: 'deleted' }
  | { readonly type: 'not_found' }
  | { readonly type: 'version_mismatch'; readonly currentVersion: number }
  /** A session's request older than its last applied one: its answer is no longer known. */
  | { readonly type: 'stale_request' };

/** The answer to `read`, evaluated at a time stamp on the leader. */
export type FsReadResult =
  | {
      readonly type: 'contents';
      readonly version: number;
      readonly content: Uint8Array;
      /** Remaining seconds until expiry, rounded up; 0 when the file never expires. */
      readonly exptimeRemainingSeconds: number;
    }
  | { readonly type: 'not_found' };
