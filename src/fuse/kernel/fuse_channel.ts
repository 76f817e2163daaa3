/**
 * Where a FUSE session's requests come from: whole requests read from the /dev/fuse fd, handed
 * over one at a time, with a bound on those handed over and not yet finished. Two ways to read:
 *
 * - 'thread' (the default): a thread in the native addon blocks in read(2) and hands each request
 *   to the event loop through a threadsafe function, already copied into a buffer of its own size.
 *   It uses no libuv pool thread, so it needs no UV_THREADPOOL_SIZE and never starves DNS or file
 *   I/O of the pool.
 * - 'pool': `fs.read` on the fd through libuv's thread pool, `readsInFlight` reads at once, each
 *   holding a pool thread while it waits for the kernel. The process must raise UV_THREADPOOL_SIZE
 *   above that number before its first pool use, or its own file I/O waits behind the reads.
 *
 * Measured here (2 cores, Linux 6.18) with dd bs=1M of 64 MiB through the test's memory file
 * system, 10 runs each, medians: 'thread' wrote 1.2 GB/s, read 0.9 GB/s through the page cache and
 * 3.3 GB/s with O_DIRECT; 'pool' 0.9, 0.65 and 2.0 GB/s. The thread is the default: faster, and it
 * spares the pool.
 */
import { read } from 'node:fs';
import { limits } from '../../util/limits.js';
import { nativeAddon, type NativeFuseReader } from '../../native/fsraft_native.js';

/** How requests are read from /dev/fuse (see the file comment). */
export type FuseReaderKind = 'thread' | 'pool';

/** A source of whole requests from /dev/fuse. */
export interface RequestChannel {
  /** Starts reading: `onRequest` for each request, `onEnd` once with the errno that ended it (ENODEV: unmounted). */
  start(onRequest: (request: Buffer) => void, onEnd: (errno: number) => void): void;
  /** One request handed over has been answered (or needed no answer): the channel may read another. */
  finished(): void;
  /** false: a read waiting for the kernel no longer keeps the process alive. */
  ref(keep: boolean): void;
}

/** ENODEV: what read(2) of /dev/fuse answers once the mount is gone. */
const ENODEV = 19;

class ThreadChannel implements RequestChannel {
  private reader: NativeFuseReader | undefined;

  constructor(
    private readonly fd: number,
    private readonly requestsInFlightMax: number,
  ) {}

  start(onRequest: (request: Buffer) => void, onEnd: (errno: number) => void): void {
    this.reader = nativeAddon().fuseReaderStart(this.fd, limits.fuseReadBufferBytes, this.requestsInFlightMax, (request, errno) => {
      if (request === null) onEnd(errno);
      else onRequest(request);
    });
  }

  finished(): void {
    this.reader?.credit(1);
  }

  ref(keep: boolean): void {
    this.reader?.ref(keep);
  }
}

class PoolChannel implements RequestChannel {
  private inFlight = 0;
  private reading = 0;
  private ended = false;
  private onRequest: (request: Buffer) => void = () => undefined;
  private onEnd: (errno: number) => void = () => undefined;

  constructor(
    private readonly fd: number,
    private readonly readsInFlight: number,
    private readonly requestsInFlightMax: number,
  ) {}

  start(onRequest: (request: Buffer) => void, onEnd: (errno: number) => void): void {
    this.onRequest = onRequest;
    this.onEnd = onEnd;
    this.fill();
  }

  finished(): void {
    this.inFlight--;
    this.fill();
  }

  ref(): void {
    // fs.read requests cannot be unreferenced: a process serving through the pool exits explicitly.
  }

  private fill(): void {
    while (!this.ended && this.reading < this.readsInFlight && this.inFlight + this.reading < this.requestsInFlightMax) this.readOne();
  }

  private readOne(): void {
    this.reading++;
    const buffer = Buffer.allocUnsafe(limits.fuseReadBufferBytes);
    read(this.fd, buffer, 0, buffer.length, null, (error, bytesRead) => {
      this.reading--;
      if (this.ended) return;
      if (error !== null) {
        const code = error.code;
        // EINTR: a signal; ENOENT: the request was interrupted before it was read; EAGAIN: retry.
        if (code === 'EINTR' || code === 'ENOENT' || code === 'EAGAIN') {
          this.fill();
          return;
        }
        this.ended = true;
        this.onEnd(typeof error.errno === 'number' ? -error.errno : ENODEV);
        return;
      }
      this.inFlight++;
      // A copy of its own size: the 1 MiB buffer is not held for the life of a small request.
      this.onRequest(bytesRead === buffer.length ? buffer : Buffer.from(buffer.subarray(0, bytesRead)));
      this.fill();
    });
  }
}

/** A channel of the given kind on `fd`. */
export function openRequestChannel(fd: number, kind: FuseReaderKind, requestsInFlightMax: number): RequestChannel {
  if (kind === 'pool') return new PoolChannel(fd, limits.fusePoolReadsInFlight, requestsInFlightMax);
  return new ThreadChannel(fd, requestsInFlightMax);
}
