/**
 * The replicated file-server state machine: every replica applies the same FsRequests in log
 * order and so holds the same tree, versions and session answers (README "The protocol").
 *
 * Pure and deterministic: no clock (time arrives as the leader's stamp in each request), no
 * randomness, and iteration only over insertion-ordered Maps, a heap with total ordering, and
 * directory listings sorted by name.
 */
import { unreachable } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ExpiryHeap, type ExpiryEntry } from './expiry_heap.js';
import { FileContent } from './file_content.js';
import { captureSnapshot, decodeSnapshot, type FsSnapshotCapture } from './fs_snapshot.js';
import { pathComponents, validatePath } from './names.js';
import { modeMax, newRoot, ownerIdMax, rootInode, type DirNode, type FileNode, type NodeAttributes, type Session, type StateImage, type TreeNode } from './tree_nodes.js';
import type { FsCommand, FsDirEntry, FsError, FsNodeStat, FsQuery, FsQueryResult, FsReadResult, FsRequest, FsResult } from './types.js';

/**
 * Expired files removed per apply(), at most. Lookups check expiry themselves, so reaping later
 * is still correct; the bound keeps one apply() from stalling the node when thousands of files
 * share one deadline.
 */
export const expiredFilesReapedPerApplyMax = 256;

/** Default mode of files made by course write/cas (rw-r--r--). */
export const courseFileMode = 0o644;
/** Mode of directories that course write/cas create as missing parents (rwxr-xr-x). */
export const implicitDirMode = 0o755;
export { modeMax, ownerIdMax } from './tree_nodes.js';

/** Tuning; production uses the defaults from src/util/limits.ts except fileBytesMax (cluster.json). */
export interface FileServerOptions {
  /** Exactly-once sessions kept; the least recently used is forgotten beyond this. */
  readonly sessionsMax?: number;
  readonly expiredFilesReapedPerApplyMax?: number;
  /** Largest file in bytes; growing past it is too_large. */
  readonly fileBytesMax?: number;
  /** Entries one directory may hold; adding one more is too_large. */
  readonly directoryEntriesMax?: number;
}

/** A located path: the directory that holds (or would hold) the last component, and the live node there. */
interface Located {
  readonly parent: DirNode;
  readonly name: string;
  readonly node: TreeNode | undefined;
}

const notFound: FsError = { type: 'not_found' };
const exists: FsError = { type: 'exists' };
const notDir: FsError = { type: 'not_dir' };
const isDir: FsError = { type: 'is_dir' };
const notEmpty: FsError = { type: 'not_empty' };
const invalid: FsError = { type: 'invalid' };
const tooLarge: FsError = { type: 'too_large' };
const deleted: FsResult = { type: 'deleted' };
const done: FsResult = { type: 'done' };
const staleRequest: FsResult = { type: 'stale_request' };

/**
 * The file tree plus the exactly-once session table.
 * Invariant: every attached file with a finite expiry has exactly one current heap entry (its
 * `expiry`); every other entry in the heap is stale and is discarded when met.
 */
export class FileServerState {
  private readonly root: DirNode;
  private readonly expiries = new ExpiryHeap<FileNode>();
  /** Insertion order is recency order: a used session is deleted and re-inserted at the end. */
  private readonly sessions: Map<number, Session>;
  private readonly sessionsMax: number;
  private readonly reapPerApplyMax: number;
  private readonly fileBytesMax: number;
  private readonly directoryEntriesMax: number;
  private version: number;
  private stampMs: number;
  private nextInode: number;
  private files = 0;

  /** An empty state. `image` is for fromSnapshot only: the restored parts, adopted as they are. */
  constructor(options: FileServerOptions = {}, image?: StateImage) {
    this.sessionsMax = options.sessionsMax ?? limits.sessionsMax;
    this.reapPerApplyMax = options.expiredFilesReapedPerApplyMax ?? expiredFilesReapedPerApplyMax;
    this.fileBytesMax = options.fileBytesMax ?? limits.fileBytesMaxDefault;
    this.directoryEntriesMax = options.directoryEntriesMax ?? limits.directoryEntriesMax;
    this.root = image?.root ?? newRoot();
    this.sessions = image?.sessions ?? new Map();
    this.version = image?.version ?? 0;
    this.stampMs = image?.stampMs ?? -Infinity;
    this.nextInode = image?.nextInode ?? rootInode + 1;
    if (image !== undefined) this.adoptTree(this.root);
  }

  /**
   * Restores a state from `captureSnapshot().encode(...)`'s bytes (concatenated). Throws only
   * FsSnapshotCorruptError, whatever the bytes. `options` are this replica's tuning, as for `new`.
   */
  static fromSnapshot(bytes: Uint8Array, options: FileServerOptions = {}): FileServerState {
    return new FileServerState(options, decodeSnapshot(bytes));
  }

  /**
   * Captures everything (tree, attributes, contents, version counter, last stamp, expiries,
   * sessions in LRU order) in O(nodes), sharing file chunks instead of copying them; the live
   * state may change right after, and the capture still encodes the state of this moment.
   */
  captureSnapshot(): FsSnapshotCapture {
    return captureSnapshot({ root: this.root, version: this.version, stampMs: this.stampMs, nextInode: this.nextInode, sessions: this.sessions });
  }

  /** Files held, including expired ones not yet reaped (lookups already treat those as missing). */
  get fileCount(): number {
    return this.files;
  }

  /** The version given to the latest successful change; 0 before the first. */
  get lastVersion(): number {
    return this.version;
  }

  /** Exactly-once sessions currently remembered. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The latest stamp applied; -Infinity before the first apply. */
  get lastStampMs(): number {
    return this.stampMs;
  }

  /**
   * Applies one committed log entry. Deterministic: the result and the new state depend only on
   * the state and `request`. Requests of a session (clientId != 0) take effect at most once.
   */
  apply(request: FsRequest): FsResult {
    // Stamps never decrease along the log; keeping the max keeps expiry monotonic even if a buggy
    // leader broke that, instead of resurrecting files a later stamp already expired. (A NaN
    // stamp fails the comparison and is ignored rather than poisoning every later expiry check.)
    if (request.stampMs > this.stampMs) this.stampMs = request.stampMs;
    this.reapExpired(this.stampMs);
    if (request.clientId === 0) return this.execute(request.command);
    return this.applyInSession(request);
  }

  /**
   * Reads the whole file `name` as of `nowMs` without changing state. The leader calls this for
   * linearizable reads once it knows it is still leader; `nowMs` below the last applied stamp is
   * raised to it so a file the log already treated as expired is never shown again.
   */
  read(name: string, nowMs: number): FsReadResult {
    return this.readFile(name, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, this.atMs(nowMs));
  }

  /** Answers a query as of `nowMs` (raised to the last applied stamp, as in `read`) without changing state. */
  query(query: FsQuery, nowMs: number): FsQueryResult {
    const atMs = this.atMs(nowMs);
    switch (query.op) {
      case 'read':
        return this.readFile(query.name, 0, Number.MAX_SAFE_INTEGER, query.bytesMax, atMs);
      case 'readat':
        if (!isCount(query.offset) || !isCount(query.count)) return invalid;
        return this.readFile(query.name, query.offset, query.count, Number.MAX_SAFE_INTEGER, atMs);
      case 'stat': {
        const node = this.lookup(query.name, atMs);
        return isError(node) ? node : { type: 'stat', stat: statOf(node, atMs) };
      }
      case 'list':
        return this.list(query.name, atMs);
      default:
        return unreachable(query, 'query');
    }
  }

  /** The chunks of a file's content as held now (tests check which chunks a change replaced). */
  fileChunks(name: string): readonly Uint8Array[] | undefined {
    const node = this.lookup(name, this.stampMs);
    return isError(node) || node.kind !== 'file' ? undefined : node.content.chunks;
  }

  private atMs(nowMs: number): number {
    return Math.max(nowMs, this.stampMs);
  }

  private readFile(name: string, offset: number, count: number, bytesMax: number, atMs: number): FsReadResult {
    const node = this.lookup(name, atMs);
    if (isError(node)) return node;
    // The root is not a file to read; like every command but stat, list and setattr, it is refused.
    if (node === this.root) return invalid;
    if (node.kind === 'dir') return isDir;
    const size = node.content.size;
    if (offset === 0 && size > bytesMax) return tooLarge;
    return {
      type: 'contents',
      version: node.version,
      content: node.content.read(offset, Math.min(count, size)),
      exptimeRemainingSeconds: remainingSeconds(node.expiresAtMs, atMs),
    };
  }

  private list(name: string, atMs: number): FsQueryResult {
    const dir = this.lookup(name, atMs);
    if (isError(dir)) return dir;
    if (dir.kind !== 'dir') return notDir;
    const entries: FsDirEntry[] = [];
    for (const [childName, child] of dir.children) {
      if (isLive(child, atMs)) entries.push({ name: childName, ...statOf(child, atMs) });
    }
    entries.sort((a, b) => compareUtf8(a.name, b.name));
    return { type: 'list', entries };
  }

  private applyInSession(request: FsRequest): FsResult {
    const session = this.sessions.get(request.clientId);
    if (session !== undefined && request.sequence === session.lastSequence) {
      // A retry (e.g. after a leader change) of a request already applied: answer it again
      // without applying twice, or a retried cas would fail against its own first success.
      this.rememberSession(request.clientId, session);
      return session.lastResult;
    }
    if (session !== undefined && request.sequence < session.lastSequence) return staleRequest;
    const result = this.execute(request.command);
    this.rememberSession(request.clientId, { lastSequence: request.sequence, lastResult: result });
    return result;
  }

  private rememberSession(clientId: number, session: Session): void {
    this.sessions.delete(clientId);
    this.sessions.set(clientId, session);
    // Without a bound, every client that ever connected would hold memory on every replica.
    while (this.sessions.size > this.sessionsMax) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
    }
  }

  private execute(command: FsCommand): FsResult {
    // The parser and the log codec refuse invalid names, so this only guards a buggy proposer:
    // answering not_found is deterministic, whereas a throw would stop every replica at once.
    if (validatePath(command.name, true) !== null) return notFound;
    if (command.op === 'rename' && validatePath(command.to, true) !== null) return notFound;
    const components = pathComponents(command.name);
    // Only setattr may change the root; removing, replacing or writing it makes no sense.
    if (components.length === 0 && command.op !== 'setattr') return invalid;
    switch (command.op) {
      case 'write':
        return this.store(components, command.content, command.exptimeSeconds);
      case 'cas':
        return this.compareAndStore(components, command.version, command.content, command.exptimeSeconds);
      case 'delete':
        return this.remove(components);
      case 'create':
        return this.create(components, command.mode, command.exclusive);
      case 'mkdir':
        return this.mkdir(components, command.mode);
      case 'rmdir':
        return this.rmdir(components);
      case 'rename':
        return this.rename(components, pathComponents(command.to));
      case 'truncate':
        return this.truncate(components, command.size);
      case 'writeat':
        return this.writeAt(components, command.offset, command.content);
      case 'setattr':
        return this.setattr(components, command);
      default:
        return unreachable(command, 'command');
    }
  }

  /** Course write: replaces or creates the file, creating missing parents like `mkdir -p`. */
  private store(components: readonly string[], content: Uint8Array, exptimeSeconds: number): FsResult {
    const place = this.makeParents(components);
    if (isError(place)) return place;
    const { parent, name, node } = place;
    if (node?.kind === 'dir') return isDir;
    const file = node ?? this.newFile(parent, name, courseFileMode);
    // Copy: the command's bytes are usually a view into a whole log batch or network message;
    // keeping the view would pin that entire buffer for as long as the file lives.
    file.content = FileContent.copyOf(content);
    this.touchContent(file);
    this.setExpiry(file, exptimeSeconds > 0 ? this.stampMs + exptimeSeconds * 1000 : Infinity);
    return { type: 'ok', version: file.version };
  }

  private compareAndStore(components: readonly string[], version: number, content: Uint8Array, exptimeSeconds: number): FsResult {
    const place = this.locate(components, this.stampMs);
    if (isError(place)) return place.type === 'not_found' && version === 0 ? this.store(components, content, exptimeSeconds) : place;
    const node = place.node;
    if (node === undefined) return version === 0 ? this.store(components, content, exptimeSeconds) : notFound;
    if (node.kind === 'dir') return isDir;
    if (node.version !== version) return { type: 'version_mismatch', currentVersion: node.version };
    return this.store(components, content, exptimeSeconds);
  }

  private remove(components: readonly string[]): FsResult {
    const node = this.existing(components);
    if (isError(node)) return node;
    if (node.kind === 'dir') return isDir;
    this.unlink(node);
    return deleted;
  }

  private create(components: readonly string[], mode: number, exclusive: boolean): FsResult {
    if (!isMode(mode)) return invalid;
    const place = this.locate(components, this.stampMs);
    if (isError(place)) return place;
    const node = place.node;
    if (node !== undefined) {
      if (exclusive) return exists;
      return node.kind === 'dir' ? isDir : { type: 'ok', version: node.version };
    }
    if (!this.hasRoom(place.parent, place.name)) return tooLarge;
    this.version += 1;
    return { type: 'ok', version: this.newFile(place.parent, place.name, mode).version };
  }

  private mkdir(components: readonly string[], mode: number): FsResult {
    if (!isMode(mode)) return invalid;
    const place = this.locate(components, this.stampMs);
    if (isError(place)) return place;
    if (place.node !== undefined) return exists;
    if (!this.hasRoom(place.parent, place.name)) return tooLarge;
    this.version += 1;
    return { type: 'ok', version: this.newDir(place.parent, place.name, mode).version };
  }

  private rmdir(components: readonly string[]): FsResult {
    const node = this.existing(components);
    if (isError(node)) return node;
    if (node.kind !== 'dir') return notDir;
    if (this.hasLiveChild(node)) return notEmpty;
    this.unlink(node);
    return done;
  }

  /** POSIX rename(2): atomic, replacing a compatible target. Keeps the node's version and expiry. */
  private rename(from: readonly string[], to: readonly string[]): FsResult {
    if (to.length === 0) return invalid;
    const source = this.locate(from, this.stampMs);
    if (isError(source)) return source;
    const moving = source.node;
    if (moving === undefined) return notFound;
    const destination = this.locate(to, this.stampMs);
    if (isError(destination)) return destination;
    const target = destination.node;
    if (target === moving) return done;
    if (moving.kind === 'dir') {
      // Moving a directory below itself would detach the subtree from the root in a cycle.
      for (let dir: DirNode | undefined = destination.parent; dir !== undefined; dir = dir.parent) {
        if (dir === moving) return invalid;
      }
    }
    if (target !== undefined) {
      if (moving.kind === 'file' && target.kind === 'dir') return isDir;
      if (moving.kind === 'dir' && target.kind === 'file') return notDir;
      if (target.kind === 'dir' && this.hasLiveChild(target)) return notEmpty;
    } else if (destination.parent !== source.parent && !this.hasRoom(destination.parent, destination.name)) {
      return tooLarge;
    }
    this.takeOut(moving);
    moving.name = destination.name;
    this.link(destination.parent, moving);
    moving.ctimeMs = this.nowTimeMs();
    return done;
  }

  private truncate(components: readonly string[], size: number): FsResult {
    const file = this.existingFile(components);
    if (isError(file)) return file;
    if (!isCount(size)) return invalid;
    if (size > this.fileBytesMax) return tooLarge;
    this.version += 1;
    file.content.resize(size);
    this.touchContent(file);
    return { type: 'ok', version: file.version };
  }

  private writeAt(components: readonly string[], offset: number, content: Uint8Array): FsResult {
    const file = this.existingFile(components);
    if (isError(file)) return file;
    if (offset !== -1 && !isCount(offset)) return invalid;
    const start = offset === -1 ? file.content.size : offset;
    // Checked before anything is allocated: an offset near 2^53 must not build a gap of zeros.
    if (start + content.length > this.fileBytesMax) return tooLarge;
    this.version += 1;
    file.content.write(start, content);
    this.touchContent(file);
    return { type: 'ok', version: file.version };
  }

  private setattr(components: readonly string[], change: Extract<FsCommand, { op: 'setattr' }>): FsResult {
    const node = components.length === 0 ? this.root : this.existing(components);
    if (isError(node)) return node;
    const valid =
      (change.mode === undefined || isMode(change.mode)) &&
      [change.uid, change.gid].every((id) => id === undefined || (isCount(id) && id <= ownerIdMax)) &&
      [change.atimeMs, change.mtimeMs].every((time) => time === undefined || isCount(time));
    if (!valid) return invalid;
    node.mode = change.mode ?? node.mode;
    node.uid = change.uid ?? node.uid;
    node.gid = change.gid ?? node.gid;
    node.atimeMs = change.atimeMs ?? node.atimeMs;
    node.mtimeMs = change.mtimeMs ?? node.mtimeMs;
    node.ctimeMs = this.nowTimeMs();
    this.version += 1;
    node.version = this.version;
    return { type: 'ok', version: node.version };
  }

  /**
   * Where the last component lives, creating missing parent directories (course write/cas). Every
   * refusal is decided before anything is created, so a failed write leaves no directories behind.
   * The new directories take the version the write itself will take (one command, one version).
   */
  private makeParents(components: readonly string[]): Located | FsError {
    let dir = this.root;
    let depth = 0;
    for (; depth < components.length - 1; depth++) {
      const child = liveChild(dir, components[depth]!, this.stampMs);
      if (child === undefined) break;
      if (child.kind !== 'dir') return notDir;
      dir = child;
    }
    const name = components[components.length - 1]!;
    if (depth === components.length - 1 && liveChild(dir, name, this.stampMs)?.kind === 'dir') return isDir;
    if (!this.hasRoom(dir, components[depth]!)) return tooLarge;
    this.version += 1;
    for (; depth < components.length - 1; depth++) dir = this.newDir(dir, components[depth]!, implicitDirMode);
    // The write takes this version whether or not it creates the file; undo is never needed below.
    return { parent: dir, name, node: liveChild(dir, name, this.stampMs) };
  }

  /** Walks to the parent of the last component; missing parents are not_found, a file on the way not_dir. */
  private locate(components: readonly string[], atMs: number): Located | FsError {
    let dir = this.root;
    for (let depth = 0; depth < components.length - 1; depth++) {
      const child = liveChild(dir, components[depth]!, atMs);
      if (child === undefined) return notFound;
      if (child.kind !== 'dir') return notDir;
      dir = child;
    }
    const name = components[components.length - 1] ?? '';
    return { parent: dir, name, node: liveChild(dir, name, atMs) };
  }

  /** The live node at `name` (the root for '/'), or why there is none. */
  private lookup(name: string, atMs: number): TreeNode | FsError {
    if (validatePath(name, true) !== null) return notFound;
    const components = pathComponents(name);
    if (components.length === 0) return this.root;
    const place = this.locate(components, atMs);
    if (isError(place)) return place;
    return place.node ?? notFound;
  }

  private existing(components: readonly string[]): TreeNode | FsError {
    const place = this.locate(components, this.stampMs);
    if (isError(place)) return place;
    return place.node ?? notFound;
  }

  private existingFile(components: readonly string[]): FileNode | FsError {
    const node = this.existing(components);
    if (isError(node)) return node;
    return node.kind === 'dir' ? isDir : node;
  }

  /** Whether `dir` can take an entry called `name` (replacing one there always can). */
  private hasRoom(dir: DirNode, name: string): boolean {
    return dir.children.has(name) || dir.children.size < this.directoryEntriesMax;
  }

  private hasLiveChild(dir: DirNode): boolean {
    for (const child of dir.children.values()) if (isLive(child, this.stampMs)) return true;
    return false;
  }

  /** A new empty file in `parent`, at the current version (the caller advanced it). */
  private newFile(parent: DirNode, name: string, mode: number): FileNode {
    const file: FileNode = {
      kind: 'file',
      inode: this.nextInode++,
      name,
      parent: undefined,
      content: FileContent.empty(),
      expiresAtMs: Infinity,
      expiry: undefined,
      ...this.freshAttributes(mode),
    };
    this.link(parent, file);
    return file;
  }

  private newDir(parent: DirNode, name: string, mode: number): DirNode {
    const dir: DirNode = { kind: 'dir', inode: this.nextInode++, name, parent: undefined, children: new Map(), ...this.freshAttributes(mode) };
    this.link(parent, dir);
    return dir;
  }

  private freshAttributes(mode: number): NodeAttributes {
    const timeMs = this.nowTimeMs();
    return { version: this.version, mode, uid: 0, gid: 0, atimeMs: timeMs, mtimeMs: timeMs, ctimeMs: timeMs };
  }

  /** Puts `node` into `dir` under node.name, dropping whatever (expired or replaced) was there. */
  private link(dir: DirNode, node: TreeNode): void {
    const previous = dir.children.get(node.name);
    if (previous !== undefined && previous !== node) this.drop(previous);
    dir.children.set(node.name, node);
    node.parent = dir;
    if (node.kind === 'file') this.files += 1;
    this.touchDir(dir);
  }

  /** Takes `node` out of its directory (updating the directory's times) and out of the tree. */
  private unlink(node: TreeNode): void {
    this.takeOut(node);
    this.drop(node);
  }

  /** Takes `node` out of its directory's map, keeping the node itself intact (rename moves it on). */
  private takeOut(node: TreeNode): void {
    const parent = node.parent;
    if (parent === undefined) return;
    parent.children.delete(node.name);
    node.parent = undefined;
    if (node.kind === 'file') this.files -= 1;
    this.touchDir(parent);
  }

  /**
   * Forgets a node that is out of its directory's map: its heap entry goes stale, and a directory
   * forgets the expired files it may still hold (a directory is only removed without live children).
   */
  private drop(node: TreeNode): void {
    if (node.parent !== undefined && node.kind === 'file') this.files -= 1;
    node.parent = undefined;
    if (node.kind === 'file') {
      node.expiry = undefined;
      return;
    }
    for (const child of node.children.values()) this.drop(child);
    node.children.clear();
  }

  /** A content change: the command's new version (already counted) and mtime = ctime = now. */
  private touchContent(file: FileNode): void {
    file.version = this.version;
    file.mtimeMs = this.nowTimeMs();
    file.ctimeMs = file.mtimeMs;
  }

  /** A directory whose entries changed: mtime = ctime = now (its version stays). */
  private touchDir(dir: DirNode): void {
    const timeMs = this.nowTimeMs();
    dir.mtimeMs = timeMs;
    dir.ctimeMs = timeMs;
  }

  /** The stamp as a time attribute: a whole, non-negative number of ms (before any apply, 0). */
  private nowTimeMs(): number {
    return Math.min(Math.max(0, Math.floor(this.stampMs)), Number.MAX_SAFE_INTEGER);
  }

  private setExpiry(file: FileNode, expiresAtMs: number): void {
    file.expiresAtMs = expiresAtMs;
    if (expiresAtMs === Infinity) {
      file.expiry = undefined;
      return;
    }
    const entry: ExpiryEntry<FileNode> = { expiresAtMs, order: file.inode, target: file };
    file.expiry = entry;
    this.expiries.push(entry);
    // Rewrites leave stale entries behind; shed them once they outnumber live files, which
    // keeps the heap O(files) at an amortized O(1) cost per push.
    if (this.expiries.size > 2 * this.files + 1024) this.expiries.retain(isCurrent);
  }

  private reapExpired(nowMs: number): void {
    for (let popped = 0; popped < this.reapPerApplyMax; popped++) {
      const next = this.expiries.peek();
      if (next === undefined || next.expiresAtMs > nowMs) return;
      this.expiries.pop();
      const file = next.target;
      // Expiry is not a change of the directory: it happens at no command, and reaping is lazy,
      // so touching the parent's times here would make them depend on when reaping ran.
      if (isCurrent(next) && file.parent !== undefined) {
        file.parent.children.delete(file.name);
        this.drop(file);
      }
    }
  }

  /** Re-registers counts and expiries of a restored tree (iteratively: renames can make it deep). */
  private adoptTree(root: DirNode): void {
    const stack: DirNode[] = [root];
    for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
      for (const child of dir.children.values()) {
        if (child.kind === 'dir') {
          stack.push(child);
          continue;
        }
        this.files += 1;
        if (child.expiresAtMs !== Infinity) this.setExpiry(child, child.expiresAtMs);
      }
    }
  }
}

function isError(value: object): value is FsError {
  return 'type' in value;
}

function isCurrent(entry: ExpiryEntry<FileNode>): boolean {
  return entry.target.expiry === entry && entry.target.parent !== undefined;
}

/** A node counts as present unless it is a file whose deadline is at or before `atMs`. */
function isLive(node: TreeNode, atMs: number): boolean {
  return node.kind === 'dir' || node.expiresAtMs > atMs;
}

function liveChild(dir: DirNode, name: string, atMs: number): TreeNode | undefined {
  const child = dir.children.get(name);
  return child !== undefined && isLive(child, atMs) ? child : undefined;
}

function statOf(node: TreeNode, atMs: number): FsNodeStat {
  const isFile = node.kind === 'file';
  return {
    kind: node.kind,
    version: node.version,
    size: isFile ? node.content.size : 0,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    atimeMs: node.atimeMs,
    mtimeMs: node.mtimeMs,
    ctimeMs: node.ctimeMs,
    exptimeRemainingSeconds: isFile ? remainingSeconds(node.expiresAtMs, atMs) : 0,
  };
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function isMode(mode: number): boolean {
  return Number.isInteger(mode) && mode >= 0 && mode <= modeMax;
}

/**
 * Orders names as their UTF-8 bytes compare (code point order). Plain `<` on JS strings compares
 * UTF-16 units, which puts U+E000..U+FFFF after astral characters and so disagrees with byte order.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort above every BMP unit in code point order.
    const xs = x >= 0xd800 && x <= 0xdfff ? x + 0x10000 : x;
    const ys = y >= 0xd800 && y <= 0xdfff ? y + 0x10000 : y;
    return xs - ys;
  }
  return a.length - b.length;
}

/** Whole seconds left, rounded up (a file with 1 ms left reports 1); 0 for "never expires". */
function remainingSeconds(expiresAtMs: number, nowMs: number): number {
  if (expiresAtMs === Infinity) return 0;
  // An exptime near 2^53 seconds overflows safe integers once in ms; clamp rather than hand the
  // reply encoder a number it cannot print exactly.
  return Math.min(Math.ceil((expiresAtMs - nowMs) / 1000), Number.MAX_SAFE_INTEGER);
}
