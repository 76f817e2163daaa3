import test from 'tape';
import { encodeName, type ClientCommand, type ParseError, type ParsedCommand } from '../../src/codec/client_protocol.js';
import { CommandParser } from '../../src/codec/command_parser.js';
import { formatCommand } from '../../src/codec/command_format.js';
import { SeededRandom } from '../../src/util/prng.js';

const encoder = new TextEncoder();
const bytes = (value: string): Uint8Array => encoder.encode(value);
const contentBytesMax = 1024 * 1024;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Feeds `chunks` one at a time, draining after each, and returns every outcome in order. */
function parseChunks(chunks: readonly Uint8Array[], max = contentBytesMax): Array<ParsedCommand | ParseError> {
  const parser = new CommandParser({ contentBytesMax: max });
  const outcomes: Array<ParsedCommand | ParseError> = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let outcome = parser.next(); outcome !== undefined; outcome = parser.next()) {
      outcomes.push(outcome);
      if (outcome.type === 'error') return outcomes;
    }
  }
  return outcomes;
}

function parseText(input: string | Uint8Array): Array<ParsedCommand | ParseError> {
  return parseChunks([typeof input === 'string' ? bytes(input) : input]);
}

function commands(input: string | Uint8Array): ClientCommand[] {
  return parseText(input).map((outcome) => (outcome.type === 'command' ? outcome.command : assertNever(outcome)));
}

function assertNever(outcome: ParseError): never {
  throw new Error(`unexpected parse error ${outcome.code}: ${outcome.reason}`);
}

/** The single outcome of a malformed input: must be exactly one error. */
function errorCode(input: string | Uint8Array): string {
  const outcomes = parseText(input);
  const last = outcomes[outcomes.length - 1];
  return last?.type === 'error' ? last.code : `no error (${outcomes.length} commands)`;
}

test('client protocol: parses each command', (t) => {
  t.deepEqual(commands('write a 3\r\nabc\r\n'), [{ op: 'write', name: 'a', content: bytes('abc'), exptimeSeconds: 0 }]);
  t.deepEqual(commands('write a 3 10\r\nabc\r\n'), [{ op: 'write', name: 'a', content: bytes('abc'), exptimeSeconds: 10 }]);
  t.deepEqual(commands('cas a 7 2\r\nhi\r\n'), [{ op: 'cas', name: 'a', version: 7, content: bytes('hi'), exptimeSeconds: 0 }]);
  t.deepEqual(commands('cas a 0 2 -1\r\nhi\r\n'), [{ op: 'cas', name: 'a', version: 0, content: bytes('hi'), exptimeSeconds: -1 }]);
  t.deepEqual(commands('read dir/a\r\n'), [{ op: 'read', name: 'dir/a' }]);
  t.deepEqual(commands('delete /dir/a\r\n'), [{ op: 'delete', name: 'dir/a' }], 'leading slash normalized away');
  t.deepEqual(commands('write e 0\r\n\r\n'), [{ op: 'write', name: 'e', content: new Uint8Array(0), exptimeSeconds: 0 }]);
  t.end();
});

test('client protocol: fields split on runs of spaces and tabs; trailing fields are ignored', (t) => {
  t.deepEqual(commands('  write\t \ta   3 \t 5  extra junk\r\nabc\r\n'), [
    { op: 'write', name: 'a', content: bytes('abc'), exptimeSeconds: 5 },
  ]);
  t.deepEqual(commands('read a b c\r\n'), [{ op: 'read', name: 'a' }]);
  t.deepEqual(commands('cas a 1 1 0 more\r\nx\r\n'), [{ op: 'cas', name: 'a', version: 1, content: bytes('x'), exptimeSeconds: 0 }]);
  t.deepEqual(commands('write a 1 -0\r\nx\r\n'), [{ op: 'write', name: 'a', content: bytes('x'), exptimeSeconds: 0 }]);
  t.deepEqual(commands('write a 007\r\n1234567\r\n').length, 1, 'leading zeros are still decimal');
  t.end();
});

test('client protocol: an optional <clientId>:<sequence> field makes write, cas and delete retry-safe', (t) => {
  const request = { clientId: 42, sequence: 7 };
  t.deepEqual(parseText('write a 1 0 42:7\r\nx\r\n'), [
    { type: 'command', command: { op: 'write', name: 'a', content: bytes('x'), exptimeSeconds: 0 }, request },
  ]);
  t.deepEqual(parseText('cas a 3 1 0 42:7\r\nx\r\n'), [
    { type: 'command', command: { op: 'cas', name: 'a', version: 3, content: bytes('x'), exptimeSeconds: 0 }, request },
  ]);
  t.deepEqual(parseText('delete a 42:7\r\n'), [{ type: 'command', command: { op: 'delete', name: 'a' }, request }]);
  t.deepEqual(parseText('read a 42:7\r\n'), [{ type: 'command', command: { op: 'read', name: 'a' } }], 'reads need no id');
  t.deepEqual(parseText('delete a junk\r\n'), [{ type: 'command', command: { op: 'delete', name: 'a' } }], 'other trailing fields are still ignored');
  for (const bad of ['delete a 0:1\r\n', 'delete a 1:0\r\n', 'delete a 1:\r\n', 'delete a :1\r\n', 'delete a 1:2:3\r\n', 'write a 1 0 x:1\r\nx\r\n']) {
    t.equal(errorCode(bad), 'invalid_field', `${JSON.stringify(bad)} is a malformed request id`);
  }
  const formatted = formatCommand({ op: 'cas', name: 'a b', version: 3, content: bytes('x'), exptimeSeconds: 0 }, request);
  t.deepEqual(parseText(formatted), [
    { type: 'command', command: { op: 'cas', name: 'a b', version: 3, content: bytes('x'), exptimeSeconds: 0 }, request },
  ], 'formatCommand writes the id back');
  t.end();
});

test('client protocol: names are percent-decoded and may hold any character but NUL', (t) => {
  t.deepEqual(commands('read my%20file%09x%0D%0A%25\r\n'), [{ op: 'read', name: 'my file\tx\r\n%' }]);
  t.deepEqual(commands('read %41%62c\r\n'), [{ op: 'read', name: 'Abc' }], 'either hex case');
  t.deepEqual(commands(`read ${encodeName('é/文 件')}\r\n`), [{ op: 'read', name: 'é/文 件' }]);
  t.deepEqual(commands('read a\nb\r\n'), [{ op: 'read', name: 'a\nb' }], 'a bare LF is a byte of the line');
  t.end();
});

test('client protocol: binary content may hold CRLF, NUL and any byte', (t) => {
  const content = new Uint8Array(256).map((_, i) => i);
  const input = concat(bytes('write bin 261\r\n'), content, bytes('\r\n\0\r\n'), bytes('\r\n'));
  const parsed = commands(input);
  t.equal(parsed.length, 1);
  const command = parsed[0];
  t.deepEqual(command?.op === 'write' ? command.content : undefined, concat(content, bytes('\r\n\0\r\n')));
  t.end();
});

test('client protocol: three pipelined commands in one chunk come out in order', (t) => {
  const input = 'write a 2\r\nhi\r\nread a\r\ncas a 1 3 60\r\nbye\r\n';
  t.deepEqual(commands(input), [
    { op: 'write', name: 'a', content: bytes('hi'), exptimeSeconds: 0 },
    { op: 'read', name: 'a' },
    { op: 'cas', name: 'a', version: 1, content: bytes('bye'), exptimeSeconds: 60 },
  ]);
  t.end();
});

test('client protocol: heldBytes counts unparsed input, content being assembled, and content owed its CRLF', (t) => {
  const parser = new CommandParser({ contentBytesMax: 1024 * 1024 });
  parser.push(encoder.encode('write a 100000\r\n'));
  parser.push(new Uint8Array(60_000));
  t.equal(parser.heldBytes, 16 + 60_000, 'unparsed');
  t.equal(parser.next(), undefined);
  t.ok(parser.heldBytes >= 60_000, `content being assembled (${parser.heldBytes})`);
  parser.push(new Uint8Array(40_000));
  t.equal(parser.next(), undefined);
  t.equal(parser.heldBytes, 100_000, 'a whole content still owed its CRLF');
  parser.push(encoder.encode('\r\n'));
  t.equal(parser.next()?.type, 'command');
  t.equal(parser.heldBytes, 0, 'nothing once the command is out');
  t.end();
});

test('client protocol: a stream split at every byte boundary parses the same', (t) => {
  const input = concat(
    bytes('write a 5 9\r\nx\r\ny\0\r\n'),
    bytes('cas a 1 2\r\n\r\n\r\n'),
    bytes('read a\r\n'),
    bytes('delete a\r\n'),
    bytes('write %20b 0\r\n\r\n'),
  );
  const expected = parseChunks([input]);
  t.equal(expected.length, 5);
  let mismatches = 0;
  for (let split = 0; split <= input.length; split++) {
    const outcomes = parseChunks([input.subarray(0, split), input.subarray(split)]);
    if (JSON.stringify(outcomes) !== JSON.stringify(expected)) mismatches++;
  }
  t.equal(mismatches, 0, 'every two-way split');
  const oneByteChunks = Array.from(input, (byte) => new Uint8Array([byte]));
  t.equal(JSON.stringify(parseChunks(oneByteChunks)), JSON.stringify(expected), 'one byte per chunk');
  t.end();
});

test('client protocol: random chunkings of a random command stream parse the same (seeded)', (t) => {
  const seed = 777;
  const random = new SeededRandom(seed);
  const sent: ClientCommand[] = [];
  for (let i = 0; i < 200; i++) sent.push(randomCommand(random, i));
  const stream = concat(...sent.map((command) => formatCommand(command)));
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < stream.length; ) {
    const length = 1 + random.nextInt(40);
    chunks.push(stream.subarray(offset, offset + length));
    offset += length;
  }
  const received = parseChunks(chunks).map((outcome) => (outcome.type === 'command' ? outcome.command : outcome));
  t.deepEqual(received, sent, `seed ${seed}`);
  t.end();
});

function randomCommand(random: SeededRandom, i: number): ClientCommand {
  const name = `d ${random.nextInt(5)}/%f\t${i}`;
  const content = new Uint8Array(random.nextInt(64)).map(() => (random.nextInt(4) === 0 ? 13 : random.nextInt(256)));
  const exptimeSeconds = random.nextInt(5) - 2;
  switch (random.nextInt(4)) {
    case 0:
      return { op: 'write', name, content, exptimeSeconds };
    case 1:
      return { op: 'cas', name, version: random.nextInt(1000), content, exptimeSeconds };
    case 2:
      return { op: 'read', name };
    default:
      return { op: 'delete', name };
  }
}

test('client protocol: the course server crashers are plain errors', (t) => {
  t.equal(errorCode('\r\n'), 'empty_line', 'empty line');
  t.equal(errorCode(' \t \r\n'), 'empty_line', 'blank line');
  t.equal(errorCode('delete\r\n'), 'missing_field', 'delete without a name');
  t.equal(errorCode('delete   \r\n'), 'missing_field', 'delete with only spaces');
  t.equal(errorCode('write a -1\r\n'), 'invalid_field', 'negative numbytes');
  t.equal(errorCode('write a 99999999999999999999999\r\n'), 'invalid_field', 'numbytes beyond 2^53');
  t.equal(errorCode(`write a ${'9'.repeat(10_000)}\r\n`), 'line_too_long', '10,000-byte numbytes');
  t.equal(errorCode(`read ${'a'.repeat(10_000)}\r\n`), 'line_too_long', '10,000-byte line');
  t.end();
});

test('client protocol: malformed commands yield the matching error', (t) => {
  const cases: Array<[string, string]> = [
    ['WRITE a 1\r\nx\r\n', 'unknown_command'],
    ['Read a\r\n', 'unknown_command'],
    ['get a\r\n', 'unknown_command'],
    ['write\r\n', 'missing_field'],
    ['write a\r\n', 'missing_field'],
    ['cas a 1\r\n', 'missing_field'],
    ['cas a\r\n', 'missing_field'],
    ['read\r\n', 'missing_field'],
    ['write a +1\r\nx\r\n', 'invalid_field'],
    ['write a 1e3\r\n', 'invalid_field'],
    ['write a 0x10\r\n', 'invalid_field'],
    ['write a 1.5\r\n', 'invalid_field'],
    ['write a 1 abc\r\nx\r\n', 'invalid_field'],
    ['write a 1 -\r\nx\r\n', 'invalid_field'],
    ['write a 1 +5\r\nx\r\n', 'invalid_field'],
    ['cas a -1 1\r\nx\r\n', 'invalid_field'],
    ['cas a v1 1\r\nx\r\n', 'invalid_field'],
    ['write a 3\r\nabcXY', 'bad_terminator'],
    ['write a 3\r\nabc\rX', 'bad_terminator'],
    ['write a 3\r\nabc\n\r', 'bad_terminator'],
    ['write a 3\r\nabcd\r\n', 'bad_terminator'],
    ['read %zz\r\n', 'invalid_name'],
    ['read a%2\r\n', 'invalid_name'],
    ['read %\r\n', 'invalid_name'],
    ['read a%00b\r\n', 'invalid_name'],
    ['read a/../b\r\n', 'invalid_name'],
    ['read a//b\r\n', 'invalid_name'],
    ['read /\r\n', 'invalid_name'],
    ['read .\r\n', 'invalid_name'],
    ['read %FF%FE\r\n', 'invalid_name'],
    ['write ../x 1\r\nx\r\n', 'invalid_name'],
  ];
  for (const [input, code] of cases) t.equal(errorCode(input), code, JSON.stringify(input));
  t.end();
});

test('client protocol: content over the limit is refused from the header before any content arrives', (t) => {
  const parser = new CommandParser({ contentBytesMax: 10 });
  parser.push(bytes('write a 10\r\n0123456789\r\nwrite a 11\r\n'));
  t.equal(parser.next()?.type, 'command', 'exactly at the limit is fine');
  const outcome = parser.next();
  t.equal(outcome?.type === 'error' ? outcome.code : outcome?.type, 'content_too_large');
  t.equal(errorCode(`write a ${2 ** 40}\r\n`), 'content_too_large', 'a terabyte announced');
  t.end();
});

test('client protocol: a line is refused as soon as it passes the limit, without waiting for CRLF', (t) => {
  const parser = new CommandParser({ contentBytesMax, lineBytesMax: 10 });
  parser.push(bytes('read 12345'));
  t.equal(parser.next(), undefined, '10 bytes: still may be a valid line');
  parser.push(bytes('\r'));
  t.equal(parser.next(), undefined, 'the 11th byte is a CR: may still end the line');
  parser.push(bytes('\n'));
  t.deepEqual(parser.next(), { type: 'command', command: { op: 'read', name: '12345' } }, 'a line of exactly the limit');
  parser.push(bytes('read 123456'));
  const outcome = parser.next();
  t.equal(outcome?.type === 'error' ? outcome.code : outcome, 'line_too_long', '11th byte not a CR: refused at once');
  t.equal(parser.bufferedBytes, 0, 'nothing kept after the error');
  t.end();
});

test('client protocol: the default line limit is the protocol 500 bytes', (t) => {
  const name = 'n'.repeat(500 - 'read '.length);
  t.deepEqual(commands(`read ${name}\r\n`), [{ op: 'read', name }]);
  t.equal(errorCode(`read ${name}x\r\n`), 'line_too_long');
  t.end();
});

test('client protocol: binary garbage yields an error, never an exception', (t) => {
  const seed = 99;
  const random = new SeededRandom(seed);
  let threw = 0;
  let errors = 0;
  for (let round = 0; round < 2000; round++) {
    const garbage = new Uint8Array(1 + random.nextInt(700)).map(() => random.nextInt(256));
    try {
      const outcomes = parseChunks([garbage, bytes('\r\n'.repeat(1 + random.nextInt(2)))]);
      if (outcomes.some((outcome) => outcome.type === 'error')) errors++;
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, `seed ${seed}: no exceptions`);
  t.ok(errors > 1900, `seed ${seed}: garbage is refused (${errors}/2000)`);
  t.end();
});

test('client protocol: after an error the parser stays failed and ignores further input', (t) => {
  const parser = new CommandParser({ contentBytesMax });
  parser.push(bytes('bogus\r\nread a\r\n'));
  const first = parser.next();
  t.equal(first?.type, 'error');
  parser.push(bytes('read b\r\n'));
  t.equal(parser.next(), first, 'the same error again');
  t.equal(parser.bufferedBytes, 0);
  t.end();
});

test('client protocol: 1 MiB of content in 1 KiB chunks arrives intact', (t) => {
  const size = 1024 * 1024;
  const content = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
  const parser = new CommandParser({ contentBytesMax: size });
  parser.push(bytes(`write big ${size}\r\n`));
  let outcome: ParsedCommand | ParseError | undefined;
  for (let offset = 0; offset < size; offset += 1024) {
    parser.push(content.subarray(offset, offset + 1024));
    outcome = parser.next();
    if (outcome !== undefined) break;
  }
  t.equal(outcome, undefined, 'nothing before the terminator');
  t.ok(parser.bufferedBytes === 0, 'content is moved out of the queue as it arrives');
  parser.push(bytes('\r\n'));
  outcome = parser.next();
  const command = outcome?.type === 'command' ? outcome.command : undefined;
  t.equal(command?.op, 'write');
  t.ok(command?.op === 'write' && command.content.length === size && equalBytes(command.content, content), 'content intact');
  t.end();
});

test('client protocol: content pushed one byte at a time is assembled without keeping a view per byte', (t) => {
  const size = 64 * 1024;
  const parser = new CommandParser({ contentBytesMax: size });
  parser.push(bytes(`write big ${size}\r\n`));
  for (let i = 0; i < size; i++) {
    parser.push(new Uint8Array([i & 0xff]));
    parser.next();
  }
  parser.push(bytes('\r\n'));
  const outcome = parser.next();
  t.ok(outcome?.type === 'command' && outcome.command.op === 'write' && outcome.command.content[size - 1] === 0xff);
  t.end();
});

test('client protocol: formatCommand and encodeName produce what the parser reads back', (t) => {
  t.equal(encodeName('a b\t%\r\n'), 'a%20b%09%25%0D%0A');
  t.equal(new TextDecoder().decode(formatCommand({ op: 'read', name: 'x y' })), 'read x%20y\r\n');
  const write: ClientCommand = { op: 'write', name: 'a', content: bytes('hi'), exptimeSeconds: 5 };
  t.equal(new TextDecoder().decode(formatCommand(write)), 'write a 2 5\r\nhi\r\n');
  t.deepEqual(commands(formatCommand(write)), [write]);
  t.end();
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
