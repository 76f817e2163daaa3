/**
 * The body of an FsRequest, per op, decoded from the layout of fs_request_codec.ts. Never
 * throws: a malformed body is an error string, or undefined for "truncated".
 */
import { validatePath } from '../fs/names.js';
import type { FsCommand, FsCommandOp, Timespec } from '../fs/types.js';
import { createOwnedCode, legacySetattrCode, legacySetattrFields, mkdirOwnedCode, renameModeCode, renameModes, setattrBits, specialKinds, xattrModes } from './fs_request_format.js';
import { setattrOfMs } from './client_protocol.js';
import { isCount, Reader } from './fs_request_io.js';

/** The command, undefined when the bytes ran out, or why a field is invalid. */
export function decodeCommand(reader: Reader, op: FsCommandOp, name: string, opCode: number): FsCommand | string | undefined {
  switch (op) {
    case 'delete':
    case 'rmdir':
      return { op, name };
    case 'write':
    case 'cas':
      return decodeContentCommand(reader, op, name);
    case 'create': {
      const mode = reader.f64();
      const exclusive = reader.u8();
      if (mode === undefined || exclusive === undefined) return undefined;
      if (!isCount(mode)) return 'create mode not a safe non-negative integer';
      if (exclusive > 1) return 'create exclusive flag not 0 or 1';
      const command = { op, name, mode, exclusive: exclusive === 1 } as const;
      return opCode === createOwnedCode ? withOwner(reader, command, true) : command;
    }
    case 'mkdir': {
      const mode = reader.f64();
      if (mode === undefined) return undefined;
      if (!isCount(mode)) return 'mkdir mode not a safe non-negative integer';
      return opCode === mkdirOwnedCode ? withOwner(reader, { op, name, mode }, true) : { op, name, mode };
    }
    case 'rename':
      return decodeRename(reader, name, opCode === renameModeCode);
    case 'truncate': {
      const size = reader.f64();
      if (size === undefined) return undefined;
      return isCount(size) ? { op, name, size } : 'truncate size not a safe non-negative integer';
    }
    case 'writeat': {
      const offset = reader.f64();
      const content = reader.bytes();
      if (offset === undefined || content === undefined) return undefined;
      return isCount(offset) || offset === -1 ? { op, name, offset, content } : 'writeat offset not -1 or a safe non-negative integer';
    }
    case 'setattr':
      return opCode === legacySetattrCode ? decodeLegacySetattr(reader, name) : decodeSetattr(reader, name);
    case 'link': {
      const to = reader.utf8();
      if (to === undefined) return undefined;
      const toError = validatePath(to, true);
      return toError === null ? { op, name, to } : `invalid link name: ${toError}`;
    }
    case 'symlink': {
      const target = reader.bytes();
      if (target === undefined) return undefined;
      return withOwner(reader, { op, name, target }, false);
    }
    case 'mknod': {
      const kind = specialKinds.get(reader.u8() ?? -1);
      const mode = reader.f64();
      const rdev = reader.f64();
      if (mode === undefined || rdev === undefined) return undefined;
      if (kind === undefined) return 'mknod kind unknown';
      if (!isCount(mode) || !isCount(rdev)) return 'mknod mode or rdev not a safe non-negative integer';
      return withOwner(reader, { op, name, kind, mode, rdev }, false);
    }
    case 'setxattr': {
      const attr = reader.utf8();
      const value = reader.bytes();
      const mode = xattrModes[reader.u8() ?? -1];
      if (attr === undefined || value === undefined) return undefined;
      return mode === undefined ? 'setxattr mode unknown' : { op, name, attr, value, mode };
    }
    case 'removexattr': {
      const attr = reader.utf8();
      return attr === undefined ? undefined : { op, name, attr };
    }
    case 'fallocate': {
      const offset = reader.f64();
      const length = reader.f64();
      const flags = reader.u8();
      if (offset === undefined || length === undefined || flags === undefined) return undefined;
      if (!isCount(offset) || !isCount(length) || flags > 3) return 'fallocate fields out of range';
      return { op, name, offset, length, punch: (flags & 1) !== 0, keepSize: (flags & 2) !== 0 };
    }
    case 'hold': {
      const holder = reader.f64();
      const delta = reader.u8();
      if (holder === undefined || delta === undefined) return undefined;
      if (!isCount(holder) || delta > 2) return 'hold fields out of range';
      return { op, name, holder, delta: delta === 1 ? 1 : delta === 2 ? -1 : 0 };
    }
    case 'reap':
      return decodeReap(reader, name);
  }
}

/** The owner that follows: always (`required`), or after a presence byte. */
function withOwner<C extends FsCommand>(reader: Reader, command: C, required: boolean): C | string | undefined {
  if (!required) {
    const present = reader.u8();
    if (present === undefined) return undefined;
    if (present > 1) return 'owner presence not 0 or 1';
    if (present === 0) return command;
  }
  const uid = reader.f64();
  const gid = reader.f64();
  if (uid === undefined || gid === undefined) return undefined;
  if (!isCount(uid) || !isCount(gid) || uid > 0xffff_ffff || gid > 0xffff_ffff) return 'owner out of range';
  return { ...command, owner: { uid, gid } };
}

function decodeRename(reader: Reader, name: string, withMode: boolean): FsCommand | string | undefined {
  const to = reader.utf8();
  if (to === undefined) return undefined;
  const toError = validatePath(to, true);
  if (toError !== null) return `invalid rename target: ${toError}`;
  if (!withMode) return { op: 'rename', name, to };
  const mode = renameModes[reader.u8() ?? -1];
  const ifVersion = reader.f64();
  if (ifVersion === undefined) return undefined;
  if (mode === undefined) return 'rename mode unknown';
  if (ifVersion !== -1 && !isCount(ifVersion)) return 'rename ifVersion out of range';
  return { op: 'rename', name, to, mode, ...(ifVersion === -1 ? {} : { ifVersion }) };
}

function decodeReap(reader: Reader, name: string): FsCommand | string | undefined {
  const expired: Array<{ ino: number; expiresAtMs: number }> = [];
  const orphans: number[] = [];
  const holders: number[] = [];
  const expiredCount = reader.u32();
  if (expiredCount === undefined) return undefined;
  for (let k = 0; k < expiredCount; k++) {
    const ino = reader.f64();
    const expiresAtMs = reader.f64();
    if (ino === undefined || expiresAtMs === undefined) return undefined;
    if (!isCount(ino) || Number.isNaN(expiresAtMs)) return 'reap target out of range';
    expired.push({ ino, expiresAtMs });
  }
  for (const list of [orphans, holders]) {
    const count = reader.u32();
    if (count === undefined) return undefined;
    for (let k = 0; k < count; k++) {
      const value = reader.f64();
      if (value === undefined) return undefined;
      if (!isCount(value)) return 'reap id out of range';
      list.push(value);
    }
  }
  return { op: 'reap', name, expired, orphans, holders };
}

function decodeContentCommand(reader: Reader, op: 'write' | 'cas', name: string): FsCommand | string | undefined {
  const version = op === 'cas' ? reader.f64() : 0;
  const exptimeSeconds = reader.f64();
  const content = reader.bytes();
  if (version === undefined || exptimeSeconds === undefined || content === undefined) return undefined;
  if (!isCount(version)) return 'cas version not a safe non-negative integer';
  if (!Number.isSafeInteger(exptimeSeconds)) return 'exptimeSeconds not a safe integer';
  if (op === 'write') return { op: 'write', name, content, exptimeSeconds };
  return { op: 'cas', name, version, content, exptimeSeconds };
}

/** setattr as written before times had nanoseconds: times in whole ms. */
function decodeLegacySetattr(reader: Reader, name: string): FsCommand | string | undefined {
  const mask = reader.u8();
  if (mask === undefined) return undefined;
  if (mask >= 1 << legacySetattrFields.length) return `setattr mask ${mask} has unknown bits`;
  const values: Record<(typeof legacySetattrFields)[number], number | undefined> = { mode: undefined, uid: undefined, gid: undefined, atimeMs: undefined, mtimeMs: undefined };
  for (const [bit, field] of legacySetattrFields.entries()) {
    if ((mask & (1 << bit)) === 0) continue;
    const value = reader.f64();
    if (value === undefined) return undefined;
    if (!isCount(value)) return `setattr ${field} not a safe non-negative integer`;
    values[field] = value;
  }
  // Every value is a safe non-negative integer here, so the times are exact.
  return setattrOfMs(name, values);
}

function decodeSetattr(reader: Reader, name: string): FsCommand | string | undefined {
  const mask = reader.u16();
  if (mask === undefined) return undefined;
  if (mask >= 1 << 9) return `setattr mask ${mask} has unknown bits`;
  const has = (bit: number): boolean => (mask & (1 << bit)) !== 0;
  const numbers: Partial<Record<'mode' | 'uid' | 'gid' | 'size' | 'exptimeSeconds', number>> = {};
  const times: Partial<Record<'atime' | 'mtime', Timespec | 'now'>> = {};
  const order: Array<['mode' | 'uid' | 'gid' | 'size' | 'atime' | 'mtime' | 'exptimeSeconds', number]> = [
    ['mode', setattrBits.mode],
    ['uid', setattrBits.uid],
    ['gid', setattrBits.gid],
    ['size', setattrBits.size],
    ['atime', setattrBits.atime],
    ['mtime', setattrBits.mtime],
    ['exptimeSeconds', setattrBits.exptime],
  ];
  for (const [field, bit] of order) {
    if (!has(bit)) continue;
    if (field === 'atime' || field === 'mtime') {
      const sec = reader.f64();
      const nsec = reader.f64();
      if (sec === undefined || nsec === undefined) return undefined;
      if (!Number.isSafeInteger(sec) || !Number.isInteger(nsec) || nsec < 0 || nsec > 999_999_999) return `setattr ${field} out of range`;
      times[field] = { sec, nsec };
      continue;
    }
    const value = reader.f64();
    if (value === undefined) return undefined;
    if (field === 'exptimeSeconds' ? !Number.isSafeInteger(value) : !isCount(value)) return `setattr ${field} out of range`;
    numbers[field] = value;
  }
  if (has(setattrBits.atimeNow)) times.atime = 'now';
  if (has(setattrBits.mtimeNow)) times.mtime = 'now';
  return { op: 'setattr', name, ...numbers, ...times };
}
