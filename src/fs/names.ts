/**
 * File names: the one definition of what a valid name is, shared by the client protocol parser,
 * the log-entry codec and the state machine, so a name accepted at the socket is never refused
 * (or silently treated differently) when a replica applies it.
 *
 * A name is a path of components separated by '/'. A single leading '/' is optional and carries no
 * meaning: "/a/b" and "a/b" name the same file, and `normalizeName` strips it so both map to one
 * key. This keeps the FUSE layer (which sees absolute paths) and course clients (which send bare
 * names) from creating two different files for one path.
 *
 * A name may also be anchored at an inode: "//17" is inode 17 itself and "//17/a/b" the path a/b
 * below directory inode 17. (A leading "//" was never a valid name, so no old name changes
 * meaning.) The FUSE mount speaks this way: the kernel knows nodes by inode number, and a rename
 * by another client must not make it act on another node that took the old path.
 *
 * Syntax is checked here; length is semantics: a component over componentBytesMax or a path over
 * pathBytesMax is a valid name that the state machine refuses with name_too_long (ENAMETOOLONG),
 * on lookup as on create, as a local file system does.
 */
import { limits } from '../util/limits.js';

/** Longest name the protocol carries at all, in UTF-8 bytes; longer is a malformed command. */
export const nameBytesMax = limits.nameBytesMax;

const encoder = new TextEncoder();
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const anchorPattern = /^\/\/([1-9][0-9]{0,15})(?:\/|$)/;

/**
 * Returns null when `name` is a valid file name, else a short reason for logs.
 * Accepted: non-empty, at most `nameBytesMax` UTF-8 bytes, an optional single leading '/' or an
 * inode anchor "//<ino>", then components separated by '/' that are neither empty, '.' nor '..',
 * and no NUL anywhere. A bare anchor ("//17") is valid and names the inode itself.
 */
export function validateName(name: string): string | null {
  if (name.length === 0) return 'empty name';
  // A NUL would truncate the path at the FUSE/C boundary and alias another file.
  if (name.includes('\0')) return 'name contains NUL';
  // A lone surrogate has no UTF-8 form: encoding would turn it into U+FFFD, so the name stored by
  // replicas would differ from the name the client used.
  if (loneSurrogate.test(name)) return 'name is not well-formed Unicode';
  // Cheap upper bound first (a UTF-16 unit is at most 3 UTF-8 bytes) so long names are not encoded twice.
  if (name.length * 3 > nameBytesMax && encoder.encode(name).length > nameBytesMax) {
    return `name longer than ${nameBytesMax} bytes`;
  }
  const anchor = anchorPattern.exec(name);
  if (anchor !== null) {
    if (!Number.isSafeInteger(Number(anchor[1]))) return 'inode anchor out of range';
    const rest = name.slice(anchor[0].length);
    if (rest.length === 0) return name.endsWith('/') ? 'empty path component' : null;
    return validateComponents(rest);
  }
  if (name.startsWith('//')) return 'empty path component';
  const body = name.charCodeAt(0) === 0x2f ? name.slice(1) : name;
  if (body.length === 0) return 'name has no components';
  return validateComponents(body);
}

function validateComponents(body: string): string | null {
  for (const component of body.split('/')) {
    // Empty components ("a//b", "a/") would make two spellings of one directory path.
    if (component.length === 0) return 'empty path component';
    // '.' and '..' would let a FUSE path escape or alias its directory.
    if (component === '.' || component === '..') return `path component '${component}' not allowed`;
  }
  return null;
}

/**
 * The canonical spelling of a valid name: the optional leading '/' removed. Idempotent on valid
 * names. Callers validate first; normalizing an invalid name yields an invalid name. Anchored
 * names are already canonical.
 */
export function normalizeName(name: string): string {
  if (name.startsWith('//')) return name;
  return name.charCodeAt(0) === 0x2f ? name.slice(1) : name;
}

/** The one spelling of the root directory; only stat, list and setattr may name it. */
export const rootName = '/';

/** True for the root's name ('/'). */
export function isRootName(name: string): boolean {
  return name === rootName;
}

/**
 * Like validateName, but also accepts the root ('/') when `rootAllowed`: the commands that may
 * address the root (stat, list, setattr, and the ones that refuse it with ERR_INVALID) use this.
 */
export function validatePath(name: string, rootAllowed: boolean): string | null {
  return rootAllowed && isRootName(name) ? null : validateName(name);
}

/** A valid name split: the inode it starts from (`rootIno` for plain paths) and its components. */
export interface ParsedName {
  /** The inode the components are looked up from; null for a plain path (from the root). */
  readonly anchor: number | null;
  readonly components: readonly string[];
}

/** Splits a valid name (see validateName); the root and bare anchors have no components. */
export function parseName(name: string): ParsedName {
  const anchor = anchorPattern.exec(name);
  if (anchor !== null) {
    const rest = name.slice(anchor[0].length);
    return { anchor: Number(anchor[1]), components: rest.length === 0 ? [] : rest.split('/') };
  }
  return { anchor: null, components: pathComponents(name) };
}

/** The components of a valid, normalized plain name; the root has none. */
export function pathComponents(name: string): string[] {
  const body = normalizeName(name);
  return body.length === 0 ? [] : body.split('/');
}

/** UTF-8 byte length of a string (names are measured in bytes, as the kernel measures them). */
export function utf8Length(value: string): number {
  // Fast path: ASCII-only strings (the usual case) are their length.
  let bytes = value.length;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair (4 bytes) counted as two units of 1 byte so far: add 2 more.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}
