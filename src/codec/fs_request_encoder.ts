/**
 * The body of an FsRequest, per op, in the layout of fs_request_codec.ts. Encoding asserts:
 * a request this node builds is always encodable, and a broken one is a bug to stop at.
 */
import { assert } from '../util/assert.js';
import { validatePath } from '../fs/names.js';
import type { FsCommand, FsOwner, FsRequest, Timespec } from '../fs/types.js';
import { encoder, renameModes, rootAllowed, setattrBits, specialKindCodes, xattrModes } from './fs_request_format.js';
import { isCount, Writer } from './fs_request_io.js';

/** Writes the fields of `command` after the header, in the layout of its op code. */
export function encodeBody(writer: Writer, command: FsCommand): void {
  switch (command.op) {
    case 'write':
    case 'cas':
      // cas is write's layout with its version in front.
      if (command.op === 'cas') writer.f64(command.version);
      writer.f64(command.exptimeSeconds);
      writer.bytes(command.content);
      return;
    case 'create':
      writer.f64(command.mode);
      writer.u8(command.exclusive ? 1 : 0);
      if (command.owner !== undefined) writeOwner(writer, command.owner);
      return;
    case 'mkdir':
      writer.f64(command.mode);
      if (command.owner !== undefined) writeOwner(writer, command.owner);
      return;
    case 'rename':
      writer.bytes(encoder.encode(command.to));
      if (command.mode === undefined && command.ifVersion === undefined) return;
      writer.u8(renameModes.indexOf(command.mode ?? 'replace'));
      writer.f64(command.ifVersion ?? -1);
      return;
    case 'truncate':
      writer.f64(command.size);
      return;
    case 'writeat':
      writer.f64(command.offset);
      writer.bytes(command.content);
      return;
    case 'setattr':
      encodeSetattr(writer, command);
      return;
    case 'link':
      writer.bytes(encoder.encode(command.to));
      return;
    case 'symlink':
      writer.bytes(command.target);
      writeOptionalOwner(writer, command.owner);
      return;
    case 'mknod':
      writer.u8(specialKindCodes[command.kind]);
      writer.f64(command.mode);
      writer.f64(command.rdev);
      writeOptionalOwner(writer, command.owner);
      return;
    case 'setxattr':
      writer.bytes(encoder.encode(command.attr));
      writer.bytes(command.value);
      writer.u8(xattrModes.indexOf(command.mode));
      return;
    case 'removexattr':
      writer.bytes(encoder.encode(command.attr));
      return;
    case 'fallocate':
      writer.f64(command.offset);
      writer.f64(command.length);
      writer.u8((command.punch ? 1 : 0) | (command.keepSize ? 2 : 0));
      return;
    case 'hold':
      writer.f64(command.holder);
      writer.u8(command.delta === 1 ? 1 : command.delta === -1 ? 2 : 0);
      return;
    case 'reap':
      writer.u32(command.expired.length);
      for (const target of command.expired) {
        writer.f64(target.ino);
        writer.f64(target.expiresAtMs);
      }
      writer.u32(command.orphans.length);
      for (const ino of command.orphans) writer.f64(ino);
      writer.u32(command.holders.length);
      for (const holder of command.holders) writer.f64(holder);
      return;
    case 'delete':
    case 'rmdir':
      return;
  }
}

function writeOwner(writer: Writer, owner: FsOwner): void {
  writer.f64(owner.uid);
  writer.f64(owner.gid);
}

function writeOptionalOwner(writer: Writer, owner: FsOwner | undefined): void {
  writer.u8(owner === undefined ? 0 : 1);
  if (owner !== undefined) writeOwner(writer, owner);
}

function encodeSetattr(writer: Writer, command: Extract<FsCommand, { op: 'setattr' }>): void {
  const fields: Array<[keyof typeof setattrBits, number | Timespec | undefined]> = [
    ['mode', command.mode],
    ['uid', command.uid],
    ['gid', command.gid],
    ['size', command.size],
    ['atime', command.atime === 'now' ? undefined : command.atime],
    ['mtime', command.mtime === 'now' ? undefined : command.mtime],
    ['exptime', command.exptimeSeconds],
  ];
  let mask = 0;
  for (const [field, value] of fields) if (value !== undefined) mask |= 1 << setattrBits[field];
  if (command.atime === 'now') mask |= 1 << setattrBits.atimeNow;
  if (command.mtime === 'now') mask |= 1 << setattrBits.mtimeNow;
  writer.u16(mask);
  for (const [, value] of fields) {
    if (value === undefined) continue;
    if (typeof value === 'number') writer.f64(value);
    else {
      writer.f64(value.sec);
      writer.f64(value.nsec);
    }
  }
}

/** Asserts every field of `request` fits the layout (see the module comment for why this asserts). */
export function assertEncodable(request: FsRequest): void {
  assert(isCount(request.clientId), `fs request clientId ${request.clientId} not encodable`);
  assert(isCount(request.sequence), `fs request sequence ${request.sequence} not encodable`);
  assert(Number.isFinite(request.stampMs), `fs request stampMs ${request.stampMs} not encodable`);
  const command = request.command;
  const nameError = validatePath(command.name, rootAllowed(command.op));
  assert(nameError === null, `fs request name not encodable: ${nameError ?? ''}`);
  // Decoding checks every field; encoding through it proves the bytes are ones every replica accepts.
  switch (command.op) {
    case 'cas':
      assert(isCount(command.version), `cas version ${command.version} not encodable`);
      assert(Number.isSafeInteger(command.exptimeSeconds), `exptimeSeconds ${command.exptimeSeconds} not encodable`);
      return;
    case 'write':
      assert(Number.isSafeInteger(command.exptimeSeconds), `exptimeSeconds ${command.exptimeSeconds} not encodable`);
      return;
    case 'create':
    case 'mkdir':
    case 'mknod':
      assert(isCount(command.mode), `${command.op} mode ${command.mode} not encodable`);
      assertOwner(command.owner);
      if (command.op === 'mknod') assert(isCount(command.rdev), `mknod rdev ${command.rdev} not encodable`);
      return;
    case 'symlink':
      assertOwner(command.owner);
      return;
    case 'rename':
    case 'link':
      assert(validatePath(command.to, true) === null, `${command.op} target not encodable`);
      if (command.op === 'rename') assert(command.ifVersion === undefined || isCount(command.ifVersion), 'rename ifVersion not encodable');
      return;
    case 'truncate':
      assert(isCount(command.size), `truncate size ${command.size} not encodable`);
      return;
    case 'writeat':
      assert(isCount(command.offset) || command.offset === -1, `writeat offset ${command.offset} not encodable`);
      return;
    case 'fallocate':
      assert(isCount(command.offset) && isCount(command.length), 'fallocate range not encodable');
      return;
    case 'setattr':
      for (const value of [command.mode, command.uid, command.gid, command.size]) {
        assert(value === undefined || isCount(value), `setattr field ${String(value)} not encodable`);
      }
      for (const time of [command.atime, command.mtime]) {
        assert(time === undefined || time === 'now' || (Number.isSafeInteger(time.sec) && Number.isInteger(time.nsec) && time.nsec >= 0 && time.nsec <= 999_999_999), 'setattr time not encodable');
      }
      assert(command.exptimeSeconds === undefined || Number.isSafeInteger(command.exptimeSeconds), 'setattr exptime not encodable');
      return;
    case 'reap':
      assert([...command.orphans, ...command.holders, ...command.expired.map((target) => target.ino)].every(isCount), 'reap ids not encodable');
      return;
    case 'hold':
      assert(isCount(command.holder), 'hold holder not encodable');
      return;
    case 'delete':
    case 'rmdir':
    case 'setxattr':
    case 'removexattr':
      return;
  }
}

function assertOwner(owner: FsOwner | undefined): void {
  assert(owner === undefined || (isCount(owner.uid) && isCount(owner.gid) && owner.uid <= 0xffff_ffff && owner.gid <= 0xffff_ffff), 'owner not encodable');
}
