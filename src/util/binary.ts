/**
 * Fixed-width big-endian integer helpers shared by the codecs. JavaScript numbers hold integers
 * exactly only up to 2^53 - 1, so a 64-bit field is written as two 32-bit halves and a decoded
 * value whose high half exceeds 21 bits is refused instead of silently rounded (a rounded log
 * index would make two different entries look like the same one).
 *
 * Pure: no Node APIs.
 */

const twoTo32 = 0x1_0000_0000;

/** The largest high half of a u64 that still gives a safe integer (2^21 - 1). */
const u64HighMax = 0x1f_ffff;

/** True for integers in [0, 2^53 - 1]: the values a u64 field can carry losslessly. */
export function isU64(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** True for integers in [0, 2^32 - 1]. */
export function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/** Writes `value` (checked by the caller with isU64) as 8 big-endian bytes at `offset`. */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / twoTo32));
  view.setUint32(offset + 4, value >>> 0);
}

/**
 * Reads 8 big-endian bytes at `offset` (the caller checked the bounds). Returns -1 when the value
 * does not fit in a safe integer, which every caller treats as malformed input.
 */
export function readU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset);
  if (high > u64HighMax) return -1;
  return high * twoTo32 + view.getUint32(offset + 4);
}

/** A DataView over exactly the bytes of `bytes`, which may be a view into a larger buffer. */
export function dataViewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
