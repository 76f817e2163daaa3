/**
 * The client side of protocol.md: a streaming parser of server replies, for the typed client,
 * integration tests and benchmarks. Like the command parser it never throws on bad bytes: a reply
 * it cannot understand is a ReplyParseError and the connection should be dropped.
 */
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ByteQueue, ContentAssembler } from './byte_queue.js';
import type { ClientReply } from './client_protocol.js';
import { parseDecimal, printable, splitFields } from './protocol_fields.js';

/** A reply that does not follow protocol.md. Terminal, like the command parser's errors. */
export interface ReplyParseError {
  readonly type: 'error';
  /** Human-readable detail for logs. */
  readonly reason: string;
}

/** Limits of one connection's reply parser. */
export interface ReplyParserOptions {
  /** Largest CONTENTS body accepted; a larger one is refused from its header alone. */
  readonly contentBytesMax: number;
  /** Longest reply line without CRLF (an ERR_REDIRECT with a long host name is the longest). */
  readonly lineBytesMax?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const decoder = new TextDecoder();

/** A CONTENTS header whose data is still arriving. */
interface PendingContents {
  readonly version: number;
  readonly numbytes: number;
  readonly exptimeRemainingSeconds: number;
  /** The data plus its CRLF. */
  readonly body: ContentAssembler;
}

/** Turns the byte stream from a server into replies, in order. */
export class ReplyParser {
  private readonly queue: ByteQueue;
  private readonly contentBytesMax: number;
  private pending: PendingContents | undefined;
  private failure: ReplyParseError | undefined;

  constructor(options: ReplyParserOptions) {
    this.queue = new ByteQueue(options.lineBytesMax ?? limits.commandLineBytesMax);
    assert(Number.isSafeInteger(options.contentBytesMax) && options.contentBytesMax >= 0, 'bad contentBytesMax');
    this.contentBytesMax = options.contentBytesMax;
  }

  /** Adds received bytes (kept by reference until consumed). */
  push(chunk: Uint8Array): void {
    if (this.failure === undefined) this.queue.push(chunk);
  }

  /** The next reply, an error (terminal), or undefined when more bytes are needed. */
  next(): ClientReply | ReplyParseError | undefined {
    if (this.failure !== undefined) return this.failure;
    const outcome = this.pending === undefined ? this.readLine() : this.readContents(this.pending);
    if (outcome?.type === 'error') {
      this.failure = outcome;
      this.queue.clear();
    }
    return outcome;
  }

  private readLine(): ClientReply | ReplyParseError | undefined {
    const line = this.queue.readLine();
    if (line === 'need_more') return undefined;
    if (line === 'too_long') return replyError('reply line longer than the limit');
    const reply = parseReplyLine(line);
    if (reply === undefined) return replyError(`unrecognized reply '${printable(line)}'`);
    if (!('numbytes' in reply)) return reply;
    if (reply.numbytes > this.contentBytesMax) return replyError(`CONTENTS of ${reply.numbytes} bytes exceeds the limit`);
    this.pending = { ...reply, body: new ContentAssembler(reply.numbytes + 2) };
    return this.readContents(this.pending);
  }

  /** Waits for all data plus its CRLF, assembled into one owned array. */
  private readContents(pending: PendingContents): ClientReply | ReplyParseError | undefined {
    if (!pending.body.fill(this.queue)) return undefined;
    this.pending = undefined;
    const all = pending.body.bytes;
    const numbytes = pending.numbytes;
    if (all[numbytes] !== CR || all[numbytes + 1] !== LF) return replyError('CONTENTS data not followed by CRLF');
    const { version, exptimeRemainingSeconds } = pending;
    return { type: 'contents', version, content: all.subarray(0, numbytes), exptimeRemainingSeconds };
  }
}

type LineReply =
  | Exclude<ClientReply, { type: 'contents' }>
  | { readonly version: number; readonly numbytes: number; readonly exptimeRemainingSeconds: number };

/** One reply line, or undefined if it is not one protocol.md defines. */
function parseReplyLine(line: Uint8Array): LineReply | undefined {
  const fields = splitFields(line, 4);
  const word = fields[0] === undefined ? '' : decoder.decode(fields[0]);
  const first = fields[1] === undefined ? undefined : parseDecimal(fields[1]);
  switch (word) {
    case 'OK':
      if (fields[1] === undefined) return { type: 'deleted' };
      return first === undefined ? undefined : { type: 'ok', version: first };
    case 'CONTENTS':
      return parseContentsHeader(fields);
    case 'ERR_FILE_NOT_FOUND':
      return { type: 'file_not_found' };
    case 'ERR_VERSION':
      return first === undefined ? undefined : { type: 'version_mismatch', currentVersion: first };
    case 'ERR_CMD_ERR':
      return { type: 'command_error' };
    case 'ERR_INTERNAL':
      return { type: 'internal_error' };
    case 'ERR_REDIRECT':
      return fields[1] === undefined ? undefined : parseRedirect(decoder.decode(fields[1]));
    default:
      return undefined;
  }
}

function parseContentsHeader(fields: readonly Uint8Array[]): LineReply | undefined {
  const [version, numbytes, exptimeRemainingSeconds] = fields.slice(1, 4).map(parseDecimal);
  if (version === undefined || numbytes === undefined || exptimeRemainingSeconds === undefined) return undefined;
  return { version, numbytes, exptimeRemainingSeconds };
}

/** "host:port", split at the last ':' so a bare IPv6 host keeps its colons. */
function parseRedirect(address: string): LineReply | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = parseDecimal(new TextEncoder().encode(address.slice(colon + 1)));
  if (port === undefined || port > 65535) return undefined;
  return { type: 'redirect', host: address.slice(0, colon), port };
}

function replyError(reason: string): ReplyParseError {
  return { type: 'error', reason };
}
