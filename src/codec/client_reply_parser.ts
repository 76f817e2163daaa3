/**
 * The client side of protocol.md: a streaming parser of server replies, for the typed client,
 * integration tests and benchmarks. Like the command parser it never throws on bad bytes: a reply
 * it cannot understand is a ReplyParseError and the connection should be dropped.
 */
import { validateName } from '../fs/names.js';
import { modeMax } from '../fs/tree_common.js';
import type { FsNodeKind, FsNodeStat, Timespec } from '../fs/types.js';
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ByteQueue, ContentAssembler } from './byte_queue.js';
import { fsErrorWords, signedTime, type ClientReply, type DirLine, type FsErrorReplyType, type LegacyDirEntry, type LegacyStat } from './client_protocol.js';
import { hyphen, parseDecimal, parseOctal, parseSignedDecimal, percentDecode, printable, splitFields } from './protocol_fields.js';

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
  /** Largest LIST body accepted; default limits.listReplyBytesMax. */
  readonly listBytesMax?: number;
  /** Longest reply line without CRLF (an ERR_REDIRECT with a long host name is the longest). */
  readonly lineBytesMax?: number;
  /** Largest DIR or XATTRS body accepted; default limits.listReplyBytesMax. */
  readonly dirBytesMax?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const decoder = new TextDecoder();
// fatal: an entry name that is not UTF-8 is a malformed reply, not a name with U+FFFD in it.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const errorTypesByWord = new Map<string, FsErrorReplyType>(Object.entries(fsErrorWords).map(([type, word]) => [word, type as FsErrorReplyType]));
/** Fields of a STAT line after the word, and of a LIST entry line after the name. */
const statFieldCount = 10;
/** Fields of an ATTR line after the word, and of a DIR plus entry after the cookie and name. */
const attrFieldCount = 14;
const kinds = new Set<string>(['file', 'dir', 'symlink', 'fifo', 'socket', 'chr', 'blk']);
/** The replies that announce `numbytes` of data after their line. */
type BodyWord = 'CONTENTS' | 'LIST' | 'DIR' | 'LINK' | 'XATTR' | 'XATTRS';

/** A CONTENTS or LIST header whose data is still arriving. */
interface PendingBody {
  readonly numbytes: number;
  /** The data plus its CRLF. */
  readonly body: ContentAssembler;
  /** The reply made of the data, or why the data is malformed. */
  readonly finish: (data: Uint8Array) => ClientReply | ReplyParseError;
}

/** Turns the byte stream from a server into replies, in order. */
export class ReplyParser {
  private readonly queue: ByteQueue;
  private readonly contentBytesMax: number;
  private readonly listBytesMax: number;
  private pending: PendingBody | undefined;
  private failure: ReplyParseError | undefined;

  constructor(options: ReplyParserOptions) {
    this.queue = new ByteQueue(options.lineBytesMax ?? limits.commandLineBytesMax);
    assert(Number.isSafeInteger(options.contentBytesMax) && options.contentBytesMax >= 0, 'bad contentBytesMax');
    this.contentBytesMax = options.contentBytesMax;
    this.listBytesMax = options.listBytesMax ?? limits.listReplyBytesMax;
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
    const bytesMax = reply.word === 'LIST' || reply.word === 'DIR' || reply.word === 'XATTRS' ? this.listBytesMax : this.contentBytesMax;
    if (reply.numbytes > bytesMax) return replyError(`${reply.word} of ${reply.numbytes} bytes exceeds the limit`);
    this.pending = { numbytes: reply.numbytes, body: new ContentAssembler(reply.numbytes + 2), finish: reply.finish };
    return this.readContents(this.pending);
  }

  /** Waits for all data plus its CRLF, assembled into one owned array. */
  private readContents(pending: PendingBody): ClientReply | ReplyParseError | undefined {
    if (!pending.body.fill(this.queue)) return undefined;
    this.pending = undefined;
    const all = pending.body.bytes;
    const numbytes = pending.numbytes;
    if (all[numbytes] !== CR || all[numbytes + 1] !== LF) return replyError('reply data not followed by CRLF');
    return pending.finish(all.subarray(0, numbytes));
  }
}

/** A reply header announcing `numbytes` of data (CONTENTS, LIST, DIR, LINK, XATTR, XATTRS). */
interface BodyHeader {
  readonly word: BodyWord;
  readonly numbytes: number;
  readonly finish: (data: Uint8Array) => ClientReply | ReplyParseError;
}

type LineReply = Exclude<ClientReply, { type: 'contents' | 'list' | 'dir' | 'bytes' | 'names' }> | BodyHeader;

/** One reply line, or undefined if it is not one the protocol defines. */
function parseReplyLine(line: Uint8Array): LineReply | undefined {
  const fields = splitFields(line, attrFieldCount + 1);
  const word = fields[0] === undefined ? '' : decoder.decode(fields[0]);
  const first = fields[1] === undefined ? undefined : parseDecimal(fields[1]);
  const errorType = errorTypesByWord.get(word);
  if (errorType !== undefined) return { type: errorType };
  switch (word) {
    case 'OK':
      if (fields[1] === undefined) return { type: 'deleted' };
      return first === undefined ? undefined : { type: 'ok', version: first };
    case 'CONTENTS':
      return parseContentsHeader(fields);
    case 'STAT': {
      const stat = parseStatFields(fields.slice(1));
      return stat === undefined ? undefined : { type: 'stat', stat };
    }
    case 'LIST':
      return parseListHeader(fields);
    case 'ATTR': {
      const attr = parseAttrFields(fields.slice(1));
      return attr === undefined || fields.length !== attrFieldCount + 1 ? undefined : { type: 'attr', attr };
    }
    case 'DIR':
      return parseDirHeader(fields);
    case 'LINK':
    case 'XATTR':
      return first === undefined ? undefined : { word, numbytes: first, finish: (value) => ({ type: 'bytes', word, value }) };
    case 'XATTRS': {
      const numbytes = fields[2] === undefined ? undefined : parseDecimal(fields[2]);
      if (first === undefined || numbytes === undefined) return undefined;
      return { word, numbytes, finish: (data) => parseNamesBody(data, first) };
    }
    case 'OFFSET':
      return first === undefined ? undefined : { type: 'offset', offset: first };
    case 'STATFS': {
      const [totalBytes, freeBytes, inodes] = fields.slice(1, 4).map(parseDecimal);
      if (totalBytes === undefined || freeBytes === undefined || inodes === undefined) return undefined;
      return { type: 'statfs', disk: { totalBytes, freeBytes, inodes } };
    }
    case 'DIGEST': {
      const digest = fields[2] === undefined ? '' : decoder.decode(fields[2]);
      return first === undefined || !/^[0-9a-f]{16}$/.test(digest) ? undefined : { type: 'digest', appliedIndex: first, digest };
    }
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
  return { word: 'CONTENTS', numbytes, finish: (content) => ({ type: 'contents', version, content, exptimeRemainingSeconds }) };
}

function parseListHeader(fields: readonly Uint8Array[]): LineReply | undefined {
  const [count, numbytes] = fields.slice(1, 3).map(parseDecimal);
  if (count === undefined || numbytes === undefined) return undefined;
  return { word: 'LIST', numbytes, finish: (data) => parseListBody(data, count) };
}

/** `count` lines of `<encodedName> <stat fields>\n`; names are single valid components. */
function parseListBody(data: Uint8Array, count: number): ClientReply | ReplyParseError {
  const entries: LegacyDirEntry[] = [];
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(LF, start);
    if (end < 0) return replyError('LIST entry not ended by LF');
    const fields = splitFields(data.subarray(start, end), statFieldCount + 2);
    const name = entryName(fields[0]);
    const stat = parseStatFields(fields.slice(1));
    if (name === undefined || stat === undefined || fields.length !== statFieldCount + 1) {
      return replyError(`malformed LIST entry '${printable(data.subarray(start, end))}'`);
    }
    entries.push({ name, ...stat });
    start = end + 1;
  }
  if (entries.length !== count) return replyError(`LIST announced ${count} entries but held ${entries.length}`);
  return { type: 'list', entries };
}

/** A percent-encoded single path component, or undefined when it is not one. */
function entryName(field: Uint8Array | undefined): string | undefined {
  const raw = field === undefined ? undefined : percentDecode(field);
  if (raw === undefined) return undefined;
  let name: string;
  try {
    name = strictUtf8.decode(raw);
  } catch {
    return undefined;
  }
  // A name with '/' (or '..') from a faulty server would make the mount show a path elsewhere.
  return name.includes('/') || validateName(name) !== null ? undefined : name;
}

/** `<kind> <version> <size> <mode> <uid> <gid> <atimeMs> <mtimeMs> <ctimeMs> <exptime>`, mode octal. */
function parseStatFields(fields: readonly Uint8Array[]): LegacyStat | undefined {
  if (fields.length < statFieldCount) return undefined;
  const kindText = decoder.decode(fields[0]);
  if (!kinds.has(kindText)) return undefined;
  const kind = kindText as FsNodeKind;
  const mode = parseOctal(fields[3]!, modeMax);
  const [version, size, uid, gid, atimeMs, mtimeMs, ctimeMs, exptimeRemainingSeconds] = [1, 2, 4, 5, 6, 7, 8, 9].map((index) => (index >= 6 && index <= 8 ? parseSignedDecimal : parseDecimal)(fields[index]!));
  if (
    mode === undefined ||
    version === undefined ||
    size === undefined ||
    uid === undefined ||
    gid === undefined ||
    atimeMs === undefined ||
    mtimeMs === undefined ||
    ctimeMs === undefined ||
    exptimeRemainingSeconds === undefined
  ) {
    return undefined;
  }
  return { kind, version, size, mode, uid, gid, atimeMs, mtimeMs, ctimeMs, exptimeRemainingSeconds };
}

/** `<ino> <kind> <mode> <nlink> <uid> <gid> <rdev> <size> <blocks> <atime> <mtime> <ctime> <version> <exptime>`. */
function parseAttrFields(fields: readonly Uint8Array[]): FsNodeStat | undefined {
  if (fields.length < attrFieldCount) return undefined;
  const kindText = decoder.decode(fields[1]);
  if (!kinds.has(kindText)) return undefined;
  const mode = parseOctal(fields[2]!, modeMax);
  const numbers = [0, 3, 4, 5, 6, 7, 8, 12, 13].map((index) => parseDecimal(fields[index]!));
  const times = [9, 10, 11].map((index) => parseTime(fields[index]!));
  if (mode === undefined || numbers.some((value) => value === undefined) || times.some((time) => time === undefined)) return undefined;
  const [ino, nlink, uid, gid, rdev, size, blocks, version, exptimeRemainingSeconds] = numbers as number[];
  const [atime, mtime, ctime] = times as Timespec[];
  return { ino: ino!, kind: kindText as FsNodeKind, mode, nlink: nlink!, uid: uid!, gid: gid!, rdev: rdev!, size: size!, blocks: blocks!, atime: atime!, mtime: mtime!, ctime: ctime!, version: version!, exptimeRemainingSeconds: exptimeRemainingSeconds! };
}

/** `<seconds>.<9 digits>`, negative before the epoch (formatTime). */
function parseTime(field: Uint8Array): Timespec | undefined {
  const negative = field[0] === hyphen;
  const unsigned = negative ? field.subarray(1) : field;
  const dot = unsigned.indexOf(0x2e);
  if (dot < 0 || unsigned.length - dot - 1 !== 9) return undefined;
  const whole = parseDecimal(unsigned.subarray(0, dot));
  const nsec = parseDecimal(unsigned.subarray(dot + 1));
  return whole === undefined || nsec === undefined ? undefined : signedTime(negative, whole, nsec);
}


function parseDirHeader(fields: readonly Uint8Array[]): LineReply | undefined {
  const [count, done, numbytes] = fields.slice(1, 4).map(parseDecimal);
  if (count === undefined || done === undefined || done > 1 || numbytes === undefined) return undefined;
  return { word: 'DIR', numbytes, finish: (data) => parseDirBody(data, count, done === 1) };
}

/** `count` lines of `<cookie> <encodedName> <ino> <kind>\n` or `<cookie> <encodedName> <attr fields>\n`. */
function parseDirBody(data: Uint8Array, count: number, done: boolean): ClientReply | ReplyParseError {
  const entries: DirLine[] = [];
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(LF, start);
    if (end < 0) return replyError('DIR entry not ended by LF');
    const fields = splitFields(data.subarray(start, end), attrFieldCount + 3);
    const cookie = fields[0] === undefined ? undefined : parseDecimal(fields[0]);
    const name = entryName(fields[1]);
    let entry: DirLine | undefined;
    if (cookie !== undefined && name !== undefined && fields.length === 4) {
      const ino = parseDecimal(fields[2]!);
      const kind = decoder.decode(fields[3]);
      if (ino !== undefined && kinds.has(kind)) entry = { cookie, name, ino, kind: kind as FsNodeKind };
    } else if (cookie !== undefined && name !== undefined && fields.length === attrFieldCount + 2) {
      const attr = parseAttrFields(fields.slice(2));
      if (attr !== undefined) entry = { cookie, name, ino: attr.ino, kind: attr.kind, attr };
    }
    if (entry === undefined) return replyError(`malformed DIR entry '${printable(data.subarray(start, end))}'`);
    entries.push(entry);
    start = end + 1;
  }
  if (entries.length !== count) return replyError(`DIR announced ${count} entries but held ${entries.length}`);
  return { type: 'dir', entries, done };
}

/** `count` percent-encoded names, each ended by LF (extended attribute names: any text but NUL). */
function parseNamesBody(data: Uint8Array, count: number): ClientReply | ReplyParseError {
  const names: string[] = [];
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(LF, start);
    if (end < 0) return replyError('XATTRS name not ended by LF');
    const raw = percentDecode(data.subarray(start, end));
    let name: string | undefined;
    try {
      name = raw === undefined ? undefined : strictUtf8.decode(raw);
    } catch {
      name = undefined;
    }
    if (name === undefined || name.length === 0) return replyError('malformed XATTRS name');
    names.push(name);
    start = end + 1;
  }
  if (names.length !== count) return replyError(`XATTRS announced ${count} names but held ${names.length}`);
  return { type: 'names', names };
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
