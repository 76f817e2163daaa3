import test from 'tape';
import { decodeFsEntry, decodeFsRequest, encodeFsBatch, encodeFsRequest, fsBatchFormat, fsRequestFormatVersion } from '../../src/codec/fs_request_codec.js';
import type { FsRequest } from '../../src/fs/types.js';
import { SeededRandom } from '../../src/util/prng.js';

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

const samples: FsRequest[] = [
  { clientId: 0, sequence: 0, stampMs: 0, command: { op: 'write', name: 'a', content: bytes('hello'), exptimeSeconds: 0 } },
  {
    clientId: Number.MAX_SAFE_INTEGER,
    sequence: 2 ** 53 - 2,
    stampMs: 1_700_000_000_123,
    command: { op: 'cas', name: 'dir/文件', version: 4_294_967_296, content: new Uint8Array([0, 13, 10, 255]), exptimeSeconds: -7 },
  },
  { clientId: 3, sequence: 9, stampMs: 12.5, command: { op: 'delete', name: '/x y' } },
  { clientId: 1, sequence: 1, stampMs: 5, command: { op: 'write', name: 'empty', content: new Uint8Array(0), exptimeSeconds: 60 } },
  { clientId: 4, sequence: 2, stampMs: 6, command: { op: 'create', name: 'd/f', mode: 0o644, exclusive: true } },
  { clientId: 0, sequence: 0, stampMs: 6, command: { op: 'create', name: 'd/g', mode: 0, exclusive: false } },
  { clientId: 4, sequence: 3, stampMs: 7, command: { op: 'mkdir', name: 'd/sub', mode: 0o7777 } },
  { clientId: 4, sequence: 4, stampMs: 8, command: { op: 'rmdir', name: '/' } },
  { clientId: 4, sequence: 5, stampMs: 9, command: { op: 'rename', name: 'd/f', to: 'e/文件 x' } },
  { clientId: 4, sequence: 6, stampMs: 10, command: { op: 'truncate', name: 'd/f', size: 2 ** 40 } },
  { clientId: 4, sequence: 7, stampMs: 11, command: { op: 'writeat', name: 'd/f', offset: -1, content: bytes('tail') } },
  { clientId: 4, sequence: 8, stampMs: 12, command: { op: 'writeat', name: 'd/f', offset: 65_535, content: new Uint8Array(0) } },
  {
    clientId: 4,
    sequence: 9,
    stampMs: 13,
    command: { op: 'setattr', name: '/', mode: 0o755, gid: 1000, mtime: { sec: 1_700_000_000, nsec: 123_456_789 } },
  },
  { clientId: 4, sequence: 10, stampMs: 14, command: { op: 'setattr', name: 'd' } },
  // Before the epoch: negative seconds, nanoseconds counted forward from them.
  { clientId: 4, sequence: 10, stampMs: 14, command: { op: 'setattr', name: 'd', atime: { sec: -2, nsec: 500_000_000 }, mtime: { sec: -14_182_940_001, nsec: 999_999_999 } } },
  { clientId: 4, sequence: 11, stampMs: 15, command: { op: 'setattr', name: '//17', size: 2 ** 44, atime: 'now', mtime: 'now', uid: 0, exptimeSeconds: -3 } },
  { clientId: 4, sequence: 12, stampMs: 16, command: { op: 'create', name: '//1/f', mode: 0o600, exclusive: true, owner: { uid: 1000, gid: 100 } } },
  { clientId: 4, sequence: 13, stampMs: 17, command: { op: 'mkdir', name: '//9/d', mode: 0o2775, owner: { uid: 0xffff_ffff, gid: 0 } } },
  { clientId: 4, sequence: 14, stampMs: 18, command: { op: 'rename', name: 'a', to: 'b', mode: 'exchange' } },
  { clientId: 4, sequence: 15, stampMs: 19, command: { op: 'rename', name: 'a', to: 'b', mode: 'replace', ifVersion: 42 } },
  { clientId: 4, sequence: 16, stampMs: 20, command: { op: 'link', name: '//5', to: '//1/other name' } },
  { clientId: 4, sequence: 17, stampMs: 21, command: { op: 'symlink', name: 'l', target: bytes('../x y/\u00e9') } },
  { clientId: 4, sequence: 18, stampMs: 22, command: { op: 'symlink', name: 'm', target: new Uint8Array([0xff, 0x2f]), owner: { uid: 7, gid: 8 } } },
  { clientId: 4, sequence: 19, stampMs: 23, command: { op: 'mknod', name: 'p', kind: 'fifo', mode: 0o644, rdev: 0 } },
  { clientId: 4, sequence: 20, stampMs: 24, command: { op: 'mknod', name: 'c', kind: 'chr', mode: 0o600, rdev: 0x0105, owner: { uid: 1, gid: 1 } } },
  { clientId: 4, sequence: 21, stampMs: 25, command: { op: 'setxattr', name: 'f', attr: 'user.a b', value: new Uint8Array([0, 1, 2]), mode: 'create' } },
  { clientId: 4, sequence: 22, stampMs: 26, command: { op: 'removexattr', name: 'f', attr: 'trusted.x' } },
  { clientId: 4, sequence: 23, stampMs: 27, command: { op: 'fallocate', name: 'f', offset: 4096, length: 2 ** 40, punch: true, keepSize: true } },
  { clientId: 4, sequence: 24, stampMs: 28, command: { op: 'hold', name: '//12', holder: 77, delta: -1 } },
  { clientId: 0, sequence: 0, stampMs: 29, command: { op: 'reap', name: '/', expired: [{ ino: 5, expiresAtMs: 1234.5 }], orphans: [7, 9], holders: [2 ** 53 - 1] } },
];

function decodeOk(encoded: Uint8Array): FsRequest | string {
  const decoded = decodeFsRequest(encoded);
  return decoded.ok ? decoded.request : decoded.error;
}

test('fs request codec: every command shape round-trips exactly', (t) => {
  for (const request of samples) {
    const encoded = encodeFsRequest(request);
    t.equal(encoded[0], fsRequestFormatVersion, 'leading format-version byte');
    t.deepEqual(decodeOk(encoded), request, request.command.op);
  }
  t.end();
});

test('fs request codec: an entry written before the tree commands still decodes to the same request', (t) => {
  // write 'a' "hi" exptime 5, clientId 7, sequence 3, stamp 1000, byte for byte in the original layout.
  const old = new Uint8Array(1 + 1 + 24 + 4 + 1 + 8 + 4 + 2);
  const view = new DataView(old.buffer);
  old.set([1, 1]);
  view.setFloat64(2, 7, true);
  view.setFloat64(10, 3, true);
  view.setFloat64(18, 1000, true);
  view.setUint32(26, 1, true);
  old[30] = 0x61;
  view.setFloat64(31, 5, true);
  view.setUint32(39, 2, true);
  old.set(bytes('hi'), 43);
  const request: FsRequest = { clientId: 7, sequence: 3, stampMs: 1000, command: { op: 'write', name: 'a', content: bytes('hi'), exptimeSeconds: 5 } };
  t.deepEqual(decodeOk(old), request);
  t.deepEqual(encodeFsRequest(request), old, 'and is still written that way');
  t.end();
});

test('fs request codec: bad tree-command fields are refused', (t) => {
  const patchedAfterName = (index: number, offset: number, value: number): Uint8Array => {
    const encoded = encodeFsRequest(samples[index]!);
    const nameBytes = new DataView(encoded.buffer).getUint32(26, true);
    encoded[30 + nameBytes + offset] = value;
    return encoded;
  };
  t.equal(decodeFsRequest(patchedAfterName(4, 8, 2)).ok, false, 'create exclusive 2');
  t.equal(decodeFsRequest(patchedAfterName(13, 1, 0x40)).ok, false, 'setattr mask with unknown bits');
  t.equal(decodeFsRequest(patchedAfterName(9, 7, 0xff)).ok, false, 'truncate size NaN');
  const writeRoot = encodeFsRequest({ clientId: 0, sequence: 0, stampMs: 0, command: { op: 'write', name: 'a', content: new Uint8Array(0), exptimeSeconds: 0 } });
  writeRoot[30] = 0x2f;
  t.equal(decodeFsRequest(writeRoot).ok, false, 'write of the root');
  t.throws(() => encodeFsRequest({ clientId: 0, sequence: 0, stampMs: 0, command: { op: 'writeat', name: 'a', offset: -2, content: new Uint8Array(0) } }), /offset/);
  t.throws(() => encodeFsRequest({ clientId: 0, sequence: 0, stampMs: 0, command: { op: 'rename', name: 'a', to: 'a/../b' } }), /target/);
  t.end();
});

test('fs request codec: a setattr written before nanosecond times decodes with whole ms', (t) => {
  // setattr 'd' mode 0o700, atimeMs 1500 (mask bits 0 and 3), in the layout of op 17.
  const name = bytes('d');
  const old = new Uint8Array(1 + 1 + 24 + 4 + name.length + 1 + 16);
  const view = new DataView(old.buffer);
  old.set([1, 17]);
  view.setUint32(26, name.length, true);
  old.set(name, 30);
  old[31] = 0b01001;
  view.setFloat64(32, 0o700, true);
  view.setFloat64(40, 1500, true);
  t.deepEqual(decodeOk(old), { clientId: 0, sequence: 0, stampMs: 0, command: { op: 'setattr', name: 'd', mode: 0o700, atime: { sec: 1, nsec: 500_000_000 } } });
  t.end();
});

test('fs request codec: decodes from a view at a non-zero offset (entries inside a larger buffer)', (t) => {
  const encoded = encodeFsRequest(samples[1]!);
  const framed = new Uint8Array(encoded.length + 7);
  framed.set(encoded, 3);
  t.deepEqual(decodeOk(framed.subarray(3, 3 + encoded.length)), samples[1]);
  t.end();
});

test('fs request codec: every truncation and trailing garbage is refused', (t) => {
  for (const request of samples) {
    const encoded = encodeFsRequest(request);
    let accepted = 0;
    for (let length = 0; length < encoded.length; length++) {
      if (decodeFsRequest(encoded.subarray(0, length)).ok) accepted++;
    }
    t.equal(accepted, 0, `${request.command.op}: no prefix decodes`);
    const longer = new Uint8Array(encoded.length + 1);
    longer.set(encoded);
    t.equal(decodeFsRequest(longer).ok, false, `${request.command.op}: trailing byte refused`);
  }
  t.end();
});

test('fs request codec: unknown format version, bad op, invalid name and bad numbers are refused', (t) => {
  const base = encodeFsRequest(samples[0]!);
  const patched = (offset: number, value: number): Uint8Array => {
    const copy = base.slice();
    copy[offset] = value;
    return copy;
  };
  t.equal(decodeFsRequest(patched(0, 2)).ok, false, 'format version 2');
  t.equal(decodeFsRequest(patched(1, 9)).ok, false, 'op 9');
  t.equal(decodeFsRequest(patched(30, 0)).ok, false, 'name containing NUL');
  t.equal(decodeFsRequest(patched(30, 0xff)).ok, false, 'name not UTF-8');
  const negativeClient = base.slice();
  new DataView(negativeClient.buffer).setFloat64(2, -1, true);
  t.equal(decodeFsRequest(negativeClient).ok, false, 'negative clientId');
  const nanStamp = base.slice();
  new DataView(nanStamp.buffer).setFloat64(18, Number.NaN, true);
  t.equal(decodeFsRequest(nanStamp).ok, false, 'NaN stamp');
  t.end();
});

test('fs request codec: random and mutated bytes never throw', (t) => {
  const seed = 20240611;
  const random = new SeededRandom(seed);
  const encoded = samples.map(encodeFsRequest);
  let threw = 0;
  for (let i = 0; i < 20_000; i++) {
    const source = encoded[random.nextInt(encoded.length)]!;
    const input = i % 2 === 0 ? randomBytes(random, random.nextInt(64)) : mutate(random, source);
    try {
      decodeFsRequest(input);
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, `seed ${seed}`);
  t.end();
});

test('fs request codec: encoding a malformed request is a bug and fails an assertion', (t) => {
  const bad: FsRequest = { clientId: -1, sequence: 0, stampMs: 0, command: { op: 'delete', name: 'a' } };
  t.throws(() => encodeFsRequest(bad), /clientId/);
  const badName: FsRequest = { clientId: 0, sequence: 0, stampMs: 0, command: { op: 'delete', name: 'a/../b' } };
  t.throws(() => encodeFsRequest(badName), /name/);
  t.end();
});

function randomBytes(random: SeededRandom, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = random.nextInt(256);
  if (length > 0 && random.nextInt(2) === 0) out[0] = fsRequestFormatVersion;
  return out;
}

function mutate(random: SeededRandom, source: Uint8Array): Uint8Array {
  const copy = source.slice(0, random.nextInt(source.length + 1));
  for (let flips = random.nextInt(4); flips > 0 && copy.length > 0; flips--) {
    copy[random.nextInt(copy.length)] = random.nextInt(256);
  }
  return copy;
}

test('fs entry: a batch carries several requests in order; a plain request is a batch of one', (t) => {
  const encoded = samples.map((request) => encodeFsRequest(request));
  const batch = encodeFsBatch(encoded);
  t.equal(batch[0], fsBatchFormat);
  const decoded = decodeFsEntry(batch);
  t.ok(decoded.ok);
  if (decoded.ok) t.deepEqual(decoded.requests, samples.map((request) => decodeFsRequestOrThrow(encodeFsRequest(request))), 'every request, in order');
  const single = decodeFsEntry(encoded[0]!);
  t.ok(single.ok && single.requests.length === 1, 'a format-1 payload (every log written before batches) decodes as one request');
  t.end();
});

test('fs entry: a damaged batch is refused as a whole, never half applied', (t) => {
  const encoded = [encodeFsRequest(samples[0]!), encodeFsRequest(samples[2]!)];
  const batch = encodeFsBatch(encoded);
  const refused = (payload: Uint8Array, why: string): void => {
    const decoded = decodeFsEntry(payload);
    t.notOk(decoded.ok, why);
  };
  refused(batch.subarray(0, 3), 'a truncated count');
  refused(batch.subarray(0, batch.length - 1), 'a truncated last request');
  refused(Uint8Array.from([...batch, 0]), 'trailing bytes');
  const count = Uint8Array.from(batch);
  new DataView(count.buffer).setUint32(1, 3, true);
  refused(count, 'a count beyond the requests present');
  refused(encodeFsBatch([batch]), 'a batch inside a batch');
  const garbled = Uint8Array.from(batch);
  garbled[5 + 4 + 1] = 250; // the first request's op code
  const result = decodeFsEntry(garbled);
  t.ok(!result.ok && result.error.startsWith('request 0 of the batch'), 'the error names the request');
  t.end();
});

function decodeFsRequestOrThrow(payload: Uint8Array): FsRequest {
  const decoded = decodeFsRequest(payload);
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.request;
}
