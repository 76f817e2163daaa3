/**
 * The file-server state machine's snapshot operations as the driver uses them: capture (cheap,
 * synchronous), encode in pieces, restore from bytes.
 *
 * TEMPORARY: FileServerState gains captureSnapshot() and fromSnapshot() of its own (in
 * src/fs/fs_snapshot.ts); until then this adapter serializes its fields from outside, copying
 * the maps at capture. It is replaced by those calls when they exist.
 */
import { FileServerState } from '../fs/file_server.js';
import type { FsResult } from '../fs/types.js';

/** An immutable capture of the state machine; `encode` serializes it lazily, piece by piece. */
export interface FsSnapshotCapture {
  encode(pieceBytesMax: number): Iterable<Uint8Array>;
}

/** Snapshot bytes that do not decode to a state machine. */
export class FsSnapshotCorruptError extends Error {
  readonly code = 'FS_SNAPSHOT_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'FsSnapshotCorruptError';
  }
}

interface StoredFile {
  readonly version: number;
  readonly content: Uint8Array;
  readonly expiresAtMs: number;
}

interface Session {
  readonly lastSequence: number;
  readonly lastResult: FsResult;
}

/** The private fields of FileServerState this adapter reads and writes. */
interface Fields {
  files: Map<string, StoredFile>;
  sessions: Map<number, Session>;
  expiries: { push(entry: { expiresAtMs: number; name: string; version: number }): void };
  version: number;
  stampMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Captures `state` for a snapshot. */
export function captureFileServer(state: FileServerState): FsSnapshotCapture {
  const fields = state as unknown as Fields;
  const files = [...fields.files];
  const sessions = [...fields.sessions];
  const version = fields.version;
  const stampMs = fields.stampMs;
  return {
    *encode(pieceBytesMax: number): Iterable<Uint8Array> {
      const meta = JSON.stringify({ version, stampMs: Number.isFinite(stampMs) ? stampMs : null, sessions, fileCount: files.length });
      yield frame(encoder.encode(meta));
      let batch: Uint8Array[] = [];
      let bytes = 0;
      for (const [name, file] of files) {
        const head = encoder.encode(JSON.stringify([name, file.version, Number.isFinite(file.expiresAtMs) ? file.expiresAtMs : null]));
        batch.push(frame(head), frame(file.content));
        bytes += head.length + file.content.length + 8;
        if (bytes >= pieceBytesMax) {
          yield concat(batch);
          batch = [];
          bytes = 0;
        }
      }
      if (batch.length > 0) yield concat(batch);
    },
  };
}

/** Rebuilds a state machine from snapshot bytes. Throws FsSnapshotCorruptError only. */
export function restoreFileServer(bytes: Uint8Array): FileServerState {
  try {
    return decodeState(bytes);
  } catch (error) {
    if (error instanceof FsSnapshotCorruptError) throw error;
    throw new FsSnapshotCorruptError(`undecodable file-server snapshot: ${(error as Error).message}`);
  }
}

function decodeState(bytes: Uint8Array): FileServerState {
  let offset = 0;
  const next = (): Uint8Array => {
    if (offset + 4 > bytes.length) throw new FsSnapshotCorruptError('truncated file-server snapshot');
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0);
    offset += 4;
    if (offset + length > bytes.length) throw new FsSnapshotCorruptError('truncated file-server snapshot');
    const part = bytes.subarray(offset, offset + length);
    offset += length;
    return part;
  };
  const meta = JSON.parse(decoder.decode(next())) as { version: number; stampMs: number | null; sessions: Array<[number, Session]>; fileCount: number };
  const state = new FileServerState();
  const fields = state as unknown as Fields;
  fields.version = meta.version;
  fields.stampMs = meta.stampMs ?? -Infinity;
  for (const [clientId, session] of meta.sessions) fields.sessions.set(clientId, session);
  for (let k = 0; k < meta.fileCount; k++) {
    const [name, version, expiresAtMs] = JSON.parse(decoder.decode(next())) as [string, number, number | null];
    const content = next().slice();
    const file: StoredFile = { version, content, expiresAtMs: expiresAtMs ?? Infinity };
    fields.files.set(name, file);
    if (expiresAtMs !== null) fields.expiries.push({ expiresAtMs, name, version });
  }
  if (offset !== bytes.length) throw new FsSnapshotCorruptError(`${bytes.length - offset} trailing bytes after the file-server snapshot`);
  return state;
}

function frame(bytes: Uint8Array): Uint8Array {
  const framed = new Uint8Array(4 + bytes.length);
  new DataView(framed.buffer).setUint32(0, bytes.length);
  framed.set(bytes, 4);
  return framed;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
