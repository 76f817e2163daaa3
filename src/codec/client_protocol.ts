/**
 * The raw TCP client protocol (README "The protocol"): the vocabulary shared by the server's
 * command parser (command_parser.ts), the clients' command encoder (command_format.ts), the
 * server's reply encoder (reply_format.ts) and the clients' reply parser (client_reply_parser.ts).
 */
import type { FsCommand, FsNodeKind, FsNodeStat, FsQuery, Timespec } from '../fs/types.js';
import { hex2 } from './protocol_fields.js';

/** The read-only commands: answered by the leader after a ReadIndex round, never logged. */
export type ClientQueryCommand =
  | { readonly op: 'read'; readonly name: string }
  | { readonly op: 'stat'; readonly name: string }
  | { readonly op: 'list'; readonly name: string }
  /** `count` is at most the connection's contentBytesMax. */
  | { readonly op: 'readat'; readonly name: string; readonly offset: number; readonly count: number }
  | { readonly op: 'attr'; readonly name: string }
  | { readonly op: 'readdir'; readonly name: string; readonly cookie: number; readonly count: number; readonly plus: boolean }
  | { readonly op: 'readlink'; readonly name: string }
  | { readonly op: 'getxattr'; readonly name: string; readonly attr: string }
  | { readonly op: 'listxattr'; readonly name: string }
  | { readonly op: 'seek'; readonly name: string; readonly offset: number; readonly whence: 'data' | 'hole' };

/**
 * Questions about the node that answers them, not about the replicated state: any node answers
 * them at once, leader or not (`statfs`: its disk; `digest`: its applied index and state digest).
 */
export type ClientLocalCommand = { readonly op: 'statfs'; readonly name: '/' } | { readonly op: 'digest'; readonly name: '/' };

/**
 * One command from a client. Names are percent-decoded, validated and normalized (no leading
 * '/', except the root which is spelled '/'); content is an owned copy. The mutating shapes are
 * exactly FsCommand's.
 */
export type ClientCommand = FsCommand | ClientQueryCommand | ClientLocalCommand;

const queryOps = new Set<string>(['read', 'stat', 'list', 'readat', 'attr', 'readdir', 'readlink', 'getxattr', 'listxattr', 'seek']);

/** True for the commands that only read the replicated state. */
export function isQueryCommand(command: ClientCommand): command is ClientQueryCommand {
  return queryOps.has(command.op);
}

/** True for the commands any node answers about itself. */
export function isLocalCommand(command: ClientCommand): command is ClientLocalCommand {
  return command.op === 'statfs' || command.op === 'digest';
}

/**
 * The state-machine query for a read-only command. `read` of a file larger than `contentBytesMax`
 * is answered ERR_TOO_LARGE rather than copied into a reply no client would accept; `list` of a
 * directory larger than listEntriesMax likewise (readdir streams it).
 */
export function queryOf(command: ClientQueryCommand, contentBytesMax: number, listEntriesMax: number): FsQuery {
  switch (command.op) {
    case 'read':
      return { op: 'read', name: command.name, bytesMax: contentBytesMax };
    case 'list':
      return { op: 'list', name: command.name, entriesMax: listEntriesMax };
    case 'attr':
      return { op: 'stat', name: command.name };
    default:
      return command;
  }
}

/** How a successful mutation is answered: `OK <version>` (the course and tree commands) or `ATTR ...`. */
export type ReplyForm = 'ok' | 'attr';

/** A complete command taken off the stream. */
export interface ParsedCommand {
  readonly type: 'command';
  readonly command: ClientCommand;
  /** The client's exactly-once identity for a mutating command, when it sent one. */
  readonly request?: RequestId;
  /** For mutations: the commands made for the mount (mknod, symlink, link, setattrs) answer ATTR. */
  readonly form?: ReplyForm;
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

/** The filesystem error replies, by reply type, as the wire spells them. */
export const fsErrorWords = {
  file_not_found: 'ERR_FILE_NOT_FOUND',
  exists: 'ERR_EXISTS',
  not_dir: 'ERR_NOT_DIR',
  is_dir: 'ERR_IS_DIR',
  not_empty: 'ERR_NOT_EMPTY',
  invalid: 'ERR_INVALID',
  too_large: 'ERR_TOO_LARGE',
  /** The disk is nearly full (see src/storage/disk_space.ts), or a node's xattrs are. */
  no_space: 'ERR_NO_SPACE',
  not_permitted: 'ERR_NOT_PERMITTED',
  name_too_long: 'ERR_NAME_TOO_LONG',
  no_data: 'ERR_NO_DATA',
  range: 'ERR_RANGE',
  too_many_links: 'ERR_TOO_MANY_LINKS',
  past_end: 'ERR_PAST_END',
  not_supported: 'ERR_NOT_SUPPORTED',
} as const;

/** The reply type of a filesystem error. */
export type FsErrorReplyType = keyof typeof fsErrorWords;

/** What the legacy STAT and LIST replies carry about a node: times in whole ms. */
export interface LegacyStat {
  readonly kind: FsNodeKind;
  readonly version: number;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly exptimeRemainingSeconds: number;
}

/** One LIST entry. */
export interface LegacyDirEntry extends LegacyStat {
  readonly name: string;
}

/** One DIR entry (readdir): its cookie, name, inode and kind, and with `plus` its attributes. */
export interface DirLine {
  readonly cookie: number;
  readonly name: string;
  readonly ino: number;
  readonly kind: FsNodeKind;
  readonly attr?: FsNodeStat;
}

/** A node's disk as `statfs` reports it. */
export interface DiskStat {
  /** Bytes of the disk holding the node's state. */
  readonly totalBytes: number;
  /** Bytes free there for fsraft: free space less the node's reserve (never below 0). */
  readonly freeBytes: number;
  /** Nodes in the replicated state. */
  readonly inodes: number;
}

/** A server reply, one of the lines of the protocol (plus the data of those that carry some). */
export type ClientReply =
  | { readonly type: 'ok'; readonly version: number }
  /** `OK` without a version: the reply to delete, rmdir, rename, hold and release. */
  | { readonly type: 'deleted' }
  | {
      readonly type: 'contents';
      readonly version: number;
      readonly content: Uint8Array;
      readonly exptimeRemainingSeconds: number;
    }
  | { readonly type: 'stat'; readonly stat: LegacyStat }
  | { readonly type: 'list'; readonly entries: readonly LegacyDirEntry[] }
  | { readonly type: 'attr'; readonly attr: FsNodeStat }
  | { readonly type: 'dir'; readonly entries: readonly DirLine[]; readonly done: boolean }
  /** readlink's target, getxattr's value. */
  | { readonly type: 'bytes'; readonly word: 'LINK' | 'XATTR'; readonly value: Uint8Array }
  | { readonly type: 'names'; readonly names: readonly string[] }
  | { readonly type: 'offset'; readonly offset: number }
  | { readonly type: 'statfs'; readonly disk: DiskStat }
  | { readonly type: 'digest'; readonly appliedIndex: number; readonly digest: string }
  | { readonly type: FsErrorReplyType }
  | { readonly type: 'version_mismatch'; readonly currentVersion: number }
  | { readonly type: 'command_error' }
  | { readonly type: 'internal_error' }
  | { readonly type: 'redirect'; readonly host: string; readonly port: number };

/**
 * Percent-encodes the bytes that cannot appear inside a protocol token (space, tab, CR, LF) and
 * '%' itself, so any valid name can be sent. Other characters travel as raw UTF-8.
 */
export function encodeName(name: string): string {
  return name.replace(/[ \t\r\n%]/g, (character) => `%${hex2(character.charCodeAt(0))}`);
}

/**
 * A time on the wire: `<seconds>.<nanoseconds, 9 digits>`, the decimal number of seconds since
 * the epoch; one before it is negative (-1.25 s is `-1.250000000`, the Timespec {-2, 750000000}).
 */
export function formatTime(time: Timespec): string {
  if (time.sec >= 0) return `${time.sec}.${String(time.nsec).padStart(9, '0')}`;
  const whole = time.nsec === 0 ? -time.sec : -time.sec - 1;
  return `-${whole}.${String(time.nsec === 0 ? 0 : 1_000_000_000 - time.nsec).padStart(9, '0')}`;
}

/** The Timespec of `<whole>.<nsec>` seconds, negated when `negative` (formatTime's inverse). */
export function signedTime(negative: boolean, whole: number, nsec: number): Timespec {
  if (!negative) return { sec: whole, nsec };
  return nsec === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1_000_000_000 - nsec };
}

/** A time given in whole ms (the legacy fields) as a Timespec. */
export function timeOfMs(ms: number): Timespec {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: (ms - sec * 1000) * 1_000_000 };
}

/** The legacy setattr fields: times in whole ms (course `setattr`, log op code 17, FsraftClient.setattr). */
export interface SetattrMs {
  readonly mode?: number | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  readonly atimeMs?: number | undefined;
  readonly mtimeMs?: number | undefined;
}

/** The setattr command of the legacy fields: only those given are set. */
export function setattrOfMs(name: string, fields: SetattrMs): FsCommand {
  const { mode, uid, gid, atimeMs, mtimeMs } = fields;
  return {
    op: 'setattr',
    name,
    ...(mode === undefined ? {} : { mode }),
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(atimeMs === undefined ? {} : { atime: timeOfMs(atimeMs) }),
    ...(mtimeMs === undefined ? {} : { mtime: timeOfMs(mtimeMs) }),
  };
}

/** A Timespec as whole ms, rounded down (the legacy STAT and LIST fields). */
export function msOfTime(time: Timespec): number {
  return time.sec * 1000 + Math.floor(time.nsec / 1_000_000);
}
