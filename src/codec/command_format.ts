/**
 * The client side of the client protocol: commands as bytes, exactly as command_parser.ts reads
 * them (used by the typed client, tests and benchmarks).
 */
import type { FsCommand, Timespec } from '../fs/types.js';
import { assert, unreachable } from '../util/assert.js';
import { encodeName, formatTime, isLocalCommand, isQueryCommand, msOfTime, type ClientCommand, type RequestId } from './client_protocol.js';
import { withContent } from './protocol_fields.js';

const encoder = new TextEncoder();

/**
 * The bytes of a command as a client sends it. `form` 'attr' asks for the ATTR reply of the
 * commands that have one (create as `mknod ... file`, mkdir as `mknod ... dir`, setattr as
 * `setattrs`); link, symlink and mknod always have it.
 */
export function formatCommand(command: ClientCommand, request?: RequestId, form: 'ok' | 'attr' = 'ok'): Uint8Array {
  const name = encodeName(command.name);
  const id = request === undefined || isQueryCommand(command) || isLocalCommand(command) ? '' : ` ${decimal(request.clientId)}:${decimal(request.sequence)}`;
  switch (command.op) {
    case 'read':
    case 'stat':
    case 'list':
    case 'attr':
    case 'readlink':
    case 'listxattr':
      return ascii(`${command.op} ${name}\r\n`);
    case 'readat':
      return ascii(`readat ${name} ${decimal(command.offset)} ${decimal(command.count)}\r\n`);
    case 'readdir':
      return ascii(`readdir ${name} ${decimal(command.cookie)} ${decimal(command.count)}${command.plus ? ' plus' : ''}\r\n`);
    case 'getxattr':
      return ascii(`getxattr ${name} ${encodeName(command.attr)}\r\n`);
    case 'seek':
      return ascii(`seek ${name} ${decimal(command.offset)} ${command.whence}\r\n`);
    case 'statfs':
    case 'digest':
      return ascii(`${command.op}\r\n`);
    default:
      return formatMutation(command, name, id, form);
  }
}

function formatMutation(command: FsCommand, name: string, id: string, form: 'ok' | 'attr'): Uint8Array {
  switch (command.op) {
    case 'delete':
    case 'rmdir':
      return ascii(`${command.op} ${name}${id}\r\n`);
    case 'write':
      return withContent(`write ${name} ${command.content.length} ${command.exptimeSeconds}${id}\r\n`, command.content);
    case 'cas': {
      const header = `cas ${name} ${command.version} ${command.content.length} ${command.exptimeSeconds}${id}\r\n`;
      return withContent(header, command.content);
    }
    case 'create':
      if (form === 'attr' || command.owner !== undefined) {
        assert(command.exclusive, 'only an exclusive create has the mknod form');
        return ascii(`mknod ${name} file ${octal(command.mode)} 0 ${owner(command.owner)}${id}\r\n`);
      }
      return ascii(`create ${name} ${octal(command.mode)} ${command.exclusive ? 1 : 0}${id}\r\n`);
    case 'mkdir':
      if (form === 'attr' || command.owner !== undefined) return ascii(`mknod ${name} dir ${octal(command.mode)} 0 ${owner(command.owner)}${id}\r\n`);
      return ascii(`mkdir ${name} ${octal(command.mode)}${id}\r\n`);
    case 'mknod':
      return ascii(`mknod ${name} ${command.kind} ${octal(command.mode)} ${decimal(command.rdev)} ${owner(command.owner)}${id}\r\n`);
    case 'symlink':
      return withContent(`symlink ${name} ${owner(command.owner)} ${command.target.length}${id}\r\n`, command.target);
    case 'link':
      return ascii(`link ${name} ${encodeName(command.to)}${id}\r\n`);
    case 'rename': {
      const flags = [command.mode === undefined || command.mode === 'replace' ? '' : ` ${command.mode}`, command.ifVersion === undefined ? '' : ` ifversion=${decimal(command.ifVersion)}`].join('');
      return ascii(`rename ${name} ${encodeName(command.to)}${flags}${id}\r\n`);
    }
    case 'truncate':
      return ascii(`truncate ${name} ${decimal(command.size)}${id}\r\n`);
    case 'writeat': {
      const offset = command.offset === -1 ? '-1' : decimal(command.offset);
      return withContent(`writeat ${name} ${offset} ${command.content.length}${id}\r\n`, command.content);
    }
    case 'setattr':
      return formatSetattr(command, name, id, form);
    case 'setxattr':
      return withContent(`setxattr ${name} ${encodeName(command.attr)} ${command.mode} ${command.value.length}${id}\r\n`, command.value);
    case 'removexattr':
      return ascii(`removexattr ${name} ${encodeName(command.attr)}${id}\r\n`);
    case 'fallocate': {
      const mode = command.punch ? 'punch' : command.keepSize ? 'keep' : 'allocate';
      return ascii(`fallocate ${name} ${mode} ${decimal(command.offset)} ${decimal(command.length)}${id}\r\n`);
    }
    case 'hold': {
      const word = command.delta === 1 ? 'hold' : command.delta === -1 ? 'release' : 'renew';
      return ascii(`${word} ${name} ${decimal(command.holder)}${id}\r\n`);
    }
    case 'reap':
      // Proposed by the leader itself, never sent by a client.
      throw new Error('reap is not a client command');
    default:
      return unreachable(command, 'client command');
  }
}

/**
 * setattr in the positional form (times in whole ms) where it can say everything, else
 * `setattrs key=value` (nanoseconds, now, size, exptime), which also answers ATTR.
 */
function formatSetattr(command: Extract<FsCommand, { op: 'setattr' }>, name: string, id: string, form: 'ok' | 'attr'): Uint8Array {
  // The positional form's ms fields are unsigned: a time before the epoch goes as setattrs.
  const wholeMs = (time: Timespec | 'now' | undefined): boolean => time === undefined || (time !== 'now' && time.sec >= 0 && time.nsec % 1_000_000 === 0);
  const positional = form === 'ok' && command.size === undefined && command.exptimeSeconds === undefined && wholeMs(command.atime) && wholeMs(command.mtime);
  if (positional) {
    const optional = (value: number | undefined, format: (value: number) => string): string => (value === undefined ? '-' : format(value));
    const ms = (time: Timespec | 'now' | undefined): number | undefined => (time === undefined || time === 'now' ? undefined : msOfTime(time));
    const fields = [optional(command.mode, octal), ...[command.uid, command.gid, ms(command.atime), ms(command.mtime)].map((value) => optional(value, decimal))];
    return ascii(`setattr ${name} ${fields.join(' ')}${id}\r\n`);
  }
  const pairs: string[] = [];
  if (command.mode !== undefined) pairs.push(`mode=${octal(command.mode)}`);
  if (command.uid !== undefined) pairs.push(`uid=${decimal(command.uid)}`);
  if (command.gid !== undefined) pairs.push(`gid=${decimal(command.gid)}`);
  if (command.size !== undefined) pairs.push(`size=${decimal(command.size)}`);
  if (command.atime !== undefined) pairs.push(`atime=${command.atime === 'now' ? 'now' : formatTime(command.atime)}`);
  if (command.mtime !== undefined) pairs.push(`mtime=${command.mtime === 'now' ? 'now' : formatTime(command.mtime)}`);
  if (command.exptimeSeconds !== undefined) pairs.push(`exptime=${command.exptimeSeconds}`);
  return ascii(`setattrs ${name}${pairs.map((pair) => ` ${pair}`).join('')}${id}\r\n`);
}

function owner(value: { uid: number; gid: number } | undefined): string {
  return `${decimal(value?.uid ?? 0)} ${decimal(value?.gid ?? 0)}`;
}

function decimal(value: number): string {
  assert(Number.isSafeInteger(value) && value >= 0, `command field ${value} is not a non-negative integer`);
  return String(value);
}

function octal(value: number): string {
  assert(Number.isInteger(value) && value >= 0 && value <= 0o7777, `mode ${value} is not 0..7777 octal`);
  return value.toString(8);
}

function ascii(text: string): Uint8Array {
  return encoder.encode(text);
}
