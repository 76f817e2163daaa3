/**
 * OpenFile's land(): another descriptor's read or write commits this file's buffered bytes first,
 * and a write that failed is still reported by this file's own flush, not swallowed on the way.
 */
import test from 'tape';
import { systemClock } from '../../src/clock/clock.js';
import { Deadline } from '../../src/clock/deadline.js';
import { OpenFile } from '../../src/fuse/open_file.js';

const fileLimits = { chunkBytes: 1024, dirtyBytesMax: 4096, writesInFlightMax: 4, writeTimeoutMs: 5_000 };
const soon = (): Deadline => Deadline.after(systemClock, 5_000);

test('open file: land() commits the buffered bytes and leaves a failure to the file\'s own flush', async (t) => {
  const landed: string[] = [];
  let fail = false;
  const backend = {
    writeAt: async (_name: string, offset: number, content: Uint8Array) => {
      if (fail) throw new Error('disk full');
      landed.push(`${offset}:${Buffer.from(content).toString()}`);
      return { version: landed.length };
    },
  };
  const file = new OpenFile(backend, '//9', false, fileLimits, systemClock);
  await file.write(Buffer.from('abc'), 0, soon());
  t.ok(file.dirty, 'a write is buffered');
  t.deepEqual(landed, [], 'and not sent yet');
  await file.land(soon());
  t.deepEqual(landed, ['0:abc'], 'land() sent it and waited for it');
  t.notOk(file.dirty, 'nothing is left to commit');

  fail = true;
  await file.write(Buffer.from('def'), 3, soon());
  await file.land(soon());
  t.pass('land() does not throw the failed write');
  try {
    await file.flush(soon());
    t.fail('the flush should have reported the failure');
  } catch (error) {
    t.equal((error as Error).message, 'disk full', 'the file\'s own flush reports it');
  }
  await file.flush(soon());
  t.pass('once');
});
