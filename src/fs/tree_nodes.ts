/**
 * The nodes of the replicated file tree, shared by the state machine and its snapshot codec.
 * Inode-style: a directory holds a map from component name to node and every node points back to
 * its parent, so renaming a directory moves one map entry (O(1)) whatever lies below it.
 */
import type { ExpiryEntry } from './expiry_heap.js';
import type { FileContent } from './file_content.js';
import type { FsNodeKind, FsResult } from './types.js';

/** The attributes every node has (README "Tree semantics"). Mutable: the state machine updates them in place. */
export interface NodeAttributes {
  version: number;
  /** Permission bits only, 0..0o7777. */
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

interface NodeLinks extends NodeAttributes {
  readonly kind: FsNodeKind;
  /** Unique for the life of the state (never reused): orders expiry ties deterministically. */
  readonly inode: number;
  /** The node's name in its parent (one component); '' for the root. */
  name: string;
  /** undefined for the root and for a node no longer in the tree (so stale heap entries are seen as such). */
  parent: DirNode | undefined;
}

/** A regular file. */
export interface FileNode extends NodeLinks {
  readonly kind: 'file';
  content: FileContent;
  /** Infinity when the file never expires. */
  expiresAtMs: number;
  /** The file's current heap entry; older entries of the same file are stale. */
  expiry: ExpiryEntry<FileNode> | undefined;
}

/** A directory. */
export interface DirNode extends NodeLinks {
  readonly kind: 'dir';
  /** May hold expired files not yet reaped: lookups skip them. */
  readonly children: Map<string, TreeNode>;
}

/** Any node of the tree. */
export type TreeNode = FileNode | DirNode;

/** The last answer given to one exactly-once session. */
export interface Session {
  readonly lastSequence: number;
  readonly lastResult: FsResult;
}

/**
 * Everything a FileServerState is made of apart from its options: what a snapshot captures and
 * restores. Sessions are in recency order (least recently used first).
 */
export interface StateImage {
  readonly root: DirNode;
  readonly version: number;
  readonly stampMs: number;
  readonly nextInode: number;
  readonly sessions: Map<number, Session>;
}

/** Largest mode: permission bits (with setuid, setgid, sticky) only. */
export const modeMax = 0o7777;
/** Largest uid/gid: they are 32-bit on every system the mount runs on. */
export const ownerIdMax = 0xffff_ffff;

/** The root directory's inode number; others count up from it. */
export const rootInode = 1;

/** A fresh, empty root directory. */
export function newRoot(): DirNode {
  return { kind: 'dir', inode: rootInode, name: '', parent: undefined, children: new Map(), version: 0, mode: 0o755, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0 };
}
