/**
 * The contract between the FUSE kernel session (src/fuse/kernel/fuse_session.ts, which speaks the
 * kernel's protocol on /dev/fuse) and a file system that serves it: one async method per kernel
 * request, addressed by inode number as the kernel addresses them (FUSE's nodeid IS the inode
 * number; the root is inode 1, FUSE_ROOT_ID). The session packs replies, enforces the request's
 * byte budgets (readdir, getxattr size probes) and maps thrown errors to errno through
 * src/fuse/errno.ts (`errnoOf`): a method refuses by throwing an FsraftError whose code is an
 * errno name (FuseOperationError('ENOENT', ...)); anything else becomes EIO.
 *
 * Names are raw bytes, as Linux names are (not necessarily UTF-8). Modes carry the file type bits
 * (S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK) as well as the permission bits.
 * Modes given to mknod/mkdir/create already have the caller's umask applied by the kernel.
 */

/** Who sent a request: from the request header. */
export interface FuseContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** Some 'unique' id of the request, for logs. */
  readonly unique: bigint;
}

/** A time as the kernel carries it: whole seconds since the epoch and nanoseconds (0..999,999,999). */
export interface FuseTimespec {
  readonly sec: number;
  readonly nsec: number;
}

/** struct fuse_attr. */
export interface FuseAttr {
  readonly ino: number;
  readonly size: number;
  /** 512-byte blocks actually stored (holes are not). */
  readonly blocks: number;
  readonly atime: FuseTimespec;
  readonly mtime: FuseTimespec;
  readonly ctime: FuseTimespec;
  /** File type bits and permission bits. */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  /** Device number of a character or block device node (Linux encoding), else 0. */
  readonly rdev: number;
  /** Preferred I/O size reported as st_blksize. */
  readonly blksize: number;
}

/** The answer to lookup, mknod, mkdir, symlink, link, create: an inode and how long the kernel may cache it. */
export interface FuseEntry {
  readonly ino: number;
  /** Inode numbers are never reused, so 0 is fine. */
  readonly generation: number;
  readonly attr: FuseAttr;
  readonly entryTimeoutMs: number;
  readonly attrTimeoutMs: number;
}

/** getattr/setattr's answer. */
export interface FuseAttrReply {
  readonly attr: FuseAttr;
  readonly attrTimeoutMs: number;
}

/** What a setattr changes; an absent field is left as it is. */
export interface FuseSetattr {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: number;
  /** 'now': the server's current time (UTIME_NOW). */
  readonly atime?: FuseTimespec | 'now';
  readonly mtime?: FuseTimespec | 'now';
  readonly ctime?: FuseTimespec;
  /** The open file this came through (ftruncate, futimens), when the kernel says so. */
  readonly fh?: number;
  /** FATTR_KILL_SUIDGID was set: clear setuid/setgid as a write by the caller would. */
  readonly killSuidgid?: boolean;
}

/** open/opendir/create's answer. */
export interface FuseOpenResult {
  readonly fh: number;
  /** FOPEN_DIRECT_IO: bypass the page cache for this file. */
  readonly directIo?: boolean;
  /** FOPEN_KEEP_CACHE: keep the page cache from earlier opens (the file has not changed). */
  readonly keepCache?: boolean;
}

/** One directory entry of a readdir page. */
export interface FuseDirEntry {
  readonly ino: number;
  readonly name: Uint8Array;
  /** File type bits (mode & S_IFMT) of the entry; the session turns them into DT_* values. */
  readonly typeBits: number;
  /** The offset to ask from to get the entries after this one (the kernel's `off`); never 0. */
  readonly nextOffset: number;
  /** For readdirplus: the entry's attributes (absent for '.' and '..'). */
  readonly entry?: FuseEntry;
}

/** struct fuse_kstatfs. */
export interface FuseStatfs {
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
  readonly files: number;
  readonly ffree: number;
  readonly bsize: number;
  readonly namelen: number;
  readonly frsize: number;
}

/**
 * A file system the FUSE session can serve. Every method may throw (reject) with an errno-coded
 * error; optional methods that are absent answer ENOSYS, as the kernel expects.
 */
export interface FuseFileSystem {
  lookup(ctx: FuseContext, parent: number, name: Uint8Array): Promise<FuseEntry>;
  /** The kernel dropped `nlookup` references to `ino`. No reply is sent. */
  forget?(ino: number, nlookup: number): void;
  getattr(ctx: FuseContext, ino: number, fh?: number): Promise<FuseAttrReply>;
  setattr(ctx: FuseContext, ino: number, changes: FuseSetattr): Promise<FuseAttrReply>;
  readlink(ctx: FuseContext, ino: number): Promise<Uint8Array>;
  mknod(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, rdev: number): Promise<FuseEntry>;
  /** `mode` includes S_IFDIR (the kernel sends only the permission bits; the session adds it). */
  mkdir(ctx: FuseContext, parent: number, name: Uint8Array, mode: number): Promise<FuseEntry>;
  unlink(ctx: FuseContext, parent: number, name: Uint8Array): Promise<void>;
  rmdir(ctx: FuseContext, parent: number, name: Uint8Array): Promise<void>;
  symlink(ctx: FuseContext, parent: number, name: Uint8Array, target: Uint8Array): Promise<FuseEntry>;
  /** flags: 0, RENAME_NOREPLACE (1), RENAME_EXCHANGE (2); RENAME_WHITEOUT may be refused with EINVAL. */
  rename(ctx: FuseContext, parent: number, name: Uint8Array, newParent: number, newName: Uint8Array, flags: number): Promise<void>;
  link(ctx: FuseContext, ino: number, newParent: number, newName: Uint8Array): Promise<FuseEntry>;
  /** flags: the open(2) flags (O_ACCMODE, O_TRUNC, O_APPEND, ...). */
  open(ctx: FuseContext, ino: number, flags: number): Promise<FuseOpenResult>;
  /** Returns at most `size` bytes; fewer only at the end of the file. */
  read(ctx: FuseContext, ino: number, fh: number, offset: number, size: number): Promise<Uint8Array>;
  /**
   * Returns the bytes written (all of them, or the call throws). `data` is a view of the request's
   * own buffer, which the session never reuses: a file system may keep it instead of copying.
   */
  write(ctx: FuseContext, ino: number, fh: number, offset: number, data: Uint8Array, flags: number): Promise<number>;
  flush(ctx: FuseContext, ino: number, fh: number): Promise<void>;
  release(ctx: FuseContext, ino: number, fh: number, flags: number): Promise<void>;
  fsync(ctx: FuseContext, ino: number, fh: number, datasync: boolean): Promise<void>;
  opendir(ctx: FuseContext, ino: number, flags: number): Promise<FuseOpenResult>;
  /**
   * Entries from `offset` (0: the start, including '.' and '..'; else a `nextOffset` given
   * earlier). Return about as many as `sizeBytes` of packed entries can hold; the session packs
   * what fits and the kernel asks again from the last packed entry's nextOffset. An empty array
   * means the end. `plus`: readdirplus, each entry but '.' and '..' with its attributes; each
   * entry returned with `entry` counts as one lookup, as from lookup(), and the session forgets
   * (forget(ino, 1)) those that did not fit. Likewise any entry reply the kernel did not take
   * (the request was interrupted meanwhile) is forgotten by the session.
   */
  readdir(ctx: FuseContext, ino: number, fh: number, offset: number, sizeBytes: number, plus: boolean): Promise<FuseDirEntry[]>;
  releasedir(ctx: FuseContext, ino: number, fh: number): Promise<void>;
  fsyncdir?(ctx: FuseContext, ino: number, fh: number, datasync: boolean): Promise<void>;
  statfs(ctx: FuseContext, ino: number): Promise<FuseStatfs>;
  /** flags: XATTR_CREATE (1), XATTR_REPLACE (2). */
  setxattr(ctx: FuseContext, ino: number, name: string, value: Uint8Array, flags: number): Promise<void>;
  /** The whole value; the session answers size probes and ERANGE itself. ENODATA when absent. */
  getxattr(ctx: FuseContext, ino: number, name: string): Promise<Uint8Array>;
  listxattr(ctx: FuseContext, ino: number): Promise<string[]>;
  removexattr(ctx: FuseContext, ino: number, name: string): Promise<void>;
  /** access(2) with mask R_OK|W_OK|X_OK|F_OK; only called without default_permissions. */
  access?(ctx: FuseContext, ino: number, mask: number): Promise<void>;
  create(ctx: FuseContext, parent: number, name: Uint8Array, mode: number, flags: number): Promise<{ entry: FuseEntry; open: FuseOpenResult }>;
  /** mode: FALLOC_FL_* bits (0 allocate, KEEP_SIZE 1, PUNCH_HOLE 2, ZERO_RANGE 0x10, ...). */
  fallocate?(ctx: FuseContext, ino: number, fh: number, offset: number, length: number, mode: number): Promise<void>;
  /** SEEK_DATA (3) or SEEK_HOLE (4); the kernel handles SEEK_SET/CUR/END itself. ENXIO past the end. */
  lseek?(ctx: FuseContext, ino: number, fh: number, offset: number, whence: number): Promise<number>;
  /** The mount is going away (FUSE_DESTROY, or the session ended). */
  destroy?(): void;
}
