import test from 'tape';
import { nativeCrc32c, nativeUnavailableReason } from '../../src/native/fsraft_native.js';
import { accelerateCrc32c, acceleratedBytesMin, crc32c, portableCrc32c } from '../../src/util/crc32.js';
import { SeededRandom } from '../../src/util/prng.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

test('crc32c: the standard check values', (t) => {
  t.equal(crc32c(ascii('123456789')), 0xe3069283, 'RFC 3720 check value of "123456789"');
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 zero bytes (RFC 3720 B.4)');
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 bytes of 0xff (RFC 3720 B.4)');
  t.equal(crc32c(ascii('6789'), crc32c(ascii('12345'))), 0xe3069283, 'in pieces');
  t.end();
});

test('crc32c: the native version agrees with the portable one at every length, offset and start', (t) => {
  const native = nativeCrc32c();
  if (native === undefined) {
    t.skip(`no native crc32c: ${nativeUnavailableReason() ?? 'the CPU has no crc32 instruction'}`);
    t.end();
    return;
  }
  const random = new SeededRandom(7);
  const data = Uint8Array.from({ length: 1 << 16 }, () => random.nextInt(256));
  let mismatches = 0;
  for (let round = 0; round < 400; round++) {
    const start = random.nextInt(64);
    const length = round < 64 ? round : random.nextInt(data.length - start);
    const slice = data.subarray(start, start + length);
    const seed = random.nextInt(0x7fffffff) * 2 + random.nextInt(2);
    if (native(slice, seed) !== portableCrc32c(slice, seed) || native(slice, 0) !== portableCrc32c(slice)) mismatches++;
  }
  t.equal(mismatches, 0, '400 slices of 0-65,535 bytes at unaligned offsets, with and without a running crc');
  accelerateCrc32c(native);
  try {
    const large = data.subarray(3, 3 + acceleratedBytesMin * 4);
    t.equal(crc32c(large), portableCrc32c(large), 'crc32c uses it once installed, with the same result');
    t.equal(crc32c(ascii('123456789')), 0xe3069283, 'small inputs too');
  } finally {
    accelerateCrc32c(undefined);
  }
  t.end();
});
