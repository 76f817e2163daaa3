/**
 * Byte-level reading and writing of FsRequest fields (little-endian numbers, length-prefixed
 * UTF-8 and bytes), bounds-checked on read.
 */
import { assert } from '../util/assert.js';
import { decoder, headerBytes, u32Max } from './fs_request_format.js';

/** The scratch buffer encodings are built in; it grows to the largest request up to this size. */
const scratchBytesMax = 1024 * 1024;

let scratch: Uint8Array = new Uint8Array(64 * 1024);
let scratchView: DataView = new DataView(scratch.buffer);

/**
 * Appends fields to a scratch buffer shared by all encodings (encoding is synchronous, so one is
 * enough) and copies the result out once: one allocation per request instead of one per field.
 * A request larger than scratchBytesMax gets a buffer of its own, so one huge write does not pin
 * its size in memory for good.
 */
export class Writer {
  private buffer: Uint8Array = scratch;
  private view: DataView = scratchView;
  private length = 0;

  u8(value: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
  }

  u16(value: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** A u32 length then the bytes. */
  bytes(value: Uint8Array): void {
    assert(value.length <= u32Max, 'fs request field too long');
    this.reserve(4 + value.length);
    this.view.setUint32(this.length, value.length, true);
    this.buffer.set(value, this.length + 4);
    this.length += 4 + value.length;
  }

  finish(): Uint8Array {
    assert(this.length >= headerBytes, 'fs request shorter than its header');
    return this.buffer.slice(0, this.length);
  }

  private reserve(more: number): void {
    const needed = this.length + more;
    if (needed <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.buffer.length * 2));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
    if (grown.length <= scratchBytesMax) {
      scratch = grown;
      scratchView = this.view;
    }
  }
}

/** A bounds-checked cursor: every read returns undefined instead of running off the end. */
export class Reader {
  private offset = 0;
  private readonly view: DataView;
  /** Why the last read failed, when it was not plain truncation. */
  error: string | undefined;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  atEnd(): boolean {
    return this.offset === this.data.length;
  }

  u8(): number | undefined {
    if (this.offset + 1 > this.data.length) return undefined;
    return this.view.getUint8(this.offset++);
  }

  u16(): number | undefined {
    if (this.offset + 2 > this.data.length) return undefined;
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(): number | undefined {
    if (this.offset + 4 > this.data.length) return undefined;
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f64(): number | undefined {
    if (this.offset + 8 > this.data.length) return undefined;
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** A u32 length then that many bytes, as a view into the input. */
  bytes(): Uint8Array | undefined {
    if (this.offset + 4 > this.data.length) return undefined;
    const length = this.view.getUint32(this.offset, true);
    // Compare before slicing: a garbage length must not be trusted to size anything.
    if (length > this.data.length - this.offset - 4) return undefined;
    const start = this.offset + 4;
    this.offset = start + length;
    return this.data.subarray(start, start + length);
  }

  utf8(): string | undefined {
    const raw = this.bytes();
    if (raw === undefined) return undefined;
    try {
      return decoder.decode(raw);
    } catch {
      this.error = 'name is not valid UTF-8';
      return undefined;
    }
  }
}

/** A safe non-negative integer (counts, sizes, ids, modes travel as float64). */
export function isCount(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0;
}
