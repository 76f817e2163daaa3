/**
 * The one table from fsraft failures to POSIX errno values, so every FUSE operation reports a
 * given failure the same way. FUSE answers with negative errno numbers.
 */
import { constants } from 'node:os';
import { FsraftError } from '../client/errors.js';

const errno = constants.errno;

/**
 * FsraftError codes -> errno. Filesystem codes are already errno names (FsraftFsError); the
 * client's own codes are mapped to what a local filesystem would say in the same situation.
 */
export const errnoByCode: Readonly<Record<string, number>> = {
  ENOENT: errno.ENOENT,
  EEXIST: errno.EEXIST,
  ENOTDIR: errno.ENOTDIR,
  EISDIR: errno.EISDIR,
  ENOTEMPTY: errno.ENOTEMPTY,
  EINVAL: errno.EINVAL,
  EFBIG: errno.EFBIG,
  ENOSPC: errno.ENOSPC,
  ENAMETOOLONG: errno.ENAMETOOLONG,
  EMFILE: errno.EMFILE,
  EBADF: errno.EBADF,
  // Kernel-protocol FUSE session (src/fuse/kernel/): the file system names POSIX failures directly.
  // No such extended attribute (getxattr/removexattr of an absent name).
  ENODATA: errno.ENODATA,
  // A getxattr/listxattr answer larger than the caller's buffer.
  ERANGE: errno.ERANGE,
  // Not permitted whatever the mode bits say (a hard link to a directory, chown by a non-owner).
  EPERM: errno.EPERM,
  // The mode bits refuse the caller.
  EACCES: errno.EACCES,
  // The file system does not implement the request; the kernel stops sending some of them.
  ENOSYS: errno.ENOSYS,
  // lseek SEEK_DATA/SEEK_HOLE at or past the end of the file.
  ENXIO: errno.ENXIO,
  // Too many symbolic links, or O_NOFOLLOW on one.
  ELOOP: errno.ELOOP,
  // A rename or link across file systems (or across what the file system keeps apart).
  EXDEV: errno.EXDEV,
  // A mode or flag the file system does not support (fallocate modes, RENAME_WHITEOUT).
  EOPNOTSUPP: errno.EOPNOTSUPP,
  // A conditional replace (user.fsraft.expect, rename ifversion=) whose target changed since it was read.
  ESTALE: errno.ESTALE,
  // A write to a read-only mount.
  EROFS: errno.EROFS,
  // Too many hard links to one inode.
  EMLINK: errno.EMLINK,
  // A name that is not UTF-8 (the cluster's names are text).
  EILSEQ: errno.EILSEQ,
  // An extended attribute value or list larger than Linux passes (64 KiB).
  E2BIG: errno.E2BIG,
  // Busy: a mount in use, a directory that is someone's mount point.
  EBUSY: errno.EBUSY,
  // An operation that waited longer than its bound.
  ETIMEDOUT: errno.ETIMEDOUT,
  // The request was interrupted by a signal before it was answered.
  EINTR: errno.EINTR,
  // Try again: nothing was done (also what an INTERRUPT for a request not yet seen gets).
  EAGAIN: errno.EAGAIN,
  // A protocol the kernel and the session cannot agree on (FUSE INIT versions).
  EPROTO: errno.EPROTO,
  // No leader answered within the client's bounded retries: the outcome is unknown, as after a
  // disk error, so the caller must not assume success.
  UNAVAILABLE: errno.EIO,
  // Too many requests queued in this process: try again later, nothing was done.
  OVERLOADED: errno.EAGAIN,
  // The mount is shutting down.
  CLOSED: errno.EIO,
  // The server refused the command as malformed: a name it does not accept.
  CMD_ERR: errno.EINVAL,
  // A reply that does not fit the command: a server/client mismatch, not the caller's fault.
  BAD_REPLY: errno.EIO,
  // Never sent (writes are cut to contentBytesMax); kept so the table is total.
  CONTENT_TOO_LARGE: errno.EFBIG,
};

/** A failure with an errno name, raised inside the FUSE layer itself (EBADF, EMFILE, ...). */
export class FuseOperationError extends FsraftError {}

/** The negative errno FUSE should answer for `error`; anything unknown is EIO. */
export function errnoOf(error: unknown): number {
  if (error instanceof FsraftError) return -(errnoByCode[error.code] ?? errno.EIO);
  return -errno.EIO;
}

/** True if `error` is an FsraftError (or subclass) with this errno-name code. */
export function hasCode(error: unknown, code: string): boolean {
  return error instanceof FsraftError && error.code === code;
}
