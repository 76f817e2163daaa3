import test from 'tape';
import { decodeSnapshotHeader, encodeSnapshotHeader, snapshotHeaderBytes } from '../../src/codec/snapshot_file_codec.js';
import { AssertionFailure } from '../../src/util/assert.js';

const header = { index: 123_456, term: 9, bodyBytes: 2 ** 40, bodyCrc: 0xdead_beef };

test('snapshot file codec: the header round-trips, also at the start of a longer buffer', (t) => {
  const bytes = encodeSnapshotHeader(header);
  t.equal(bytes.length, snapshotHeaderBytes);
  t.deepEqual(decodeSnapshotHeader(bytes), { ok: true, value: header });
  const longer = new Uint8Array(snapshotHeaderBytes + 10);
  longer.set(bytes);
  t.deepEqual(decodeSnapshotHeader(longer), { ok: true, value: header });
  t.end();
});

test('snapshot file codec: truncation, a foreign file and any changed byte are refused with the reason', (t) => {
  const bytes = encodeSnapshotHeader(header);
  const truncated = decodeSnapshotHeader(bytes.subarray(0, 20));
  t.ok(!truncated.ok && truncated.error.includes('truncated'), 'truncated');
  const foreign = decodeSnapshotHeader(new TextEncoder().encode('{"this is": "not a snapshot", "padding": "......"}'));
  t.ok(!foreign.ok && foreign.error.includes('magic'), 'not a snapshot file');
  for (let k = 0; k < bytes.length; k++) {
    const damaged = bytes.slice();
    damaged[k] = damaged[k]! ^ 0x01;
    t.equal(decodeSnapshotHeader(damaged).ok, false, `a changed byte ${k} is refused`);
  }
  t.throws(() => encodeSnapshotHeader({ ...header, index: 0 }), AssertionFailure, 'index 0 cannot be encoded');
  t.end();
});
