/**
 * The mount's ClusterBackend over one in-memory state machine (the code every replica runs),
 * for unit tests of src/fuse/cluster_fs.ts without a cluster or a kernel: each call becomes the
 * command or query the real client would send, and fails with the FsraftFsError the client would
 * throw. `stall(op)` stalls every call of one method until released, to test deadlines.
 */
import { FsraftFsError, type FsErrorCode } from '../../src/client/errors.js';
import type { CallOptions, FsAttrChange, FsDirPage, FsOwnerIds } from '../../src/client/fsraft_client.js';
import type { DiskStat } from '../../src/codec/client_protocol.js';
import type { ClusterBackend } from '../../src/fuse/cluster_fs.js';
import type { FsCommand, FsError, FsNodeStat, FsQuery, FsQueryResult, FsResult, FsSpecialKind, RenameMode, XattrSetMode } from '../../src/fs/types.js';
import { TestState } from './fs_state.js';

const errnoByType: Readonly<Record<FsError['type'], FsErrorCode>> = {
  not_found: 'ENOENT',
  exists: 'EEXIST',
  not_dir: 'ENOTDIR',
  is_dir: 'EISDIR',
  not_empty: 'ENOTEMPTY',
  invalid: 'EINVAL',
  too_large: 'EFBIG',
  not_permitted: 'EPERM',
  name_too_long: 'ENAMETOOLONG',
  no_data: 'ENODATA',
  range: 'ERANGE',
  too_many_links: 'EMLINK',
  no_space: 'ENOSPC',
  past_end: 'ENXIO',
  not_supported: 'EOPNOTSUPP',
};

/** One call the backend received. */
export interface BackendCall {
  readonly op: string;
  readonly name: string;
}

/** A ClusterBackend over a memory state machine. */
export class MemoryClusterBackend implements ClusterBackend {
  readonly addresses = ['memory:1'];
  private readonly calls: BackendCall[] = [];
  private readonly gates = new Map<string, Promise<void>>();
  private stampMs = 1_700_000_000_000;

  private constructor(readonly state: TestState) {}

  static async create(): Promise<MemoryClusterBackend> {
    return new MemoryClusterBackend(await TestState.create());
  }

  /** Stalls every later call of `op` until the returned function is called. */
  stall(op: string): () => void {
    let release: () => void = () => undefined;
    this.gates.set(op, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.gates.delete(op);
      release();
    };
  }

  /** Calls of `op` so far. */
  callsOf(op: string): BackendCall[] {
    return this.calls.filter((call) => call.op === op);
  }

  async attr(name: string, _options?: CallOptions): Promise<FsNodeStat> {
    await this.enter('attr', name);
    return this.statOf(name);
  }

  async readdir(name: string, cookie: number, count: number, plus: boolean): Promise<FsDirPage> {
    await this.enter('readdir', name);
    const result = await this.query({ op: 'readdir', name, cookie, count, plus });
    if (result.type !== 'readdir') throw failure(result);
    return { done: result.done, entries: result.entries.map((entry) => ({ cookie: entry.cookie, name: entry.name, ino: entry.ino, kind: entry.kind, ...(entry.stat === undefined ? {} : { attr: entry.stat }) })) };
  }

  async readlink(name: string): Promise<Uint8Array> {
    await this.enter('readlink', name);
    return this.bytes(await this.query({ op: 'readlink', name }));
  }

  async getxattr(name: string, attr: string): Promise<Uint8Array> {
    await this.enter('getxattr', name);
    return this.bytes(await this.query({ op: 'getxattr', name, attr }));
  }

  async listxattr(name: string): Promise<string[]> {
    await this.enter('listxattr', name);
    const result = await this.query({ op: 'listxattr', name });
    if (result.type !== 'names') throw failure(result);
    return [...result.names];
  }

  async seek(name: string, offset: number, whence: 'data' | 'hole'): Promise<number> {
    await this.enter('seek', name);
    const result = await this.query({ op: 'seek', name, offset, whence });
    if (result.type !== 'offset') throw failure(result);
    return result.offset;
  }

  async readAt(name: string, offset: number, count: number): Promise<{ version: number; content: Uint8Array }> {
    await this.enter('readAt', name);
    const result = await this.query({ op: 'readat', name, offset, count });
    if (result.type !== 'contents') throw failure(result);
    return { version: result.version, content: result.content };
  }

  async mknod(name: string, kind: 'file' | 'dir' | FsSpecialKind, mode: number, rdev: number, owner: FsOwnerIds): Promise<FsNodeStat> {
    await this.enter('mknod', name);
    const command: FsCommand =
      kind === 'file' ? { op: 'create', name, mode, exclusive: true, owner } : kind === 'dir' ? { op: 'mkdir', name, mode, owner } : { op: 'mknod', name, kind, mode, rdev, owner };
    return this.withStat(command);
  }

  async symlink(name: string, target: Uint8Array, owner: FsOwnerIds): Promise<FsNodeStat> {
    await this.enter('symlink', name);
    return this.withStat({ op: 'symlink', name, target, owner });
  }

  async link(name: string, to: string): Promise<FsNodeStat> {
    await this.enter('link', name);
    return this.withStat({ op: 'link', name, to });
  }

  async setattrs(name: string, change: FsAttrChange): Promise<FsNodeStat> {
    await this.enter('setattrs', name);
    return this.withStat({ op: 'setattr', name, ...change });
  }

  async renameWith(from: string, to: string, mode: RenameMode, ifVersion?: number): Promise<void> {
    await this.enter('renameWith', from);
    const result = await this.run({ op: 'rename', name: from, to, mode, ...(ifVersion === undefined ? {} : { ifVersion }) });
    if (result.type === 'version_mismatch') throw new FsraftFsError('ESTALE', `target at version ${result.currentVersion}`);
    if (result.type !== 'done') throw failure(result);
  }

  async rmdir(name: string): Promise<void> {
    await this.enter('rmdir', name);
    const result = await this.run({ op: 'rmdir', name });
    if (result.type !== 'done') throw failure(result);
  }

  async delete(name: string): Promise<boolean> {
    await this.enter('delete', name);
    const result = await this.run({ op: 'delete', name });
    if (result.type === 'deleted') return true;
    if (result.type === 'not_found') return false;
    throw failure(result);
  }

  async writeAt(name: string, offset: number, content: Uint8Array): Promise<{ version: number }> {
    await this.enter('writeAt', name);
    return this.versioned(await this.run({ op: 'writeat', name, offset, content: content.slice() }));
  }

  async setxattr(name: string, attr: string, value: Uint8Array, mode: XattrSetMode): Promise<{ version: number }> {
    await this.enter('setxattr', name);
    return this.versioned(await this.run({ op: 'setxattr', name, attr, value, mode }));
  }

  async removexattr(name: string, attr: string): Promise<{ version: number }> {
    await this.enter('removexattr', name);
    return this.versioned(await this.run({ op: 'removexattr', name, attr }));
  }

  async fallocate(name: string, offset: number, length: number, punch: boolean, keepSize: boolean): Promise<{ version: number }> {
    await this.enter('fallocate', name);
    return this.versioned(await this.run({ op: 'fallocate', name, offset, length, punch, keepSize }));
  }

  async hold(name: string, holder: number, delta: 1 | -1 | 0): Promise<void> {
    await this.enter('hold', name);
    const result = await this.run({ op: 'hold', name, holder, delta });
    if (result.type !== 'done') throw failure(result);
  }

  async statfsOf(): Promise<DiskStat> {
    return { totalBytes: 1 << 30, freeBytes: 1 << 29, inodes: this.state.machine.inodeCount };
  }

  /** The whole content of the file `name` (a path from the root), or undefined. */
  async content(name: string): Promise<Uint8Array | undefined> {
    const result = await this.state.read(name, this.stampMs);
    return result.type === 'contents' ? result.content : undefined;
  }

  private async enter(op: string, name: string): Promise<void> {
    this.calls.push({ op, name });
    await this.gates.get(op);
  }

  private run(command: FsCommand): Promise<FsResult> {
    this.stampMs += 1;
    return this.state.applyFull({ clientId: 0, sequence: 0, stampMs: this.stampMs, command }).then((applied) => applied.result);
  }

  private query(query: FsQuery): Promise<FsQueryResult> {
    return this.state.query(query, this.stampMs);
  }

  private async statOf(name: string): Promise<FsNodeStat> {
    const result = await this.query({ op: 'stat', name });
    if (result.type !== 'stat') throw failure(result);
    return result.stat;
  }

  private async withStat(command: FsCommand): Promise<FsNodeStat> {
    const result = await this.run(command);
    if (result.type !== 'ok') throw failure(result);
    return this.statOf(`//${result.ino}`);
  }

  private versioned(result: FsResult): { version: number } {
    if (result.type !== 'ok') throw failure(result);
    return { version: result.version };
  }

  private bytes(result: FsQueryResult): Uint8Array {
    if (result.type !== 'bytes') throw failure(result);
    return result.value;
  }
}

function failure(result: FsResult | FsQueryResult): FsraftFsError {
  const errno = (errnoByType as Partial<Record<string, FsErrorCode>>)[result.type];
  return new FsraftFsError(errno ?? 'EINVAL', `${result.type}`);
}
