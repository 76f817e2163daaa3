/**
 * What the tree's command modules share: the bounds and counters they work with, the context of
 * one command, lookups' results, the error values commands return, and small predicates.
 *
 * Pure: no Node APIs.
 */
import type { Dirent, Inode } from './records.js';
import type { FsError, FsResult, Timespec } from './types.js';

/** Default mode of files made by course write/cas (rw-r--r--). */
export const courseFileMode = 0o644;
/** Mode of directories that course write/cas create as missing parents (rwxr-xr-x). */
export const implicitDirMode = 0o755;
/** Largest mode: permission bits with setuid, setgid, sticky. */
export const modeMax = 0o7777;
/** Largest uid/gid: they are 32-bit on every system the mount runs on. */
export const ownerIdMax = 0xffff_ffff;
export const setuidBit = 0o4000;
export const setgidBit = 0o2000;
export const groupExecBit = 0o0010;

/**
 * `mode` less setuid, and less setgid where it means "execute as the group" (with group execute;
 * without it, setgid marks mandatory locking and stays): what Linux clears on chown, and on a
 * write or truncate by a caller who may not keep them (should_remove_suid).
 */
export function withoutSetid(mode: number): number {
  return mode & ~setuidBit & ~((mode & groupExecBit) !== 0 ? setgidBit : 0);
}

/** The bounds the tree enforces (limits.ts defaults; fileBytesMax from the cluster config). */
export interface TreeLimits {
  readonly fileBytesMax: number;
  readonly directoryEntriesMax: number;
  readonly componentBytesMax: number;
  readonly pathBytesMax: number;
  readonly symlinkTargetBytesMax: number;
  readonly linkCountMax: number;
  readonly inlineBytesMax: number;
  readonly xattrNameBytesMax: number;
  readonly xattrValueBytesMax: number;
  readonly xattrBytesPerNodeMax: number;
  /** Nodes one holder may hold open. */
  readonly holdsPerHolderMax: number;
  /** A holder silent this long loses its holds (the leader's reap drops them). */
  readonly holdLeaseMs: number;
}

/** The state's counters the commands advance; owned by the state machine. */
export interface TreeCounters {
  version: number;
  nextIno: number;
  inodes: number;
}

/** The context of one command: the state's time and who sent it. */
export interface OpContext {
  /** The state's time (never below an earlier stamp). */
  readonly stampMs: number;
  /** stampMs as a time attribute. */
  readonly now: Timespec;
  /** 0 for requests outside an exactly-once session. */
  readonly clientId: number;
}

/** Where a name leads: the directory holding its last component, and what is there now. */
export interface Place {
  readonly dir: Inode;
  readonly name: string;
  readonly dirent: Dirent | undefined;
  /** The live node at the name (an expired file is not live). */
  readonly node: Inode | undefined;
}

/** An existing node, and where its name is when it was named by a path. */
export interface Found {
  readonly node: Inode;
  readonly place: Place | undefined;
}

export const notFound: FsError = { type: 'not_found' };
export const exists: FsError = { type: 'exists' };
export const notDir: FsError = { type: 'not_dir' };
export const isDir: FsError = { type: 'is_dir' };
export const notEmpty: FsError = { type: 'not_empty' };
export const invalid: FsError = { type: 'invalid' };
export const tooLarge: FsError = { type: 'too_large' };
export const notPermitted: FsError = { type: 'not_permitted' };
export const nameTooLong: FsError = { type: 'name_too_long' };
export const tooManyLinks: FsError = { type: 'too_many_links' };
export const done: FsResult = { type: 'done' };
export const deleted: FsResult = { type: 'deleted' };

/** True for an FsError (the values commands return instead of throwing). */
export function isError(value: object): value is FsError {
  return 'type' in value;
}

/** A node counts as present unless it is a file whose deadline is at or before `atMs`. */
export function isLive(node: Inode, atMs: number): boolean {
  return node.kind !== 'file' || node.expiresAtMs > atMs;
}

/** The stamp as a time attribute (whole ns; before any apply, 0). */
export function timeOfStamp(stampMs: number): Timespec {
  const ms = Math.min(Math.max(0, stampMs), Number.MAX_SAFE_INTEGER);
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.min(999_999_999, Math.round((ms - sec * 1000) * 1_000_000)) };
}


export function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

export function isMode(mode: number): boolean {
  return Number.isInteger(mode) && mode >= 0 && mode <= modeMax;
}

export function isTimespec(time: Timespec): boolean {
  return Number.isSafeInteger(time.sec) && Number.isInteger(time.nsec) && time.nsec >= 0 && time.nsec <= 999_999_999;
}
