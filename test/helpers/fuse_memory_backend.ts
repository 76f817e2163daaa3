/**
 * An in-memory FsBackend with the tree protocol's semantics (errors, versions, rename rules), for
 * unit tests of the FUSE operations without a cluster. It records every call, and a test can make
 * the next calls of one kind fail or wait, to check that failures reach flush/close.
 */
import { FsraftError, FsraftUnavailableError } from '../../src/client/errors.js';
import type { FsBackend, FsDirEntry, FsSetattr, FsStat } from '../../src/fuse/fs_backend.js';

interface Node {
  kind: 'file' | 'dir';
  version: number;
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** One recorded call: the method and its arguments (contents as lengths). */
export interface BackendCall {
  readonly op: string;
  readonly args: readonly unknown[];
}

function fsError(code: string, message: string): FsraftError {
  return new FsraftError(code, message);
}

function normalize(name: string): string {
  const trimmed = name.replace(/^\/+/, '');
  return trimmed === '' ? '/' : trimmed;
}

function parent(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? '/' : name.slice(0, slash);
}

/** The fake cluster. `nodes` is keyed by the normalized name ('/' is the root). */
export class MemoryBackend implements FsBackend {
  readonly nodes = new Map<string, Node>();
  readonly calls: BackendCall[] = [];
  private version = 0;
  private clockMs = 1_700_000_000_000;
  /** Errors the next calls of an operation throw, in order. */
  private readonly failures = new Map<string, Error[]>();
  /** While set for an operation, its calls wait for this promise first. */
  private readonly gates = new Map<string, Promise<void>>();

  constructor() {
    this.nodes.set('/', this.newNode('dir', 0o755));
  }

  /** Makes the next `count` calls of `op` throw `error` (default UNAVAILABLE). */
  failNext(op: string, count = 1, error: Error = new FsraftUnavailableError('no leader (injected)')): void {
    this.failures.set(op, [...(this.failures.get(op) ?? []), ...Array.from({ length: count }, () => error)]);
  }

  /** Holds every call of `op` until the returned function is called. */
  hold(op: string): () => void {
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

  /** The content of a file, or undefined. */
  content(name: string): Buffer | undefined {
    const node = this.nodes.get(normalize(name));
    return node?.kind === 'file' ? node.content : undefined;
  }

  async stat(name: string): Promise<FsStat> {
    await this.enter('stat', [name]);
    return this.statOf(this.lookup(normalize(name)));
  }

  async list(name: string): Promise<FsDirEntry[]> {
    await this.enter('list', [name]);
    const key = normalize(name);
    const node = this.lookup(key);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', `${name} is a file`);
    return this.children(key)
      .map((child) => ({ name: child.slice(child.lastIndexOf('/') + 1), ...this.statOf(this.nodes.get(child) as Node) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async readAt(name: string, offset: number, count: number): Promise<{ version: number; content: Uint8Array }> {
    await this.enter('readAt', [name, offset, count]);
    const node = this.file(normalize(name));
    return { version: node.version, content: Buffer.from(node.content.subarray(offset, offset + count)) };
  }

  async create(name: string, mode: number, exclusive: boolean): Promise<{ version: number }> {
    await this.enter('create', [name, mode, exclusive]);
    const key = normalize(name);
    const existing = this.nodes.get(key);
    if (existing !== undefined) {
      if (existing.kind === 'dir') throw fsError('EISDIR', `${name} is a directory`);
      if (exclusive) throw fsError('EEXIST', `${name} exists`);
      return { version: existing.version };
    }
    this.parentDir(key);
    const node = this.newNode('file', mode);
    this.nodes.set(key, node);
    return { version: node.version };
  }

  async mkdir(name: string, mode: number): Promise<{ version: number }> {
    await this.enter('mkdir', [name, mode]);
    const key = normalize(name);
    if (this.nodes.has(key)) throw fsError('EEXIST', `${name} exists`);
    this.parentDir(key);
    const node = this.newNode('dir', mode);
    this.nodes.set(key, node);
    return { version: node.version };
  }

  async rmdir(name: string): Promise<void> {
    await this.enter('rmdir', [name]);
    const key = normalize(name);
    if (key === '/') throw fsError('EINVAL', 'the root');
    const node = this.lookup(key);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', `${name} is a file`);
    if (this.children(key).length > 0) throw fsError('ENOTEMPTY', `${name} is not empty`);
    this.nodes.delete(key);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.enter('rename', [from, to]);
    const source = normalize(from);
    const target = normalize(to);
    const node = this.lookup(source);
    if (source === target) return;
    if (target.startsWith(`${source}/`)) throw fsError('EINVAL', 'into its own subtree');
    this.parentDir(target);
    const existing = this.nodes.get(target);
    if (existing !== undefined) {
      if (node.kind === 'file' && existing.kind === 'dir') throw fsError('EISDIR', `${to} is a directory`);
      if (node.kind === 'dir' && existing.kind === 'file') throw fsError('ENOTDIR', `${to} is a file`);
      if (existing.kind === 'dir' && this.children(target).length > 0) throw fsError('ENOTEMPTY', `${to} is not empty`);
    }
    const moved = [...this.nodes.keys()].filter((key) => key === source || key.startsWith(`${source}/`));
    const entries = moved.map((key) => [key, this.nodes.get(key) as Node] as const);
    for (const [key] of entries) this.nodes.delete(key);
    for (const [key, value] of entries) this.nodes.set(target + key.slice(source.length), value);
  }

  async truncate(name: string, size: number): Promise<{ version: number }> {
    await this.enter('truncate', [name, size]);
    const node = this.file(normalize(name));
    const resized = Buffer.alloc(size);
    node.content.copy(resized, 0, 0, Math.min(size, node.content.length));
    node.content = resized;
    return { version: this.touch(node) };
  }

  async writeAt(name: string, offset: number, content: Uint8Array): Promise<{ version: number }> {
    await this.enter('writeAt', [name, offset, content.length]);
    const node = this.file(normalize(name));
    const start = offset === -1 ? node.content.length : offset;
    const grown = Buffer.alloc(Math.max(node.content.length, start + content.length));
    node.content.copy(grown);
    grown.set(content, start);
    node.content = grown;
    return { version: this.touch(node) };
  }

  async setattr(name: string, attrs: FsSetattr): Promise<{ version: number }> {
    await this.enter('setattr', [name, attrs]);
    const node = this.lookup(normalize(name));
    if (attrs.mode !== undefined) node.mode = attrs.mode;
    if (attrs.uid !== undefined) node.uid = attrs.uid;
    if (attrs.gid !== undefined) node.gid = attrs.gid;
    if (attrs.atimeMs !== undefined) node.atimeMs = attrs.atimeMs;
    if (attrs.mtimeMs !== undefined) node.mtimeMs = attrs.mtimeMs;
    node.version = ++this.version;
    return { version: node.version };
  }

  async delete(name: string): Promise<boolean> {
    await this.enter('delete', [name]);
    const key = normalize(name);
    const node = this.nodes.get(key);
    if (node === undefined) return false;
    if (node.kind === 'dir') throw fsError('EISDIR', `${name} is a directory`);
    this.nodes.delete(key);
    return true;
  }

  private async enter(op: string, args: unknown[]): Promise<void> {
    this.calls.push({ op, args });
    const gate = this.gates.get(op);
    if (gate !== undefined) await gate;
    const failure = this.failures.get(op)?.shift();
    if (failure !== undefined) throw failure;
  }

  private newNode(kind: 'file' | 'dir', mode: number): Node {
    const nowMs = ++this.clockMs;
    return { kind, version: ++this.version, content: Buffer.alloc(0), mode, uid: 0, gid: 0, atimeMs: nowMs, mtimeMs: nowMs, ctimeMs: nowMs };
  }

  private touch(node: Node): number {
    node.mtimeMs = node.ctimeMs = ++this.clockMs;
    node.version = ++this.version;
    return node.version;
  }

  private statOf(node: Node): FsStat {
    const { kind, version, mode, uid, gid, atimeMs, mtimeMs, ctimeMs } = node;
    return { kind, version, size: kind === 'file' ? node.content.length : 0, mode, uid, gid, atimeMs, mtimeMs, ctimeMs, exptimeSeconds: 0 };
  }

  private children(key: string): string[] {
    const prefix = key === '/' ? '' : `${key}/`;
    return [...this.nodes.keys()].filter((child) => child !== '/' && child.startsWith(prefix) && !child.slice(prefix.length).includes('/'));
  }

  /** The node at `key`; ENOENT or ENOTDIR when it or a parent is missing or a file. */
  private lookup(key: string): Node {
    if (key !== '/') this.parentDir(key);
    const node = this.nodes.get(key);
    if (node === undefined) throw fsError('ENOENT', `${key} does not exist`);
    return node;
  }

  private parentDir(key: string): Node {
    const parentKey = parent(key);
    const node = parentKey === '/' ? (this.nodes.get('/') as Node) : this.lookup(parentKey);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', `${parentKey} is a file`);
    return node;
  }

  private file(key: string): Node {
    const node = this.lookup(key);
    if (node.kind === 'dir') throw fsError('EISDIR', `${key} is a directory`);
    return node;
  }
}
