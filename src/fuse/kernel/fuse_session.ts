/**
 * A FUSE session spoken directly on /dev/fuse (the Linux kernel protocol, as go-fuse, bazil/fuse
 * and the Rust `fuser` crate speak it), serving a FuseFileSystem addressed by inode number.
 *
 * Requests are read by a RequestChannel (fuse_channel.ts) and served concurrently: each one is
 * decoded (bounds-checked; a malformed one is answered EINVAL), dispatched to the file system, and
 * answered with one writev(2) of the out header and its payload, in whatever order they finish.
 * FORGET and BATCH_FORGET get no reply; INTERRUPT answers EINTR for a read-only request still
 * running (its late answer is dropped) and leaves every other to finish; locks, ioctl, poll,
 * bmap, copy_file_range, tmpfile and unknown opcodes are ENOSYS.
 *
 * Use `FuseSession.mount(mountpoint, fs, options)`; it resolves once the kernel's INIT has been
 * answered. `unmount()` retries a busy mount, then detaches it lazily; `closed` resolves when the
 * kernel ends the session.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, writev, writevSync } from 'node:fs';
import { constants } from 'node:os';
import process from 'node:process';
import { limits } from '../../util/limits.js';
import { nativeAddon, nativeUnavailableReason } from '../../native/fsraft_native.js';
import { errnoOf, FuseOperationError } from '../errno.js';
import {
  FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_MINOR_VERSION_MIN, FUSE_KERNEL_VERSION, InitFlag, NotifyCode, Opcode, Size, opcodeName,
} from './fuse_abi.js';
import {
  argumentReader, decodeBatchForget, decodeForget, decodeHeader, decodeInit, decodeInterrupt, encodeInitOut, encodeNotifyInvalEntry, encodeNotifyInvalInode, encodeOutHeader, FuseDecodeError, type ArgReader, type RequestHeader,
} from './fuse_codec.js';
import { dispatchRequest, type DispatchHost, type Reply } from './fuse_dispatch.js';
import { openRequestChannel, type FuseReaderKind, type RequestChannel } from './fuse_channel.js';
import type { FuseContext, FuseFileSystem } from './fuse_file_system.js';
import { fusermountOptionString, type FuseMountOptions } from './mount_options.js';

const errno = constants.errno;

/** INIT flags we ask for, when the kernel offers them (see the README's FUSE section for why). */
const wantedInitFlags =
  InitFlag.ASYNC_READ |
  InitFlag.BIG_WRITES |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.AUTO_INVAL_DATA |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.ASYNC_DIO |
  InitFlag.MAX_PAGES;

/**
 * Requests answered EINTR at once when the kernel interrupts them: reads whose late answer can be
 * dropped without harm. The others (creating, linking, writing, anything that hands the kernel a
 * node reference) run to the end, so the kernel never believes undone what was done.
 */
const interruptibleOpcodes: ReadonlySet<number> = new Set([
  Opcode.GETATTR, Opcode.READLINK, Opcode.READ, Opcode.STATFS, Opcode.GETXATTR, Opcode.LISTXATTR, Opcode.READDIR, Opcode.ACCESS,
  Opcode.LSEEK, Opcode.FSYNC, Opcode.FSYNCDIR, Opcode.FLUSH,
]);


/** How a session is run. */
export interface FuseSessionOptions {
  /** How requests are read from /dev/fuse (fuse_channel.ts); 'thread' by default. */
  readonly reader?: FuseReaderKind;
  /** Requests read and not yet answered; limits.fuseRequestsInFlightMax by default. */
  readonly requestsInFlightMax?: number;
  /** One line per notable event (protocol errors, a failed reply); nothing by default. */
  readonly log?: (line: string) => void;
  /** Where requests come from instead of reading the fd (tests feed crafted requests this way). */
  readonly channel?: RequestChannel;
}

/** How session.unmount() treats a busy mount. */
export interface FuseUnmountOptions {
  /** Pause between two attempts of a busy (EBUSY) unmount. */
  readonly retryMs?: number;
  /** Attempts before the mount is detached lazily (umount -l). */
  readonly attemptsMax?: number;
  /** Called after each failed attempt that will be retried. */
  readonly onRetry?: (error: Error, attempt: number) => void;
}

/** Which INIT the kernel and we agreed on. */
export interface FuseNegotiated {
  readonly major: number;
  readonly minor: number;
  /** The kernel's INIT flags. */
  readonly kernelFlags: number;
  /** The flags we answered (kernelFlags & wanted). */
  readonly flags: number;
  readonly maxWrite: number;
  readonly maxReadahead: number;
}

/**
 * The first fusermount3 or fusermount on `searchPath` (PATH by default), or null. PATH is the
 * only place looked at, so a PATH without them makes a root mount behave as on a machine without
 * the fuse3 package (the tests run fsraft-mount that way).
 */
export function findFusermount(searchPath: string = process.env['PATH'] ?? ''): string | null {
  const directories = searchPath.split(':').filter((directory) => directory !== '');
  for (const program of ['fusermount3', 'fusermount']) {
    for (const directory of directories) {
      const candidate = `${directory}/${program}`;
      if (existsSync(candidate)) return candidate;
    }
  }
  return null;
}

/** A live FUSE session on one /dev/fuse fd. */
export class FuseSession {
  /** Resolves when the kernel has ended the session (read(2) answered ENODEV, or another error). */
  readonly closed: Promise<void>;
  /** Resolves once INIT is answered; rejects if the kernel's protocol cannot be served. */
  readonly initialized: Promise<FuseNegotiated>;

  private fd: number;
  private negotiated: FuseNegotiated | null = null;
  private destroyed = false;
  private readonly inFlight = new Map<bigint, { readonly opcode: number; answered: boolean }>();
  private readonly channel: RequestChannel;
  private readonly log: (line: string) => void;
  private resolveClosed: () => void = () => undefined;
  private resolveInitialized: (negotiated: FuseNegotiated) => void = () => undefined;
  private rejectInitialized: (error: Error) => void = () => undefined;
  private autoUnmountWatcher: ChildProcess | null = null;
  /** What a dispatched request may do to the session: forget lookups, end it (DESTROY). */
  private readonly host: DispatchHost = {
    forget: (ino, nlookup) => this.forget(ino, nlookup),
    destroy: () => {
      if (this.destroyed) return;
      this.destroyed = true;
      this.fs.destroy?.();
    },
  };

  /**
   * Serves `fs` on an already mounted /dev/fuse `fd` (FuseSession.mount does the mounting).
   * `mountpoint` and `fusermount` are what unmount() uses.
   */
  constructor(
    fd: number,
    private readonly fs: FuseFileSystem,
    readonly mountpoint: string,
    readonly options: FuseMountOptions,
    private readonly fusermount: string | null,
    sessionOptions: FuseSessionOptions = {},
  ) {
    this.fd = fd;
    this.log = sessionOptions.log ?? (() => undefined);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.initialized = new Promise((resolve, reject) => {
      this.resolveInitialized = resolve;
      this.rejectInitialized = reject;
    });
    // A mount that never initializes must not leave an unhandled rejection behind.
    this.initialized.catch(() => undefined);
    this.channel = sessionOptions.channel ?? openRequestChannel(fd, sessionOptions.reader ?? 'thread', sessionOptions.requestsInFlightMax ?? limits.fuseRequestsInFlightMax);
    this.channel.start(
      (request) => this.onRequest(request),
      (endErrno) => this.onEnd(endErrno),
    );
  }

  /**
   * Mounts `fs` at `mountpoint` (an absolute path to an existing directory) and resolves once the
   * kernel's INIT is answered. As root it mounts directly (mount(2)); otherwise through
   * fusermount3/fusermount on PATH. Rejects with a one-line reason when FUSE is unusable.
   */
  static async mount(mountpoint: string, fs: FuseFileSystem, options: FuseMountOptions, sessionOptions: FuseSessionOptions = {}): Promise<FuseSession> {
    const unavailable = nativeUnavailableReason();
    if (unavailable !== null) throw new Error(`FUSE unavailable: ${unavailable}`);
    const root = process.getuid?.() === 0;
    const fusermount = root ? null : findFusermount();
    if (!root && fusermount === null) throw new Error('FUSE unavailable: not root and no fusermount3 or fusermount on PATH (install the fuse3 package)');
    const fd = await nativeAddon().fuseMount(mountpoint, {
      fsname: options.fsname,
      subtype: options.subtype,
      readOnly: options.readOnly,
      noatime: options.noatime,
      allowOther: options.allowOther,
      defaultPermissions: options.defaultPermissions,
      maxRead: options.maxReadBytes,
      // fusermount's own auto_unmount checks the dead mount as root, which the kernel refuses
      // without allow_other, so it never fires; the watcher below works for both ways of mounting.
      autoUnmount: false,
      fusermount,
      fusermountOptions: fusermountOptionString({ ...options, autoUnmount: false }),
    });
    const session = new FuseSession(fd, fs, mountpoint, options, fusermount, sessionOptions);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        session.initialized,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the kernel sent no FUSE INIT within ${limits.fuseInitTimeoutMs} ms`)), limits.fuseInitTimeoutMs);
        }),
      ]);
    } catch (error) {
      await nativeAddon().fuseUnmount(mountpoint, true, fusermount).catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (options.autoUnmount) session.startAutoUnmountWatcher();
    return session;
  }

  /** The INIT the kernel and we agreed on, or null before INIT. */
  get protocol(): FuseNegotiated | null {
    return this.negotiated;
  }

  /** false: this session no longer keeps the process alive by itself (true again: it does). */
  ref(keep: boolean): void {
    this.channel.ref(keep);
  }

  /**
   * Drops the kernel's cached data of `ino` from `offset` for `length` bytes (0: to the end) and
   * its attributes (FUSE_NOTIFY_INVAL_INODE); offset -1 drops only the attributes. Resolves also
   * when the kernel had nothing cached. Written from a pool thread: the kernel may wait for page
   * locks held by a request this process has yet to answer.
   */
  invalidateInode(ino: number, offset: number, length: number): Promise<void> {
    return this.notify(NotifyCode.INVAL_INODE, encodeNotifyInvalInode(ino, offset, length));
  }

  /** Drops the kernel's cached lookup of `name` in directory `parent` (FUSE_NOTIFY_INVAL_ENTRY). */
  invalidateEntry(parent: number, name: Uint8Array | string): Promise<void> {
    const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
    if (bytes.length === 0 || bytes.length > limits.componentBytesMax) {
      return Promise.reject(new FuseOperationError(bytes.length === 0 ? 'EINVAL' : 'ENAMETOOLONG', 'invalidateEntry: bad name'));
    }
    return this.notify(NotifyCode.INVAL_ENTRY, encodeNotifyInvalEntry(parent, bytes, 0));
  }

  /**
   * Unmounts: up to `attemptsMax` plain unmounts `retryMs` apart while the mount is busy (EBUSY),
   * then a lazy detach (MNT_DETACH / fusermount -uz), which always succeeds while the mount
   * exists. Resolves { lazy } once unmounted; after a plain unmount also once the kernel has ended
   * the session. A lazily detached session may keep serving the processes still inside it.
   */
  async unmount(options: FuseUnmountOptions = {}): Promise<{ lazy: boolean }> {
    const attemptsMax = Math.max(1, options.attemptsMax ?? limits.fuseUnmountAttemptsMax);
    const retryMs = options.retryMs ?? limits.fuseUnmountRetryMs;
    this.stopAutoUnmountWatcher();
    const native = nativeAddon();
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      try {
        await native.fuseUnmount(this.mountpoint, false, this.fusermount);
        // The kernel ends the session at once, unless the same mount lives on elsewhere (a bind
        // mount, another namespace): then do not wait for it forever.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.closed, new Promise((resolve) => (timer = setTimeout(resolve, limits.fuseSessionEndWaitMs)))]);
        clearTimeout(timer);
        return { lazy: false };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EBUSY') throw error;
        if (attempt < attemptsMax) {
          options.onRetry?.(error as Error, attempt);
          await new Promise((resolve) => setTimeout(resolve, retryMs));
        }
      }
    }
    await native.fuseUnmount(this.mountpoint, true, this.fusermount);
    return { lazy: true };
  }

  /* ---------- reading and dispatch ---------- */

  private onEnd(endErrno: number): void {
    if (endErrno !== errno.ENODEV) this.log(`fuse session: reading /dev/fuse ended: errno ${endErrno}`);
    this.rejectInitialized(new Error(`the FUSE session ended before INIT (errno ${endErrno})`));
    this.finishSession();
  }

  /** The kernel is done with us: close the fd (no reply may be written to a reused fd number) and tell the file system. */
  private finishSession(): void {
    if (this.fd === -1) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      closeSync(fd);
    } catch {
      // Already closed: nothing to release.
    }
    this.stopAutoUnmountWatcher();
    if (!this.destroyed) {
      this.destroyed = true;
      this.fs.destroy?.();
    }
    this.resolveClosed();
  }

  private onRequest(bytes: Buffer): void {
    const header = decodeHeader(bytes);
    if (header === null) {
      // No trustworthy unique to answer: the kernel never sends this, so say so and go on.
      this.log(`fuse session: dropped a malformed request of ${bytes.length} bytes`);
      this.channel.finished();
      return;
    }
    const { opcode, unique } = header;
    try {
      switch (opcode) {
        case Opcode.INIT:
          this.onInit(header, argumentReader(bytes));
          return this.channel.finished();
        case Opcode.FORGET:
          this.forget(header.nodeid, decodeForget(argumentReader(bytes)).nlookup);
          return this.channel.finished();
        case Opcode.BATCH_FORGET:
          for (const one of decodeBatchForget(argumentReader(bytes))) this.forget(one.ino, one.nlookup);
          return this.channel.finished();
        case Opcode.INTERRUPT:
          this.onInterrupt(header, decodeInterrupt(argumentReader(bytes)).unique);
          return this.channel.finished();
        default:
          break;
      }
    } catch (error) {
      // FORGET and INTERRUPT take no reply, even to say they were malformed.
      this.log(`fuse session: ${opcodeName[opcode] ?? opcode}: ${(error as Error).message}`);
      if (opcode === Opcode.INIT) this.sendError(unique, errorNumber(error));
      return this.channel.finished();
    }
    if (this.negotiated === null) {
      // The kernel sends nothing before INIT's answer; a request that does is not ours to serve.
      this.sendError(unique, errno.EIO);
      return this.channel.finished();
    }
    const record = { opcode, answered: false };
    this.inFlight.set(unique, record);
    const context: FuseContext = { uid: header.uid, gid: header.gid, pid: header.pid, unique };
    let handled: Promise<Reply>;
    try {
      handled = dispatchRequest(this.fs, this.host, header, context, argumentReader(bytes));
    } catch (error) {
      handled = Promise.reject(error);
    }
    handled.then(
      (reply) => {
        if (!record.answered) this.sendReply(unique, reply);
        else if (reply.entryIno !== undefined) this.forget(reply.entryIno, 1);
      },
      (error: unknown) => {
        if (!record.answered) this.sendError(unique, errorNumber(error));
      },
    ).finally(() => {
      record.answered = true;
      this.inFlight.delete(unique);
      this.channel.finished();
    });
  }

  private forget(ino: number, nlookup: number): void {
    if (ino === 0 || nlookup === 0) return;
    try {
      this.fs.forget?.(ino, nlookup);
    } catch (error) {
      this.log(`fuse session: forget(${ino}, ${nlookup}) threw: ${(error as Error).message}`);
    }
  }

  private onInterrupt(header: RequestHeader, target: bigint): void {
    const record = this.inFlight.get(target);
    if (record === undefined) {
      // Not seen yet (a pool channel may hand it over after its interrupt), or already answered:
      // EAGAIN asks the kernel to send the interrupt again if the request is still waiting.
      this.sendError(header.unique, errno.EAGAIN);
      return;
    }
    if (record.answered || !interruptibleOpcodes.has(record.opcode)) return;
    record.answered = true;
    this.sendError(target, errno.EINTR);
  }

  private onInit(header: RequestHeader, args: ArgReader): void {
    const init = decodeInit(args);
    if (init.major > FUSE_KERNEL_VERSION) {
      // A newer major: answer ours and the kernel sends INIT again with it (fuse.h, "Version negotiation").
      this.sendReply(header.unique, { parts: [encodeInitOut({ major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION, maxReadahead: 0, flags: 0, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, timeGranNs: 0, maxPages: 0 })] });
      return;
    }
    if (init.major < FUSE_KERNEL_VERSION || init.minor < FUSE_KERNEL_MINOR_VERSION_MIN) {
      this.log(`fuse session: the kernel speaks FUSE ${init.major}.${init.minor}; this session needs ${FUSE_KERNEL_VERSION}.${FUSE_KERNEL_MINOR_VERSION_MIN} or newer`);
      this.sendError(header.unique, errno.EPROTO);
      this.rejectInitialized(new Error(`the kernel speaks FUSE ${init.major}.${init.minor}; at least ${FUSE_KERNEL_VERSION}.${FUSE_KERNEL_MINOR_VERSION_MIN} is needed`));
      return;
    }
    const wanted = wantedInitFlags | (this.options.writebackCache ? InitFlag.WRITEBACK_CACHE : 0);
    const negotiated: FuseNegotiated = {
      major: FUSE_KERNEL_VERSION,
      minor: Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION),
      kernelFlags: init.flags,
      flags: (init.flags & wanted) >>> 0,
      maxWrite: limits.fuseMaxWriteBytes,
      maxReadahead: init.maxReadahead,
    };
    this.sendReply(header.unique, {
      parts: [encodeInitOut({
        major: negotiated.major,
        minor: negotiated.minor,
        maxReadahead: negotiated.maxReadahead,
        flags: negotiated.flags,
        maxBackground: limits.fuseMaxBackgroundRequests,
        congestionThreshold: limits.fuseCongestionThresholdRequests,
        maxWrite: negotiated.maxWrite,
        // Times are kept to the nanosecond.
        timeGranNs: 1,
        maxPages: limits.fuseMaxPages,
      })],
    });
    this.negotiated = negotiated;
    this.resolveInitialized(negotiated);
  }

  /** Decodes one request's arguments and runs it on the file system. Throws FuseDecodeError on malformed arguments. */
  /* ---------- writing ---------- */

  private sendError(unique: bigint, errnoPositive: number): void {
    this.write(unique, encodeOutHeader(unique, -errnoPositive, 0), []);
  }

  private sendReply(unique: bigint, reply: Reply): void {
    const payloadBytes = reply.parts.reduce((sum, part) => sum + part.length, 0);
    const delivered = this.write(unique, encodeOutHeader(unique, 0, payloadBytes), reply.parts);
    if (!delivered && reply.entryIno !== undefined) this.forget(reply.entryIno, 1);
  }

  /**
   * One writev(2) of the header and the payload: the kernel takes a reply only whole, in one
   * write. Synchronous: a reply never waits in the kernel (it copies into the waiting request),
   * and answering at once keeps latency low. False if the kernel did not take it.
   */
  private write(unique: bigint, header: Buffer, parts: readonly Uint8Array[]): boolean {
    if (this.fd === -1) return false;
    try {
      writevSync(this.fd, [header, ...parts]);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOENT: the request was interrupted or aborted and nobody waits for it any more.
      // ENODEV: the session is over.
      if (code !== 'ENOENT' && code !== 'ENODEV') this.log(`fuse session: reply to ${unique} failed: ${(error as Error).message}`);
      return false;
    }
  }

  private notify(code: number, payload: Buffer): Promise<void> {
    // Before INIT the kernel has cached nothing; after the end there is nothing to drop.
    if (this.negotiated === null || this.fd === -1) return Promise.resolve();
    const header = Buffer.allocUnsafe(Size.OUT_HEADER);
    header.writeUInt32LE(Size.OUT_HEADER + payload.length, 0);
    header.writeInt32LE(code, 4);
    header.writeBigUInt64LE(0n, 8);
    const fd = this.fd;
    return new Promise((resolve, reject) => {
      writev(fd, [header, payload], (error) => {
        // ENOENT: the kernel had nothing cached for it. ENODEV: the session ended meanwhile.
        if (error === null || error.code === 'ENOENT' || error.code === 'ENODEV') resolve();
        else reject(error);
      });
    });
  }

  /* ---------- auto_unmount for root mounts ---------- */

  /**
   * auto_unmount: a small shell that waits on a pipe from this process. When this process ends,
   * however it ends, the pipe reaches EOF and the shell detaches the mount (`umount -l` as root,
   * `fusermount -u -z` otherwise), so a killed server never leaves a dead mount ("Transport
   * endpoint is not connected") behind. A normal unmount first tells the shell to stand down.
   */
  private startAutoUnmountWatcher(): void {
    const umountPath = ['/usr/bin/umount', '/bin/umount'].find((candidate) => existsSync(candidate));
    const command = this.fusermount !== null ? [this.fusermount, '-u', '-z', '--'] : umountPath !== undefined ? [umountPath, '-l', '--no-canonicalize', '--'] : null;
    if (command === null) {
      this.log('fuse session: auto_unmount: no umount(8) found; the mount stays if this process is killed');
      return;
    }
    const script = 'IFS= read -r line; [ "$line" = stand-down ] || exec "$@"';
    const watcher = spawn('/bin/sh', ['-c', script, 'fsraft-auto-unmount', ...command, this.mountpoint], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watcher.unref();
    watcher.stdin?.on('error', () => undefined);
    this.autoUnmountWatcher = watcher;
  }

  private stopAutoUnmountWatcher(): void {
    const watcher = this.autoUnmountWatcher;
    if (watcher === null) return;
    this.autoUnmountWatcher = null;
    watcher.stdin?.end('stand-down\n');
  }
}

/** The positive errno to answer for a thrown value. */
function errorNumber(error: unknown): number {
  if (error instanceof FuseDecodeError) return error.errno;
  return -errnoOf(error);
}
