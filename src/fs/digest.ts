/**
 * A running digest of every change the state machine makes: each record written or deleted and
 * each content operation is folded into it in apply order. Replicas that applied the same log
 * prefix hold the same digest; two replicas that disagree at the same applied index have
 * diverged (tests compare them across nodes, and the node reports it with its applied index).
 *
 * Two independent 32-bit FNV-1a lanes (different offset bases, the second over the bytes in a
 * different order of mixing) give a 64-bit value: cheap enough to run on every change in
 * JavaScript, and far from colliding by accident. It is not a cryptographic hash.
 *
 * Pure: no Node APIs.
 */

const fnvPrime = 0x01000193;

/** A 64-bit running digest as two 32-bit halves. */
export class Digest {
  high: number;
  low: number;

  constructor(high = 0x811c9dc5, low = 0x050c5d1f) {
    this.high = high >>> 0;
    this.low = low >>> 0;
  }

  /** Folds `bytes` in. */
  bytes(bytes: Uint8Array): void {
    let high = this.high;
    let low = this.low;
    for (let index = 0; index < bytes.length; index++) {
      const byte = bytes[index]!;
      high = Math.imul(high ^ byte, fnvPrime);
      low = Math.imul(low ^ ((byte + index) & 0xff), fnvPrime) ^ (high >>> 15);
    }
    this.high = high >>> 0;
    this.low = low >>> 0;
  }

  /** Folds a number in (as its float64 bit pattern split in two 32-bit words). */
  number(value: number): void {
    // Explicit byte order: the digest must not depend on the machine's endianness.
    scratch.setFloat64(0, value, false);
    this.word(scratch.getUint32(0, false));
    this.word(scratch.getUint32(4, false));
  }

  /** Folds a short ASCII tag in (a change's kind). */
  tag(tag: string): void {
    for (let index = 0; index < tag.length; index++) this.word(tag.charCodeAt(index));
  }

  /** The digest as 16 hex digits. */
  toHex(): string {
    return this.high.toString(16).padStart(8, '0') + this.low.toString(16).padStart(8, '0');
  }

  private word(word: number): void {
    this.high = Math.imul(this.high ^ (word & 0xffff), fnvPrime) >>> 0;
    this.high = Math.imul(this.high ^ (word >>> 16), fnvPrime) >>> 0;
    this.low = (Math.imul(this.low ^ word, fnvPrime) ^ (this.high >>> 13)) >>> 0;
  }
}

const scratch = new DataView(new ArrayBuffer(8));
