/**
 * The codes of the FsRequest layout (fs_request_codec.ts): one per op, kind and mode, shared by
 * the encoder and the decoder so the two cannot disagree.
 */
import type { FsCommand, FsCommandOp, FsSpecialKind, RenameMode, XattrSetMode } from '../fs/types.js';

/** The op code of each command in its current layout. */
const opCodes: Readonly<Record<FsCommandOp, number>> = {
  write: 1,
  cas: 2,
  delete: 3,
  create: 11,
  mkdir: 12,
  rmdir: 13,
  rename: 14,
  truncate: 15,
  writeat: 16,
  setattr: 26,
  link: 18,
  symlink: 19,
  mknod: 20,
  setxattr: 21,
  removexattr: 22,
  fallocate: 23,
  hold: 24,
  reap: 25,
};

/** The setattr layout of entries written before times had nanoseconds. */
export const legacySetattrCode = 17;
/** The layouts of create, mkdir and rename with their newer fields. */
export const createOwnedCode = 27;
export const mkdirOwnedCode = 28;
export const renameModeCode = 29;
/** The op each code decodes as (older and newer layouts of one op share it). */
export const opsByCode = new Map<number, FsCommandOp>([
  ...Object.entries(opCodes).map(([op, code]) => [code, op as FsCommandOp] as const),
  [legacySetattrCode, 'setattr'],
  [createOwnedCode, 'create'],
  [mkdirOwnedCode, 'mkdir'],
  [renameModeCode, 'rename'],
]);

/** The op code a command is written with: the newer layout only when it carries the newer fields. */
export function opCodeOf(command: FsCommand): number {
  if (command.op === 'create' && command.owner !== undefined) return createOwnedCode;
  if (command.op === 'mkdir' && command.owner !== undefined) return mkdirOwnedCode;
  if (command.op === 'rename' && (command.mode !== undefined || command.ifVersion !== undefined)) return renameModeCode;
  return opCodes[command.op];
}

/** The fields of a legacy setattr, one mask bit each, in bit order. */
export const legacySetattrFields = ['mode', 'uid', 'gid', 'atimeMs', 'mtimeMs'] as const;
/** The mask bits of a setattr. */
export const setattrBits = { mode: 0, uid: 1, gid: 2, size: 3, atime: 4, mtime: 5, atimeNow: 6, mtimeNow: 7, exptime: 8 } as const;
/** The kind byte of a mknod, and back. */
export const specialKindCodes: Readonly<Record<FsSpecialKind, number>> = { fifo: 4, socket: 5, chr: 6, blk: 7 };
export const specialKinds = new Map<number, FsSpecialKind>(Object.entries(specialKindCodes).map(([kind, code]) => [code, kind as FsSpecialKind]));
/** The mode byte of a rename and of a setxattr: the index in these lists. */
export const renameModes: readonly RenameMode[] = ['replace', 'noreplace', 'exchange'];
export const xattrModes: readonly XattrSetMode[] = ['any', 'create', 'replace'];
/** Bytes before the name: version, op, clientId, sequence, stampMs, nameBytes. */
export const headerBytes = 1 + 1 + 8 + 8 + 8 + 4;
export const u32Max = 0xffffffff;

export const encoder = new TextEncoder();
// fatal: a name that is not valid UTF-8 must be refused, not silently altered with U+FFFD.
// ignoreBOM: otherwise a name starting with U+FEFF would lose that character on decode.
export const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Only course write and cas keep refusing the root outright, as they always did; the others carry
 * it so the state machine can answer ERR_INVALID (or, for setattr, change the root).
 */
export function rootAllowed(op: FsCommandOp): boolean {
  return op !== 'write' && op !== 'cas';
}
