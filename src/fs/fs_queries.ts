/**
 * The read-only questions a leader answers after a ReadIndex round: read, readat, stat, list,
 * readdir, readlink, getxattr, listxattr, seek. Evaluated against the state as of `atMs` (never
 * below the last applied stamp, so a file the log already treated as expired is never shown).
 *
 * Pure: no Node APIs.
 */
import { unreachable } from '../util/assert.js';
import type { ContentOps } from './content_ops.js';
import type { RecordTables } from './record_tables.js';
import type { Inode } from './records.js';
import { isError, isLive } from './tree_common.js';
import type { TreeOps } from './tree_ops.js';
import type { FsDirEntry, FsError, FsNodeStat, FsQuery, FsQueryResult, FsReadResult, FsReaddirEntry } from './types.js';

const invalid: FsError = { type: 'invalid' };
const isDir: FsError = { type: 'is_dir' };
const notDir: FsError = { type: 'not_dir' };
const tooLarge: FsError = { type: 'too_large' };

/** Answers queries over the records. */
export class FsQueries {
  constructor(
    private readonly records: RecordTables,
    private readonly tree: TreeOps,
    private readonly content: ContentOps,
  ) {}

  async answer(query: FsQuery, atMs: number): Promise<FsQueryResult> {
    switch (query.op) {
      case 'read':
        return this.readFile(query.name, 0, Number.MAX_SAFE_INTEGER, query.bytesMax, atMs);
      case 'readat':
        if (!isCount(query.offset) || !isCount(query.count)) return invalid;
        return this.readFile(query.name, query.offset, query.count, Number.MAX_SAFE_INTEGER, atMs);
      case 'stat': {
        const found = this.tree.find(query.name, atMs);
        return isError(found) ? found : { type: 'stat', stat: this.statOf(found.node, atMs) };
      }
      case 'list':
        return this.list(query.name, query.entriesMax, atMs);
      case 'readdir':
        return this.readdir(query.name, query.cookie, query.count, query.plus, atMs);
      case 'readlink': {
        const found = this.tree.find(query.name, atMs);
        if (isError(found)) return found;
        if (found.node.kind !== 'symlink') return invalid;
        return { type: 'bytes', value: this.records.data(found.node.ino) ?? new Uint8Array(0) };
      }
      case 'getxattr': {
        const found = this.tree.find(query.name, atMs);
        if (isError(found)) return found;
        const check = this.tree.attrs.checkXattrName(query.attr);
        if (check !== null) return check;
        const value = this.records.xattr(found.node.ino, query.attr);
        return value === undefined ? { type: 'no_data' } : { type: 'bytes', value };
      }
      case 'listxattr': {
        const found = this.tree.find(query.name, atMs);
        if (isError(found)) return found;
        if (found.node.xattrBytes === 0) return { type: 'names', names: [] };
        const attrs = await this.records.xattrs(found.node.ino, Number.MAX_SAFE_INTEGER);
        return { type: 'names', names: attrs.map((attr) => attr.name) };
      }
      case 'seek': {
        const found = this.tree.find(query.name, atMs);
        if (isError(found)) return found;
        if (found.node.kind !== 'file') return found.node.kind === 'dir' ? isDir : invalid;
        if (!isCount(query.offset)) return invalid;
        const offset = this.content.seek(found.node, query.offset, query.whence);
        return offset < 0 ? { type: 'past_end' } : { type: 'offset', offset };
      }
      default:
        return unreachable(query, 'query');
    }
  }

  /** A node's attributes as of `atMs` (blocks as stored on this node). */
  statOf(node: Inode, atMs: number): FsNodeStat {
    return {
      ino: node.ino,
      kind: node.kind,
      version: node.version,
      size: node.kind === 'file' || node.kind === 'symlink' ? node.size : 0,
      blocks: this.content.blocks(node),
      mode: node.mode,
      nlink: node.nlink,
      uid: node.uid,
      gid: node.gid,
      rdev: node.rdev,
      atime: node.atime,
      mtime: node.mtime,
      ctime: node.ctime,
      exptimeRemainingSeconds: node.kind === 'file' ? remainingSeconds(node.expiresAtMs, atMs) : 0,
    };
  }

  private readFile(name: string, offset: number, count: number, bytesMax: number, atMs: number): FsReadResult {
    const found = this.tree.find(name, atMs);
    if (isError(found)) return found;
    const node = found.node;
    // The root is not a file to read; like every command but stat, list and setattr, it is refused.
    if (node.ino === 1) return invalid;
    if (node.kind === 'dir') return isDir;
    if (node.kind !== 'file') return invalid;
    if (offset === 0 && node.size > bytesMax) return tooLarge;
    return {
      type: 'contents',
      version: node.version,
      content: this.content.read(node, offset, Math.min(count, node.size)),
      exptimeRemainingSeconds: remainingSeconds(node.expiresAtMs, atMs),
    };
  }

  private async list(name: string, entriesMax: number, atMs: number): Promise<FsQueryResult> {
    const found = this.tree.find(name, atMs);
    if (isError(found)) return found;
    const dir = found.node;
    if (dir.kind !== 'dir') return notDir;
    if (dir.entries > entriesMax) return tooLarge;
    const entries: FsDirEntry[] = [];
    for (const { name: childName, dirent } of await this.records.direntsByName(dir.ino, '', dir.entries + 1)) {
      const child = this.records.inode(dirent.ino);
      if (child !== undefined && isLive(child, atMs)) entries.push({ name: childName, ...this.statOf(child, atMs) });
    }
    // Keys are in UTF-8 byte order already, which is the order `list` promises.
    return { type: 'list', entries };
  }

  private async readdir(name: string, cookie: number, count: number, plus: boolean, atMs: number): Promise<FsQueryResult> {
    const found = this.tree.find(name, atMs);
    if (isError(found)) return found;
    const dir = found.node;
    if (dir.kind !== 'dir') return notDir;
    if (!isCount(cookie) || !Number.isSafeInteger(count) || count < 1) return invalid;
    const entries: FsReaddirEntry[] = [];
    let after = cookie;
    let exhausted = false;
    while (entries.length < count) {
      const wanted = count - entries.length;
      const page = await this.records.namesByCookie(dir.ino, after, wanted);
      for (const { cookie: entryCookie, name: childName } of page) {
        after = entryCookie;
        const dirent = this.records.dirent(dir.ino, childName);
        const child = dirent === undefined ? undefined : this.records.inode(dirent.ino);
        // Expired files are skipped; their cookies still move the reader past them.
        if (child === undefined || !isLive(child, atMs)) continue;
        entries.push({ name: childName, ino: child.ino, kind: child.kind, cookie: entryCookie, ...(plus ? { stat: this.statOf(child, atMs) } : {}) });
      }
      if (page.length < wanted) {
        exhausted = true;
        break;
      }
    }
    return { type: 'readdir', entries, done: exhausted };
  }
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Whole seconds left, rounded up (a file with 1 ms left reports 1); 0 for "never expires". */
export function remainingSeconds(expiresAtMs: number, nowMs: number): number {
  if (expiresAtMs === Infinity) return 0;
  // An exptime near 2^53 seconds overflows safe integers once in ms; clamp rather than hand the
  // reply encoder a number it cannot print exactly.
  return Math.min(Math.max(0, Math.ceil((expiresAtMs - nowMs) / 1000)), Number.MAX_SAFE_INTEGER);
}
