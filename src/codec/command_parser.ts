/**
 * The server side of the client protocol: a streaming command parser. Any input, however
 * malformed, becomes a ParseError value (the server answers ERR_CMD_ERR and closes); the course
 * server crashed on several of them.
 *
 * Line lengths: the course commands (read, write, cas, delete) keep the course's 500-byte line;
 * the tree commands may be longer (treeCommandLineBytesMax), so that two paths of PATH_MAX bytes,
 * percent-encoded, fit in one rename or link.
 */
import { isRootName, normalizeName, validatePath } from '../fs/names.js';
import { modeMax, ownerIdMax } from '../fs/tree_ops.js';
import type { FsCommand, FsSpecialKind, RenameMode, Timespec, XattrSetMode } from '../fs/types.js';
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ByteQueue, ContentAssembler } from './byte_queue.js';
import { signedTime, type ClientCommand, type ClientQueryCommand, type ParseError, type ParseErrorCode, type ParsedCommand, type ReplyForm, type RequestId } from './client_protocol.js';
import { parseDecimal, parseOctal, percentDecode, printable, splitFields } from './protocol_fields.js';

/** Limits of one connection's parser. */
export interface CommandParserOptions {
  /** Largest write/cas/writeat content and readat count accepted; larger is refused from the header alone. */
  readonly contentBytesMax: number;
  /** Longest command line of the course commands without its CRLF; protocol.md fixes 500. */
  readonly lineBytesMax?: number;
  /** Longest line of the tree commands. */
  readonly treeLineBytesMax?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const HYPHEN = 0x2d;
const DIGIT_ONE = 0x31;
/** setattrs with every key and a request id has 10 fields; anything after is ignored, so never tokenized. */
const fieldsMax = 12;
/** The longest command word ('removexattr'). */
const commandWordBytesMax = 11;
/** The course's commands, which keep the course's line length. */
const courseCommands = new Set(['read', 'write', 'cas', 'delete']);
/** Every command word. */
const knownCommands = new Set([
  ...courseCommands,
  'stat', 'list', 'attr', 'readlink', 'listxattr', 'readat', 'readdir', 'getxattr', 'seek', 'statfs', 'digest',
  'rmdir', 'create', 'mkdir', 'rename', 'truncate', 'writeat', 'setattr', 'setattrs', 'link', 'mknod', 'symlink',
  'setxattr', 'removexattr', 'fallocate', 'hold', 'release', 'renew',
]);

// fatal: invalid UTF-8 in a name is an error, not a silently different name with U+FFFD.
// ignoreBOM: otherwise a leading U+FEFF would vanish from the name.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A header whose content has not fully arrived yet. */
interface ContentHeader {
  readonly numbytes: number;
  readonly request: RequestId | undefined;
  readonly form: ReplyForm;
  /** The command once its content is known. */
  readonly build: (content: Uint8Array) => ClientCommand;
}

/** A header whose content has not fully arrived yet, and its bytes so far. */
interface PendingContent {
  readonly header: ContentHeader;
  readonly content: ContentAssembler;
}

/**
 * Turns a byte stream into commands. Chunks may split a command at any byte and may carry several
 * pipelined commands. Memory is bounded by what the caller pushes and has not drained: a line is
 * refused once it passes the limit, and a content larger than allowed is refused before any of it
 * is buffered. The caller bounds unanswered commands by draining with next() only when it can
 * take another (limits.pipelinedCommandsMax).
 */
export class CommandParser {
  private readonly queue: ByteQueue;
  private readonly contentBytesMax: number;
  private readonly courseLineBytesMax: number;
  private pending: PendingContent | undefined;
  /** A complete command waiting for its content's CRLF. */
  private awaitingTerminator: ParsedCommand | undefined;
  /** CR, LF of the content terminator consumed so far (it may be split across chunks). */
  private terminatorBytesSeen = 0;
  private failure: ParseError | undefined;

  constructor(options: CommandParserOptions) {
    const lineBytesMax = options.lineBytesMax ?? limits.commandLineBytesMax;
    const treeLineBytesMax = Math.max(lineBytesMax, options.treeLineBytesMax ?? limits.treeCommandLineBytesMax);
    assert(Number.isSafeInteger(lineBytesMax) && lineBytesMax > 0, 'lineBytesMax must be a positive integer');
    assert(Number.isSafeInteger(options.contentBytesMax) && options.contentBytesMax >= 0, 'bad contentBytesMax');
    this.queue = new ByteQueue(treeLineBytesMax);
    this.courseLineBytesMax = lineBytesMax;
    this.contentBytesMax = options.contentBytesMax;
  }

  /** Received bytes not yet turned into commands; lets the server apply backpressure. */
  get bufferedBytes(): number {
    return this.queue.bufferedBytes;
  }

  /**
   * Bytes held for commands not yet returned by next(): unparsed input, a content being
   * assembled, and a whole content still owed its CRLF.
   */
  get heldBytes(): number {
    const awaiting = this.awaitingTerminator?.command;
    const awaitingBytes = awaiting !== undefined ? contentBytesOf(awaiting) : 0;
    return this.queue.bufferedBytes + (this.pending?.content.heldBytes ?? 0) + awaitingBytes;
  }

  /** True while part of a command has arrived: a line, or a command still owed content or CRLF. */
  get holdsPartialCommand(): boolean {
    return this.failure === undefined && (this.pending !== undefined || this.awaitingTerminator !== undefined || this.queue.bufferedBytes > 0);
  }

  /** Adds received bytes. Kept by reference until consumed; ignored once the parser has failed. */
  push(chunk: Uint8Array): void {
    if (this.failure === undefined) this.queue.push(chunk);
  }

  /** The next command, an error (terminal), or undefined when more bytes are needed. */
  next(): ParsedCommand | ParseError | undefined {
    if (this.failure !== undefined) return this.failure;
    const outcome = this.advance();
    if (outcome === undefined || outcome.type === 'command') return outcome;
    this.failure = outcome;
    // The connection is going to be closed: do not hold its unread bytes meanwhile.
    this.queue.clear();
    this.pending = undefined;
    return outcome;
  }

  private advance(): ParsedCommand | ParseError | undefined {
    if (this.awaitingTerminator === undefined && this.pending === undefined) {
      const header = this.readHeader();
      if (header === undefined || header.type === 'error') return header;
      if (header.type === 'command') return header;
      this.pending = { header: header.header, content: new ContentAssembler(header.header.numbytes) };
    }
    if (this.pending !== undefined) {
      const command = this.collectContent(this.pending);
      if (command === undefined) return undefined;
      this.pending = undefined;
      this.awaitingTerminator = command;
    }
    return this.readTerminator();
  }

  private readHeader(): ParsedCommand | ParseError | { type: 'content'; header: ContentHeader } | undefined {
    const line = this.queue.readLine();
    if (line === 'need_more') return this.earlyRefusal();
    if (line === 'too_long') return parseError('line_too_long', 'command line longer than the limit');
    const parsed = parseCommandLine(line, this.contentBytesMax, this.courseLineBytesMax);
    if (parsed.type !== 'content') return parsed;
    if (parsed.header.numbytes > this.contentBytesMax) {
      return parseError('content_too_large', `numbytes ${parsed.header.numbytes} exceeds the limit of ${this.contentBytesMax}`);
    }
    return parsed;
  }

  /**
   * Refuses a line before its CRLF when it provably cannot be a command: its first word is no
   * command (random bytes are refused within a few bytes, not after a whole tree line), or it is
   * a course command past the course's limit, as the course server did.
   */
  private earlyRefusal(): ParseError | undefined {
    const partial = this.queue.partialLine();
    const head = partial.subarray(0, commandWordBytesMax + 1);
    const blank = head.findIndex((byte) => byte === 0x20 || byte === 0x09);
    if (blank > 0 || head.length > commandWordBytesMax) {
      const word = blank > 0 ? String.fromCharCode(...head.subarray(0, blank)) : '';
      if (!knownCommands.has(word)) return parseError('unknown_command', `unknown command '${printable(head)}'`);
      const over = partial.length > this.courseLineBytesMax + 1 || (partial.length === this.courseLineBytesMax + 1 && partial[this.courseLineBytesMax] !== CR);
      if (over && courseCommands.has(word)) return parseError('line_too_long', `${word}: command line longer than ${this.courseLineBytesMax} bytes`);
    }
    return undefined;
  }

  /** The command once all its content has arrived (assembled into one owned array). */
  private collectContent(pending: PendingContent): ParsedCommand | undefined {
    if (!pending.content.fill(this.queue)) return undefined;
    const content = pending.content.bytes;
    return withRequest(pending.header.build(content), pending.header.request, pending.header.form);
  }

  /** Content must be followed by exactly CRLF; a wrong byte fails at once, without waiting. */
  private readTerminator(): ParsedCommand | ParseError | undefined {
    const command = this.awaitingTerminator;
    assert(command !== undefined, 'readTerminator without a command');
    while (this.terminatorBytesSeen < 2) {
      const byte = this.queue.peekByte();
      if (byte === undefined) return undefined;
      const expected = this.terminatorBytesSeen === 0 ? CR : LF;
      if (byte !== expected) return parseError('bad_terminator', 'content not followed by CRLF');
      this.queue.take(1);
      this.terminatorBytesSeen += 1;
    }
    this.terminatorBytesSeen = 0;
    this.awaitingTerminator = undefined;
    return command;
  }
}

function contentBytesOf(command: ClientCommand): number {
  if ('content' in command) return command.content.length;
  if (command.op === 'symlink') return command.target.length;
  if (command.op === 'setxattr') return command.value.length;
  return 0;
}

/** A parsed header line: a complete command, an error, or a command still owed its content. */
type LineParse = ParsedCommand | ParseError | { readonly type: 'content'; readonly header: ContentHeader };

function parseCommandLine(line: Uint8Array, contentBytesMax: number, courseLineBytesMax: number): LineParse {
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

/**
 * Reads the fields after the command word left to right, each as a typed value or a ParseError
 * naming the command and the field.
 */
class FieldReader {
  private position = 1;

  constructor(
    readonly op: string,
    private readonly fields: readonly Uint8Array[],
  ) {}

  name(rootAllowed = true): string | ParseError {
    return parseNameField(this.op, this.next(), rootAllowed);
  }

  count(what: string): number | ParseError {
    return parseCountField(this.op, what, this.next());
  }

  mode(): number | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing mode`);
    const mode = parseOctal(field, modeMax);
    return mode ?? parseError('invalid_field', `${this.op}: mode '${printable(field)}' is not octal up to 7777`);
  }

  /** An owner id: decimal, 0 to 2^32-1. */
  ownerId(what: string): number | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing ${what}`);
    const value = parseDecimal(field);
    return value !== undefined && value <= ownerIdMax ? value : parseError('invalid_field', `${this.op}: ${what} '${printable(field)}' is not 0 to 4294967295`);
  }

  /** `-` for "unchanged", else a number read by `parse`. */
  optional(what: string, parse: (field: Uint8Array) => number | undefined): number | undefined | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing ${what}`);
    if (field.length === 1 && field[0] === HYPHEN) return undefined;
    return parse(field) ?? parseError('invalid_field', `${this.op}: ${what} '${printable(field)}' is not valid`);
  }

  /** An extended attribute name: percent-decoded UTF-8 without NUL. */
  attr(): string | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing attribute name`);
    const text = decodeText(field);
    if (text === undefined || text.length === 0 || text.includes('\0')) return parseError('invalid_field', `${this.op}: bad attribute name '${printable(field)}'`);
    return text;
  }

  /** A plain word (a kind, a flag), or undefined when absent. */
  word(): string | undefined {
    const field = this.next();
    return field === undefined ? undefined : String.fromCharCode(...field.subarray(0, 32));
  }

  /** The optional trailing `<clientId>:<sequence>`. */
  request(): RequestId | ParseError | undefined {
    return parseRequestField(this.op, this.next());
  }

  exptime(): number | ParseError {
    return parseExptimeField(this.op, this.next());
  }

  /** A byte offset, or `-1` for "at the end". */
  offset(): number | ParseError {
    const field = this.next();
    if (field !== undefined && field.length === 2 && field[0] === HYPHEN && field[1] === DIGIT_ONE) return -1;
    return parseCountField(this.op, 'offset', field);
  }

  /** The fields not read yet, for commands with optional flags before the request id. */
  rest(): Uint8Array[] {
    const rest = this.fields.slice(this.position);
    this.position = this.fields.length;
    return rest;
  }

  next(): Uint8Array | undefined {
    return this.fields[this.position++];
  }
}

function isParseError(value: unknown): value is ParseError {
  return typeof value === 'object' && value !== null && 'type' in value && (value as { type: unknown }).type === 'error';
}

function withField<T, C>(value: T | ParseError, build: (value: T) => C): C | ParseError {
  return isParseError(value) ? value : build(value);
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
  return {
    op: 'setattr',
    name,
    ...(mode === undefined ? {} : { mode }),
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(atimeMs === undefined ? {} : { atime: msTime(atimeMs) }),
    ...(mtimeMs === undefined ? {} : { mtime: msTime(mtimeMs) }),
  };
}

function msTime(ms: number): Timespec {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: (ms - sec * 1000) * 1_000_000 };
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

/**
 * `now`, or `<seconds>.<nanoseconds>` (1 to 9 fraction digits), or whole `<seconds>`; negative
 * (a leading '-') before the epoch, as formatTime writes it.
 */
function parseTime(value: Uint8Array): Timespec | 'now' | undefined {
  if (value.length === 3 && String.fromCharCode(...value) === 'now') return 'now';
  const negative = value[0] === HYPHEN;
  const unsigned = negative ? value.subarray(1) : value;
  const dot = unsigned.indexOf(0x2e);
  const whole = parseDecimal(dot < 0 ? unsigned : unsigned.subarray(0, dot));
  if (whole === undefined) return undefined;
  if (dot < 0) return signedTime(negative, whole, 0);
  const fraction = unsigned.subarray(dot + 1);
  if (fraction.length === 0 || fraction.length > 9) return undefined;
  const digits = parseDecimal(fraction);
  return digits === undefined ? undefined : signedTime(negative, whole, digits * 10 ** (9 - fraction.length));
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

function withRequest(command: ClientCommand, request: RequestId | undefined, form: ReplyForm = 'ok'): ParsedCommand {
  const base = form === 'ok' ? { type: 'command' as const, command } : { type: 'command' as const, command, form };
  return request === undefined ? base : { ...base, request };
}

/**
 * The optional request id field. Only a field with a ':' is one, so the course protocol's
 * "extra trailing fields are ignored" still holds for anything else; a malformed id is an error
 * rather than a silently non-idempotent retry.
 */
function parseRequestField(op: string, field: Uint8Array | undefined): RequestId | ParseError | undefined {
  if (field === undefined) return undefined;
  const colon = field.indexOf(0x3a);
  if (colon < 0) return undefined;
  const clientId = parseDecimal(field.subarray(0, colon));
  const sequence = parseDecimal(field.subarray(colon + 1));
  if (clientId === undefined || sequence === undefined || clientId < 1 || sequence < 1) {
    return parseError('invalid_field', `${op}: request id '${printable(field)}' is not <clientId>:<sequence> with both at least 1`);
  }
  return { clientId, sequence };
}

/** The field as text if it could be a command word (short ASCII), else ''. */
function commandWord(field: Uint8Array): string {
  return field.length <= commandWordBytesMax ? String.fromCharCode(...field) : '';
}

/** Percent-decoded UTF-8 text, or undefined. */
function decodeText(field: Uint8Array): string | undefined {
  const bytes = percentDecode(field);
  if (bytes === undefined) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A name field: percent-decoded, UTF-8, valid, normalized. The root ('/') only where `rootAllowed`:
 * the course commands read, write and cas keep refusing it as malformed, as they always did; the
 * others take it so the state machine can answer (ERR_INVALID, or the root's attributes).
 */
function parseNameField(op: string, field: Uint8Array | undefined, rootAllowed: boolean): string | ParseError {
  if (field === undefined) return parseError('missing_field', `${op}: missing name`);
  const bytes = percentDecode(field);
  if (bytes === undefined) return parseError('invalid_name', `${op}: bad percent escape in '${printable(field)}'`);
  let name: string;
  try {
    name = utf8.decode(bytes);
  } catch {
    return parseError('invalid_name', `${op}: name is not valid UTF-8`);
  }
  const problem = validatePath(name, rootAllowed);
  if (problem !== null) return parseError('invalid_name', `${op}: ${problem}`);
  return isRootName(name) ? name : normalizeName(name);
}

function parseCountField(op: string, what: string, field: Uint8Array | undefined): number | ParseError {
  if (field === undefined) return parseError('missing_field', `${op}: missing ${what}`);
  const value = parseDecimal(field);
  if (value === undefined) {
    return parseError('invalid_field', `${op}: ${what} '${printable(field)}' is not a non-negative integer`);
  }
  return value;
}

/** Absent means never expires; a leading '-' is allowed (negative also means never). */
function parseExptimeField(op: string, field: Uint8Array | undefined): number | ParseError {
  if (field === undefined) return 0;
  const negative = field[0] === 0x2d;
  const value = parseDecimal(negative ? field.subarray(1) : field);
  if (value === undefined) return parseError('invalid_field', `${op}: exptime '${printable(field)}' is not an integer`);
  // `|| 0` turns "-0" into 0 so it encodes like any other "never".
  return negative ? -value || 0 : value;
}

function parseError(code: ParseErrorCode, reason: string): ParseError {
  return { type: 'error', code, reason };
}

