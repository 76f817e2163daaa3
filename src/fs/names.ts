/**
 * File names: the one definition of what a valid name is, shared by the client protocol parser,
 * the log-entry codec and the state machine, so a name accepted at the socket is never refused
 * (or silently treated differently) when a replica applies it.
 *
 * A name is a path of components separated by '/'. A single leading '/' is optional and carries no
 * meaning: "/a/b" and "a/b" name the same file, and `normalizeName` strips it so both map to one
 * key. This keeps the FUSE layer (which sees absolute paths) and course clients (which send bare
 * names) from creating two different files for one path.
 */

/** Longest name in UTF-8 bytes. In practice the 500-byte command line is the tighter bound. */
export const nameBytesMax = 4096;

const encoder = new TextEncoder();
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Returns null when `name` is a valid file name, else a short reason for logs.
 * Accepted: non-empty, at most `nameBytesMax` UTF-8 bytes, an optional single leading '/', then
 * components separated by '/' that are neither empty, '.' nor '..', and no NUL anywhere.
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
  const body = name.charCodeAt(0) === 0x2f ? name.slice(1) : name;
  if (body.length === 0) return 'name has no components';
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
 * names. Callers validate first; normalizing an invalid name yields an invalid name.
 */
export function normalizeName(name: string): string {
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

/** The components of a valid, normalized name; the root has none. */
export function pathComponents(name: string): string[] {
  const body = normalizeName(name);
  return body.length === 0 ? [] : body.split('/');
}
