import test from 'tape';
import { decodeRaftMessage, encodeRaftMessage, raftMessageFormatVersion } from '../../src/codec/raft_message_codec.js';
import { EntryType } from '../../src/raft/types.js';
import type { AppendEntries, LogEntry, RaftMessage } from '../../src/raft/types.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { SeededRandom } from '../../src/util/prng.js';
import { branded } from '../helpers/plain_ids.js';

const seed = Number(process.env['SEED'] ?? 20240611);
const safeMax = Number.MAX_SAFE_INTEGER;

function allByteValues(): Uint8Array {
  const data = new Uint8Array(256);
  for (let i = 0; i < 256; i++) data[i] = 255 - i;
  return data;
}

function entriesFrom(prevLogIndex: number, terms: readonly number[], dataBytes: number): LogEntry[] {
  return terms.map((term, i) => {
    const data = new Uint8Array(dataBytes);
    for (let b = 0; b < dataBytes; b++) data[b] = (b * 31 + i) & 0xff;
    return branded<LogEntry>({ index: prevLogIndex + 1 + i, term, type: i === 0 ? EntryType.Noop : EntryType.Command, data });
  });
}

const appendEntriesHot = branded<AppendEntries>({
  type: 'AppendEntries',
  from: 1,
  to: 2,
  term: 9,
  prevLogIndex: 1000,
  prevLogTerm: 8,
  entries: entriesFrom(1000, new Array<number>(64).fill(9), 1024),
  leaderCommit: 999,
  round: 77,
});

/** One example of every message type and the edge values of every field. */
const samples = branded<readonly RaftMessage[]>([
  { type: 'RequestVote', from: 1, to: 2, term: 3, lastLogIndex: 10, lastLogTerm: 2, preVote: false },
  { type: 'RequestVote', from: 0xffff_ffff, to: 5, term: safeMax, lastLogIndex: safeMax, lastLogTerm: safeMax, preVote: true },
  { type: 'RequestVoteResponse', from: 2, to: 1, term: 3, voteGranted: true, preVote: false },
  { type: 'RequestVoteResponse', from: 2, to: 1, term: 0, voteGranted: false, preVote: true },
  { type: 'RequestVoteResponse', from: 2, to: 1, term: 4, voteGranted: true, preVote: true },
  { type: 'AppendEntries', from: 1, to: 3, term: 5, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, round: 0 },
  {
    type: 'AppendEntries',
    from: 1,
    to: 3,
    term: 7,
    prevLogIndex: 4,
    prevLogTerm: 2,
    entries: [
      { index: 5, term: 2, type: EntryType.Command, data: allByteValues() },
      { index: 6, term: 7, type: EntryType.Noop, data: new Uint8Array(0) },
      { index: 7, term: 7, type: EntryType.Command, data: Uint8Array.of(0, 0, 0) },
    ],
    leaderCommit: 5,
    round: safeMax,
  },
  appendEntriesHot,
  { type: 'AppendEntriesResponse', from: 3, to: 1, term: 7, success: true, matchIndex: 7, conflictIndex: 0, round: 12 },
  { type: 'AppendEntriesResponse', from: 3, to: 1, term: 7, success: false, matchIndex: 0, conflictIndex: safeMax, round: 0 },
  { type: 'InstallSnapshot', from: 1, to: 2, term: 3, lastIncludedIndex: 10, lastIncludedTerm: 2, totalBytes: 300, offset: 0, length: 4, done: false, data: Uint8Array.of(1, 2, 3, 4) },
  { type: 'InstallSnapshot', from: 1, to: 2, term: 3, lastIncludedIndex: safeMax, lastIncludedTerm: 3, totalBytes: 300, offset: 44, length: 256, done: true, data: allByteValues() },
  { type: 'InstallSnapshotResponse', from: 2, to: 1, term: 3, lastIncludedIndex: 10, bytesStored: 100, installed: false },
  { type: 'InstallSnapshotResponse', from: 2, to: 1, term: 3, lastIncludedIndex: safeMax, bytesStored: safeMax, installed: true },
]);

/** Entry data come back as views; compare them as plain arrays of bytes. */
function comparable(message: RaftMessage): unknown {
  if (message.type === 'InstallSnapshot') return { ...message, data: Array.from(message.data) };
  if (message.type !== 'AppendEntries') return message;
  return { ...message, entries: message.entries.map((e) => ({ ...e, data: Array.from(e.data) })) };
}

test('raft message codec: every message type round-trips', (t) => {
  for (const message of samples) {
    const bytes = encodeRaftMessage(message);
    t.equal(bytes[0], raftMessageFormatVersion, `${message.type}: leading format version byte`);
    const decoded = decodeRaftMessage(bytes);
    if (!decoded.ok) {
      t.fail(`${message.type}: ${decoded.error}`);
      continue;
    }
    t.deepEqual(comparable(decoded.message), comparable(message), `${message.type} round-trips`);
  }
  t.end();
});

test('raft message codec: encoding into a used scratch buffer writes every byte, and a small one is not used', (t) => {
  const scratch = new Uint8Array(Math.max(...samples.map((message) => encodeRaftMessage(message).length)) + 7);
  for (const message of samples) {
    scratch.fill(0xa5);
    const into = encodeRaftMessage(message, scratch);
    t.equal(into.buffer, scratch.buffer, `${message.type}: encoded into the scratch buffer`);
    t.deepEqual(Array.from(into), Array.from(encodeRaftMessage(message)), `${message.type}: same bytes as a fresh buffer`);
    const small = new Uint8Array(into.length - 1);
    t.notEqual(encodeRaftMessage(message, small).buffer, small.buffer, `${message.type}: a scratch buffer too small is left alone`);
  }
  t.end();
});

test('raft message codec: decoded entry data alias the input buffer', (t) => {
  const bytes = encodeRaftMessage(appendEntriesHot);
  const decoded = decodeRaftMessage(bytes);
  t.ok(decoded.ok && decoded.message.type === 'AppendEntries');
  if (decoded.ok && decoded.message.type === 'AppendEntries') {
    const first = decoded.message.entries[0];
    t.equal(first?.data.buffer, bytes.buffer, 'data is a view, not a copy');
    t.equal(first?.data.length, 1024);
  }
  t.end();
});

test('raft message codec: decodes from a view at a non-zero offset of a larger buffer', (t) => {
  const bytes = encodeRaftMessage(samples[6]!);
  const padded = new Uint8Array(bytes.length + 13);
  padded.set(bytes, 7);
  const decoded = decodeRaftMessage(padded.subarray(7, 7 + bytes.length));
  t.ok(decoded.ok, 'decodes');
  if (decoded.ok) t.deepEqual(comparable(decoded.message), comparable(samples[6]!));
  t.end();
});

test('raft message codec: every truncation is refused without throwing', (t) => {
  let refused = 0;
  for (const message of samples.slice(0, 7)) {
    const bytes = encodeRaftMessage(message);
    for (let length = 0; length < bytes.length; length++) {
      const result = decodeRaftMessage(bytes.subarray(0, length));
      if (!result.ok) refused++;
      else t.fail(`${message.type} truncated to ${length} bytes was accepted`);
    }
  }
  t.ok(refused > 0, `${refused} truncations refused`);
  t.end();
});

test('raft message codec: trailing bytes are refused', (t) => {
  for (const message of samples) {
    const bytes = encodeRaftMessage(message);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    const result = decodeRaftMessage(longer);
    t.notOk(result.ok, `${message.type} with a trailing byte`);
  }
  t.end();
});

/** Overwrites bytes of an encoded message at `offset` with a big-endian u32. */
function patchU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(offset, value);
  return copy;
}

function expectRefusal(t: test.Test, bytes: Uint8Array, fragment: string, what: string): void {
  const result = decodeRaftMessage(bytes);
  if (result.ok) {
    t.fail(`${what}: accepted`);
    return;
  }
  t.ok(result.error.includes(fragment), `${what}: "${result.error}" mentions "${fragment}"`);
}

test('raft message codec: absurd counts and lengths are refused before allocating', (t) => {
  const empty = encodeRaftMessage(samples[5]!);
  // entryCount lives at header (18) + 32.
  expectRefusal(t, patchU32(empty, 50, 0xffff_ffff), 'cannot fit', 'entry count 2^32-1 in an empty message');
  const withEntries = encodeRaftMessage(samples[6]!);
  // The first entry's data length lives at 54 + 17.
  expectRefusal(t, patchU32(withEntries, 71, 0xffff_fff0), 'truncated', 'data length 4 GiB');
  expectRefusal(t, patchU32(withEntries, 10, 0x0020_0000), '2^53', 'term above 2^53-1');
  t.end();
});

test('raft message codec: malformed headers, flags and entry sequences are refused', (t) => {
  const vote = encodeRaftMessage(samples[0]!);
  const badVersion = vote.slice();
  badVersion[0] = 2;
  expectRefusal(t, badVersion, 'version', 'format version 2');
  const badType = vote.slice();
  badType[1] = 9;
  expectRefusal(t, badType, 'type', 'message type 9');
  expectRefusal(t, patchU32(vote, 2, 0), 'node id 0', 'from = 0');
  const badFlags = vote.slice();
  badFlags[vote.length - 1] = 0x80;
  expectRefusal(t, badFlags, 'flags', 'unknown flag bit');

  const entries = encodeRaftMessage(samples[6]!);
  // Entry 5 starts at 54: its index is the u64 at 54 (low half at 58).
  expectRefusal(t, patchU32(entries, 58, 6), 'expected', 'index gap');
  // Entry 5's term (low half at 66) drops below prevLogTerm 2.
  expectRefusal(t, patchU32(entries, 66, 1), 'below', 'term below prevLogTerm');
  expectRefusal(t, patchU32(entries, 66, 8), 'above the message term', 'term above the message term');
  const badEntryType = entries.slice();
  badEntryType[54 + 16] = 7;
  expectRefusal(t, badEntryType, 'unknown type', 'entry type 7');
  t.end();
});

test('raft message codec: encoding a malformed message fails an assertion', (t) => {
  const gap = branded<AppendEntries>({ ...appendEntriesHot, prevLogIndex: 3 });
  t.throws(() => encodeRaftMessage(gap), AssertionFailure, 'entries not following prevLogIndex');
  t.throws(() => encodeRaftMessage(branded<RaftMessage>({ ...samples[0]!, from: 0 })), AssertionFailure, 'from = 0');
  t.throws(() => encodeRaftMessage(branded<RaftMessage>({ ...samples[0]!, term: 1.5 })), AssertionFailure, 'fractional term');
  t.throws(() => encodeRaftMessage(branded<RaftMessage>({ ...samples[0]!, term: 2 ** 53 })), AssertionFailure, 'term 2^53');
  t.end();
});

test('raft message codec: seeded random bytes never throw', (t) => {
  const random = new SeededRandom(seed);
  let accepted = 0;
  for (let run = 0; run < 20000; run++) {
    const bytes = new Uint8Array(random.nextInt(200));
    for (let i = 0; i < bytes.length; i++) bytes[i] = random.nextInt(256);
    // Valid-looking first bytes reach the deeper decoding paths more often.
    if (bytes.length > 1 && random.nextFloat() < 0.8) {
      bytes[0] = raftMessageFormatVersion;
      bytes[1] = 1 + random.nextInt(4);
    }
    const result = decodeRaftMessage(bytes);
    if (result.ok) accepted++;
  }
  t.pass(`20000 random inputs decoded without throwing (seed ${seed}, ${accepted} accepted)`);
  t.end();
});

test('raft message codec: mutated encodings never throw, and anything accepted re-encodes to the same bytes', (t) => {
  const random = new SeededRandom(seed + 1);
  let accepted = 0;
  let mismatches = 0;
  for (let run = 0; run < 20000; run++) {
    const source = encodeRaftMessage(samples[random.nextInt(samples.length - 1)]!);
    const bytes = source.slice();
    const flips = 1 + random.nextInt(3);
    for (let f = 0; f < flips; f++) bytes[random.nextInt(bytes.length)] = random.nextInt(256);
    const result = decodeRaftMessage(bytes);
    if (!result.ok) continue;
    accepted++;
    // The encoding is canonical: a decoder that accepted bytes it could not reproduce would let
    // two different byte strings mean the same message, hiding corruption.
    const again = encodeRaftMessage(result.message);
    if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) mismatches++;
  }
  t.equal(mismatches, 0, `canonical re-encoding (seed ${seed + 1}, ${accepted} mutated inputs accepted)`);
  t.end();
});

test('raft message codec: input over the message size limit is refused', (t) => {
  const huge = new Uint8Array(64 * 1024 * 1024 + 1);
  huge.set(encodeRaftMessage(samples[5]!));
  const result = decodeRaftMessage(huge);
  t.notOk(result.ok, 'refused');
  t.end();
});

test('raft message codec: InstallSnapshot chunks outside the snapshot or with a wrong done flag are refused', (t) => {
  const base = samples.find((message) => message.type === 'InstallSnapshot')!;
  const encoded = encodeRaftMessage(base);
  // Body offsets after the 18-byte header: totalBytes at 34, offset at 42, flags at 50.
  const view = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const beyond = encoded.slice();
  view(beyond).setUint32(46, 298);
  expectRefusal(t, beyond, 'outside the snapshot', 'a chunk past the end');
  const doneEarly = encoded.slice();
  doneEarly[50] = 1;
  expectRefusal(t, doneEarly, 'done before the last byte', 'done on a middle chunk');
  const huge = encoded.slice();
  view(huge).setUint32(34, 0x1f_ffff);
  expectRefusal(t, huge, 'outside 1..', 'a snapshot over snapshotBytesMax');
  const newer = encoded.slice();
  view(newer).setUint32(30, 9);
  expectRefusal(t, newer, 'above the message term', 'a snapshot term above the sender term');
  t.end();
});
