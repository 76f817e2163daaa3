/**
 * The Linux FUSE kernel protocol's numbers and struct layouts, from include/uapi/linux/fuse.h
 * (protocol 7.38 as Linux 6.x and Debian's linux-libc-dev ship it). Every struct is little-endian
 * here (x86-64 and arm64), padded to 8 bytes; offsets are byte offsets inside the struct. Only
 * what the session speaks is listed; the header's changelog says in which minor each appeared.
 */

/** The protocol major version; the kernel and we must agree on it. */
export const FUSE_KERNEL_VERSION = 7;
/** The newest minor whose layouts this file describes; we answer min(kernel's minor, this). */
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** The oldest minor we serve: 7.31 (Linux 5.10) has every struct below at its current size. */
export const FUSE_KERNEL_MINOR_VERSION_MIN = 31;
/** The root directory's node id (= inode number). */
export const FUSE_ROOT_ID = 1;
/** The kernel's read(2) of /dev/fuse needs a buffer of at least this many bytes. */
export const FUSE_MIN_READ_BUFFER = 8192;
/** Set in an INTERRUPT request's own `unique`, so it never collides with an ordinary request's. */
export const FUSE_INT_REQ_BIT = 1n;

/** Request opcodes (enum fuse_opcode). */
export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
} as const;

/** Names of the opcodes, for logs. */
export const opcodeName: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Opcode).map(([name, value]) => [value, name]));

/** Unsolicited notification codes (enum fuse_notify_code), sent in the out header's `error`. */
export const NotifyCode = {
  POLL: 1,
  INVAL_INODE: 2,
  INVAL_ENTRY: 3,
  STORE: 4,
  RETRIEVE: 5,
  DELETE: 6,
} as const;

/** INIT flags (fuse_init_in/out.flags). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  FILE_OPS: 1 << 2,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8,
  SPLICE_READ: 1 << 9,
  FLOCK_LOCKS: 1 << 10,
  HAS_IOCTL_DIR: 1 << 11,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18,
  HANDLE_KILLPRIV: 1 << 19,
  POSIX_ACL: 1 << 20,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
  EXPLICIT_INVAL_DATA: 1 << 25,
  MAP_ALIGNMENT: 1 << 26,
  SUBMOUNTS: 1 << 27,
  HANDLE_KILLPRIV_V2: 1 << 28,
  SETXATTR_EXT: 1 << 29,
  INIT_EXT: 1 << 30,
  // Bit 31: FUSE_INIT_RESERVED. Flags 32..63 travel in flags2 and are not used here.
} as const;

/** fuse_setattr_in.valid bits. */
export const SetattrValid = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_open_out.open_flags bits. */
export const OpenOutFlag = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  CACHE_DIR: 1 << 3,
  STREAM: 1 << 4,
  NOFLUSH: 1 << 5,
} as const;

/** fuse_getattr_in.getattr_flags: `fh` is valid. */
export const FUSE_GETATTR_FH = 1 << 0;
/** fuse_fsync_in.fsync_flags: fdatasync. */
export const FUSE_FSYNC_FDATASYNC = 1 << 0;
/** fuse_notify_inval_entry_out.flags: only expire the entry, keep it (7.38, needs FUSE_HAS_EXPIRE_ONLY). */
export const FUSE_EXPIRE_ONLY = 1 << 0;

/** rename2 flags (renameat2). */
export const RENAME_NOREPLACE = 1 << 0;
export const RENAME_EXCHANGE = 1 << 1;
export const RENAME_WHITEOUT = 1 << 2;

/** setxattr flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** Largest extended attribute value Linux passes (XATTR_SIZE_MAX, 64 KiB); also the listxattr bound. */
export const XATTR_SIZE_MAX = 65536;
/** Longest extended attribute name Linux passes (XATTR_NAME_MAX). */
export const XATTR_NAME_MAX = 255;

/** lseek whence values the kernel forwards. */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** File type bits (S_IFMT and friends). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** The DT_* value readdir reports for file type bits (mode & S_IFMT): DT_x = S_IFx >> 12. */
export function direntType(typeBits: number): number {
  return (typeBits & S_IFMT) >>> 12;
}

/**
 * Struct sizes in bytes. `*_IN` are request arguments after the 40-byte header, `*_OUT` reply
 * arguments after the 16-byte header.
 */
export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  FORGET_IN: 8,
  FORGET_ONE: 16,
  BATCH_FORGET_IN: 8,
  GETATTR_IN: 16,
  SETATTR_IN: 88,
  MKNOD_IN: 16,
  MKDIR_IN: 8,
  RENAME_IN: 8,
  RENAME2_IN: 16,
  LINK_IN: 8,
  OPEN_IN: 8,
  CREATE_IN: 16,
  OPEN_OUT: 16,
  RELEASE_IN: 24,
  FLUSH_IN: 24,
  READ_IN: 40,
  WRITE_IN: 40,
  WRITE_OUT: 8,
  STATFS_OUT: 80,
  FSYNC_IN: 16,
  /** The compat (pre-FUSE_SETXATTR_EXT) size, which is what the kernel sends unless we ask for the extended one. */
  SETXATTR_IN: 8,
  GETXATTR_IN: 8,
  GETXATTR_OUT: 8,
  ACCESS_IN: 8,
  /** 7.36 grew fuse_init_in from 16 to 64 bytes; an older kernel sends 16. */
  INIT_IN_COMPAT: 16,
  INIT_OUT: 64,
  INTERRUPT_IN: 8,
  FALLOCATE_IN: 32,
  LSEEK_IN: 24,
  LSEEK_OUT: 8,
  DIRENT_HEADER: 24,
  NOTIFY_INVAL_INODE_OUT: 24,
  NOTIFY_INVAL_ENTRY_OUT: 16,
} as const;

/** struct fuse_in_header field offsets. */
export const InHeader = { len: 0, opcode: 4, unique: 8, nodeid: 16, uid: 24, gid: 28, pid: 32, totalExtlen: 36 } as const;
/** struct fuse_out_header field offsets. */
export const OutHeader = { len: 0, error: 4, unique: 8 } as const;
/** struct fuse_attr field offsets. */
export const AttrField = {
  ino: 0, size: 8, blocks: 16, atime: 24, mtime: 32, ctime: 40, atimensec: 48, mtimensec: 52, ctimensec: 56,
  mode: 60, nlink: 64, uid: 68, gid: 72, rdev: 76, blksize: 80, flags: 84,
} as const;
/** struct fuse_entry_out field offsets (the attr follows at 40). */
export const EntryOutField = { nodeid: 0, generation: 8, entryValid: 16, attrValid: 24, entryValidNsec: 32, attrValidNsec: 36, attr: 40 } as const;
/** struct fuse_attr_out field offsets (the attr follows at 16). */
export const AttrOutField = { attrValid: 0, attrValidNsec: 8, attr: 16 } as const;
/** struct fuse_setattr_in field offsets. */
export const SetattrInField = {
  valid: 0, fh: 8, size: 16, lockOwner: 24, atime: 32, mtime: 40, ctime: 48, atimensec: 56, mtimensec: 60, ctimensec: 64,
  mode: 68, uid: 76, gid: 80,
} as const;
/** struct fuse_read_in / fuse_write_in field offsets (same layout). */
export const ReadInField = { fh: 0, offset: 8, size: 16, readFlags: 20, lockOwner: 24, flags: 32 } as const;
/** struct fuse_init_in field offsets. */
export const InitInField = { major: 0, minor: 4, maxReadahead: 8, flags: 12, flags2: 16 } as const;
/** struct fuse_init_out field offsets. */
export const InitOutField = {
  major: 0, minor: 4, maxReadahead: 8, flags: 12, maxBackground: 16, congestionThreshold: 18, maxWrite: 20, timeGran: 24,
  maxPages: 28, mapAlignment: 30, flags2: 32,
} as const;
/** struct fuse_kstatfs field offsets. */
export const StatfsField = { blocks: 0, bfree: 8, bavail: 16, files: 24, ffree: 32, bsize: 40, namelen: 44, frsize: 48 } as const;
/** struct fuse_dirent field offsets (the name follows at 24, padded to 8). */
export const DirentField = { ino: 0, off: 8, namelen: 16, type: 20, name: 24 } as const;

/** Rounds a dirent's length up to 8 bytes (FUSE_DIRENT_ALIGN). */
export function direntAlign(bytes: number): number {
  return (bytes + 7) & ~7;
}
