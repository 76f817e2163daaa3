/**
 * Snapshot files in a node's state directory.
 *
 *   snapshot-<index>.snap        a complete snapshot (header + body, snapshot_file_codec.ts)
 *   snapshot-<index>.snap.tmp    one being written; renamed into place once durable
 *   incoming.snap.tmp            one being received from a leader, chunk by chunk
 *
 * A snapshot file is written to its temp name, fsynced, renamed, and the directory fsynced, so a
 * crash leaves either no file or a whole one. Which snapshot counts is decided by the log's
 * snapshot record (level_storage.ts), written only after the file is durable: any other file is
 * a leftover of a crash (or an old snapshot) and is deleted, temp files silently.
 *
 * Followers still being sent an older snapshot keep reading it through a file handle opened
 * when it was written (limits.snapshotFilesOpenMax of them), even after its file is deleted.
 */
import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '../util/crc32.js';
import { decodeSnapshotHeader, encodeSnapshotHeader, hex32, snapshotHeaderBytes } from '../codec/snapshot_file_codec.js';
import type { SnapshotMeta } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import type { LogIndex, Term } from '../util/types.js';
import { StorageCorruptError } from './raft_storage.js';

const incomingName = 'incoming.snap.tmp';
const snapshotNamePattern = /^snapshot-(\d+)\.snap$/;

/** The file name of the snapshot at `index`. */
export function snapshotFileName(index: LogIndex): string {
  return `snapshot-${index}.snap`;
}

/** The outcome of checking a received snapshot: its body, or why it cannot be used. */
export type IncomingCheck = { readonly ok: true; readonly body: Uint8Array } | { readonly ok: false; readonly error: string };

/** The snapshot files of one node. */
export class SnapshotStore {
  /** The absolute state directory, for messages. */
  readonly directory: string;
  /** Open read handles by snapshot index, least recently used first. */
  private readonly readers = new Map<LogIndex, FileHandle>();
  private incoming: FileHandle | null = null;
  private incomingCrc = 0;

  private constructor(directory: string) {
    this.directory = directory;
  }

  /** Creates the directory if needed. */
  static async open(directory: string): Promise<SnapshotStore> {
    const absolute = path.resolve(directory);
    await mkdir(absolute, { recursive: true });
    return new SnapshotStore(absolute);
  }

  /** The path of the snapshot at `index`. */
  pathOf(index: LogIndex): string {
    return path.join(this.directory, snapshotFileName(index));
  }

  /**
   * Reads and checks the snapshot the log's record names, returning its body. Throws
   * StorageCorruptError naming the file when it is missing, truncated, or fails a checksum.
   */
  async load(snapshot: SnapshotMeta): Promise<Uint8Array> {
    const file = this.pathOf(snapshot.index);
    let bytes: Uint8Array;
    try {
      const handle = await open(file, 'r');
      try {
        const read = await handle.readFile();
        bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw new StorageCorruptError(`snapshot file ${file}, named by the log's snapshot record, cannot be read: ${(error as Error).message}`);
    }
    const problem = checkSnapshotBytes(bytes, snapshot);
    if (problem !== null) throw new StorageCorruptError(`corrupt snapshot file ${file}: ${problem}`);
    return bytes.subarray(snapshotHeaderBytes);
  }

  /**
   * At start, before anything is written: deletes every snapshot file but the one the log's
   * record names (`keepIndex`, 0 for none) and every temp file. A crash mid-write leaves a temp
   * file, and one between a rename and the log's record leaves an unnamed snapshot; neither
   * ever counted.
   */
  async removeLeftovers(keepIndex: LogIndex): Promise<void> {
    for (const name of await readdir(this.directory)) {
      const match = snapshotNamePattern.exec(name);
      if ((match !== null && Number(match[1]) !== keepIndex) || name.endsWith('.snap.tmp')) {
        await rm(path.join(this.directory, name), { force: true });
      }
    }
  }

  /**
   * Deletes the snapshot files older than `index`, once the log's record durably names the
   * snapshot at `index`. Newer files (one being written or received) are left alone, and so are
   * temp files. Handles already open stay readable.
   */
  async removeOlderThan(index: LogIndex): Promise<void> {
    for (const name of await readdir(this.directory)) {
      const match = snapshotNamePattern.exec(name);
      if (match !== null && Number(match[1]) < index) await rm(path.join(this.directory, name), { force: true });
    }
  }

  /**
   * Writes a snapshot of the entry at (index, term) from `pieces` (the state machine's lazily
   * serialized body): temp file, fsync, rename, directory fsync. Each piece is awaited, so the
   * event loop serves clients between pieces. Resolves with the durable snapshot's metadata.
   */
  async write(index: LogIndex, term: Term, pieces: Iterable<Uint8Array>): Promise<SnapshotMeta> {
    const final = this.pathOf(index);
    const temp = `${final}.tmp`;
    const handle = await open(temp, 'w');
    let bodyBytes: number;
    try {
      bodyBytes = await this.writeBody(handle, index, term, pieces);
    } catch (error) {
      // A snapshot that could not be written (a full disk, most likely) must not keep its space:
      // the next attempt is at another index, so nothing else would remove this file until a restart.
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
    await rename(temp, final);
    await this.syncDirectory();
    await this.keepReader(index, await open(final, 'r'));
    return { index, term, bytes: snapshotHeaderBytes + bodyBytes };
  }

  /**
   * Writes the pieces after the header, then the header, and syncs; closes `handle` in any case.
   * Resolves with the body's length.
   */
  private async writeBody(handle: FileHandle, index: LogIndex, term: Term, pieces: Iterable<Uint8Array>): Promise<number> {
    let bodyBytes = 0;
    let bodyCrc = 0;
    try {
      let position = snapshotHeaderBytes;
      let unsyncedBytes = 0;
      for (const piece of pieces) {
        await writeFully(handle, piece, position);
        position += piece.length;
        bodyBytes += piece.length;
        bodyCrc = crc32c(piece, bodyCrc);
        unsyncedBytes += piece.length;
        if (unsyncedBytes >= limits.snapshotSyncBytes) {
          // One fsync of a whole large snapshot at the end would hold the disk for the log's own
          // fsyncs (client writes) that long; syncing as it goes spreads that cost thin.
          await handle.datasync();
          unsyncedBytes = 0;
        }
      }
      await writeFully(handle, encodeSnapshotHeader({ index, term, bodyBytes, bodyCrc }), 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return bodyBytes;
  }

  /**
   * Reads [offset, offset + length) of the snapshot at `index` for an InstallSnapshot chunk, or
   * null when it is neither open nor on disk any more (the leader then sends a newer one).
   */
  async readChunk(index: LogIndex, offset: number, length: number): Promise<Uint8Array | null> {
    let handle = this.readers.get(index);
    if (handle === undefined) {
      try {
        handle = await open(this.pathOf(index), 'r');
      } catch {
        return null;
      }
      await this.keepReader(index, handle);
    } else {
      // Most recently used last.
      this.readers.delete(index);
      this.readers.set(index, handle);
    }
    const chunk = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(chunk, done, length - done, offset + done);
      if (bytesRead === 0) return null;
      done += bytesRead;
    }
    return chunk;
  }

  /** Stores a received chunk at `offset`; offset 0 starts a new incoming file. */
  async writeIncoming(offset: number, data: Uint8Array): Promise<void> {
    if (offset === 0) {
      await this.discardIncoming();
      this.incoming = await open(path.join(this.directory, incomingName), 'w+');
      this.incomingCrc = 0;
    }
    assert(this.incoming !== null, `${this.directory}: chunk at ${offset} without an incoming snapshot`);
    await writeFully(this.incoming, data, offset);
  }

  /** Makes the incoming file durable (fsync) after its last chunk. */
  async finishIncoming(): Promise<void> {
    assert(this.incoming !== null, `${this.directory}: finish without an incoming snapshot`);
    await this.incoming.sync();
  }

  /**
   * Checks the complete incoming file against what the leader announced: size, header, both
   * checksums. A failure is a value: the leader is asked to send it again.
   */
  async checkIncoming(snapshot: SnapshotMeta): Promise<IncomingCheck> {
    assert(this.incoming !== null, `${this.directory}: check without an incoming snapshot`);
    const bytes = new Uint8Array(snapshot.bytes);
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await this.incoming.read(bytes, done, bytes.length - done, done);
      if (bytesRead === 0) return { ok: false, error: `received snapshot is ${done} bytes, ${snapshot.bytes} were announced` };
      done += bytesRead;
    }
    const problem = checkSnapshotBytes(bytes, snapshot);
    return problem === null ? { ok: true, body: bytes.subarray(snapshotHeaderBytes) } : { ok: false, error: problem };
  }

  /** Moves the checked incoming file to its final name, durably (before the log's record names it). */
  async promoteIncoming(snapshot: SnapshotMeta): Promise<void> {
    assert(this.incoming !== null, `${this.directory}: promote without an incoming snapshot`);
    const handle = this.incoming;
    this.incoming = null;
    await rename(path.join(this.directory, incomingName), this.pathOf(snapshot.index));
    await this.syncDirectory();
    await this.keepReader(snapshot.index, handle);
  }

  /** Closes and deletes the incoming file, if any. */
  async discardIncoming(): Promise<void> {
    const handle = this.incoming;
    this.incoming = null;
    if (handle !== null) await handle.close();
    await rm(path.join(this.directory, incomingName), { force: true });
  }

  /** Closes every handle. */
  async close(): Promise<void> {
    const handles = [...this.readers.values()];
    this.readers.clear();
    if (this.incoming !== null) handles.push(this.incoming);
    this.incoming = null;
    await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
  }

  private async keepReader(index: LogIndex, handle: FileHandle): Promise<void> {
    const previous = this.readers.get(index);
    this.readers.delete(index);
    this.readers.set(index, handle);
    if (previous !== undefined && previous !== handle) await previous.close();
    while (this.readers.size > limits.snapshotFilesOpenMax) {
      const [oldestIndex, oldest] = this.readers.entries().next().value as [LogIndex, FileHandle];
      this.readers.delete(oldestIndex);
      await oldest.close();
    }
  }

  /** fsync of the directory, so a rename survives a power loss. */
  private async syncDirectory(): Promise<void> {
    const handle = await open(this.directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Why `bytes` is not the snapshot `snapshot` describes, or null. */
function checkSnapshotBytes(bytes: Uint8Array, snapshot: SnapshotMeta): string | null {
  const header = decodeSnapshotHeader(bytes);
  if (!header.ok) return header.error;
  const { index, term, bodyBytes, bodyCrc } = header.value;
  if (index !== snapshot.index || term !== snapshot.term) return `header says index ${index} term ${term}, expected index ${snapshot.index} term ${snapshot.term}`;
  if (snapshotHeaderBytes + bodyBytes !== bytes.length) return `truncated: ${bytes.length} bytes, the header announces ${snapshotHeaderBytes + bodyBytes}`;
  if (bytes.length !== snapshot.bytes) return `${bytes.length} bytes, the log's record says ${snapshot.bytes}`;
  const computed = crc32c(bytes.subarray(snapshotHeaderBytes));
  if (computed !== bodyCrc) return `body checksum mismatch: stored ${hex32(bodyCrc)}, computed ${hex32(computed)}`;
  return null;
}

async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
