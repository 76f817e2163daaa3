/**
 * The server side of the client protocol's replies: each reply exactly as the protocol spells it
 * (README "The protocol"), and the reply for each state-machine result and query answer.
 */
import { modeMax } from '../fs/tree_common.js';
import type { FsNodeStat, FsQueryResult, FsReadResult, FsResult } from '../fs/types.js';
import { assert } from '../util/assert.js';
import { encodeName, formatTime, fsErrorWords, msOfTime, type ClientReply, type LegacyStat, type ReplyForm } from './client_protocol.js';
import { withContent } from './protocol_fields.js';

const encoder = new TextEncoder();

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
      return ascii(`STAT ${legacyStatFields(reply.stat)}\r\n`);
    case 'list': {
      const body = ascii(reply.entries.map((entry) => `${encodeName(entry.name)} ${legacyStatFields(entry)}\n`).join(''));
      return withContent(`LIST ${reply.entries.length} ${body.length}\r\n`, body);
    }
    case 'attr':
      return ascii(`ATTR ${attrFields(reply.attr)}\r\n`);
    case 'dir': {
      const lines = reply.entries.map((entry) => {
        const rest = entry.attr === undefined ? `${decimal(entry.ino)} ${entry.kind}` : attrFields(entry.attr);
        return `${decimal(entry.cookie)} ${encodeName(entry.name)} ${rest}\n`;
      });
      const body = ascii(lines.join(''));
      return withContent(`DIR ${reply.entries.length} ${reply.done ? 1 : 0} ${body.length}\r\n`, body);
    }
    case 'bytes':
      return withContent(`${reply.word} ${reply.value.length}\r\n`, reply.value);
    case 'names': {
      const body = ascii(reply.names.map((name) => `${encodeName(name)}\n`).join(''));
      return withContent(`XATTRS ${reply.names.length} ${body.length}\r\n`, body);
    }
    case 'offset':
      return ascii(`OFFSET ${decimal(reply.offset)}\r\n`);
    case 'statfs':
      return ascii(`STATFS ${decimal(reply.disk.totalBytes)} ${decimal(reply.disk.freeBytes)} ${decimal(reply.disk.inodes)}\r\n`);
    case 'digest':
      return ascii(`DIGEST ${decimal(reply.appliedIndex)} ${reply.digest}\r\n`);
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
function legacyStatFields(stat: LegacyStat): string {
  const numbers = [stat.version, stat.size].map(decimal);
  const ids = [stat.uid, stat.gid].map(decimal);
  // Negative before the epoch.
  const times = [stat.atimeMs, stat.mtimeMs, stat.ctimeMs].map(signedDecimal);
  return [stat.kind, ...numbers, octal(stat.mode), ...ids, ...times, decimal(stat.exptimeRemainingSeconds)].join(' ');
}

/** `<ino> <kind> <mode> <nlink> <uid> <gid> <rdev> <size> <blocks> <atime> <mtime> <ctime> <version> <exptime>`. */
export function attrFields(attr: FsNodeStat): string {
  return [
    decimal(attr.ino),
    attr.kind,
    octal(attr.mode),
    ...[attr.nlink, attr.uid, attr.gid, attr.rdev, attr.size, attr.blocks].map(decimal),
    formatTime(attr.atime),
    formatTime(attr.mtime),
    formatTime(attr.ctime),
    decimal(attr.version),
    decimal(attr.exptimeRemainingSeconds),
  ].join(' ');
}

/** What STAT and LIST say of a node. */
export function legacyStatOf(stat: FsNodeStat): LegacyStat {
  return {
    kind: stat.kind,
    version: stat.version,
    size: stat.size,
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    atimeMs: msOfTime(stat.atime),
    mtimeMs: msOfTime(stat.mtime),
    ctimeMs: msOfTime(stat.ctime),
    exptimeRemainingSeconds: stat.exptimeRemainingSeconds,
  };
}

/** The client-facing reply for a state-machine result: OK <version>, or ATTR when asked and known. */
export function clientReplyForResult(result: FsResult, form: ReplyForm = 'ok', stat?: FsNodeStat): ClientReply {
  switch (result.type) {
    case 'ok':
      return form === 'attr' && stat !== undefined ? { type: 'attr', attr: stat } : { type: 'ok', version: result.version };
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
export function replyForResult(result: FsResult, form: ReplyForm = 'ok', stat?: FsNodeStat): Uint8Array {
  return formatReply(clientReplyForResult(result, form, stat));
}

/** The wire reply for a read: CONTENTS with its data, or an error. */
export function replyForRead(result: FsReadResult): Uint8Array {
  return replyForQuery(result);
}

/**
 * The wire reply for any query answer. `asAttr`: a stat answered as ATTR (the attr command)
 * rather than STAT; `word`: what a bytes answer is (readlink's LINK, getxattr's XATTR).
 */
export function replyForQuery(result: FsQueryResult, options: { readonly asAttr?: boolean; readonly word?: 'LINK' | 'XATTR' } = {}): Uint8Array {
  switch (result.type) {
    case 'contents':
      return formatReply(result);
    case 'stat':
      return formatReply(options.asAttr === true ? { type: 'attr', attr: result.stat } : { type: 'stat', stat: legacyStatOf(result.stat) });
    case 'list':
      return formatReply({ type: 'list', entries: result.entries.map((entry) => ({ name: entry.name, ...legacyStatOf(entry) })) });
    case 'readdir':
      return formatReply({
        type: 'dir',
        done: result.done,
        entries: result.entries.map((entry) => ({
          cookie: entry.cookie,
          name: entry.name,
          ino: entry.ino,
          kind: entry.kind,
          ...(entry.stat === undefined ? {} : { attr: entry.stat }),
        })),
      });
    case 'bytes':
      return formatReply({ type: 'bytes', word: options.word ?? 'XATTR', value: result.value });
    case 'names':
      return formatReply(result);
    case 'offset':
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

function signedDecimal(value: number): string {
  assert(Number.isSafeInteger(value), `reply field ${value} is not an integer`);
  return String(value);
}

function octal(value: number): string {
  assert(Number.isInteger(value) && value >= 0 && value <= modeMax, `mode ${value} is not 0..7777 octal`);
  return value.toString(8);
}

function ascii(text: string): Uint8Array {
  return encoder.encode(text);
}
