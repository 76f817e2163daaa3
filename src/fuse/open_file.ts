/**
 * One open file of the mount and its write-behind buffer. write() only buffers: contiguous writes
 * are gathered into one segment of up to `chunkBytes` (the cluster's contentBytesMax), which is
 * sent as one writeat while later writes keep arriving, several in flight. So a large sequential
 * write costs one round trip per chunk, never O(file size) per call, and the bytes held per file
 * stay under `dirtyBytesMax`. flush/fsync/release wait until every byte is committed and report
 * the first failure, so an error always reaches close() or fsync(), never vanishes.
 *
 * Time: every wait of an operation (for earlier operations on the file, for room in the buffer,
 * for writes to commit) ends at the operation's Deadline; each writeat, once handed to the
 * cluster, ends within writeTimeoutMs (its wait for overlapping earlier writes included), so no
 * chain of writes stretches a flush past its deadline.
 */
import type { DeadlineClock } from '../clock/clock.js';
import { Deadline } from '../clock/deadline.js';
import type { CallOptions } from '../client/fsraft_client.js';
import { callWithin, waitWithin } from './operation_deadline.js';

/** Bounds of one file's buffer. */
export interface OpenFileLimits {
  /** Largest writeat content (contentBytesMax). */
  readonly chunkBytes: number;
  /** Buffered plus in-flight bytes before write() waits. */
  readonly dirtyBytesMax: number;
  /** writeat requests in flight at once (1 for O_APPEND files, whose appends must stay in order). */
  readonly writesInFlightMax: number;
  /** How long one writeat may take from the moment it is sent on its way, before it fails (UNAVAILABLE). */
  readonly writeTimeoutMs: number;
}

interface Segment {
  /** File offset of the first byte (ignored for appends). */
  readonly offset: number;
  readonly parts: Buffer[];
  length: number;
}

interface InFlight {
  readonly start: number;
  readonly end: number;
  readonly done: Promise<void>;
}

/** An open file: its path (updated by rename), its flags and its unflushed writes. */
export class OpenFile {
  /** The cluster path; the mount updates it when the file or a parent directory is renamed. */
  path: string;
  /** O_APPEND: every write goes to the current end (writeat -1), in order. */
  readonly append: boolean;
  private readonly limits: OpenFileLimits;
  private pending: Segment | undefined;
  private readonly inFlight = new Set<InFlight>();
  private inFlightBytes = 0;
  private firstError: unknown;
  /** Highest end offset of writes not yet known to be flushed (non-append files). */
  private unflushedEnd = 0;
  /** Bytes appended and not yet flushed (append files): the local size is the server's plus these. */
  private unflushedAppendBytes = 0;
  /**
   * Set when the file was removed or replaced by this mount (unlink, rename onto it): its name
   * now belongs to another file or none, so later writes and reads must not go there.
   */
  private orphanedError: Error | undefined;
  /** Serializes this file's data operations so writes apply in the order the kernel sent them. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Operations in `chain` not yet settled. */
  private queued = 0;

  constructor(
    private readonly backend: { writeAt(name: string, offset: number, content: Uint8Array, options?: CallOptions): Promise<{ version: number }> },
    path: string,
    append: boolean,
    limits: OpenFileLimits,
    private readonly clock: DeadlineClock,
  ) {
    this.path = path;
    this.append = append;
    this.limits = append ? { ...limits, writesInFlightMax: 1 } : limits;
  }

  /** True while some written bytes are not yet committed. */
  get dirty(): boolean {
    return this.pending !== undefined || this.inFlight.size > 0 || this.unflushedEnd > 0 || this.unflushedAppendBytes > 0;
  }

  /** The size this file has once its unflushed writes land, given the cluster's size. */
  localSize(serverSize: number): number {
    return Math.max(serverSize, this.unflushedEnd) + this.unflushedAppendBytes;
  }

  /**
   * Runs `operation` after every data operation queued before it on this file, or fails with
   * UNAVAILABLE if those are not done by `deadline`. An operation given up on that way never runs:
   * a write the kernel was told failed must not land later, and a flush nobody waits for any more
   * must not take (and so hide) a failure the next flush has to report. `operation` itself keeps
   * to `deadline` in everything it waits for.
   */
  serialize<T>(deadline: Deadline, operation: () => Promise<T>): Promise<T> {
    const previous = this.chain;
    const result = waitWithin(deadline, previous, `earlier operations on ${this.path} to finish`).then(operation);
    // The next operation waits for this one and, if this one gave up early, for those before it.
    this.chain = Promise.allSettled([previous, result]);
    this.queued++;
    const done = (): void => {
      this.queued--;
    };
    result.then(done, done);
    return result;
  }

  /**
   * Runs `fetch`, a read of this file: at once, beside other reads (the kernel's readahead sends
   * several), when no other operation is queued and no write is unflushed; otherwise after the
   * queued operations and a flush, like any other. Operations queued later wait for it either way.
   */
  read<T>(deadline: Deadline, fetch: () => Promise<T>): Promise<T> {
    if (this.queued > 0 || this.dirty) {
      return this.serialize(deadline, async () => {
        await this.flushNow(deadline);
        return fetch();
      });
    }
    const result = fetch();
    this.chain = Promise.allSettled([this.chain, result]);
    return result;
  }

  /**
   * Buffers `data` (copied: FUSE reuses its buffer) for `position`. Fails at once only with an
   * earlier failure not yet reported; otherwise failures surface at flush. If `deadline` comes
   * while waiting for room, the pieces already buffered are reported as a short write (as
   * write(2) does), or UNAVAILABLE if there are none.
   */
  write(data: Buffer, position: number, deadline: Deadline): Promise<number> {
    const copy = Buffer.from(data);
    return this.serialize(deadline, async () => {
      if (this.orphanedError !== undefined) throw this.orphanedError;
      if (this.firstError !== undefined) throw this.firstError;
      let offset = 0;
      while (offset < copy.length) {
        const piece = copy.subarray(offset, offset + this.limits.chunkBytes);
        try {
          await this.bufferPiece(piece, position + offset, deadline);
        } catch (error) {
          if (offset > 0) return offset;
          throw error;
        }
        offset += piece.length;
      }
      return copy.length;
    });
  }

  /** Cuts this handle off its name after `error` (see orphanedError); pending writes were flushed before. */
  orphan(error: Error): void {
    this.orphanedError = error;
  }

  /** Throws if the handle was cut off its name. */
  checkUsable(): void {
    if (this.orphanedError !== undefined) throw this.orphanedError;
  }

  /**
   * Waits until every buffered byte is committed; throws (once) the first failure since the last
   * flush, or UNAVAILABLE at `deadline` (the writes then stay pending, and their failures are
   * reported by the next flush).
   */
  flush(deadline: Deadline): Promise<void> {
    return this.serialize(deadline, () => this.flushNow(deadline));
  }

  /**
   * Commits the buffered bytes as flush() does for a read or write through another descriptor of
   * the node, which must come after them; a failure stays for this file's own next flush to
   * report. Rejects only with UNAVAILABLE at `deadline`.
   */
  land(deadline: Deadline): Promise<void> {
    return this.serialize(deadline, async () => {
      await this.commitBuffered(deadline);
      if (this.firstError !== undefined) return;
      this.unflushedEnd = 0;
      this.unflushedAppendBytes = 0;
    });
  }

  /** flush() for callers already inside serialize(). */
  async flushNow(deadline: Deadline): Promise<void> {
    await this.commitBuffered(deadline);
    const error = this.firstError;
    this.firstError = undefined;
    this.unflushedEnd = 0;
    this.unflushedAppendBytes = 0;
    if (error !== undefined) throw error;
  }

  /** Sends what is pending and waits until every write in flight has ended. */
  private async commitBuffered(deadline: Deadline): Promise<void> {
    this.dispatchPending();
    while (this.inFlight.size > 0) {
      await waitWithin(deadline, Promise.all([...this.inFlight].map((write) => write.done)), `${this.inFlight.size} write(s) of ${this.path} to commit`);
    }
  }

  private async bufferPiece(piece: Buffer, position: number, deadline: Deadline): Promise<void> {
    const pending = this.pending;
    const contiguous = pending !== undefined && (this.append || pending.offset + pending.length === position);
    if (pending !== undefined && (!contiguous || pending.length + piece.length > this.limits.chunkBytes)) this.dispatchPending();
    // Back-pressure: the kernel's write() waits here instead of this process growing without bound.
    while (this.inFlight.size > 0 && (this.inFlight.size >= this.limits.writesInFlightMax || this.dirtyBytes() + piece.length > this.limits.dirtyBytesMax)) {
      const what = `room in the write buffer of ${this.path} (${this.inFlight.size} write(s) in flight)`;
      await waitWithin(deadline, Promise.race([...this.inFlight].map((write) => write.done)), what);
    }
    if (this.pending === undefined) this.pending = { offset: position, parts: [], length: 0 };
    this.pending.parts.push(piece);
    this.pending.length += piece.length;
    if (this.append) this.unflushedAppendBytes += piece.length;
    else this.unflushedEnd = Math.max(this.unflushedEnd, position + piece.length);
    if (this.pending.length >= this.limits.chunkBytes) this.dispatchPending();
  }

  private dirtyBytes(): number {
    return this.inFlightBytes + (this.pending?.length ?? 0);
  }

  /**
   * Sends the pending segment as one writeat, after any in-flight write it overlaps. Its deadline
   * starts now, not when those earlier writes end: a chain of overlapping writes that each took a
   * whole timeout would otherwise hold a flush for one timeout per write.
   */
  private dispatchPending(): void {
    const segment = this.pending;
    if (segment === undefined) return;
    this.pending = undefined;
    const start = segment.offset;
    const end = start + segment.length;
    // Overlapping writes must land in order; appends always overlap (their offset is the end).
    const earlier = [...this.inFlight].filter((write) => this.append || (write.start < end && start < write.end)).map((write) => write.done);
    const content = segment.parts.length === 1 ? (segment.parts[0] as Buffer) : Buffer.concat(segment.parts, segment.length);
    const deadline = Deadline.after(this.clock, this.limits.writeTimeoutMs);
    // The path is read when the write is sent: a rename in between flushed this file first.
    const done = Promise.all(earlier)
      .then(() => callWithin(deadline, `writeat ${this.path}`, (options) => this.backend.writeAt(this.path, this.append ? -1 : start, content, options)))
      .then(
        () => undefined,
        (error: unknown) => {
          if (this.firstError === undefined) this.firstError = error;
        },
      )
      .finally(() => {
        this.inFlight.delete(write);
        this.inFlightBytes -= segment.length;
      });
    const write: InFlight = { start, end, done };
    this.inFlight.add(write);
    this.inFlightBytes += segment.length;
  }
}
