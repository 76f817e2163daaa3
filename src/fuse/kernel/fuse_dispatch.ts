/**
 * The FUSE opcodes mapped onto a FuseFileSystem: each request's arguments decoded, the file
 * system's call made, and its answer encoded as the reply's payload. The session (fuse_session.ts)
 * reads requests, tracks them and writes replies; this is what a request means.
 */
import { limits } from '../../util/limits.js';
import { FuseOperationError } from '../errno.js';
import { OpenOutFlag, Opcode, S_IFDIR, SEEK_DATA, SEEK_HOLE, XATTR_SIZE_MAX } from './fuse_abi.js';
import {
  decodeAccess, decodeCreate, decodeFallocate, decodeFlush, decodeFsync, decodeGetattr, decodeGetxattr, decodeLink, decodeLseek, decodeMkdir,
  decodeMknod, decodeOpen, decodeRead, decodeRelease, decodeRemovexattr, decodeRename, decodeSetattr, decodeSetxattr, decodeSymlink, decodeWrite,
  encodeAttrOut, encodeEntryOut, encodeLseekOut, encodeOpenOut, encodeStatfsOut, encodeWriteOut, encodeXattrSizeOut, packDirents,
  type ArgReader, type RequestHeader,
} from './fuse_codec.js';
import type { FuseContext, FuseEntry, FuseFileSystem, FuseOpenResult } from './fuse_file_system.js';

/** What one request's handler answers: payload parts (possibly none), and the node an entry reply hands over. */
export interface Reply {
  readonly parts: readonly Uint8Array[];
  /** Set for replies that carry an entry: if the reply cannot be delivered, that lookup is forgotten. */
  readonly entryIno?: number;
}

export const emptyReply: Reply = { parts: [] };

/** What a request needs of its session besides the file system. */
export interface DispatchHost {
  /** Drops `nlookup` lookups of `ino` the kernel will never forget itself. */
  forget(ino: number, nlookup: number): void;
  /** DESTROY: the session ends; the file system's destroy runs once. */
  destroy(): void;
}

/** Serves one request (INIT, FORGET and INTERRUPT are the session's own); rejects with the errno to answer. */
export function dispatchRequest(fs: FuseFileSystem, host: DispatchHost, header: RequestHeader, ctx: FuseContext, args: ArgReader): Promise<Reply> {
  const ino = header.nodeid;
  switch (header.opcode) {
    case Opcode.LOOKUP: {
      const name = checkedName(args.name('lookup name'));
      return fs.lookup(ctx, ino, name).then(entryReply);
    }
    case Opcode.GETATTR: {
      const { fh } = decodeGetattr(args);
      return fs.getattr(ctx, ino, fh).then((reply) => ({ parts: [encodeAttrOut(reply.attr, reply.attrTimeoutMs)] }));
    }
    case Opcode.SETATTR: {
      const changes = decodeSetattr(args);
      return fs.setattr(ctx, ino, changes).then((reply) => ({ parts: [encodeAttrOut(reply.attr, reply.attrTimeoutMs)] }));
    }
    case Opcode.READLINK:
      return fs.readlink(ctx, ino).then((target) => ({ parts: [target] }));
    case Opcode.SYMLINK: {
      const { name, target } = decodeSymlink(args);
      return fs.symlink(ctx, ino, checkedName(name), target).then(entryReply);
    }
    case Opcode.MKNOD: {
      const { mode, rdev, name } = decodeMknod(args);
      return fs.mknod(ctx, ino, checkedName(name), mode, rdev).then(entryReply);
    }
    case Opcode.MKDIR: {
      const { mode, name } = decodeMkdir(args);
      // The kernel sends the permission bits only; the interface promises the type bits too.
      return fs.mkdir(ctx, ino, checkedName(name), mode | S_IFDIR).then(entryReply);
    }
    case Opcode.UNLINK:
      return fs.unlink(ctx, ino, checkedName(args.name('unlink name'))).then(() => emptyReply);
    case Opcode.RMDIR:
      return fs.rmdir(ctx, ino, checkedName(args.name('rmdir name'))).then(() => emptyReply);
    case Opcode.RENAME:
    case Opcode.RENAME2: {
      const { newParent, flags, name, newName } = decodeRename(args, header.opcode === Opcode.RENAME2);
      return fs.rename(ctx, ino, checkedName(name), newParent, checkedName(newName), flags).then(() => emptyReply);
    }
    case Opcode.LINK: {
      const { ino: target, newName } = decodeLink(args);
      return fs.link(ctx, target, ino, checkedName(newName)).then(entryReply);
    }
    case Opcode.OPEN: {
      const { flags } = decodeOpen(args);
      return fs.open(ctx, ino, flags).then((opened) => ({ parts: [openOut(opened)] }));
    }
    case Opcode.READ: {
      const read = decodeRead(args);
      return fs.read(ctx, ino, read.fh, read.offset, read.size).then((data) => {
        // More than asked would make the kernel refuse the whole reply; say so as EIO instead.
        if (data.length > read.size) throw new FuseOperationError('EIO', `read returned ${data.length} bytes for ${read.size}`);
        return { parts: [data] };
      });
    }
    case Opcode.WRITE: {
      const write = decodeWrite(args);
      return fs.write(ctx, ino, write.fh, write.offset, write.data, write.flags).then((written) => ({ parts: [encodeWriteOut(written)] }));
    }
    case Opcode.STATFS:
      return fs.statfs(ctx, ino).then((statfs) => ({ parts: [encodeStatfsOut(statfs)] }));
    case Opcode.RELEASE: {
      const { fh, flags } = decodeRelease(args);
      return fs.release(ctx, ino, fh, flags).then(() => emptyReply);
    }
    case Opcode.FSYNC: {
      const { fh, datasync } = decodeFsync(args);
      return fs.fsync(ctx, ino, fh, datasync).then(() => emptyReply);
    }
    case Opcode.SETXATTR: {
      const { flags, name, value } = decodeSetxattr(args);
      refusePosixAcl(name);
      return fs.setxattr(ctx, ino, name, value, flags).then(() => emptyReply);
    }
    case Opcode.GETXATTR: {
      const { size, name } = decodeGetxattr(args, true);
      refusePosixAcl(name);
      return fs.getxattr(ctx, ino, name).then((value) => sizedReply(value, size));
    }
    case Opcode.LISTXATTR: {
      const { size } = decodeGetxattr(args, false);
      return fs.listxattr(ctx, ino).then((names) => sizedReply(Buffer.concat(names.map((name) => Buffer.from(`${name}\0`, 'utf8'))), size));
    }
    case Opcode.REMOVEXATTR: {
      const { name } = decodeRemovexattr(args);
      refusePosixAcl(name);
      return fs.removexattr(ctx, ino, name).then(() => emptyReply);
    }
    case Opcode.FLUSH: {
      const { fh } = decodeFlush(args);
      return fs.flush(ctx, ino, fh).then(() => emptyReply);
    }
    case Opcode.OPENDIR: {
      const { flags } = decodeOpen(args);
      return fs.opendir(ctx, ino, flags).then((opened) => ({ parts: [openOut(opened)] }));
    }
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      return readdir(fs, host, ctx, ino, decodeRead(args), header.opcode === Opcode.READDIRPLUS);
    case Opcode.RELEASEDIR: {
      const { fh } = decodeRelease(args);
      return fs.releasedir(ctx, ino, fh).then(() => emptyReply);
    }
    case Opcode.FSYNCDIR: {
      const { fh, datasync } = decodeFsync(args);
      if (fs.fsyncdir === undefined) return unsupported();
      return fs.fsyncdir(ctx, ino, fh, datasync).then(() => emptyReply);
    }
    case Opcode.ACCESS: {
      const { mask } = decodeAccess(args);
      // ENOSYS makes the kernel stop asking and allow every access (fuse_access).
      if (fs.access === undefined) return unsupported();
      return fs.access(ctx, ino, mask).then(() => emptyReply);
    }
    case Opcode.CREATE: {
      const { flags, mode, name } = decodeCreate(args);
      return fs.create(ctx, ino, checkedName(name), mode, flags).then(({ entry, open }) => ({ parts: [encodeEntryOut(entry), openOut(open)], entryIno: entry.ino }));
    }
    case Opcode.FALLOCATE: {
      const { fh, offset, length, mode } = decodeFallocate(args);
      // ENOSYS: the kernel remembers and answers EOPNOTSUPP itself from then on.
      if (fs.fallocate === undefined) return unsupported();
      return fs.fallocate(ctx, ino, fh, offset, length, mode).then(() => emptyReply);
    }
    case Opcode.LSEEK: {
      const { fh, offset, whence } = decodeLseek(args);
      if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FuseOperationError('EINVAL', `lseek whence ${whence}`);
      // ENOSYS: the kernel falls back to treating the whole file as data.
      if (fs.lseek === undefined) return unsupported();
      return fs.lseek(ctx, ino, fh, offset, whence).then((position) => ({ parts: [encodeLseekOut(position)] }));
    }
    case Opcode.DESTROY:
      host.destroy();
      return Promise.resolve(emptyReply);
    default:
      // GETLK/SETLK/SETLKW (never sent without FUSE_POSIX_LOCKS), IOCTL, POLL, BMAP,
      // COPY_FILE_RANGE, SYNCFS, TMPFILE, SETUPMAPPING and anything newer.
      return unsupported();
  }
}

async function readdir(fs: FuseFileSystem, host: DispatchHost, ctx: FuseContext, ino: number, read: { fh: number; offset: number; size: number }, plus: boolean): Promise<Reply> {
const entries = await fs.readdir(ctx, ino, read.fh, read.offset, read.size, plus);
  const { bytes, packed } = packDirents(entries, read.size, plus);
  if (plus) {
    // The file system counted a lookup for every entry it returned with attributes; the ones
    // that did not fit never reach the kernel, which will never forget them.
    for (const entry of entries.slice(packed)) if (entry.entry !== undefined && entry.entry.ino !== 0) host.forget(entry.entry.ino, 1);
  }
  return { parts: [bytes] };
}

function entryReply(entry: FuseEntry): Reply {
  return { parts: [encodeEntryOut(entry)], entryIno: entry.ino };
}

function openOut(opened: FuseOpenResult): Buffer {
  return encodeOpenOut(opened.fh, (opened.directIo === true ? OpenOutFlag.DIRECT_IO : 0) | (opened.keepCache === true ? OpenOutFlag.KEEP_CACHE : 0));
}

/** getxattr/listxattr: size 0 asks for the size; a value larger than `size` is ERANGE. */
function sizedReply(value: Uint8Array, size: number): Reply {
  if (value.length > XATTR_SIZE_MAX) throw new FuseOperationError('E2BIG', `xattr answer of ${value.length} bytes`);
  if (size === 0) return { parts: [encodeXattrSizeOut(value.length)] };
  if (value.length > size) throw new FuseOperationError('ERANGE', `xattr answer of ${value.length} bytes for a ${size}-byte buffer`);
  return { parts: [value] };
}

/**
 * POSIX ACLs are not supported: FUSE_POSIX_ACL is not negotiated, so the kernel would neither
 * enforce nor interpret them, yet it still forwards their xattrs to a mount in the initial user
 * namespace. Storing them as opaque values would make `cp -a`/`setfacl` believe an ACL (and the
 * mode it carries) was set when nothing changed; EOPNOTSUPP makes them fall back to chmod.
 */
function refusePosixAcl(name: string): void {
  if (name === 'system.posix_acl_access' || name === 'system.posix_acl_default') throw new FuseOperationError('EOPNOTSUPP', `${name}: POSIX ACLs are not supported`);
}

/**
 * ENOSYS: an operation this file system does not offer on purpose (locks, ioctl, poll, an optional
 * call the FuseFileSystem leaves out). The kernel then stops asking, or falls back on its own.
 */
function unsupported(): Promise<Reply> {
  return Promise.reject(new FuseOperationError('ENOSYS', 'not offered by this file system'));
}

/**
 * Names of entries: the kernel passes up to 1024 bytes (FUSE_NAME_MAX), but Linux file systems
 * allow 255 (NAME_MAX), which is what statfs reports; a longer one is ENAMETOOLONG here, for every
 * file system this session serves.
 */
function checkedName(name: Uint8Array): Uint8Array {
  if (name.length > limits.componentBytesMax) throw new FuseOperationError('ENAMETOOLONG', `a name of ${name.length} bytes`);
  if (name.length === 0) throw new FuseOperationError('EINVAL', 'an empty name');
  return name;
}
