/**
 * A FIFO of received byte chunks for streaming parsers. Chunks are kept by reference and
 * consumed in place, so a 1 MiB body arriving in a thousand pieces costs one copy in total, not
 * the O(n^2) of re-concatenating a growing buffer on every arrival.
 */

const CR = 0x0d;
const LF = 0x0a;

/** Why readLine produced no line. */
export type LineOutcome = Uint8Array | 'need_more' | 'too_long';

/** Received bytes not yet consumed, plus the partial line being assembled. */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private headOffset = 0;
  private queuedBytes = 0;
  private readonly line: Uint8Array;
  private lineLength = 0;

  /** `lineBytesMax` bounds one line (without CRLF); the line buffer is allocated once. */
  constructor(private readonly lineBytesMax: number) {
    this.line = new Uint8Array(lineBytesMax + 2);
  }

  /** Bytes pushed and not yet consumed (a partial line already moved out is not counted). */
  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  /** Appends a chunk by reference: the caller must not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
  }

  /** Drops everything, e.g. once a connection is known to be dead, so its memory is freed. */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.queuedBytes = 0;
    this.lineLength = 0;
  }

  /**
   * The next line up to (not including) CRLF. A bare LF is an ordinary byte of the line. The
   * returned view is valid until the next call. 'too_long' is reported as soon as the line
   * provably exceeds the limit, so a peer that never sends CRLF cannot make us buffer more.
   */
  readLine(): LineOutcome {
    const capacity = this.lineBytesMax + 2;
    for (let chunk = this.headChunk(); chunk !== undefined; chunk = this.headChunk()) {
      const start = this.headOffset;
      const lf = chunk.indexOf(LF, start);
      const end = lf < 0 ? chunk.length : lf + 1;
      // Even if this piece ended in CRLF, the line would be longer than allowed.
      if (this.lineLength + (end - start) > capacity) return 'too_long';
      this.line.set(chunk.subarray(start, end), this.lineLength);
      this.lineLength += end - start;
      this.consume(end - start);
      if (lf >= 0 && this.lineLength >= 2 && this.line[this.lineLength - 2] === CR) {
        const length = this.lineLength - 2;
        this.lineLength = 0;
        return this.line.subarray(0, length);
      }
      if (this.lineLength > this.lineBytesMax + 1) return 'too_long';
      // Exactly one byte over the limit is fine only if it is the CR of the terminator.
      if (this.lineLength === this.lineBytesMax + 1 && this.line[this.lineBytesMax] !== CR) return 'too_long';
    }
    return 'need_more';
  }

  /** The part of a line read so far while readLine answers 'need_more' (a view, valid until the next call). */
  partialLine(): Uint8Array {
    return this.line.subarray(0, this.lineLength);
  }

  /** Up to `bytesMax` bytes as a view into one received chunk, or undefined when empty. */
  take(bytesMax: number): Uint8Array | undefined {
    const chunk = this.headChunk();
    if (chunk === undefined || bytesMax <= 0) return undefined;
    const length = Math.min(bytesMax, chunk.length - this.headOffset);
    const piece = chunk.subarray(this.headOffset, this.headOffset + length);
    this.consume(length);
    return piece;
  }

  /** The next byte without consuming it, or undefined when empty. */
  peekByte(): number | undefined {
    return this.headChunk()?.[this.headOffset];
  }

  private headChunk(): Uint8Array | undefined {
    return this.chunks[this.head];
  }

  private consume(length: number): void {
    this.headOffset += length;
    this.queuedBytes -= length;
    const chunk = this.chunks[this.head];
    if (chunk === undefined || this.headOffset < chunk.length) return;
    this.head += 1;
    this.headOffset = 0;
    // Drop consumed chunk references in bulk: shifting one at a time is O(n) per shift.
    if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/** Smallest first allocation of a ContentAssembler, so tiny chunks do not cause many regrowths. */
const assemblerInitialBytes = 4096;

/**
 * Assembles a body of known length from a ByteQueue. Capacity grows by doubling up to the
 * announced length, so memory tracks what the peer actually sent (a header announcing 1 MiB and
 * then stalling costs little), total copying stays O(n), and 1-byte chunks do not pile up as a
 * million separate views.
 */
export class ContentAssembler {
  private buffer = new Uint8Array(0);
  private receivedBytes = 0;

  constructor(readonly totalBytes: number) {}

  /** Moves available bytes from `queue`; true once all `totalBytes` have arrived. */
  fill(queue: ByteQueue): boolean {
    while (this.receivedBytes < this.totalBytes) {
      const piece = queue.take(this.totalBytes - this.receivedBytes);
      if (piece === undefined) return false;
      this.ensureCapacity(this.receivedBytes + piece.length);
      this.buffer.set(piece, this.receivedBytes);
      this.receivedBytes += piece.length;
    }
    return true;
  }

  /** Bytes of memory this assembler holds so far. */
  get heldBytes(): number {
    return this.buffer.length;
  }

  /** The assembled body (an owned array of exactly `totalBytes`); only valid once fill() is true. */
  get bytes(): Uint8Array {
    return this.buffer.length === this.totalBytes ? this.buffer : this.buffer.subarray(0, this.totalBytes);
  }

  private ensureCapacity(neededBytes: number): void {
    if (neededBytes <= this.buffer.length) return;
    const capacity = Math.min(this.totalBytes, Math.max(neededBytes, 2 * this.buffer.length, assemblerInitialBytes));
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.receivedBytes));
    this.buffer = grown;
  }
}
