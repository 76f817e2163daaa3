/**
 * File contents: inline in the KvStore up to inlineBytesMax (one record, written with the file's
 * attributes), in the ContentStore (a sparse file per inode on a node) beyond. Each operation
 * returns the file's record with its new size and placement; the caller writes the record.
 *
 * Replay safety: a restart replays the log from the last sync point over contents that may
 * already hold later writes (ContentStore writes are not synced one by one). So every operation
 * defines every byte it claims: growing a file first cuts the stored content back to the logical
 * size (bytes from a later, replayed-over write must not show through as the new tail), and moving
 * a file out of line starts from an empty stored content. Replaying a suffix of the log then
 * yields exactly the contents the first run did.
 *
 * Pure: no Node APIs.
 */
import type { Digest } from './digest.js';
import type { RecordTables } from './record_tables.js';
import type { Inode } from './records.js';
import type { ContentStore, SeekWhence } from './stores.js';
import type { OpContext } from './tree_common.js';

const noBytes = new Uint8Array(0);

/** Reads and changes of file contents. */
export class ContentOps {
  constructor(
    private readonly records: RecordTables,
    private readonly store: ContentStore,
    private readonly digest: Digest,
    private readonly inlineBytesMax: number,
  ) {}

  /** The whole content becomes `bytes` (course write and cas). */
  replace(file: Inode, bytes: Uint8Array, _op: OpContext): Inode {
    this.fold('R', file.ino, 0, bytes.length);
    if (bytes.length <= this.inlineBytesMax) {
      if (!file.inline) this.store.remove(file.ino);
      // Copy: the command's bytes are usually a view into a whole log batch or network message;
      // keeping the view would pin that entire buffer for as long as the record is cached.
      this.records.putData(file.ino, bytes.length === 0 ? null : bytes.slice());
      return { ...file, inline: true, size: bytes.length };
    }
    if (file.inline) this.records.putData(file.ino, null);
    this.store.remove(file.ino);
    this.store.write(file.ino, 0, bytes);
    return { ...file, inline: false, size: bytes.length };
  }

  /** Writes `bytes` at `offset` (the caller checked the bounds); a gap past the end is a hole. */
  write(file: Inode, offset: number, bytes: Uint8Array, _op: OpContext): Inode {
    this.fold('W', file.ino, offset, bytes.length);
    const size = Math.max(file.size, offset + bytes.length);
    if (bytes.length === 0) return file;
    if (file.inline && size <= this.inlineBytesMax) {
      const data = new Uint8Array(size);
      data.set(this.inlineData(file));
      data.set(bytes, offset);
      this.records.putData(file.ino, data);
      return { ...file, size };
    }
    const outOfLine = this.outOfLine(file);
    if (offset + bytes.length > outOfLine.size) this.store.truncate(file.ino, outOfLine.size);
    this.store.write(file.ino, offset, bytes);
    return { ...outOfLine, size };
  }

  /** Sets the size: a shorter file loses its tail, a longer one gains a hole. */
  resize(file: Inode, size: number, _op: OpContext): Inode {
    this.fold('T', file.ino, size, 0);
    if (size === file.size) return file;
    if (size === 0) {
      if (!file.inline) this.store.remove(file.ino);
      this.records.putData(file.ino, null);
      return { ...file, inline: true, size: 0 };
    }
    if (file.inline && size <= this.inlineBytesMax) {
      const data = new Uint8Array(size);
      data.set(this.inlineData(file).subarray(0, size));
      this.records.putData(file.ino, data);
      return { ...file, size };
    }
    const outOfLine = this.outOfLine(file);
    if (size > outOfLine.size) this.store.truncate(file.ino, outOfLine.size);
    this.store.truncate(file.ino, size);
    return { ...outOfLine, size };
  }

  /** Frees [offset, offset + length) inside the file (beyond its end: nothing); the size stays. */
  punch(file: Inode, offset: number, length: number, _op: OpContext): Inode {
    this.fold('P', file.ino, offset, length);
    const end = Math.min(file.size, offset + length);
    if (end <= offset) return file;
    if (file.inline) {
      const data = this.inlineData(file).slice();
      data.fill(0, offset, end);
      this.records.putData(file.ino, data);
      return file;
    }
    this.store.punchHole(file.ino, offset, end - offset);
    return file;
  }

  /** Allocates [offset, offset + length); unless `keepSize` the file grows to cover it. */
  allocate(file: Inode, offset: number, length: number, keepSize: boolean, op: OpContext): Inode {
    this.fold('A', file.ino, offset, length);
    const size = keepSize ? file.size : Math.max(file.size, offset + length);
    if (file.inline && size <= this.inlineBytesMax) return size === file.size ? file : this.resize(file, size, op);
    const outOfLine = this.outOfLine(file);
    if (size > outOfLine.size) this.store.truncate(file.ino, outOfLine.size);
    this.store.allocate(file.ino, offset, length);
    if (size > outOfLine.size) this.store.truncate(file.ino, size);
    return { ...outOfLine, size };
  }

  /** Drops a file's stored content (its record is going). */
  remove(ino: number): void {
    this.fold('D', ino, 0, 0);
    this.store.remove(ino);
  }

  /** Up to `count` bytes from `offset` (fewer at the end). */
  read(file: Inode, offset: number, count: number): Uint8Array {
    const end = Math.min(file.size, offset + count);
    if (end <= offset) return noBytes;
    if (file.inline) return this.inlineData(file).subarray(offset, end);
    const bytes = this.store.read(file.ino, offset, end - offset);
    if (bytes.length === end - offset) return bytes;
    // Stored content shorter than the file (never expected): the rest reads as a hole.
    const padded = new Uint8Array(end - offset);
    padded.set(bytes);
    return padded;
  }

  /** 512-byte blocks the content takes on this node. */
  blocks(file: Inode): number {
    if (file.kind !== 'file') return file.kind === 'symlink' ? Math.ceil(file.size / 512) : 0;
    return file.inline ? Math.ceil(file.size / 512) : this.store.blocks(file.ino);
  }

  /** SEEK_DATA/SEEK_HOLE from `offset`: the offset found, or -1 (ENXIO) at or past the end. */
  seek(file: Inode, offset: number, whence: SeekWhence): number {
    if (offset >= file.size) return -1;
    if (file.inline) return whence === 'data' ? offset : file.size;
    const found = this.store.seek(file.ino, offset, whence, file.size);
    if (whence === 'hole') return found < 0 || found > file.size ? file.size : found;
    return found >= file.size ? -1 : found;
  }

  /** An inline file's bytes (exactly its size). */
  private inlineData(file: Inode): Uint8Array {
    const data = this.records.data(file.ino) ?? noBytes;
    if (data.length === file.size) return data;
    // Defensive: a record of another length is padded or cut to the size the inode claims.
    const fixed = new Uint8Array(file.size);
    fixed.set(data.subarray(0, file.size));
    return fixed;
  }

  /** Moves an inline file's bytes into the ContentStore (from an empty stored content). */
  private outOfLine(file: Inode): Inode {
    if (!file.inline) return file;
    const data = this.inlineData(file);
    this.store.remove(file.ino);
    if (data.length > 0) this.store.write(file.ino, 0, data);
    this.records.putData(file.ino, null);
    return { ...file, inline: false };
  }

  private fold(tag: string, ino: number, offset: number, length: number): void {
    this.digest.tag(tag);
    this.digest.number(ino);
    this.digest.number(offset);
    this.digest.number(length);
  }
}
