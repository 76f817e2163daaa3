/**
 * The raw TCP client protocol (README "The protocol"): a streaming command parser for the server
 * side and the reply encoders. Any input, however malformed, becomes a ParseError value (the server
 * answers ERR_CMD_ERR and closes); the course server crashed on several of them.
 */
import { modeMax, ownerIdMax } from '../fs/file_server.js';
import { isRootName, normalizeName, validatePath } from '../fs/names.js';
import type { FsCommand, FsDirEntry, FsNodeStat, FsQuery, FsQueryResult, FsReadResult, FsResult } from '../fs/types.js';
import { assert, unreachable } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ByteQueue, ContentAssembler } from './byte_queue.js';
import { hex2, parseDecimal, parseOctal, percentDecode, printable, splitFields } from './protocol_fields.js';

/** The read-only commands: answered by the leader after a ReadIndex round, never logged. */
export type ClientQueryCommand =
  | { readonly op: 'read'; readonly name: string }
  | { readonly op: 'stat'; readonly name: string }
  | { readonly op: 'list'; readonly name: string }
  /** `count` is at most the connection's contentBytesMax. */
  | { readonly op: 'readat'; readonly name: string; readonly offset: number; readonly count: number };

/**
 * One command from a client. Names are percent-decoded, validated and normalized (no leading
 * '/', except the root which is spelled '/'); content is an owned copy. The mutating shapes are
 * exactly FsCommand's.
 */
export type ClientCommand = FsCommand | ClientQueryCommand;

/** True for the commands that only read (read, stat, list, readat). */
export function isQueryCommand(command: ClientCommand): command is ClientQueryCommand {
  return command.op === 'read' || command.op === 'stat' || command.op === 'list' || command.op === 'readat';
}

/**
 * The state-machine query for a read-only command. `read` of a file larger than `contentBytesMax`
 * is answered ERR_TOO_LARGE rather than copied into a reply no client would accept.
 */
export function queryOf(command: ClientQueryCommand, contentBytesMax: number): FsQuery {
  return command.op === 'read' ? { op: 'read', name: command.name, bytesMax: contentBytesMax } : command;
}

/** A complete command taken off the stream. */
export interface ParsedCommand {
  readonly type: 'command';
  readonly command: ClientCommand;
  /** The client's exactly-once identity for a mutating command, when it sent one. */
  readonly request?: RequestId;
}

/**
 * fsraft's extension for exactly-once retries: an optional last field `<clientId>:<sequence>`
 * after the last field of any mutating command (write's exptime, delete's name, ...). A retry with
 * the same pair is answered with the first answer instead of being applied again. Course clients
 * never send it.
 */
export interface RequestId {
  /** A positive integer the client picks at random once. */
  readonly clientId: number;
  /** Starts at 1 and grows by one per new request of that client. */
  readonly sequence: number;
}

/** What was wrong with the input; the wire reply is ERR_CMD_ERR whatever the code. */
export type ParseErrorCode =
  | 'empty_line'
  | 'unknown_command'
  | 'missing_field'
  | 'invalid_field'
  | 'invalid_name'
  | 'line_too_long'
  | 'content_too_large'
  | 'bad_terminator';

/** Malformed input. Terminal: the parser returns it from every later next() call. */
export interface ParseError {
  readonly type: 'error';
  readonly code: ParseErrorCode;
  /** Human-readable detail for the server's log, never sent to the client. */
  readonly reason: string;
}

/** Limits of one connection's parser. */
export interface CommandParserOptions {
  /** Largest write/cas/writeat content and readat count accepted; larger is refused from the header alone. */
  readonly contentBytesMax: number;
  /** Longest command line without its CRLF; protocol.md fixes 500. */
  readonly lineBytesMax?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const HYPHEN = 0x2d;
const DIGIT_ONE = 0x31;
/** setattr with a request id has 8 fields; anything after is ignored, so never tokenized. */
const fieldsMax = 8;
/** The longest command word ('truncate'). */
const commandWordBytesMax = 8;

// fatal: invalid UTF-8 in a name is an error, not a silently different name with U+FFFD.
// ignoreBOM: otherwise a leading U+FEFF would vanish from the name.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** A write/cas/writeat header whose content has not fully arrived yet. */
interface ContentHeader {
  readonly numbytes: number;
  readonly request: RequestId | undefined;
  /** The command once its content is known. */
  readonly build: (content: Uint8Array) => ClientCommand;
}

/** A write/cas/writeat header whose content has not fully arrived yet, and its bytes so far. */
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
  private pending: PendingContent | undefined;
  /** A complete command waiting for its content's CRLF. */
  private awaitingTerminator: ParsedCommand | undefined;
  /** CR, LF of the content terminator consumed so far (it may be split across chunks). */
  private terminatorBytesSeen = 0;
  private failure: ParseError | undefined;

  constructor(options: CommandParserOptions) {
    const lineBytesMax = options.lineBytesMax ?? limits.commandLineBytesMax;
    assert(Number.isSafeInteger(lineBytesMax) && lineBytesMax > 0, 'lineBytesMax must be a positive integer');
    assert(Number.isSafeInteger(options.contentBytesMax) && options.contentBytesMax >= 0, 'bad contentBytesMax');
    this.queue = new ByteQueue(lineBytesMax);
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
    const awaitingBytes = awaiting !== undefined && 'content' in awaiting ? awaiting.content.length : 0;
    return this.queue.bufferedBytes + (this.pending?.content.heldBytes ?? 0) + awaitingBytes;
  }

  /** True while part of a command has arrived: a line, or a write/cas/writeat still owed content or CRLF. */
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
    if (line === 'need_more') return undefined;
    if (line === 'too_long') return parseError('line_too_long', 'command line longer than the limit');
    const parsed = parseCommandLine(line, this.contentBytesMax);
    if (parsed.type !== 'content') return parsed;
    if (parsed.header.numbytes > this.contentBytesMax) {
      return parseError(
        'content_too_large',
        `numbytes ${parsed.header.numbytes} exceeds the limit of ${this.contentBytesMax}`,
      );
    }
    return parsed;
  }

  /** The command once all its content has arrived (assembled into one owned array). */
  private collectContent(pending: PendingContent): ParsedCommand | undefined {
    if (!pending.content.fill(this.queue)) return undefined;
    const content = pending.content.bytes;
    return withRequest(pending.header.build(content), pending.header.request);
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

/** A parsed header line: a complete command, an error, or a write/cas/writeat still owed its content. */
type LineParse = ParsedCommand | ParseError | { readonly type: 'content'; readonly header: ContentHeader };

function parseCommandLine(line: Uint8Array, contentBytesMax: number): LineParse {
  const split = splitFields(line, fieldsMax);
  const verb = split[0];
  if (verb === undefined) return parseError('empty_line', 'empty command line');
  const word = commandWord(verb);
  const reader = new FieldReader(word, split);
  switch (word) {
    case 'write':
      return parseWrite(reader);
    case 'cas':
      return parseCas(reader);
    case 'read':
      return parseQuery(reader, false, (name) => ({ op: 'read', name }));
    case 'stat':
      return parseQuery(reader, true, (name) => ({ op: 'stat', name }));
    case 'list':
      return parseQuery(reader, true, (name) => ({ op: 'list', name }));
    case 'readat':
      return parseReadAt(reader, contentBytesMax);
    case 'delete':
    case 'rmdir':
      return parseMutation(reader, (name) => ({ op: word, name }));
    case 'create':
      return parseCreate(reader);
    case 'mkdir':
      return parseMutation(reader, (name, next) => withField(next.mode(), (mode) => ({ op: 'mkdir', name, mode })));
    case 'rename':
      return parseMutation(reader, (name, next) => withField(next.name(), (to) => ({ op: 'rename', name, to })));
    case 'truncate':
      return parseMutation(reader, (name, next) => withField(next.count('size'), (size) => ({ op: 'truncate', name, size })));
    case 'writeat':
      return parseWriteAt(reader);
    case 'setattr':
      return parseMutation(reader, (name, next) => parseSetattr(name, next));
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
    private readonly op: string,
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

  /** `-` for "unchanged", else a number read by `parse`. */
  optional(what: string, parse: (field: Uint8Array) => number | undefined): number | undefined | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing ${what}`);
    if (field.length === 1 && field[0] === HYPHEN) return undefined;
    return parse(field) ?? parseError('invalid_field', `${this.op}: ${what} '${printable(field)}' is not valid`);
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

  private next(): Uint8Array | undefined {
    return this.fields[this.position++];
  }
}

function isParseError(value: unknown): value is ParseError {
  return typeof value === 'object' && value !== null && 'type' in value && (value as { type: unknown }).type === 'error';
}

function withField<T>(value: T | ParseError, build: (value: T) => FsCommand): FsCommand | ParseError {
  return isParseError(value) ? value : build(value);
}

/** A mutating command without content: name, its own fields, then the optional request id. */
function parseMutation(reader: FieldReader, build: (name: string, next: FieldReader) => FsCommand | ParseError): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const command = build(name, reader);
  if (isParseError(command)) return command;
  const request = reader.request();
  if (isParseError(request)) return request;
  return withRequest(command, request);
}

function parseQuery(reader: FieldReader, rootAllowed: boolean, build: (name: string) => ClientQueryCommand): LineParse {
  const name = reader.name(rootAllowed);
  return isParseError(name) ? name : { type: 'command', command: build(name) };
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
  return { op: 'setattr', name, mode, uid, gid, atimeMs, mtimeMs };
}

function parseWrite(reader: FieldReader): LineParse {
  const name = reader.name(false);
  if (isParseError(name)) return name;
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  const exptimeSeconds = reader.exptime();
  if (isParseError(exptimeSeconds)) return exptimeSeconds;
  return contentHeader(reader, numbytes, (content) => ({ op: 'write', name, content, exptimeSeconds }));
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
  return contentHeader(reader, numbytes, (content) => ({ op: 'cas', name, version, content, exptimeSeconds }));
}

function parseWriteAt(reader: FieldReader): LineParse {
  const name = reader.name();
  if (isParseError(name)) return name;
  const offset = reader.offset();
  if (isParseError(offset)) return offset;
  const numbytes = reader.count('numbytes');
  if (isParseError(numbytes)) return numbytes;
  return contentHeader(reader, numbytes, (content) => ({ op: 'writeat', name, offset, content }));
}

function contentHeader(reader: FieldReader, numbytes: number, build: (content: Uint8Array) => ClientCommand): LineParse {
  const request = reader.request();
  if (isParseError(request)) return request;
  return { type: 'content', header: { numbytes, request, build } };
}

function withRequest(command: ClientCommand, request: RequestId | undefined): ParsedCommand {
  return request === undefined ? { type: 'command', command } : { type: 'command', command, request };
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

/**
 * Percent-encodes the bytes that cannot appear inside a protocol token (space, tab, CR, LF) and
 * '%' itself, so any valid name can be sent. Other characters travel as raw UTF-8.
 */
export function encodeName(name: string): string {
  return name.replace(/[ \t\r\n%]/g, (character) => `%${hex2(character.charCodeAt(0))}`);
}

/** The bytes of a command as a client sends it (used by clients, tests and benchmarks). */
export function formatCommand(command: ClientCommand, request?: RequestId): Uint8Array {
  const name = encodeName(command.name);
  const id = request === undefined || isQueryCommand(command) ? '' : ` ${decimal(request.clientId)}:${decimal(request.sequence)}`;
  switch (command.op) {
    case 'read':
    case 'stat':
    case 'list':
      return ascii(`${command.op} ${name}\r\n`);
    case 'readat':
      return ascii(`readat ${name} ${decimal(command.offset)} ${decimal(command.count)}\r\n`);
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
      return ascii(`create ${name} ${octal(command.mode)} ${command.exclusive ? 1 : 0}${id}\r\n`);
    case 'mkdir':
      return ascii(`mkdir ${name} ${octal(command.mode)}${id}\r\n`);
    case 'rename':
      return ascii(`rename ${name} ${encodeName(command.to)}${id}\r\n`);
    case 'truncate':
      return ascii(`truncate ${name} ${decimal(command.size)}${id}\r\n`);
    case 'writeat': {
      const offset = command.offset === -1 ? '-1' : decimal(command.offset);
      return withContent(`writeat ${name} ${offset} ${command.content.length}${id}\r\n`, command.content);
    }
    case 'setattr': {
      const optional = (value: number | undefined, format: (value: number) => string): string => (value === undefined ? '-' : format(value));
      const fields = [optional(command.mode, octal), ...[command.uid, command.gid, command.atimeMs, command.mtimeMs].map((value) => optional(value, decimal))];
      return ascii(`setattr ${name} ${fields.join(' ')}${id}\r\n`);
    }
    default:
      return unreachable(command, 'client command');
  }
}

/** The filesystem error replies, by reply type, as the wire spells them. */
export const fsErrorWords = {
  file_not_found: 'ERR_FILE_NOT_FOUND',
  exists: 'ERR_EXISTS',
  not_dir: 'ERR_NOT_DIR',
  is_dir: 'ERR_IS_DIR',
  not_empty: 'ERR_NOT_EMPTY',
  invalid: 'ERR_INVALID',
  too_large: 'ERR_TOO_LARGE',
  /** The leader's disk is nearly full; not a state-machine result (see src/storage/disk_space.ts). */
  no_space: 'ERR_NO_SPACE',
} as const;

/** The reply type of a filesystem error. */
export type FsErrorReplyType = keyof typeof fsErrorWords;

/** A server reply, one of the lines of the protocol (plus CONTENTS' and LIST's data). */
export type ClientReply =
  | { readonly type: 'ok'; readonly version: number }
  /** `OK` without a version: the reply to delete, rmdir and rename. */
  | { readonly type: 'deleted' }
  | {
      readonly type: 'contents';
      readonly version: number;
      readonly content: Uint8Array;
      readonly exptimeRemainingSeconds: number;
    }
  | { readonly type: 'stat'; readonly stat: FsNodeStat }
  | { readonly type: 'list'; readonly entries: readonly FsDirEntry[] }
  | { readonly type: FsErrorReplyType }
  | { readonly type: 'version_mismatch'; readonly currentVersion: number }
  | { readonly type: 'command_error' }
  | { readonly type: 'internal_error' }
  | { readonly type: 'redirect'; readonly host: string; readonly port: number };

/** Encodes one reply exactly as the protocol spells it. */
export function formatReply(reply: ClientReply): Uint8Array {
  switch (reply.type) {
    case 'ok':
      return ascii(`OK ${decimal(reply.version)}\r\n`);
    case 'deleted':
      return ascii('OK\r\n');
    case 'contents': {
      const exptime = decimal(reply.exptimeRemainingSeconds);
      return withContent(`CONTENTS ${decimal(reply.version)} ${reply.content.length} ${exptime}\r\n`, reply.content);
    }
    case 'stat':
      return ascii(`STAT ${statFields(reply.stat)}\r\n`);
    case 'list': {
      const body = ascii(reply.entries.map((entry) => `${encodeName(entry.name)} ${statFields(entry)}\n`).join(''));
      return withContent(`LIST ${reply.entries.length} ${body.length}\r\n`, body);
    }
    case 'version_mismatch':
      return ascii(`ERR_VERSION ${decimal(reply.currentVersion)}\r\n`);
    case 'command_error':
      return ascii('ERR_CMD_ERR\r\n');
    case 'internal_error':
      return ascii('ERR_INTERNAL\r\n');
    case 'redirect':
      return ascii(`ERR_REDIRECT ${redirectAddress(reply.host, reply.port)}\r\n`);
    default:
      return ascii(`${fsErrorWords[reply.type]}\r\n`);
  }
}

/** `<kind> <version> <size> <mode> <uid> <gid> <atimeMs> <mtimeMs> <ctimeMs> <exptime>`, mode in octal. */
function statFields(stat: FsNodeStat): string {
  const numbers = [stat.version, stat.size].map(decimal);
  const rest = [stat.uid, stat.gid, stat.atimeMs, stat.mtimeMs, stat.ctimeMs, stat.exptimeRemainingSeconds].map(decimal);
  return [stat.kind, ...numbers, octal(stat.mode), ...rest].join(' ');
}

/** The client-facing reply for a state-machine result. */
export function clientReplyForResult(result: FsResult): ClientReply {
  switch (result.type) {
    case 'ok':
      return { type: 'ok', version: result.version };
    case 'deleted':
    case 'done':
      return { type: 'deleted' };
    case 'version_mismatch':
      return { type: 'version_mismatch', currentVersion: result.currentVersion };
    case 'stale_request':
      // The answer to that request is no longer known; claiming success or failure could lie.
      return { type: 'internal_error' };
    case 'not_found':
      return { type: 'file_not_found' };
    default:
      return { type: result.type };
  }
}

/** The wire reply for a state-machine result (stale_request becomes ERR_INTERNAL). */
export function replyForResult(result: FsResult): Uint8Array {
  return formatReply(clientReplyForResult(result));
}

/** The wire reply for a read: CONTENTS with its data, or an error. */
export function replyForRead(result: FsReadResult): Uint8Array {
  return replyForQuery(result);
}

/** The wire reply for any query: CONTENTS, STAT, LIST, or an error. */
export function replyForQuery(result: FsQueryResult): Uint8Array {
  switch (result.type) {
    case 'contents':
    case 'stat':
    case 'list':
      return formatReply(result);
    case 'not_found':
      return formatReply({ type: 'file_not_found' });
    default:
      return formatReply({ type: result.type });
  }
}

function redirectAddress(host: string, port: number): string {
  // A host with a blank or line break would split the reply and desynchronize the client.
  assert(host.length > 0 && !/[\s]/.test(host), `redirect host '${host}' is not one token`);
  assert(Number.isInteger(port) && port >= 0 && port <= 65535, `redirect port ${port} out of range`);
  return `${host}:${port}`;
}

function decimal(value: number): string {
  assert(Number.isSafeInteger(value) && value >= 0, `reply field ${value} is not a non-negative integer`);
  return String(value);
}

function octal(value: number): string {
  assert(Number.isInteger(value) && value >= 0 && value <= modeMax, `mode ${value} is not 0..7777 octal`);
  return value.toString(8);
}

function ascii(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Header and content in one array, so the socket gets one write and the reply cannot interleave. */
function withContent(header: string, content: Uint8Array): Uint8Array {
  const head = encoder.encode(header);
  const bytes = new Uint8Array(head.length + content.length + 2);
  bytes.set(head, 0);
  bytes.set(content, head.length);
  bytes[bytes.length - 2] = CR;
  bytes[bytes.length - 1] = LF;
  return bytes;
}
