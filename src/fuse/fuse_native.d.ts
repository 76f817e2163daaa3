/**
 * The part of the `fuse-native` package (2.x, CommonJS, no bundled types) that fsraft uses: the
 * Fuse class, its callback-style operations and its negative errno constants. Operations answer
 * through `cb(code, ...)`: 0 or a byte count for success, a negative errno (Fuse.ENOENT) for an
 * error.
 */
declare module 'fuse-native' {
  namespace Fuse {
    /** What getattr reports; fuse-native fills the rest of struct stat with zeros. */
    interface Stat {
      mode: number;
      size: number;
      nlink?: number;
      uid?: number;
      gid?: number;
      mtime: Date;
      atime: Date;
      ctime: Date;
      /** Preferred I/O size: cp and friends size their buffers from it. */
      blksize?: number;
      /** 512-byte blocks allocated (du). */
      blocks?: number;
    }
    /** What statfs reports (struct statvfs); missing fields are zero. */
    interface Statfs {
      bsize: number;
      frsize: number;
      blocks: number;
      bfree: number;
      bavail: number;
      files: number;
      ffree: number;
      favail: number;
      fsid: number;
      flag: number;
      namemax: number;
    }
    type Done = (code: number) => void;
    /** The operations a filesystem implements; any left out answer ENOSYS (or a default). */
    interface Operations {
      init?(cb: Done): void;
      getattr?(path: string, cb: (code: number, stat?: Stat) => void): void;
      fgetattr?(path: string, fd: number, cb: (code: number, stat?: Stat) => void): void;
      readdir?(path: string, cb: (code: number, names?: string[], stats?: Stat[]) => void): void;
      open?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
      /** `flags` (the open flags) are passed by the binding native/build_fuse_binding.mjs builds. */
      create?(path: string, mode: number, cb: (code: number, fd?: number) => void, flags?: number): void;
      read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: Done): void;
      write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: Done): void;
      release?(path: string, fd: number, cb: Done): void;
      flush?(path: string, fd: number, cb: Done): void;
      /** Note the order: fuse-native passes datasync before fd. */
      fsync?(path: string, datasync: number, fd: number, cb: Done): void;
      truncate?(path: string, size: number, cb: Done): void;
      ftruncate?(path: string, fd: number, size: number, cb: Done): void;
      unlink?(path: string, cb: Done): void;
      rename?(source: string, target: string, cb: Done): void;
      mkdir?(path: string, mode: number, cb: Done): void;
      rmdir?(path: string, cb: Done): void;
      chmod?(path: string, mode: number, cb: Done): void;
      /**
       * Times in milliseconds since the epoch. fuse-native 2.2.6's own C glue passes the access
       * time twice; native/build_fuse_binding.mjs builds it with the mtime passed instead.
       */
      utimens?(path: string, atime: number, mtime: number, cb: Done): void;
      chown?(path: string, uid: number, gid: number, cb: Done): void;
      statfs?(path: string, cb: (code: number, statfs?: Statfs) => void): void;
    }
    interface Options {
      debug?: boolean;
      force?: boolean;
      mkdir?: boolean;
      autoUnmount?: boolean;
      /** Milliseconds before an unanswered operation fails with ETIMEDOUT; false for never. */
      timeout?: number | false;
      /** Passed as -o fsname=...; fuse-native appends it verbatim, so it can carry more options. */
      fsname?: string;
      displayFolder?: string;
      allowOther?: boolean;
      [option: string]: unknown;
    }
  }

  class Fuse {
    constructor(mountpoint: string, operations: Fuse.Operations, options?: Fuse.Options);
    readonly mnt: string;
    /** Mounts; the callback runs once the kernel has sent FUSE_INIT, or with the error. */
    mount(cb: (error: Error | null) => void): void;
    /** Unmounts via Fuse.unmount, then stops the FUSE thread. */
    unmount(cb: (error: Error | null) => void): void;
    /** The external unmount step (upstream: `fusermount -uz <mnt>`); replaceable. */
    static unmount(mountpoint: string, cb: (error: Error | null) => void): void;
    static readonly EPERM: number;
    static readonly ENOENT: number;
    static readonly EIO: number;
    static readonly EBADF: number;
    static readonly EACCES: number;
    static readonly EEXIST: number;
    static readonly ENOTDIR: number;
    static readonly EISDIR: number;
    static readonly EINVAL: number;
    static readonly ENOSPC: number;
    static readonly ENOTEMPTY: number;
    static readonly ENOSYS: number;
  }

  export = Fuse;
}
