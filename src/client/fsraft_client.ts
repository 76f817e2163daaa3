/**
 * The typed async client of an fsraft cluster: the one way TypeScript code (the FUSE mount) talks
 * to the cluster. It finds the leader by itself, follows redirects, rediscovers the leader when it
 * dies, retries with exponential backoff and jitter, and tags every write, cas and delete with an
 * exactly-once request id so a retry never applies twice. A request that no leader answers within
 * `requestTimeoutMs` fails with FsraftUnavailableError instead of hanging.
 *
 * Every call ends within its timeout plus limits.deadlineSlackMs (see request_runner.ts).
 */
import { setattrOfMs, type ClientCommand, type ClientReply, type DirLine, type DiskStat, type FsErrorReplyType, type LegacyDirEntry, type LegacyStat, type ReplyForm } from '../codec/client_protocol.js';
import { formatCommand } from '../codec/command_format.js';
import type { FsCommand, FsNodeKind, FsNodeStat, FsSpecialKind, RenameMode, Timespec, XattrSetMode } from '../fs/types.js';
import { parseHostPort } from '../util/host_port.js';
import { Connection, ConnectionFailure, addressText, type NodeAddress } from './connection.js';
import { FsraftFsError, FsraftUnavailableError, ProtocolError, type FsErrorCode } from './errors.js';
import { RequestRunner, type CallOptions, type CommandBuilder, type FsraftClientOptions, type RequestOptions } from './request_runner.js';

export type { CallOptions, CommandBuilder, FsraftClientOptions, RequestOptions, ResolvedClientOptions } from './request_runner.js';

/** A file as read: its version, bytes and seconds until it expires (0 for never). */
export interface FsraftFile {
  readonly version: number;
  readonly content: Uint8Array;
  readonly exptimeSeconds: number;
}

export type { FsNodeKind, FsNodeStat, LegacyDirEntry, LegacyStat };

/** The attributes setattr changes; an absent field is left as it is. */
export interface FsSetattr {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly atimeMs?: number;
  readonly mtimeMs?: number;
}

/** The attributes `setattrs` changes (nanosecond times, 'now', size, expiry); absent: unchanged. */
export interface FsAttrChange {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: number;
  readonly atime?: Timespec | 'now';
  readonly mtime?: Timespec | 'now';
  /** Seconds until the file expires; 0 or negative: never. */
  readonly exptimeSeconds?: number;
}

/** Who owns a node a call creates. */
export interface FsOwnerIds {
  readonly uid: number;
  readonly gid: number;
}

/** One page of a directory (readdir). */
export interface FsDirPage {
  readonly entries: readonly DirLine[];
  /** No entries after the last one given. */
  readonly done: boolean;
}

/** The errno name of each filesystem error reply. */
const errnoByReply: Readonly<Record<FsErrorReplyType, FsErrorCode>> = {
  file_not_found: 'ENOENT',
  exists: 'EEXIST',
  not_dir: 'ENOTDIR',
  is_dir: 'EISDIR',
  not_empty: 'ENOTEMPTY',
  invalid: 'EINVAL',
  too_large: 'EFBIG',
  no_space: 'ENOSPC',
  not_permitted: 'EPERM',
  name_too_long: 'ENAMETOOLONG',
  no_data: 'ENODATA',
  range: 'ERANGE',
  too_many_links: 'EMLINK',
  past_end: 'ENXIO',
  not_supported: 'EOPNOTSUPP',
};

/** The outcome of a cas: the new version, or the version the file has (0 when it is absent). */
export type CasResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly currentVersion: number };

/** The typed client. Safe for many concurrent calls; call close() when done. */
export class FsraftClient {
  private readonly runner: RequestRunner;

  private constructor(addresses: NodeAddress[], options: FsraftClientOptions) {
    this.runner = new RequestRunner(addresses, options);
  }

  /** A client over the cluster's client addresses (`host:port`, any node; followers redirect). */
  static fromAddresses(addresses: string[], options: FsraftClientOptions = {}): FsraftClient {
    if (addresses.length === 0) throw new TypeError('fsraft client: no addresses');
    const parsed = addresses.map((text) => {
      const address = parseHostPort(text);
      if (address === null) throw new TypeError(`fsraft client: '${text}' is not host:port`);
      return address;
    });
    return new FsraftClient(parsed, options);
  }

  /** Writes a whole file; resolves with its new version. exptimeSeconds 0 means never expires. */
  async write(name: string, content: Uint8Array, exptimeSeconds = 0, options: CallOptions = {}): Promise<{ version: number }> {
    this.checkContent(content);
    const reply = await this.mutate({ op: 'write', name, content, exptimeSeconds }, options);
    if (reply.type === 'ok') return { version: reply.version };
    throw failure('write', name, reply);
  }

  /**
   * Reads a file; null when it does not exist (or expired). Throws FsraftFsError EISDIR for a
   * directory, ENOTDIR when a parent is a file, EFBIG when the file is larger than contentBytesMax
   * (read it with readAt).
   */
  async read(name: string, options: CallOptions = {}): Promise<FsraftFile | null> {
    const reply = await this.query({ op: 'read', name }, options);
    if (reply.type === 'file_not_found') return null;
    if (reply.type === 'contents') {
      return { version: reply.version, content: reply.content, exptimeSeconds: reply.exptimeRemainingSeconds };
    }
    throw failure('read', name, reply);
  }

  /** The attributes of a file or directory ('/' is the root). */
  async stat(name: string, options: CallOptions = {}): Promise<LegacyStat> {
    const reply = await this.query({ op: 'stat', name }, options);
    if (reply.type === 'stat') return reply.stat;
    throw failure('stat', name, reply);
  }

  /** A directory's entries, sorted by name in UTF-8 byte order. */
  async list(name: string, options: CallOptions = {}): Promise<LegacyDirEntry[]> {
    const reply = await this.query({ op: 'list', name }, options);
    if (reply.type === 'list') return [...reply.entries];
    throw failure('list', name, reply);
  }

  /** Up to `count` bytes from `offset` (fewer, possibly none, at the end); count <= contentBytesMax. */
  async readAt(name: string, offset: number, count: number, options: CallOptions = {}): Promise<{ version: number; content: Uint8Array }> {
    checkCount('readAt offset', offset);
    checkCount('readAt count', count);
    if (count > this.runner.options.contentBytesMax) {
      throw new ProtocolError('CONTENT_TOO_LARGE', `readAt count ${count} exceeds contentBytesMax ${this.runner.options.contentBytesMax}`);
    }
    const reply = await this.query({ op: 'readat', name, offset, count }, options);
    if (reply.type === 'contents') return { version: reply.version, content: reply.content };
    throw failure('readAt', name, reply);
  }

  /** Creates an empty file; an existing file is EEXIST when `exclusive`, else left as it is. */
  async create(name: string, mode: number, exclusive: boolean, options: CallOptions = {}): Promise<{ version: number }> {
    checkMode(mode);
    return this.versioned({ op: 'create', name, mode, exclusive }, options);
  }

  /** Creates a directory (its parent must exist). */
  async mkdir(name: string, mode: number, options: CallOptions = {}): Promise<{ version: number }> {
    checkMode(mode);
    return this.versioned({ op: 'mkdir', name, mode }, options);
  }

  /** Removes an empty directory. */
  async rmdir(name: string, options: CallOptions = {}): Promise<void> {
    await this.done({ op: 'rmdir', name }, options);
  }

  /** Moves `from` to `to` atomically, replacing `to` as POSIX rename(2) does. */
  async rename(from: string, to: string, options: CallOptions = {}): Promise<void> {
    await this.done({ op: 'rename', name: from, to }, options);
  }

  /** Sets a file's length, cutting it or filling it with zeros. */
  async truncate(name: string, size: number, options: CallOptions = {}): Promise<{ version: number }> {
    checkCount('truncate size', size);
    return this.versioned({ op: 'truncate', name, size }, options);
  }

  /** Writes bytes at `offset` (-1: at the end, atomically), filling any gap with zeros. */
  async writeAt(name: string, offset: number, content: Uint8Array, options: CallOptions = {}): Promise<{ version: number }> {
    if (offset !== -1) checkCount('writeAt offset', offset);
    this.checkContent(content);
    return this.versioned({ op: 'writeat', name, offset, content }, options);
  }

  /** Changes the given attributes of a file or directory ('/' is the root). */
  async setattr(name: string, attrs: FsSetattr, options: CallOptions = {}): Promise<{ version: number }> {
    if (attrs.mode !== undefined) checkMode(attrs.mode);
    for (const key of ['uid', 'gid', 'atimeMs', 'mtimeMs'] as const) {
      const value = attrs[key];
      if (value !== undefined) checkCount(`setattr ${key}`, value);
    }
    const command = setattrOfMs(name, attrs);
    return this.versioned(command, options);
  }

  /** A node's attributes: inode number, nlink, nanosecond times, blocks stored ('/' or '//<ino>' too). */
  async attr(name: string, options: CallOptions = {}): Promise<FsNodeStat> {
    const reply = await this.query({ op: 'attr', name }, options);
    if (reply.type === 'attr') return reply.attr;
    throw failure('attr', name, reply);
  }

  /** Up to `count` entries of a directory after `cookie` (0: from the start), in creation order. */
  async readdir(name: string, cookie: number, count: number, plus = false, options: CallOptions = {}): Promise<FsDirPage> {
    checkCount('readdir cookie', cookie);
    const reply = await this.query({ op: 'readdir', name, cookie, count, plus }, options);
    if (reply.type === 'dir') return { entries: reply.entries, done: reply.done };
    throw failure('readdir', name, reply);
  }

  /** A symbolic link's target. */
  async readlink(name: string, options: CallOptions = {}): Promise<Uint8Array> {
    const reply = await this.query({ op: 'readlink', name }, options);
    if (reply.type === 'bytes') return reply.value;
    throw failure('readlink', name, reply);
  }

  /** An extended attribute's value (ENODATA when absent). */
  async getxattr(name: string, attr: string, options: CallOptions = {}): Promise<Uint8Array> {
    const reply = await this.query({ op: 'getxattr', name, attr }, options);
    if (reply.type === 'bytes') return reply.value;
    throw failure('getxattr', name, reply);
  }

  /** The names of a node's extended attributes. */
  async listxattr(name: string, options: CallOptions = {}): Promise<string[]> {
    const reply = await this.query({ op: 'listxattr', name }, options);
    if (reply.type === 'names') return [...reply.names];
    throw failure('listxattr', name, reply);
  }

  /** SEEK_DATA / SEEK_HOLE: the next data (or hole) at or after `offset`; ENXIO past the end. */
  async seek(name: string, offset: number, whence: 'data' | 'hole', options: CallOptions = {}): Promise<number> {
    checkCount('seek offset', offset);
    const reply = await this.query({ op: 'seek', name, offset, whence }, options);
    if (reply.type === 'offset') return reply.offset;
    throw failure('seek', name, reply);
  }

  /** Creates a regular file (exclusive), directory, FIFO, socket or device node owned by `owner`; answers its attributes. */
  async mknod(name: string, kind: 'file' | 'dir' | FsSpecialKind, mode: number, rdev: number, owner: FsOwnerIds, options: CallOptions = {}): Promise<FsNodeStat> {
    checkMode(mode);
    checkCount('mknod rdev', rdev);
    const command: FsCommand =
      kind === 'file'
        ? { op: 'create', name, mode, exclusive: true, owner }
        : kind === 'dir'
          ? { op: 'mkdir', name, mode, owner }
          : { op: 'mknod', name, kind, mode, rdev, owner };
    return this.withAttr(command, options);
  }

  /** A symbolic link at `name` to `target`; answers its attributes. */
  async symlink(name: string, target: Uint8Array, owner: FsOwnerIds, options: CallOptions = {}): Promise<FsNodeStat> {
    return this.withAttr({ op: 'symlink', name, target, owner }, options);
  }

  /** Another name `to` for the node `name`; answers its attributes. */
  async link(name: string, to: string, options: CallOptions = {}): Promise<FsNodeStat> {
    return this.withAttr({ op: 'link', name, to }, options);
  }

  /** Changes attributes with nanosecond times, size and expiry; answers the new attributes. */
  async setattrs(name: string, change: FsAttrChange, options: CallOptions = {}): Promise<FsNodeStat> {
    if (change.mode !== undefined) checkMode(change.mode);
    if (change.size !== undefined) checkCount('setattrs size', change.size);
    return this.withAttr({ op: 'setattr', name, ...change }, options);
  }

  /**
   * rename with renameat2's mode, and optionally only if `to` has version `ifVersion`. A
   * condition that does not hold (ifVersion, or the source's user.fsraft.expect) is
   * FsraftFsError ESTALE: the target changed since its version was read.
   */
  async renameWith(from: string, to: string, mode: RenameMode, ifVersion?: number, options: CallOptions = {}): Promise<void> {
    const reply = await this.mutate({ op: 'rename', name: from, to, mode, ...(ifVersion === undefined ? {} : { ifVersion }) }, options);
    if (reply.type === 'deleted') return;
    if (reply.type === 'version_mismatch') throw new FsraftFsError('ESTALE', `rename ${from} ${to}: the target has version ${reply.currentVersion}`);
    throw failure('rename', from, reply);
  }

  async setxattr(name: string, attr: string, value: Uint8Array, mode: XattrSetMode, options: CallOptions = {}): Promise<{ version: number }> {
    this.checkContent(value);
    return this.versioned({ op: 'setxattr', name, attr, value, mode }, options);
  }

  async removexattr(name: string, attr: string, options: CallOptions = {}): Promise<{ version: number }> {
    return this.versioned({ op: 'removexattr', name, attr }, options);
  }

  /** fallocate: allocate (growing unless keepSize) or punch a hole in [offset, offset + length). */
  async fallocate(name: string, offset: number, length: number, punch: boolean, keepSize: boolean, options: CallOptions = {}): Promise<{ version: number }> {
    checkCount('fallocate offset', offset);
    checkCount('fallocate length', length);
    return this.versioned({ op: 'fallocate', name, offset, length, punch, keepSize }, options);
  }

  /**
   * `holder` (a random id of the caller's, one per mount) keeps the node open (`delta` 1), lets
   * it go (-1), or renews its lease (0, any name): a node held somewhere lives on after its last
   * name is removed, until released or until the holder is silent for the cluster's hold lease.
   */
  async hold(name: string, holder: number, delta: 1 | -1 | 0, options: CallOptions = {}): Promise<void> {
    checkCount('hold holder', holder);
    await this.done({ op: 'hold', name, holder, delta }, options);
  }

  /** The disk of the node at `address` (statfs answers about the node asked, leader or not). */
  async statfsOf(address: string, options: CallOptions = {}): Promise<DiskStat> {
    const reply = await this.askNode(address, { op: 'statfs', name: '/' }, options);
    if (reply.type === 'statfs') return reply.disk;
    throw unexpected('statfs', reply);
  }

  /** The applied index and state digest of the node at `address`. */
  async digestOf(address: string, options: CallOptions = {}): Promise<{ appliedIndex: number; digest: string }> {
    const reply = await this.askNode(address, { op: 'digest', name: '/' }, options);
    if (reply.type === 'digest') return { appliedIndex: reply.appliedIndex, digest: reply.digest };
    throw unexpected('digest', reply);
  }

  /** The client addresses this client was given. */
  get addresses(): string[] {
    return this.runner.finder.addresses.map(addressText);
  }

  /**
   * Replaces the file only if its version is `version` (0: creates it only if absent). A
   * mismatch is a value, not an error: `currentVersion` is the file's version, 0 if it is absent.
   */
  async cas(name: string, version: number, content: Uint8Array, exptimeSeconds = 0, options: CallOptions = {}): Promise<CasResult> {
    this.checkContent(content);
    const reply = await this.mutate({ op: 'cas', name, version, content, exptimeSeconds }, options);
    if (reply.type === 'ok') return { ok: true, version: reply.version };
    if (reply.type === 'version_mismatch') return { ok: false, currentVersion: reply.currentVersion };
    if (reply.type === 'file_not_found') return { ok: false, currentVersion: 0 };
    throw failure('cas', name, reply);
  }

  /** Deletes a file; false when there was none. A directory is FsraftFsError EISDIR. */
  async delete(name: string, options: CallOptions = {}): Promise<boolean> {
    const reply = await this.mutate({ op: 'delete', name }, options);
    if (reply.type === 'deleted') return true;
    if (reply.type === 'file_not_found') return false;
    throw failure('delete', name, reply);
  }

  /** The generic path every command takes; see RequestRunner.request. */
  request(build: CommandBuilder, isMutation: boolean, options: RequestOptions = {}): Promise<ClientReply> {
    return this.runner.request(build, isMutation, options);
  }

  /** Closes every connection; calls in flight or queued fail with FsraftClosedError. */
  close(): void {
    this.runner.close();
  }

  private mutate(command: ClientCommand, options: CallOptions, form: ReplyForm = 'ok'): Promise<ClientReply> {
    return this.request((id) => formatCommand(command, id, form), true, { ...options, what: `${command.op} ${command.name}` });
  }

  /** A mutation answered `ATTR ...`. */
  private async withAttr(command: FsCommand, options: CallOptions): Promise<FsNodeStat> {
    const reply = await this.mutate(command, options, 'attr');
    if (reply.type === 'attr') return reply.attr;
    throw failure(command.op, command.name, reply);
  }

  /** One command to one node (no leader discovery, no redirects), within the call's timeout. */
  private async askNode(address: string, command: ClientCommand, options: CallOptions): Promise<ClientReply> {
    const parsed = parseHostPort(address);
    if (parsed === null) throw new TypeError(`fsraft client: '${address}' is not host:port`);
    const connection = new Connection(parsed, this.runner.options.contentBytesMax);
    try {
      return await connection.request(formatCommand(command), options.timeoutMs ?? this.runner.options.attemptTimeoutMs);
    } catch (error) {
      if (error instanceof ConnectionFailure) throw new FsraftUnavailableError(`${command.op} ${address}: ${error.message}`);
      throw error;
    } finally {
      connection.close();
    }
  }

  private query(command: ClientCommand, options: CallOptions): Promise<ClientReply> {
    return this.request(() => formatCommand(command), false, { ...options, what: `${command.op} ${command.name}` });
  }

  /** A mutation answered `OK <version>`. */
  private async versioned(command: FsCommand, options: CallOptions): Promise<{ version: number }> {
    const reply = await this.mutate(command, options);
    if (reply.type === 'ok') return { version: reply.version };
    throw failure(command.op, command.name, reply);
  }

  /** A mutation answered `OK` without a version. */
  private async done(command: FsCommand, options: CallOptions): Promise<void> {
    const reply = await this.mutate(command, options);
    if (reply.type !== 'deleted') throw failure(command.op, command.name, reply);
  }

  private checkContent(content: Uint8Array): void {
    // The server would answer ERR_CMD_ERR and drop the connection; refuse before sending a MiB.
    if (content.length > this.runner.options.contentBytesMax) {
      throw new ProtocolError('CONTENT_TOO_LARGE', `content of ${content.length} bytes exceeds contentBytesMax ${this.runner.options.contentBytesMax}`);
    }
  }

}


function unexpected(op: string, reply: ClientReply): ProtocolError {
  return new ProtocolError('BAD_REPLY', `${op}: unexpected reply ${reply.type}`);
}

/** FsraftFsError for a filesystem error reply, ProtocolError for anything else unexpected. */
function failure(op: string, name: string, reply: ClientReply): FsraftFsError | ProtocolError {
  const errno = (errnoByReply as Partial<Record<string, FsErrorCode>>)[reply.type];
  return errno === undefined ? unexpected(op, reply) : new FsraftFsError(errno, `${op} ${name}: ${errno}`);
}

/** A bad argument would get ERR_CMD_ERR and a dropped connection; refuse it before sending. */
function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`fsraft client: ${what} must be a non-negative integer, not ${value}`);
}

function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new TypeError(`fsraft client: mode must be 0..0o7777, not ${mode}`);
}
