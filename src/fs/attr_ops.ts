/**
 * The commands that change a node's attributes: setattr (mode, owner, size, times, expiry) and
 * extended attributes, with the expiry index kept in step. Part of TreeOps, which routes to it.
 *
 * Pure: no Node APIs.
 */
import type { ContentOps } from './content_ops.js';
import { utf8Length } from './names.js';
import type { RecordTables } from './record_tables.js';
import type { Inode } from './records.js';
import { exists, invalid, isCount, isDir, isError, isMode, isTimespec, ownerIdMax, tooLarge, withoutSetid, type Found, type OpContext, type TreeCounters, type TreeLimits } from './tree_common.js';
import type { FsCommand, FsError, FsResult } from './types.js';

/** The extended attribute namespaces kept (the kernel refuses system.posix_acl_* itself unless asked). */
const xattrNamespaces = new Set(['user', 'trusted', 'security', 'system']);

/** Attribute and extended-attribute commands over the state's records. */
export class AttrOps {
  constructor(
    private readonly records: RecordTables,
    private readonly content: ContentOps,
    private readonly counters: TreeCounters,
    private readonly limits: TreeLimits,
    /** The tree's lookup by path (TreeOps.find). */
    private readonly find: (name: string, atMs: number) => Found | FsError,
  ) {}

  setattr(change: Extract<FsCommand, { op: 'setattr' }>, op: OpContext): FsResult {
    const found = this.find(change.name, op.stampMs);
    if (isError(found)) return found;
    let node = found.node;
    const validIds = [change.uid, change.gid].every((id) => id === undefined || (isCount(id) && id <= ownerIdMax));
    const validTimes = [change.atime, change.mtime].every((time) => time === undefined || time === 'now' || isTimespec(time));
    if ((change.mode !== undefined && !isMode(change.mode)) || !validIds || !validTimes) return invalid;
    if (change.size !== undefined && (!isCount(change.size) || node.kind !== 'file')) return node.kind === 'dir' ? isDir : invalid;
    if (change.size !== undefined && change.size > this.limits.fileBytesMax) return tooLarge;
    if (change.exptimeSeconds !== undefined && (node.kind !== 'file' || !Number.isSafeInteger(change.exptimeSeconds))) return invalid;
    this.counters.version += 1;
    if (change.size !== undefined && change.size !== node.size) node = { ...this.content.resize(node, change.size, op), mtime: op.now };
    let mode = change.mode ?? node.mode;
    const ownerChanges = (change.uid !== undefined && change.uid !== node.uid) || (change.gid !== undefined && change.gid !== node.gid);
    if (ownerChanges && change.mode === undefined && node.kind !== 'dir') {
      // Linux clears setuid on chown, and setgid when it means "execute as the group" (not mandatory locking).
      mode = withoutSetid(mode);
    }
    node = {
      ...node,
      mode,
      uid: change.uid ?? node.uid,
      gid: change.gid ?? node.gid,
      atime: change.atime === 'now' ? op.now : (change.atime ?? node.atime),
      mtime: change.mtime === 'now' ? op.now : (change.mtime ?? node.mtime),
      ctime: op.now,
      version: this.counters.version,
    };
    if (change.exptimeSeconds !== undefined) {
      // A nameless (open, unlinked) file cannot expire: there is no name left to remove.
      const expiresAtMs = change.exptimeSeconds > 0 && node.nlink > 0 ? op.stampMs + change.exptimeSeconds * 1000 : Infinity;
      node = this.setExpiry(node, expiresAtMs);
    }
    this.records.putInode(node);
    return { type: 'ok', version: node.version, ino: node.ino };
  }

  /** Gives `file` the expiry `expiresAtMs` (Infinity: none), keeping the expiry index in step. */
  setExpiry(file: Inode, expiresAtMs: number): Inode {
    if (file.expiresAtMs === expiresAtMs) return file;
    if (file.expiresAtMs !== Infinity) this.records.putExpiry(file.expiresAtMs, file.ino, false);
    if (expiresAtMs !== Infinity) this.records.putExpiry(expiresAtMs, file.ino, true);
    return { ...file, expiresAtMs };
  }

  setxattr(name: string, attr: string, value: Uint8Array, mode: 'any' | 'create' | 'replace', op: OpContext): FsResult {
    const found = this.find(name, op.stampMs);
    if (isError(found)) return found;
    const check = this.checkXattrName(attr);
    if (check !== null) return check;
    if (value.length > this.limits.xattrValueBytesMax) return tooLarge;
    const node = found.node;
    const previous = this.records.xattr(node.ino, attr);
    if (mode === 'create' && previous !== undefined) return exists;
    if (mode === 'replace' && previous === undefined) return { type: 'no_data' };
    const nameBytes = utf8Length(attr);
    const xattrBytes = node.xattrBytes - (previous === undefined ? 0 : nameBytes + previous.length) + nameBytes + value.length;
    if (xattrBytes > this.limits.xattrBytesPerNodeMax) return { type: 'no_space' };
    this.counters.version += 1;
    this.records.putXattr(node.ino, attr, value.slice());
    const updated: Inode = { ...node, xattrBytes, ctime: op.now, version: this.counters.version };
    this.records.putInode(updated);
    return { type: 'ok', version: updated.version, ino: updated.ino };
  }

  removexattr(name: string, attr: string, op: OpContext): FsResult {
    const found = this.find(name, op.stampMs);
    if (isError(found)) return found;
    const check = this.checkXattrName(attr);
    if (check !== null) return check;
    const node = found.node;
    const previous = this.records.xattr(node.ino, attr);
    if (previous === undefined) return { type: 'no_data' };
    this.counters.version += 1;
    this.records.putXattr(node.ino, attr, null);
    const updated: Inode = { ...node, xattrBytes: node.xattrBytes - utf8Length(attr) - previous.length, ctime: op.now, version: this.counters.version };
    this.records.putInode(updated);
    return { type: 'ok', version: updated.version, ino: updated.ino };
  }

  /** null for a name in a namespace this file system keeps, else why not. */
  checkXattrName(attr: string): FsError | null {
    const bytes = utf8Length(attr);
    if (bytes === 0 || bytes > this.limits.xattrNameBytesMax) return { type: 'range' };
    const dot = attr.indexOf('.');
    const namespace = dot <= 0 ? '' : attr.slice(0, dot);
    if (dot === attr.length - 1 || !xattrNamespaces.has(namespace)) return { type: 'not_supported' };
    return null;
  }
}
