import test from 'tape';
import { decodeFsRequest, encodeFsRequest, fsRequestFormatVersion } from '../../src/codec/fs_request_codec.js';
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
