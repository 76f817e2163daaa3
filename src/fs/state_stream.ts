/**
 * The state of one sync point as a byte stream, for a follower that needs the leader's state
 * (Raft §7, InstallSnapshot): every record of the KvStore view in key order, each large file's
 * content as the data extents of its sparse content (holes are not sent), and an end record with
 * a count and checksum of everything before it. The leader generates it in pieces from a KvStore
 * snapshot (memory bounded by one piece); the follower parses it in whatever chunks arrive into
 * fresh stores beside its own, checks the end record, and only then may switch to them.
 *
 * Contents are read from the live ContentStore while the leader goes on applying: a file may
 * already hold writes made after the sync point. That is safe because the follower starts from
 * the sync point's index and applies every later entry, and every content operation defines
 * every byte it touches (content_ops.ts, "Replay safety").
 *
 * Layout: a sequence of records, each
 *   u8 kind | u32 bodyBytes | body | u32 CRC-32C of kind and body
 * kinds:
 *   1 header   8 bytes "FSRSTRM1", f64 index, f64 term
 *   2 record   u32 keyBytes, key, value (the rest)
 *   3 size     f64 ino, f64 size: the file's stored content has this length
 *   4 extent   f64 ino, f64 offset, bytes (the rest): content at offset
 *   5 end      f64 records before this one, u32 CRC-32C of all their bytes
 * Big-endian numbers (DataView default). No input, however damaged, makes the parser throw
 * anything but StateStreamError.
 *
 * Pure: no Node APIs.
 */
import { crc32c } from '../util/crc32.js';
import { dataViewOf } from '../util/binary.js';
import { decodeInode, keyNumber, keyPrefix } from './records.js';
import type { ContentStore, KvView, KvWrite } from './stores.js';

/** The stream cannot be parsed or does not check out; the message says why. */
export class StateStreamError extends Error {
  readonly code = 'STATE_STREAM_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'StateStreamError';
  }
}

const magic = new TextEncoder().encode('FSRSTRM1');
const kindHeader = 1;
const kindRecord = 2;
const kindSize = 3;
const kindExtent = 4;
const kindEnd = 5;
/** kind + length before a body, CRC after it. */
const framingBytes = 1 + 4 + 4;
/** The largest body the parser accepts: a record or a content extent (pieces are at most extentBytesMax). */
const bodyBytesMax = 8 * 1024 * 1024;
/** Content bytes per extent record. */
const extentBytesMax = 256 * 1024;
/** KV records read per page from the view. */
const pageRecords = 256;

/** The range of the whole key space. */
const keySpaceEnd = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/**
 * The stream of the state `view` holds (at applied `index`, `term`), in pieces of about
 * pieceBytes (an extent may make one up to extentBytesMax larger).
 */
export async function* stateStream(view: KvView, content: ContentStore, index: number, term: number, pieceBytes = 256 * 1024): AsyncGenerator<Uint8Array> {
  const writer = new StreamWriter();
  writer.header(index, term);
  let cursor: Uint8Array | undefined;
  for (;;) {
    const page = await view.range(cursor === undefined ? { gte: new Uint8Array(0), lt: keySpaceEnd, limit: pageRecords } : { gt: cursor, lt: keySpaceEnd, limit: pageRecords });
    for (const [key, value] of page) {
      writer.record(key, value);
      if (key[0] === keyPrefix.inode && key.length === 9) {
        const inode = decodeInode(keyNumber(key, 0), value);
        if (inode.kind === 'file' && !inode.inline) {
          for (const piece of fileExtents(content, inode.ino, inode.size)) {
            writer.extent(inode.ino, piece.offset, piece.bytes);
            if (writer.length >= pieceBytes) yield writer.take();
          }
          writer.size(inode.ino, inode.size);
        }
      }
      if (writer.length >= pieceBytes) yield writer.take();
    }
    if (page.length < pageRecords) break;
    cursor = page[page.length - 1]![0];
  }
  writer.end();
  yield writer.take();
}

/** The data extents of a file's content up to `size`, in pieces of at most extentBytesMax. */
function* fileExtents(content: ContentStore, ino: number, size: number): Generator<{ offset: number; bytes: Uint8Array }> {
  let offset = 0;
  while (offset < size) {
    const data = content.seek(ino, offset, 'data', size);
    if (data < 0 || data >= size) return;
    const hole = content.seek(ino, data, 'hole', size);
    const end = hole < 0 || hole > size ? size : hole;
    for (let at = data; at < end; at += extentBytesMax) {
      const bytes = content.read(ino, at, Math.min(extentBytesMax, end - at));
      if (bytes.length === 0) return;
      yield { offset: at, bytes };
    }
    offset = end;
  }
}

/** Builds records into pieces; keeps the running count and checksum for the end record. */
class StreamWriter {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private count = 0;
  private crc = 0;

  get length(): number {
    return this.bytes;
  }

  header(index: number, term: number): void {
    const body = new Uint8Array(magic.length + 16);
    body.set(magic);
    const view = dataViewOf(body);
    view.setFloat64(magic.length, index);
    view.setFloat64(magic.length + 8, term);
    this.push(kindHeader, [body]);
  }

  record(key: Uint8Array, value: Uint8Array): void {
    const head = new Uint8Array(4);
    dataViewOf(head).setUint32(0, key.length);
    this.push(kindRecord, [head, key, value]);
  }

  size(ino: number, size: number): void {
    const body = new Uint8Array(16);
    const view = dataViewOf(body);
    view.setFloat64(0, ino);
    view.setFloat64(8, size);
    this.push(kindSize, [body]);
  }

  extent(ino: number, offset: number, bytes: Uint8Array): void {
    const head = new Uint8Array(16);
    const view = dataViewOf(head);
    view.setFloat64(0, ino);
    view.setFloat64(8, offset);
    this.push(kindExtent, [head, bytes]);
  }

  end(): void {
    const body = new Uint8Array(12);
    const view = dataViewOf(body);
    view.setFloat64(0, this.count);
    view.setUint32(8, this.crc >>> 0);
    this.push(kindEnd, [body]);
  }

  take(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    this.parts = [];
    this.bytes = 0;
    return out;
  }

  private push(kind: number, body: readonly Uint8Array[]): void {
    const bodyBytes = body.reduce((sum, part) => sum + part.length, 0);
    const head = new Uint8Array(5);
    head[0] = kind;
    dataViewOf(head).setUint32(1, bodyBytes);
    let recordCrc = crc32c(head.subarray(0, 1));
    for (const part of body) recordCrc = crc32c(part, recordCrc);
    const tail = new Uint8Array(4);
    dataViewOf(tail).setUint32(0, recordCrc >>> 0);
    const parts = [head, ...body, tail];
    if (kind !== kindEnd) {
      for (const part of parts) this.crc = crc32c(part, this.crc);
      this.count += 1;
    }
    this.parts.push(...parts);
    this.bytes += framingBytes + bodyBytes;
  }
}

/** Where a parsed stream goes: the follower's fresh stores. */
export interface StreamSink {
  /** Writes KV records (unsynced; `finish` syncs). */
  write(batch: readonly KvWrite[]): Promise<void>;
  readonly content: ContentStore;
}

/** Bytes of KV records collected before they are written as one batch. */
const batchBytes = 4 * 1024 * 1024;

/**
 * Parses a stream pushed in arbitrary chunks into a sink. Memory: one partial record plus one
 * batch of KV records.
 */
export class StateStreamParser {
  private carry: Uint8Array = new Uint8Array(0);
  private batch: KvWrite[] = [];
  private batchSize = 0;
  private count = 0;
  private crc = 0;
  private headerSeen: { index: number; term: number } | undefined;
  private ended = false;

  constructor(private readonly sink: StreamSink) {}

  /** The header's index and term, once parsed. */
  get header(): { readonly index: number; readonly term: number } | undefined {
    return this.headerSeen;
  }

  /** True once the end record has been parsed and checked. */
  get complete(): boolean {
    return this.ended;
  }

  /** Consumes a chunk; throws StateStreamError on bad bytes. */
  async push(chunk: Uint8Array): Promise<void> {
    let data = this.carry.length === 0 ? chunk : concat(this.carry, chunk);
    let at = 0;
    while (data.length - at >= 5) {
      if (this.ended) throw new StateStreamError('bytes after the end record');
      const kind = data[at]!;
      const bodyBytes = dataViewOf(data).getUint32(at + 1);
      if (bodyBytes > bodyBytesMax) throw new StateStreamError(`record of ${bodyBytes} bytes exceeds ${bodyBytesMax}`);
      if (data.length - at < framingBytes + bodyBytes) break;
      const body = data.subarray(at + 5, at + 5 + bodyBytes);
      const stored = dataViewOf(data).getUint32(at + 5 + bodyBytes);
      const computed = crc32c(body, crc32c(data.subarray(at, at + 1))) >>> 0;
      if (stored !== computed) throw new StateStreamError(`record ${this.count} checksum mismatch`);
      const whole = data.subarray(at, at + framingBytes + bodyBytes);
      await this.take(kind, body, whole);
      at += framingBytes + bodyBytes;
    }
    // Copy the partial record: the caller's chunk buffer must not be pinned.
    this.carry = at === data.length ? new Uint8Array(0) : data.slice(at);
    data = new Uint8Array(0);
  }

  /** The stream ended: writes what is batched. Throws unless the end record was seen. */
  async finish(): Promise<void> {
    if (!this.ended) throw new StateStreamError('the stream ended before its end record');
    if (this.carry.length > 0) throw new StateStreamError('bytes after the end record');
    await this.flush();
  }

  private async take(kind: number, body: Uint8Array, whole: Uint8Array): Promise<void> {
    if (this.headerSeen === undefined && kind !== kindHeader) throw new StateStreamError('stream does not start with a header');
    if (kind === kindEnd) {
      if (body.length !== 12) throw new StateStreamError('bad end record');
      const view = dataViewOf(body);
      if (view.getFloat64(0) !== this.count || view.getUint32(8) !== this.crc >>> 0) {
        throw new StateStreamError(`end record says ${view.getFloat64(0)} records, ${this.count} arrived, or their checksum differs`);
      }
      this.ended = true;
      return;
    }
    this.crc = crc32c(whole, this.crc);
    this.count += 1;
    const view = dataViewOf(body);
    switch (kind) {
      case kindHeader: {
        if (this.headerSeen !== undefined || body.length !== magic.length + 16 || !magic.every((byte, index) => body[index] === byte)) {
          throw new StateStreamError('bad stream header');
        }
        this.headerSeen = { index: view.getFloat64(magic.length), term: view.getFloat64(magic.length + 8) };
        return;
      }
      case kindRecord: {
        if (body.length < 4) throw new StateStreamError('short KV record');
        const keyBytes = view.getUint32(0);
        if (keyBytes === 0 || keyBytes > body.length - 4) throw new StateStreamError('bad KV record key length');
        const key = body.slice(4, 4 + keyBytes);
        const value = body.slice(4 + keyBytes);
        this.batch.push({ key, value });
        this.batchSize += key.length + value.length;
        if (this.batchSize >= batchBytes) await this.flush();
        return;
      }
      case kindSize:
      case kindExtent: {
        if (body.length < 16) throw new StateStreamError('short content record');
        const ino = view.getFloat64(0);
        const offset = view.getFloat64(8);
        if (!isCount(ino) || ino === 0 || !isCount(offset)) throw new StateStreamError('content record out of range');
        if (kind === kindSize) {
          if (body.length !== 16) throw new StateStreamError('bad size record');
          this.sink.content.truncate(ino, offset);
        } else {
          this.sink.content.write(ino, offset, body.subarray(16));
        }
        return;
      }
      default:
        throw new StateStreamError(`unknown record kind ${kind}`);
    }
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchSize = 0;
    await this.sink.write(batch);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}
