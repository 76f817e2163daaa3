/**
 * One command line of the client protocol, parsed: the command word picks a parser, which reads
 * the fields in order (command_fields.ts) into a command, an error, or a header still owed its
 * content. The course commands (read, write, cas, delete) keep the course's line length.
 */
import { modeMax, ownerIdMax } from '../fs/tree_common.js';
import type { FsCommand, FsSpecialKind, RenameMode, Timespec, XattrSetMode } from '../fs/types.js';
import { limits } from '../util/limits.js';
import { setattrOfMs, type ClientCommand, type ClientQueryCommand, type ParseError, type ParsedCommand, type ReplyForm, type RequestId } from './client_protocol.js';
import { parseDecimal, parseOctal, printable, splitFields } from './protocol_fields.js';
import { commandWord, FieldReader, HYPHEN, isParseError, parseError, parseRequestField, parseTime, withField } from './command_fields.js';

/** setattrs with every key and a request id has 10 fields; anything after is ignored, so never tokenized. */
const fieldsMax = 12;

/** The course's commands, which keep the course's line length. */
export const courseCommands = new Set(['read', 'write', 'cas', 'delete']);

/** Every command word. */
export const knownCommands = new Set([
  ...courseCommands,
  'stat', 'list', 'attr', 'readlink', 'listxattr', 'readat', 'readdir', 'getxattr', 'seek', 'statfs', 'digest',
  'rmdir', 'create', 'mkdir', 'rename', 'truncate', 'writeat', 'setattr', 'setattrs', 'link', 'mknod', 'symlink',
  'setxattr', 'removexattr', 'fallocate', 'hold', 'release', 'renew',
]);

/** A header whose content has not fully arrived yet. */
export interface ContentHeader {
  readonly numbytes: number;
  readonly request: RequestId | undefined;
  readonly form: ReplyForm;
  /** The command once its content is known. */
  readonly build: (content: Uint8Array) => ClientCommand;
}

/** A parsed header line: a complete command, an error, or a command still owed its content. */
type LineParse = ParsedCommand | ParseError | { readonly type: 'content'; readonly header: ContentHeader };

/** Parses one command line (without its CRLF): the command word picks the parser. */
export function parseCommandLine(line: Uint8Array, contentBytesMax: number, courseLineBytesMax: number): LineParse {
  const split = splitFields(line, fieldsMax);
  const verb = split[0];
  if (verb === undefined) return parseError('empty_line', 'empty command line');
  const word = commandWord(verb);
  if (courseCommands.has(word) && line.length > courseLineBytesMax) {
    return parseError('line_too_long', `${word}: command line longer than ${courseLineBytesMax} bytes`);
  }
  const reader = new FieldReader(word, split);
  switch (word) {
    case 'write':
      return parseWrite(reader);
    case 'cas':
      return parseCas(reader);
    case 'read':
      return parseQuery(reader, false, (name) => ({ op: 'read', name }));
    case 'stat':
    case 'list':
    case 'attr':
    case 'readlink':
    case 'listxattr':
      return parseQuery(reader, true, (name) => ({ op: word, name }));
    case 'readat':
      return parseReadAt(reader, contentBytesMax);
    case 'readdir':
      return parseReaddir(reader);
    case 'getxattr':
      return parseQueryWith(reader, (name, next) => withField(next.attr(), (attr) => ({ op: 'getxattr', name, attr })));
    case 'seek':
      return parseQueryWith(reader, (name, next) => parseSeek(name, next));
    case 'statfs':
    case 'digest':
      return { type: 'command', command: { op: word, name: '/' } };
    case 'delete':
    case 'rmdir':
      return parseMutation(reader, (name) => ({ op: word, name }));
    case 'create':
      return parseCreate(reader);
    case 'mkdir':
      return parseMutation(reader, (name, next) => withField(next.mode(), (mode) => ({ op: 'mkdir', name, mode })));
    case 'rename':
      return parseRename(reader);
    case 'truncate':
      return parseMutation(reader, (name, next) => withField(next.count('size'), (size) => ({ op: 'truncate', name, size })));
    case 'writeat':
      return parseWriteAt(reader);
    case 'setattr':
      return parseMutation(reader, (name, next) => parseSetattr(name, next));
    case 'setattrs':
      return parseSetattrs(reader);
    case 'link':
      return parseMutation(reader, (name, next) => withField(next.name(), (to) => ({ op: 'link', name, to })), 'attr');
    case 'mknod':
      return parseMutation(reader, (name, next) => parseMknod(name, next), 'attr');
    case 'symlink':
      return parseSymlink(reader);
    case 'setxattr':
      return parseSetxattr(reader);
    case 'removexattr':
      return parseMutation(reader, (name, next) => withField(next.attr(), (attr) => ({ op: 'removexattr', name, attr })));
    case 'fallocate':
      return parseMutation(reader, (name, next) => parseFallocate(name, next));
    case 'hold':
    case 'release':
    case 'renew':
      return parseMutation(reader, (name, next) =>
        withField(next.count('holder'), (holder) => ({ op: 'hold', name, holder, delta: word === 'hold' ? 1 : word === 'release' ? -1 : 0 })),
      );
    default:
      return parseError('unknown_command', `unknown command '${printable(verb)}'`);
  }
}

/** A mutating command without content: name, its own fields, then the optional request id. */
function parseMutation(reader: FieldReader, build: (name: string, next: FieldReader) => FsCommand | ParseError, form: ReplyForm = 'ok'): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const command = build(name, reader);
  if (isParseError(command)) return command;
  const request = reader.request();
  if (isParseError(request)) return request;
  return withRequest(command, request, form);
}

function parseQuery(reader: FieldReader, rootAllowed: boolean, build: (name: string) => ClientQueryCommand): LineParse {
  const name = reader.name(rootAllowed);
  return isParseError(name) ? name : { type: 'command', command: build(name) };
}

function parseQueryWith(reader: FieldReader, build: (name: string, next: FieldReader) => ClientQueryCommand | ParseError): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const command = build(name, reader);
  return isParseError(command) ? command : { type: 'command', command };
}

function parseReadAt(reader: FieldReader, contentBytesMax: number): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const offset = reader.count('offset');
  if (isParseError(offset)) return offset;
  const count = reader.count('count');
  if (isParseError(count)) return count;
  // Refused like an oversized write: the reply would hold up to `count` bytes.
  if (count > contentBytesMax) return parseError('content_too_large', `readat: count ${count} exceeds the limit of ${contentBytesMax}`);
  return { type: 'command', command: { op: 'readat', name, offset, count } };
}

function parseReaddir(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const cookie = reader.count('cookie');
  if (isParseError(cookie)) return cookie;
  const count = reader.count('count');
  if (isParseError(count)) return count;
  if (count < 1 || count > limits.readdirEntriesMax) return parseError('invalid_field', `readdir: count ${count} is not 1 to ${limits.readdirEntriesMax}`);
  const flag = reader.word();
  if (flag !== undefined && flag !== 'plus') return parseError('invalid_field', `readdir: unknown flag '${flag}'`);
  return { type: 'command', command: { op: 'readdir', name, cookie, count, plus: flag === 'plus' } };
}

function parseSeek(name: string, next: FieldReader): ClientQueryCommand | ParseError {
  const offset = next.count('offset');
  if (isParseError(offset)) return offset;
  const whence = next.word();
  if (whence !== 'data' && whence !== 'hole') return parseError('invalid_field', `seek: whence must be data or hole`);
  return { op: 'seek', name, offset, whence };
}

function parseCreate(reader: FieldReader): LineParse {
  return parseMutation(reader, (name, next) => {
    const mode = next.mode();
    if (isParseError(mode)) return mode;
    const exclusive = next.count('exclusive');
    if (isParseError(exclusive)) return exclusive;
    if (exclusive > 1) return parseError('invalid_field', `create: exclusive must be 0 or 1, not ${exclusive}`);
    return { op: 'create', name, mode, exclusive: exclusive === 1 };
  });
}

/**
 * `rename <from> <to> [noreplace | exchange] [ifversion=<n>] [<id>]`. Other words without ':' are
 * ignored, as extra fields always were.
 */
function parseRename(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const to = reader.name();
  if (isParseError(to)) return to;
  let mode: RenameMode | undefined;
  let ifVersion: number | undefined;
  let request: RequestId | undefined;
  for (const field of reader.rest()) {
    const text = String.fromCharCode(...field.subarray(0, 64));
    if (text === 'noreplace' || text === 'exchange') {
      mode = text;
    } else if (text.startsWith('ifversion=')) {
      const value = parseDecimal(field.subarray('ifversion='.length));
      if (value === undefined) return parseError('invalid_field', `rename: bad ${printable(field)}`);
      ifVersion = value;
    } else if (field.includes(0x3a)) {
      const parsed = parseRequestField('rename', field);
      if (isParseError(parsed)) return parsed;
      request = parsed;
      break;
    }
  }
  const command: FsCommand = { op: 'rename', name, to, ...(mode === undefined ? {} : { mode }), ...(ifVersion === undefined ? {} : { ifVersion }) };
  return withRequest(command, request, 'ok');
}

function parseSetattr(name: string, next: FieldReader): FsCommand | ParseError {
  const mode = next.optional('mode', (field) => parseOctal(field, modeMax));
  if (isParseError(mode)) return mode;
  const ownerId = (field: Uint8Array): number | undefined => {
    const value = parseDecimal(field);
    return value !== undefined && value <= ownerIdMax ? value : undefined;
  };
  const uid = next.optional('uid', ownerId);
  if (isParseError(uid)) return uid;
  const gid = next.optional('gid', ownerId);
  if (isParseError(gid)) return gid;
  const atimeMs = next.optional('atimeMs', parseDecimal);
  if (isParseError(atimeMs)) return atimeMs;
  const mtimeMs = next.optional('mtimeMs', parseDecimal);
  if (isParseError(mtimeMs)) return mtimeMs;
  return setattrOfMs(name, { mode, uid, gid, atimeMs, mtimeMs });
}

/** `setattrs <name> key=value ... [<id>]`: mode, uid, gid, size, atime, mtime (sec.nsec or now), exptime. */
function parseSetattrs(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const change: Record<string, number | Timespec | 'now'> = {};
  let request: RequestId | undefined;
  for (const field of reader.rest()) {
    const equals = field.indexOf(0x3d);
    if (equals < 0) {
      const id = parseRequestField('setattrs', field);
      if (isParseError(id)) return id;
      if (id === undefined) return parseError('invalid_field', `setattrs: '${printable(field)}' is not key=value`);
      request = id;
      break;
    }
    const key = String.fromCharCode(...field.subarray(0, Math.min(equals, 16)));
    const parsed = parseSetattrsValue(key, field.subarray(equals + 1));
    if (isParseError(parsed)) return parsed;
    change[key === 'exptime' ? 'exptimeSeconds' : key] = parsed;
  }
  return withRequest({ op: 'setattr', name, ...change } as FsCommand, request, 'attr');
}

function parseSetattrsValue(key: string, value: Uint8Array): number | Timespec | 'now' | ParseError {
  const invalid = parseError('invalid_field', `setattrs: bad ${key}=${printable(value)}`);
  switch (key) {
    case 'mode':
      return parseOctal(value, modeMax) ?? invalid;
    case 'uid':
    case 'gid': {
      const id = parseDecimal(value);
      return id !== undefined && id <= ownerIdMax ? id : invalid;
    }
    case 'size':
      return parseDecimal(value) ?? invalid;
    case 'atime':
    case 'mtime':
      return parseTime(value) ?? invalid;
    case 'exptime': {
      const negative = value[0] === HYPHEN;
      const seconds = parseDecimal(negative ? value.subarray(1) : value);
      return seconds === undefined ? invalid : negative ? -seconds || 0 : seconds;
    }
    default:
      return parseError('invalid_field', `setattrs: unknown key '${key}'`);
  }
}

const specialKinds = new Set<string>(['fifo', 'socket', 'chr', 'blk']);

/** `mknod <name> <kind> <mode> <rdev> <uid> <gid>`: kind file (an exclusive create), dir, fifo, socket, chr, blk. */
function parseMknod(name: string, next: FieldReader): FsCommand | ParseError {
  const kind = next.word();
  if (kind === undefined) return parseError('missing_field', 'mknod: missing kind');
  const mode = next.mode();
  if (isParseError(mode)) return mode;
  const rdev = next.count('rdev');
  if (isParseError(rdev)) return rdev;
  const uid = next.ownerId('uid');
  if (isParseError(uid)) return uid;
  const gid = next.ownerId('gid');
  if (isParseError(gid)) return gid;
  const owner = { uid, gid };
  if (kind === 'file') return { op: 'create', name, mode, exclusive: true, owner };
  if (kind === 'dir') return { op: 'mkdir', name, mode, owner };
  if (!specialKinds.has(kind)) return parseError('invalid_field', `mknod: unknown kind '${kind}'`);
  return { op: 'mknod', name, kind: kind as FsSpecialKind, mode, rdev, owner };
}

function parseSymlink(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const uid = reader.ownerId('uid');
  if (isParseError(uid)) return uid;
  const gid = reader.ownerId('gid');
  if (isParseError(gid)) return gid;
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  return contentHeader(reader, numbytes, 'attr', (target) => ({ op: 'symlink', name, target, owner: { uid, gid } }));
}

const xattrModes = new Set<string>(['any', 'create', 'replace']);

function parseSetxattr(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const attr = reader.attr();
  if (isParseError(attr)) return attr;
  const mode = reader.word();
  if (mode === undefined || !xattrModes.has(mode)) return parseError('invalid_field', 'setxattr: mode must be any, create or replace');
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  return contentHeader(reader, numbytes, 'ok', (value) => ({ op: 'setxattr', name, attr, value, mode: mode as XattrSetMode }));
}

function parseFallocate(name: string, next: FieldReader): FsCommand | ParseError {
  const mode = next.word();
  if (mode !== 'allocate' && mode !== 'keep' && mode !== 'punch') return parseError('invalid_field', 'fallocate: mode must be allocate, keep or punch');
  const offset = next.count('offset');
  if (isParseError(offset)) return offset;
  const length = next.count('length');
  if (isParseError(length)) return length;
  return { op: 'fallocate', name, offset, length, punch: mode === 'punch', keepSize: mode !== 'allocate' };
}

function parseWrite(reader: FieldReader): LineParse {
  const name = reader.name(false);
  if (isParseError(name)) return name;
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  const exptimeSeconds = reader.exptime();
  if (isParseError(exptimeSeconds)) return exptimeSeconds;
  return contentHeader(reader, numbytes, 'ok', (content) => ({ op: 'write', name, content, exptimeSeconds }));
}

function parseCas(reader: FieldReader): LineParse {
  const name = reader.name(false);
  if (isParseError(name)) return name;
  const version = reader.count('version');
  if (isParseError(version)) return version;
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  const exptimeSeconds = reader.exptime();
  if (isParseError(exptimeSeconds)) return exptimeSeconds;
  return contentHeader(reader, numbytes, 'ok', (content) => ({ op: 'cas', name, version, content, exptimeSeconds }));
}

function parseWriteAt(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const offset = reader.offset();
  if (isParseError(offset)) return offset;
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  return contentHeader(reader, numbytes, 'ok', (content) => ({ op: 'writeat', name, offset, content }));
}

function contentHeader(reader: FieldReader, numbytes: number, form: ReplyForm, build: (content: Uint8Array) => ClientCommand): LineParse {
  const request = reader.request();
  if (isParseError(request)) return request;
  return { type: 'content', header: { numbytes, request, form, build } };
}

/** The parsed command with its reply form and, when the line carried one, its request id. */
export function withRequest(command: ClientCommand, request: RequestId | undefined, form: ReplyForm = 'ok'): ParsedCommand {
  const base = form === 'ok' ? { type: 'command' as const, command } : { type: 'command' as const, command, form };
  return request === undefined ? base : { ...base, request };
}
