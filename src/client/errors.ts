/**
 * The errors the typed client throws. Each has a string `code` so callers (the FUSE layer maps
 * them to errno values) branch on a stable value rather than on message text.
 */

/** Base class of every error the client throws on purpose. */
export class FsraftError extends Error {
  /** A stable machine-readable reason, e.g. 'UNAVAILABLE'. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * No leader answered within `requestTimeoutMs` (no quorum, every node down, or every attempt
 * ended in ERR_INTERNAL). A mutation's outcome is then unknown: it may or may not have applied.
 */
export class FsraftUnavailableError extends FsraftError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

/**
 * The server refused the command as malformed (ERR_CMD_ERR: a bad name, an oversized content),
 * or sent a reply that does not fit the command. Retrying the same bytes cannot help.
 */
export class ProtocolError extends FsraftError {
  constructor(code: 'CMD_ERR' | 'BAD_REPLY' | 'CONTENT_TOO_LARGE', message: string) {
    super(code, message);
  }
}

/** More requests are waiting for a connection than `queuedRequestsMax` allows. */
export class FsraftOverloadedError extends FsraftError {
  constructor(message: string) {
    super('OVERLOADED', message);
  }
}

/** The client was closed before (or while) the request ran. */
export class FsraftClosedError extends FsraftError {
  constructor() {
    super('CLOSED', 'the fsraft client is closed');
  }
}

/** The errno name a filesystem failure maps to (the FUSE mount reports exactly this errno). */
export type FsErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'EFBIG'
  | 'ENOSPC'
  | 'EPERM'
  | 'ENAMETOOLONG'
  | 'ENODATA'
  | 'ERANGE'
  | 'EMLINK'
  | 'ENXIO'
  | 'EOPNOTSUPP'
  | 'ESTALE';

/**
 * The cluster refused a filesystem operation (ERR_FILE_NOT_FOUND, ERR_EXISTS, ERR_NOT_DIR,
 * ERR_IS_DIR, ERR_NOT_EMPTY, ERR_INVALID, ERR_TOO_LARGE, ERR_NO_SPACE). Nothing changed; `code` is the
 * errno name.
 */
export class FsraftFsError extends FsraftError {
  declare readonly code: FsErrorCode;

  constructor(code: FsErrorCode, message: string) {
    super(code, message);
  }
}
