import test from 'tape';
import { crc32c } from '../../src/util/crc32.js';
import { decodeHardState, decodeLogEntry, decodeSnapshotRecord, encodeHardState, encodeLogEntry, encodeSnapshotRecord, type SnapshotRecord } from '../../src/codec/log_entry_codec.js';
import { EntryType } from '../../src/raft/types.js';
import type { HardState, LogEntry } from '../../src/raft/types.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { SeededRandom } from '../../src/util/prng.js';
import { asLogIndex } from '../../src/util/types.js';
import { branded } from '../helpers/plain_ids.js';

const seed = Number(process.env['SEED'] ?? 7);

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The textbook bit-at-a-time CRC-32C, to check the table-driven one against. */
function crc32cBitwise(bytes: Uint8Array): number {
  let c = 0xffff_ffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

const entry = branded<LogEntry>({ index: 42, term: 7, type: EntryType.Command, data: Uint8Array.of(0, 1, 2, 255, 254) });

test('crc32c: matches the standard check value and the bitwise definition', (t) => {
  t.equal(crc32c(bytesOf('123456789')), 0xe3069283, 'CRC-32C check value of "123456789"');
  t.equal(crc32c(new Uint8Array(0)), 0, 'empty input');
  const random = new SeededRandom(seed);
  for (let run = 0; run < 200; run++) {
    const data = new Uint8Array(random.nextInt(100));
    for (let i = 0; i < data.length; i++) data[i] = random.nextInt(256);
    const offset = random.nextInt(data.length + 1);
    const view = data.subarray(offset);
    if (crc32c(view) !== crc32cBitwise(view)) t.fail(`mismatch for ${data.length} bytes at offset ${offset}`);
    const split = random.nextInt(view.length + 1);
    if (crc32c(view.subarray(split), crc32c(view.subarray(0, split))) !== crc32c(view)) t.fail('incremental mismatch');
  }
  t.pass(`200 random buffers agree (seed ${seed})`);
  t.end();
});

test('log entry codec: an entry round-trips', (t) => {
  for (const sample of [entry, branded<LogEntry>({ index: 1, term: 0, type: EntryType.Noop, data: new Uint8Array(0) })]) {
    const decoded = decodeLogEntry(encodeLogEntry(sample), sample.index);
    t.ok(decoded.ok, 'decodes');
    if (decoded.ok) t.deepEqual({ ...decoded.value, data: Array.from(decoded.value.data) }, { ...sample, data: Array.from(sample.data) });
  }
  t.end();
});

test('log entry codec: a changed byte anywhere is a checksum mismatch', (t) => {
  const bytes = encodeLogEntry(entry);
  for (let i = 0; i < bytes.length; i++) {
    const damaged = bytes.slice();
    damaged[i] = damaged[i]! ^ 0x10;
    const result = decodeLogEntry(damaged, entry.index);
    t.ok(!result.ok && result.error.includes('checksum mismatch'), `byte ${i} flipped`);
  }
  t.end();
});

test('log entry codec: truncated records and the wrong index are refused with the reason', (t) => {
  const bytes = encodeLogEntry(entry);
  const short = decodeLogEntry(bytes.subarray(0, 10), entry.index);
  t.ok(!short.ok && short.error.includes('truncated'), 'truncated header');
  const cut = decodeLogEntry(bytes.subarray(0, bytes.length - 1), entry.index);
  t.ok(!cut.ok && cut.error.includes('checksum mismatch'), 'lost last data byte');
  const wrong = decodeLogEntry(bytes, asLogIndex(43));
  t.ok(!wrong.ok && wrong.error.includes('wrong index'), 'record stored under another index');
  const asHardState = decodeHardState(bytes);
  t.notOk(asHardState.ok, 'an entry record is not a hard state');
  t.end();
});

test('log entry codec: hard state round-trips and detects damage', (t) => {
  const hardState = branded<HardState>({ currentTerm: Number.MAX_SAFE_INTEGER, votedFor: 0xffff_ffff });
  const bytes = encodeHardState(hardState);
  const decoded = decodeHardState(bytes);
  t.deepEqual(decoded, { ok: true, value: hardState });
  for (let i = 0; i < bytes.length; i++) {
    const damaged = bytes.slice();
    damaged[i] = damaged[i]! ^ 0x01;
    t.notOk(decodeHardState(damaged).ok, `byte ${i} flipped`);
  }
  const short = decodeHardState(bytes.subarray(0, 17));
  t.ok(!short.ok && short.error.includes('truncated'), 'truncated');
  t.notOk(decodeLogEntry(bytes, asLogIndex(1)).ok, 'a hard state record is not an entry');
  t.end();
});

test('log entry codec: encoding out-of-range fields fails an assertion', (t) => {
  t.throws(() => encodeLogEntry(branded<LogEntry>({ ...entry, index: 0 })), AssertionFailure, 'index 0');
  t.throws(() => encodeLogEntry(branded<LogEntry>({ ...entry, term: -1 })), AssertionFailure, 'negative term');
  t.throws(() => encodeHardState(branded<HardState>({ currentTerm: 1, votedFor: -1 })), AssertionFailure, 'negative votedFor');
  t.end();
});

test('log entry codec: seeded random bytes never throw', (t) => {
  const random = new SeededRandom(seed + 1);
  for (let run = 0; run < 10000; run++) {
    const bytes = new Uint8Array(random.nextInt(64));
    for (let i = 0; i < bytes.length; i++) bytes[i] = random.nextInt(256);
    decodeLogEntry(bytes, asLogIndex(1 + random.nextInt(10)));
    decodeHardState(bytes);
  }
  t.pass(`10000 random records decoded without throwing (seed ${seed + 1})`);
  t.end();
});

test('log entry codec: the snapshot record round-trips and detects damage', (t) => {
  const record = branded<SnapshotRecord>({ snapshot: { index: 90, term: 4, bytes: 12345 }, base: { index: 70, term: 3 } });
  const bytes = encodeSnapshotRecord(record);
  t.deepEqual(decodeSnapshotRecord(bytes), { ok: true, value: record });
  for (let k = 0; k < bytes.length; k++) {
    const damaged = bytes.slice();
    damaged[k] = damaged[k]! ^ 0x10;
    t.equal(decodeSnapshotRecord(damaged).ok, false, `a changed byte ${k} is refused`);
  }
  t.equal(decodeSnapshotRecord(encodeHardState(branded<HardState>({ currentTerm: 1, votedFor: 0 }))).ok, false, 'a hard state record is not a snapshot record');
  t.throws(() => encodeSnapshotRecord(branded<SnapshotRecord>({ snapshot: { index: 5, term: 1, bytes: 1 }, base: { index: 6, term: 1 } })), AssertionFailure, 'a base beyond the snapshot');
  t.end();
});
