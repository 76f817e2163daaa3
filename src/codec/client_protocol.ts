/**
 * The raw TCP client protocol of protocol.md: a streaming command parser for the server side
 * and the reply encoders. Any input, however malformed, becomes a ParseError value (the server
 * answers ERR_CMD_ERR and closes); the course server crashed on several of them.
 */
import { normalizeName, validateName } from '../fs/names.js';
import type { FsCommand, FsReadResult, FsResult } from '../fs/types.js';
import { assert, unreachable } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ByteQueue, ContentAssembler } from './byte_queue.js';
import { hex2, parseDecimal, printable, splitFields } from './protocol_fields.js';

/**
 * One command from a client. Names are percent-decoded, validated and normalized (no leading
 * '/'); content is an owned copy. The mutating shapes are exactly FsCommand's.
 */
export type ClientCommand =
  | Extract<FsCommand, { op: 'write' }>
  | Extract<FsCommand, { op: 'cas' }>
  | Extract<FsCommand, { op: 'delete' }>
  | { readonly op: 'read'; readonly name: string };

/** A complete command taken off the stream. */
export interface ParsedCommand {
  readonly type: 'command';
  readonly command: ClientCommand;
  /** The client's exactly-once identity for a write, cas or delete, when it sent one. */
  readonly request?: RequestId;
}

/**
 * fsraft's extension for exactly-once retries: an optional last field `<clientId>:<sequence>`
 * after write's exptime, cas's exptime or delete's name. A retry with the same pair is answered
 * with the first answer instead of being applied again. Course clients never send it.
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
  /** Largest write/cas content accepted; larger is refused from the header alone. */
  readonly contentBytesMax: number;
  /** Longest command line without its CRLF; protocol.md fixes 500. */
  readonly lineBytesMax?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const PERCENT = 0x25;
/** cas with a request id has 6 fields; anything after is ignored, so never tokenized. */
const fieldsMax = 6;

// fatal: invalid UTF-8 in a name is an error, not a silently different name with U+FFFD.
// ignoreBOM: otherwise a leading U+FEFF would vanish from the name.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** A write/cas header whose content has not fully arrived yet. */
interface PendingContent {
  readonly header: ContentHeader;
  readonly content: ContentAssembler;
}

type ContentHeader =
  | { readonly op: 'write'; readonly name: string; readonly numbytes: number; readonly exptimeSeconds: number; readonly request?: RequestId }
  | {
      readonly op: 'cas';
      readonly name: string;
      readonly version: number;
      readonly numbytes: number;
      readonly exptimeSeconds: number;
      readonly request?: RequestId;
    };

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

  /** True while part of a command has arrived: a line, or a write/cas still owed content or CRLF. */
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
    const parsed = parseCommandLine(line);
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
    const header = pending.header;
    const command: ClientCommand =
      header.op === 'write'
        ? { op: 'write', name: header.name, content, exptimeSeconds: header.exptimeSeconds }
        : { op: 'cas', name: header.name, version: header.version, content, exptimeSeconds: header.exptimeSeconds };
    return withRequest(command, header.request);
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

/** A parsed header line: a complete command, an error, or a write/cas still owed its content. */
type LineParse = ParsedCommand | ParseError | { readonly type: 'content'; readonly header: ContentHeader };

function parseCommandLine(line: Uint8Array): LineParse {
  const fields = splitFields(line, fieldsMax);
  const verb = fields[0];
  if (verb === undefined) return parseError('empty_line', 'empty command line');
  const word = commandWord(verb);
  switch (word) {
    case 'write':
      return parseWrite(fields);
    case 'cas':
      return parseCas(fields);
    case 'read':
    case 'delete':
      return parseNameOnly(word, fields);
    default:
      return parseError('unknown_command', `unknown command '${printable(verb)}'`);
  }
}

function parseWrite(fields: readonly Uint8Array[]): LineParse {
  const name = parseNameField('write', fields[1]);
  if (typeof name !== 'string') return name;
  const numbytes = parseCountField('write', 'numbytes', fields[2]);
  if (typeof numbytes !== 'number') return numbytes;
  const exptimeSeconds = parseExptimeField('write', fields[3]);
  if (typeof exptimeSeconds !== 'number') return exptimeSeconds;
  const request = parseRequestField('write', fields[4]);
  if (request !== undefined && 'type' in request) return request;
  const header: ContentHeader = { op: 'write', name, numbytes, exptimeSeconds };
  return { type: 'content', header: request === undefined ? header : { ...header, request } };
}

function parseCas(fields: readonly Uint8Array[]): LineParse {
  const name = parseNameField('cas', fields[1]);
  if (typeof name !== 'string') return name;
  const version = parseCountField('cas', 'version', fields[2]);
  if (typeof version !== 'number') return version;
  const numbytes = parseCountField('cas', 'numbytes', fields[3]);
  if (typeof numbytes !== 'number') return numbytes;
  const exptimeSeconds = parseExptimeField('cas', fields[4]);
  if (typeof exptimeSeconds !== 'number') return exptimeSeconds;
  const request = parseRequestField('cas', fields[5]);
  if (request !== undefined && 'type' in request) return request;
  const header: ContentHeader = { op: 'cas', name, version, numbytes, exptimeSeconds };
  return { type: 'content', header: request === undefined ? header : { ...header, request } };
}

function parseNameOnly(op: 'read' | 'delete', fields: readonly Uint8Array[]): LineParse {
  const name = parseNameField(op, fields[1]);
  if (typeof name !== 'string') return name;
  if (op === 'read') return { type: 'command', command: { op, name } };
  const request = parseRequestField(op, fields[2]);
  if (request !== undefined && 'type' in request) return request;
  return withRequest({ op, name }, request);
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
  return field.length <= 6 ? String.fromCharCode(...field) : '';
}

function parseNameField(op: string, field: Uint8Array | undefined): string | ParseError {
  if (field === undefined) return parseError('missing_field', `${op}: missing name`);
  const bytes = field.includes(PERCENT) ? percentDecode(field) : field;
  if (bytes === undefined) return parseError('invalid_name', `${op}: bad percent escape in '${printable(field)}'`);
  let name: string;
  try {
    name = utf8.decode(bytes);
  } catch {
    return parseError('invalid_name', `${op}: name is not valid UTF-8`);
  }
  const problem = validateName(name);
  if (problem !== null) return parseError('invalid_name', `${op}: ${problem}`);
  return normalizeName(name);
}

/** '%XY' (hex, either case) becomes byte 0xXY; undefined for a '%' not followed by two hex digits. */
function percentDecode(field: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(field.length);
  let length = 0;
  for (let i = 0; i < field.length; i++) {
    const byte = field[i]!;
    if (byte !== PERCENT) {
      out[length++] = byte;
      continue;
    }
    const high = hexValue(field[i + 1]);
    const low = hexValue(field[i + 2]);
    if (high < 0 || low < 0) return undefined;
    out[length++] = high * 16 + low;
    i += 2;
  }
  return out.subarray(0, length);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
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
  const id = request === undefined || command.op === 'read' ? '' : ` ${decimal(request.clientId)}:${decimal(request.sequence)}`;
  switch (command.op) {
    case 'read':
      return ascii(`read ${name}\r\n`);
    case 'delete':
      return ascii(`delete ${name}${id}\r\n`);
    case 'write':
      return withContent(`write ${name} ${command.content.length} ${command.exptimeSeconds}${id}\r\n`, command.content);
    case 'cas': {
      const header = `cas ${name} ${command.version} ${command.content.length} ${command.exptimeSeconds}${id}\r\n`;
      return withContent(header, command.content);
    }
    default:
      return unreachable(command, 'client command');
  }
}

/** A server reply, one of the lines of protocol.md (plus CONTENTS' data). */
export type ClientReply =
  | { readonly type: 'ok'; readonly version: number }
  /** `OK` without a version: the reply to delete. */
  | { readonly type: 'deleted' }
  | {
      readonly type: 'contents';
      readonly version: number;
      readonly content: Uint8Array;
      readonly exptimeRemainingSeconds: number;
    }
  | { readonly type: 'file_not_found' }
  | { readonly type: 'version_mismatch'; readonly currentVersion: number }
  | { readonly type: 'command_error' }
  | { readonly type: 'internal_error' }
  | { readonly type: 'redirect'; readonly host: string; readonly port: number };

/** Encodes one reply exactly as protocol.md spells it. */
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
    case 'file_not_found':
      return ascii('ERR_FILE_NOT_FOUND\r\n');
    case 'version_mismatch':
      return ascii(`ERR_VERSION ${decimal(reply.currentVersion)}\r\n`);
    case 'command_error':
      return ascii('ERR_CMD_ERR\r\n');
    case 'internal_error':
      return ascii('ERR_INTERNAL\r\n');
    case 'redirect':
      return ascii(`ERR_REDIRECT ${redirectAddress(reply.host, reply.port)}\r\n`);
    default:
      return unreachable(reply, 'reply');
  }
}

/** The client-facing reply for a state-machine result. */
export function clientReplyForResult(result: FsResult): ClientReply {
  switch (result.type) {
    case 'ok':
      return { type: 'ok', version: result.version };
    case 'deleted':
      return { type: 'deleted' };
    case 'not_found':
      return { type: 'file_not_found' };
    case 'version_mismatch':
      return { type: 'version_mismatch', currentVersion: result.currentVersion };
    case 'stale_request':
      // The answer to that request is no longer known; claiming success or failure could lie.
      return { type: 'internal_error' };
    default:
      return unreachable(result, 'fs result');
  }
}

/** The wire reply for a state-machine result (stale_request becomes ERR_INTERNAL). */
export function replyForResult(result: FsResult): Uint8Array {
  return formatReply(clientReplyForResult(result));
}

/** The wire reply for a read: CONTENTS with its data, or ERR_FILE_NOT_FOUND. */
export function replyForRead(result: FsReadResult): Uint8Array {
  if (result.type === 'not_found') return formatReply({ type: 'file_not_found' });
  return formatReply({
    type: 'contents',
    version: result.version,
    content: result.content,
    exptimeRemainingSeconds: result.exptimeRemainingSeconds,
  });
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
