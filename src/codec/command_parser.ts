/**
 * The server side of the client protocol: a streaming command parser. Any input, however
 * malformed, becomes a ParseError value (the server answers ERR_CMD_ERR and closes); the course
 * server crashed on several of them.
 *
 * Line lengths: the course commands (read, write, cas, delete) keep the course's 500-byte line;
 * the tree commands may be longer (treeCommandLineBytesMax), so that two paths of PATH_MAX bytes,
 * percent-encoded, fit in one rename or link.
 */
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ByteQueue, ContentAssembler } from './byte_queue.js';
import type { ClientCommand, ParseError, ParsedCommand } from './client_protocol.js';
import { printable } from './protocol_fields.js';
import { commandWordBytesMax, parseError } from './command_fields.js';
import { type ContentHeader, courseCommands, knownCommands, parseCommandLine, withRequest } from './command_line.js';

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
