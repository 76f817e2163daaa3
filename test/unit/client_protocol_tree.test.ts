import test from 'tape';
import { type ClientCommand, type ClientReply, type LegacyStat, type ParseError, type ParsedCommand } from '../../src/codec/client_protocol.js';
import { CommandParser } from '../../src/codec/command_parser.js';
import { formatCommand } from '../../src/codec/command_format.js';
import { formatReply, replyForQuery, replyForResult } from '../../src/codec/reply_format.js';
import { ReplyParser, type ReplyParseError } from '../../src/codec/client_reply_parser.js';
import type { FsNodeStat } from '../../src/fs/types.js';
import { SeededRandom } from '../../src/util/prng.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (value: string): Uint8Array => encoder.encode(value);
const text = (value: Uint8Array): string => decoder.decode(value);

function parse(input: string | Uint8Array, contentBytesMax = 1024): Array<ParsedCommand | ParseError> {
  const parser = new CommandParser({ contentBytesMax });
  parser.push(typeof input === 'string' ? bytes(input) : input);
  const out: Array<ParsedCommand | ParseError> = [];
  for (let outcome = parser.next(); outcome !== undefined; outcome = parser.next()) {
    out.push(outcome);
    if (outcome.type === 'error') break;
  }
  return out;
}

function errorCode(input: string, contentBytesMax = 1024): string {
  const outcomes = parse(input, contentBytesMax);
  const last = outcomes[outcomes.length - 1];
  return last?.type === 'error' ? last.code : `no error: ${JSON.stringify(outcomes)}`;
}

const setattrNone = {};

test('client protocol tree: parses every new command, with and without a request id', (t) => {
  const cases: Array<[string, ClientCommand]> = [
    ['create /a/f 644 1\r\n', { op: 'create', name: 'a/f', mode: 0o644, exclusive: true }],
    ['create f 0 0\r\n', { op: 'create', name: 'f', mode: 0, exclusive: false }],
    ['mkdir d 7777\r\n', { op: 'mkdir', name: 'd', mode: 0o7777 }],
    ['rmdir d\r\n', { op: 'rmdir', name: 'd' }],
    ['rename a%20b /c/d\r\n', { op: 'rename', name: 'a b', to: 'c/d' }],
    ['truncate f 9007199254740991\r\n', { op: 'truncate', name: 'f', size: Number.MAX_SAFE_INTEGER }],
    ['writeat f -1 3\r\nabc\r\n', { op: 'writeat', name: 'f', offset: -1, content: bytes('abc') }],
    ['writeat f 10 0\r\n\r\n', { op: 'writeat', name: 'f', offset: 10, content: new Uint8Array(0) }],
    ['setattr / 700 - 100 - 5\r\n', { op: 'setattr', name: '/', mode: 0o700, gid: 100, mtime: { sec: 0, nsec: 5_000_000 } }],
    ['setattr f - - - - -\r\n', { op: 'setattr', name: 'f', ...setattrNone }],
    ['stat /\r\n', { op: 'stat', name: '/' }],
    ['list /d\r\n', { op: 'list', name: 'd' }],
    ['readat f 5 1024\r\n', { op: 'readat', name: 'f', offset: 5, count: 1024 }],
    ['delete /\r\n', { op: 'delete', name: '/' }],
  ];
  for (const [input, command] of cases) {
    t.deepEqual(parse(input), [{ type: 'command', command }], JSON.stringify(input));
  }
  t.deepEqual(parse('mkdir d 755 7:3\r\n'), [{ type: 'command', command: { op: 'mkdir', name: 'd', mode: 0o755 }, request: { clientId: 7, sequence: 3 } }]);
  t.deepEqual(parse('setattr f - - - - - 1:2\r\n'), [{ type: 'command', command: { op: 'setattr', name: 'f', ...setattrNone }, request: { clientId: 1, sequence: 2 } }]);
  t.deepEqual(parse('writeat f 0 1 4:4\r\nx\r\n'), [{ type: 'command', command: { op: 'writeat', name: 'f', offset: 0, content: bytes('x') }, request: { clientId: 4, sequence: 4 } }]);
  t.end();
});

test('client protocol tree: malformed new commands are ERR_CMD_ERR cases, without allocating for huge numbers', (t) => {
  const cases: Array<[string, string]> = [
    ['create f\r\n', 'missing_field'],
    ['create f 644\r\n', 'missing_field'],
    ['create f 648 0\r\n', 'invalid_field'],
    ['create f 17777 0\r\n', 'invalid_field'],
    ['create f 644 2\r\n', 'invalid_field'],
    ['mkdir d\r\n', 'missing_field'],
    ['mkdir d -755\r\n', 'invalid_field'],
    ['rmdir\r\n', 'missing_field'],
    ['rename a\r\n', 'missing_field'],
    ['rename a ../b\r\n', 'invalid_name'],
    ['rename a/./b c\r\n', 'invalid_name'],
    ['truncate f -1\r\n', 'invalid_field'],
    ['truncate f 99999999999999999999\r\n', 'invalid_field'],
    ['writeat f -2 1\r\nx\r\n', 'invalid_field'],
    ['writeat f 0\r\n', 'missing_field'],
    ['writeat f 0 1025\r\n', 'content_too_large'],
    ['writeat f 0 3\r\nabcXY', 'bad_terminator'],
    ['setattr f 644 - - -\r\n', 'missing_field'],
    ['setattr f x - - - -\r\n', 'invalid_field'],
    ['setattr f - 4294967296 - - -\r\n', 'invalid_field'],
    ['setattr f - - - -5 -\r\n', 'invalid_field'],
    ['stat\r\n', 'missing_field'],
    ['list a//b\r\n', 'invalid_name'],
    ['readat f 0\r\n', 'missing_field'],
    ['readat f 0 1025\r\n', 'content_too_large'],
    ['readat f 0 99999999999999999999\r\n', 'invalid_field'],
    ['readat / 0 1\r\n', 'no error'],
    ['mkdir d 755 0:1\r\n', 'invalid_field'],
    ['STAT f\r\n', 'unknown_command'],
    ['truncates f 1\r\n', 'unknown_command'],
    ['read /\r\n', 'invalid_name'],
    ['write / 1\r\nx\r\n', 'invalid_name'],
  ];
  for (const [input, code] of cases) t.equal(errorCode(input).slice(0, code.length), code, JSON.stringify(input));
  t.end();
});

test('client protocol tree: formatCommand writes what the parser reads back', (t) => {
  const commands: ClientCommand[] = [
    { op: 'create', name: 'a b/%', mode: 0o640, exclusive: true },
    { op: 'mkdir', name: 'd', mode: 0o1777 },
    { op: 'rmdir', name: 'd' },
    { op: 'rename', name: 'x\ty', to: 'z\r\n' },
    { op: 'truncate', name: 'f', size: 12 },
    { op: 'writeat', name: 'f', offset: -1, content: new Uint8Array([13, 10, 0]) },
    { op: 'setattr', name: '/', mode: 0, uid: 1, gid: 2, atime: { sec: 0, nsec: 3_000_000 } },
    { op: 'stat', name: '/' },
    { op: 'list', name: 'd' },
    { op: 'readat', name: 'f', offset: 1, count: 2 },
  ];
  for (const command of commands) {
    t.deepEqual(parse(formatCommand(command, { clientId: 5, sequence: 6 })).map((outcome) => (outcome.type === 'command' ? outcome.command : outcome)), [command], command.op);
  }
  t.equal(text(formatCommand({ op: 'stat', name: 'a' }, { clientId: 5, sequence: 6 })), 'stat a\r\n', 'no request id on reads');
  t.end();
});

const stat: LegacyStat = { kind: 'file', version: 7, size: 10, mode: 0o644, uid: 1000, gid: 100, atimeMs: 1, mtimeMs: 2, ctimeMs: 3, exptimeRemainingSeconds: 4 };
const fullStat: FsNodeStat = { ino: 9, kind: 'file', version: 7, size: 10, blocks: 8, mode: 0o644, nlink: 1, uid: 1000, gid: 100, rdev: 0, atime: { sec: 0, nsec: 1_000_000 }, mtime: { sec: 0, nsec: 2_000_000 }, ctime: { sec: 0, nsec: 3_000_000 }, exptimeRemainingSeconds: 4 };

test('client protocol tree: times before the epoch: setattrs takes them, ATTR and STAT answer them, each read back the same', (t) => {
  const before = { sec: -2, nsec: 500_000_000 }; // -1.5 s
  const whole = { sec: -14_182_940_001, nsec: 0 };
  t.deepEqual(parse('setattrs f atime=-1.5 mtime=-14182940001\r\n'), [{ type: 'command', command: { op: 'setattr', name: 'f', atime: before, mtime: whole }, form: 'attr' }], 'setattrs parses a negative decimal time');
  t.deepEqual(parse('setattrs f mtime=-0.000000001\r\n'), [{ type: 'command', command: { op: 'setattr', name: 'f', mtime: { sec: -1, nsec: 999_999_999 } }, form: 'attr' }], 'a nanosecond before the epoch');
  const command: ClientCommand = { op: 'setattr', name: 'f', atime: before, mtime: { sec: -1, nsec: 1 } };
  const line = text(formatCommand(command, { clientId: 5, sequence: 6 }));
  t.equal(line, 'setattrs f atime=-1.500000000 mtime=-0.999999999 5:6\r\n', 'formatted as setattrs (the positional ms fields are unsigned)');
  t.deepEqual(parse(line).map((outcome) => (outcome.type === 'command' ? outcome.command : outcome)), [command], 'and parsed back the same');
  const attr: FsNodeStat = { ...fullStat, atime: before, mtime: whole, ctime: { sec: -1, nsec: 1 } };
  const attrLine = formatReply({ type: 'attr', attr });
  t.ok(text(attrLine).includes(' -1.500000000 -14182940001.000000000 -0.999999999 '), `ATTR: ${text(attrLine).trim()}`);
  const legacy = formatReply({ type: 'stat', stat: { ...stat, atimeMs: -1500, mtimeMs: -1, ctimeMs: 0 } });
  t.equal(text(legacy), 'STAT file 7 10 644 1000 100 -1500 -1 0 4\r\n', 'STAT: negative ms');
  for (const [what, reply] of [['ATTR', attrLine], ['STAT', legacy]] as const) {
    const parser = new ReplyParser({ contentBytesMax: 1024, lineBytesMax: 32 * 1024 });
    parser.push(reply);
    const parsed = parser.next();
    if (what === 'ATTR') t.deepEqual(parsed, { type: 'attr', attr }, 'the client reads ATTR back the same');
    else t.deepEqual(parsed, { type: 'stat', stat: { ...stat, atimeMs: -1500, mtimeMs: -1, ctimeMs: 0 } }, 'the client reads STAT back the same');
  }
  t.end();
});

test('client protocol tree: STAT, LIST and the new error words are spelled as the protocol says', (t) => {
  t.equal(text(formatReply({ type: 'stat', stat })), 'STAT file 7 10 644 1000 100 1 2 3 4\r\n');
  const list: ClientReply = { type: 'list', entries: [{ name: 'a b', ...stat }, { name: 'd', ...stat, kind: 'dir', size: 0, mode: 0o755, exptimeRemainingSeconds: 0 }] };
  t.equal(text(formatReply(list)), 'LIST 2 68\r\na%20b file 7 10 644 1000 100 1 2 3 4\nd dir 7 0 755 1000 100 1 2 3 0\n\r\n');
  t.equal(text(formatReply({ type: 'list', entries: [] })), 'LIST 0 0\r\n\r\n');
  const words: Array<[Parameters<typeof replyForResult>[0], string]> = [
    [{ type: 'exists' }, 'ERR_EXISTS'],
    [{ type: 'not_dir' }, 'ERR_NOT_DIR'],
    [{ type: 'is_dir' }, 'ERR_IS_DIR'],
    [{ type: 'not_empty' }, 'ERR_NOT_EMPTY'],
    [{ type: 'invalid' }, 'ERR_INVALID'],
    [{ type: 'too_large' }, 'ERR_TOO_LARGE'],
    [{ type: 'not_found' }, 'ERR_FILE_NOT_FOUND'],
    [{ type: 'done' }, 'OK'],
  ];
  for (const [result, word] of words) t.equal(text(replyForResult(result)), `${word}\r\n`, word);
  t.equal(text(replyForQuery({ type: 'is_dir' })), 'ERR_IS_DIR\r\n');
  t.equal(text(formatReply({ type: 'no_space' })), 'ERR_NO_SPACE\r\n', 'a nearly full disk');
  t.equal(text(replyForQuery({ type: 'stat', stat: fullStat })), 'STAT file 7 10 644 1000 100 1 2 3 4\r\n');
  t.equal(text(replyForQuery({ type: 'stat', stat: fullStat }, { asAttr: true })), 'ATTR 9 file 644 1 1000 100 0 10 8 0.001000000 0.002000000 0.003000000 7 4\r\n');
  t.end();
});

function parseReplies(input: Uint8Array, split: number): Array<ClientReply | ReplyParseError> {
  const parser = new ReplyParser({ contentBytesMax: 1024, listBytesMax: 4096 });
  const out: Array<ClientReply | ReplyParseError> = [];
  for (const chunk of [input.subarray(0, split), input.subarray(split)]) {
    parser.push(chunk);
    for (let reply = parser.next(); reply !== undefined; reply = parser.next()) {
      out.push(reply);
      // An error is terminal: the parser would return it again forever.
      if (reply.type === 'error') return out;
    }
  }
  return out;
}

test('client protocol tree: the reply parser reads back STAT, LIST and the error words at every split', (t) => {
  const replies: ClientReply[] = [
    { type: 'stat', stat },
    { type: 'list', entries: [{ name: 'a b%', ...stat }, { name: '文件', ...stat, kind: 'dir' }] },
    { type: 'list', entries: [] },
    { type: 'exists' },
    { type: 'not_dir' },
    { type: 'is_dir' },
    { type: 'not_empty' },
    { type: 'invalid' },
    { type: 'too_large' },
    { type: 'no_space' },
    { type: 'contents', version: 1, content: bytes('x'), exptimeRemainingSeconds: 0 },
  ];
  const stream = new Uint8Array(replies.flatMap((reply) => [...formatReply(reply)]));
  let mismatches = 0;
  for (let split = 0; split <= stream.length; split++) {
    if (JSON.stringify(parseReplies(stream, split)) !== JSON.stringify(replies)) mismatches++;
  }
  t.equal(mismatches, 0);
  t.end();
});

test('client protocol tree: malformed STAT and LIST replies are errors, never exceptions', (t) => {
  const last = (input: string): string => {
    const replies = parseReplies(bytes(input), 0);
    return replies[replies.length - 1]?.type ?? 'none';
  };
  t.equal(last('STAT file 1 2 644 0 0 1 2 3\r\n'), 'error', 'a field short');
  t.equal(last('STAT link 1 2 644 0 0 1 2 3 0\r\n'), 'error', 'unknown kind');
  t.equal(last('STAT file 1 2 999 0 0 1 2 3 0\r\n'), 'error', 'mode not octal');
  t.equal(last('LIST 1 5000\r\n'), 'error', 'body over listBytesMax');
  const list = (count: number, body: string): string => `LIST ${count} ${bytes(body).length}\r\n${body}\r\n`;
  t.equal(last(list(1, 'a file 1 2 644 0 0 1 2 3 0\n')), 'list', 'a well-formed one parses');
  t.equal(last(list(2, 'a file 1 2 644 0 0 1 2 3 0\n')), 'error', 'count mismatch');
  t.equal(last(list(1, 'a/b file 1 2 644 0 0 1 2 3 0\n')), 'error', 'entry name with a slash');
  t.equal(last(list(1, '.. file 1 2 644 0 0 1 2 3 0\n')), 'error', 'entry name ..');
  t.equal(last(list(1, 'a file 1 2 644 0 0 1 2 3 0')), 'error', 'entry without LF');
  t.equal(last(list(1, 'a file 1 2 644 0 0 1 2 3 0 extra\n')), 'error', 'an extra field');
  const random = new SeededRandom(99);
  let threw = 0;
  for (let round = 0; round < 2000; round++) {
    const head = ['STAT ', 'LIST 2 40\r\n', 'LIST 1 '][random.nextInt(3)]!;
    const garbage = new Uint8Array(random.nextInt(80)).map(() => random.nextInt(256));
    try {
      parseReplies(new Uint8Array([...bytes(head), ...garbage, 13, 10]), random.nextInt(20));
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, 'seed 99');
  t.end();
});
