import test from 'tape';
import { type ClientReply } from '../../src/codec/client_protocol.js';
import { formatReply, replyForRead, replyForResult } from '../../src/codec/reply_format.js';
import { ReplyParser, type ReplyParseError } from '../../src/codec/client_reply_parser.js';
import { SeededRandom } from '../../src/util/prng.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (value: Uint8Array): string => decoder.decode(value);

test('client protocol replies: each reply is spelled as protocol.md says', (t) => {
  t.equal(text(formatReply({ type: 'ok', version: 12 })), 'OK 12\r\n');
  t.equal(text(formatReply({ type: 'deleted' })), 'OK\r\n');
  const contents: ClientReply = { type: 'contents', version: 3, content: encoder.encode('a\r\nb'), exptimeRemainingSeconds: 9 };
  t.equal(text(formatReply(contents)), 'CONTENTS 3 4 9\r\na\r\nb\r\n');
  t.equal(text(formatReply({ type: 'file_not_found' })), 'ERR_FILE_NOT_FOUND\r\n');
  t.equal(text(formatReply({ type: 'version_mismatch', currentVersion: 5 })), 'ERR_VERSION 5\r\n');
  t.equal(text(formatReply({ type: 'command_error' })), 'ERR_CMD_ERR\r\n');
  t.equal(text(formatReply({ type: 'internal_error' })), 'ERR_INTERNAL\r\n');
  t.equal(text(formatReply({ type: 'redirect', host: '127.0.0.1', port: 9001 })), 'ERR_REDIRECT 127.0.0.1:9001\r\n');
  t.end();
});

test('client protocol replies: state-machine results map to replies; stale_request is ERR_INTERNAL', (t) => {
  t.equal(text(replyForResult({ type: 'ok', version: 1, ino: 5 })), 'OK 1\r\n');
  t.equal(text(replyForResult({ type: 'deleted' })), 'OK\r\n');
  t.equal(text(replyForResult({ type: 'not_found' })), 'ERR_FILE_NOT_FOUND\r\n');
  t.equal(text(replyForResult({ type: 'version_mismatch', currentVersion: 4 })), 'ERR_VERSION 4\r\n');
  t.equal(text(replyForResult({ type: 'stale_request' })), 'ERR_INTERNAL\r\n');
  t.equal(text(replyForRead({ type: 'not_found' })), 'ERR_FILE_NOT_FOUND\r\n');
  const read = replyForRead({ type: 'contents', version: 2, content: new Uint8Array([0, 13, 10]), exptimeRemainingSeconds: 0 });
  t.deepEqual([...read], [...encoder.encode('CONTENTS 2 3 0\r\n'), 0, 13, 10, 13, 10]);
  t.end();
});

test('client protocol replies: a reply field that would corrupt the stream is a bug (assertion)', (t) => {
  t.throws(() => formatReply({ type: 'ok', version: -1 }), /non-negative/);
  t.throws(() => formatReply({ type: 'redirect', host: 'a b', port: 1 }), /token/);
  t.throws(() => formatReply({ type: 'redirect', host: 'a', port: 70000 }), /port/);
  t.end();
});

const allReplies: ClientReply[] = [
  { type: 'ok', version: 1 },
  { type: 'contents', version: 2, content: new Uint8Array([13, 10, 0, 255, 13]), exptimeRemainingSeconds: 30 },
  { type: 'deleted' },
  { type: 'file_not_found' },
  { type: 'version_mismatch', currentVersion: 9 },
  { type: 'contents', version: 3, content: new Uint8Array(0), exptimeRemainingSeconds: 0 },
  { type: 'internal_error' },
  { type: 'redirect', host: '::1', port: 7000 },
  { type: 'command_error' },
];

function parseReplies(chunks: readonly Uint8Array[], contentBytesMax = 1024): Array<ClientReply | ReplyParseError> {
  const parser = new ReplyParser({ contentBytesMax });
  const out: Array<ClientReply | ReplyParseError> = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let reply = parser.next(); reply !== undefined; reply = parser.next()) {
      out.push(reply);
      if (reply.type === 'error') return out;
    }
  }
  return out;
}

test('client protocol replies: the reply parser reads back every reply, split at every byte', (t) => {
  const stream = new Uint8Array(allReplies.flatMap((reply) => [...formatReply(reply)]));
  t.deepEqual(parseReplies([stream]), allReplies, 'one chunk');
  let mismatches = 0;
  for (let split = 0; split <= stream.length; split++) {
    const replies = parseReplies([stream.subarray(0, split), stream.subarray(split)]);
    if (JSON.stringify(replies) !== JSON.stringify(allReplies)) mismatches++;
  }
  t.equal(mismatches, 0, 'every two-way split');
  t.end();
});

test('client protocol replies: unknown lines, oversized or unterminated CONTENTS are errors', (t) => {
  const errorOf = (input: string, max = 1024): string => {
    const replies = parseReplies([encoder.encode(input)], max);
    const last = replies[replies.length - 1];
    return last?.type === 'error' ? 'error' : JSON.stringify(replies);
  };
  t.equal(errorOf('HELLO\r\n'), 'error');
  t.equal(errorOf('OK x\r\n'), 'error');
  t.equal(errorOf('ERR_VERSION\r\n'), 'error');
  t.equal(errorOf('CONTENTS 1 2\r\n'), 'error');
  t.equal(errorOf('CONTENTS 1 2 0\r\nabXY'), 'error');
  t.equal(errorOf('CONTENTS 1 2000 0\r\n', 1000), 'error');
  t.equal(errorOf('ERR_REDIRECT nohost\r\n'), 'error');
  t.end();
});

test('client protocol replies: random bytes never make the reply parser throw', (t) => {
  const seed = 4242;
  const random = new SeededRandom(seed);
  let threw = 0;
  for (let round = 0; round < 2000; round++) {
    const garbage = new Uint8Array(random.nextInt(300)).map(() => random.nextInt(256));
    try {
      parseReplies([garbage, encoder.encode('\r\n')]);
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, `seed ${seed}`);
  t.end();
});
