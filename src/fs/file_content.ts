/**
 * File contents as a list of immutable fixed-size chunks (limits.fileChunkBytes). A writeat copies
 * only the chunks it touches, so writing 1 MiB into a 1 GiB file costs O(1 MiB + one chunk), not
 * O(file size); and because no chunk is ever changed in place, a snapshot can keep references to
 * the chunks of the moment it was taken while the live state moves on.
 *
 * Invariant: chunks.length === ceil(size / chunkBytes); every chunk but the last holds exactly
 * chunkBytes bytes and the last holds the rest (1..chunkBytes). Chunks are never written to after
 * they are put in a list: every change builds a new chunk.
 */
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';

/** Bytes per chunk. */
export const chunkBytes = limits.fileChunkBytes;

/** One chunk of zeros shared by every file that grows by truncate or by a gap (never written to). */
const zeroChunk = new Uint8Array(chunkBytes);

/**
 * The content of one file. `chunks` may be shared with a snapshot capture while `shared` is true;
 * the first change after that copies the list (pointers only) before changing it.
 */
export class FileContent {
  private chunkList: Uint8Array[];
  private sizeBytes: number;
  private shared = false;

  private constructor(chunks: Uint8Array[], size: number) {
    this.chunkList = chunks;
    this.sizeBytes = size;
  }

  /** An empty file. */
  static empty(): FileContent {
    return new FileContent([], 0);
  }

  /** A copy of `bytes`, split into chunks (the caller's array may be a view into a log batch). */
  static copyOf(bytes: Uint8Array): FileContent {
    const chunks: Uint8Array[] = [];
    for (let start = 0; start < bytes.length; start += chunkBytes) chunks.push(bytes.slice(start, start + chunkBytes));
    return new FileContent(chunks, bytes.length);
  }

  /**
   * Content made of existing chunks (snapshot restore). Returns undefined unless the chunks keep
   * the invariant for `size`, so corrupt input can never build a file that later breaks it.
   */
  static fromChunks(chunks: Uint8Array[], size: number): FileContent | undefined {
    if (!Number.isSafeInteger(size) || size < 0 || chunks.length !== Math.ceil(size / chunkBytes)) return undefined;
    for (let index = 0; index < chunks.length; index++) {
      const expected = index === chunks.length - 1 ? size - index * chunkBytes : chunkBytes;
      if (chunks[index]?.length !== expected) return undefined;
    }
    return new FileContent(chunks, size);
  }

  /** Length in bytes. */
  get size(): number {
    return this.sizeBytes;
  }

  /** The chunks, for a snapshot capture; marks them shared so later changes copy the list first. */
  share(): readonly Uint8Array[] {
    this.shared = true;
    return this.chunkList;
  }

  /** The chunk list as it is now, without sharing it (tests assert which chunks a change replaced). */
  get chunks(): readonly Uint8Array[] {
    return this.chunkList;
  }

  /** `count` bytes (fewer at the end) from `offset`, as one array: a view when in one chunk. */
  read(offset: number, count: number): Uint8Array {
    const end = Math.min(this.sizeBytes, offset + count);
    if (end <= offset) return new Uint8Array(0);
    const first = Math.floor(offset / chunkBytes);
    const last = Math.floor((end - 1) / chunkBytes);
    if (first === last) {
      const base = first * chunkBytes;
      return this.chunkAt(first).subarray(offset - base, end - base);
    }
    const out = new Uint8Array(end - offset);
    for (let index = first; index <= last; index++) {
      const base = index * chunkBytes;
      const from = Math.max(offset, base) - base;
      const to = Math.min(end, base + chunkBytes) - base;
      out.set(this.chunkAt(index).subarray(from, to), base + from - offset);
    }
    return out;
  }

  /** Changes the length: grows with zeros (sharing the zero chunk) or drops the tail. */
  resize(size: number): void {
    assert(Number.isSafeInteger(size) && size >= 0, `bad file size ${size}`);
    if (size === this.sizeBytes) return;
    this.unshare();
    const chunks = this.chunkList;
    if (size < this.sizeBytes) {
      chunks.length = Math.ceil(size / chunkBytes);
      const tail = size - (chunks.length - 1) * chunkBytes;
      // A view is safe: chunks are immutable, and it keeps at most one chunk's bytes alive.
      if (chunks.length > 0) chunks[chunks.length - 1] = this.chunkAt(chunks.length - 1).subarray(0, tail);
      this.sizeBytes = size;
      return;
    }
    const lastIndex = chunks.length - 1;
    const last = chunks[lastIndex];
    if (last !== undefined && last.length < chunkBytes) {
      // Only the partial last chunk is copied; whole chunks of zeros below are shared.
      const grown = new Uint8Array(Math.min(chunkBytes, size - lastIndex * chunkBytes));
      grown.set(last);
      chunks[lastIndex] = grown;
    }
    while (chunks.length * chunkBytes < size) {
      chunks.push(zeroChunk.subarray(0, Math.min(chunkBytes, size - chunks.length * chunkBytes)));
    }
    this.sizeBytes = size;
  }

  /** Writes `bytes` at `offset`, growing the file (a gap reads as zeros). Copies touched chunks only. */
  write(offset: number, bytes: Uint8Array): void {
    assert(Number.isSafeInteger(offset) && offset >= 0, `bad write offset ${offset}`);
    if (bytes.length === 0) return;
    const end = offset + bytes.length;
    if (offset > this.sizeBytes) this.resize(offset);
    this.unshare();
    const chunks = this.chunkList;
    const first = Math.floor(offset / chunkBytes);
    const last = Math.floor((end - 1) / chunkBytes);
    const newSize = Math.max(end, this.sizeBytes);
    for (let index = first; index <= last; index++) {
      const base = index * chunkBytes;
      const old = chunks[index];
      const chunk = new Uint8Array(Math.min(chunkBytes, newSize - base));
      const from = Math.max(offset, base);
      const to = Math.min(end, base + chunkBytes);
      // Keep the old bytes around the written range; skip the copy when the write covers it all.
      if (old !== undefined && (from > base || to < base + old.length)) chunk.set(old);
      chunk.set(bytes.subarray(from - offset, to - offset), from - base);
      chunks[index] = chunk;
    }
    this.sizeBytes = newSize;
  }

  private chunkAt(index: number): Uint8Array {
    const chunk = this.chunkList[index];
    assert(chunk !== undefined, `file chunk ${index} missing`);
    return chunk;
  }

  /** Copy-on-write of the list (pointers only) when a snapshot capture holds it. */
  private unshare(): void {
    if (!this.shared) return;
    this.chunkList = this.chunkList.slice();
    this.shared = false;
  }
}
