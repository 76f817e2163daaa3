/**
 * The typed loader of fsraft's own addon (native/fsraft_native.c, built into
 * native/build/fsraft_native.node by native/build_native.mjs at install time).
 *
 * FUSE mounting needs the addon; the storage functions (seekData, seekHole, fallocate, syncfs)
 * work without it, with the weaker fallbacks documented on each, so a node still runs where the
 * addon could not be built. `nativeAvailable()` and `nativeUnavailableReason()` say which.
 */
import { existsSync, fstatSync, fsyncSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What fuseMount needs to know; see native/fsraft_native.c. */
export interface NativeMountOptions {
  /** The mount's source as /proc/mounts shows it. */
  readonly fsname: string;
  /** The type shown as fuse.<subtype>. */
  readonly subtype: string;
  readonly readOnly: boolean;
  readonly noatime: boolean;
  readonly allowOther: boolean;
  readonly defaultPermissions: boolean;
  /** Largest read request in bytes; 0 for the kernel's own bound. */
  readonly maxRead: number;
  /** fusermount's auto_unmount: unmount when this process ends (fusermount only). */
  readonly autoUnmount: boolean;
  /** Absolute path of fusermount3/fusermount to mount through; null to mount(2) directly (root). */
  readonly fusermount: string | null;
  /** The -o string handed to fusermount (ignored for a direct mount). */
  readonly fusermountOptions: string;
}

/** The reader thread of one /dev/fuse session (fuseReaderStart). */
export interface NativeFuseReader {
  /** Gives back `count` request credits: the thread reads a request only while it holds one. */
  credit(count: number): void;
  /** false: the pending read no longer keeps the process alive; true: it does again. */
  ref(keep: boolean): void;
}

/** The addon's exports, as native/fsraft_native.c defines them. */
export interface FsraftNativeAddon {
  fuseMount(mountpoint: string, options: NativeMountOptions): Promise<number>;
  fuseUnmount(mountpoint: string, lazy: boolean, fusermount: string | null): Promise<void>;
  fuseReaderStart(fd: number, bufferBytes: number, credits: number, onRequest: (request: Buffer | null, errno: number) => void): NativeFuseReader;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  fallocate(fd: number, mode: number, offset: number, length: number): void;
  syncfs(fd: number): void;
  /** Present only where the CPU has the crc32 instruction (x86-64 with SSE4.2). */
  crc32c?: (bytes: Uint8Array, crc: number) => number;
}

/** An Error with an errno name as `code`, as the addon throws them. */
export class NativeError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'NativeError';
    this.code = code;
  }
}

type LoadResult = { ok: true; addon: FsraftNativeAddon } | { ok: false; reason: string };

let loaded: LoadResult | undefined;

/** native/build/fsraft_native.node, found from this file whether it runs from src/ or dist/src/. */
function addonPath(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../native/build/fsraft_native.node'), path.resolve(here, '../../../native/build/fsraft_native.node')];
  return candidates.find((candidate) => existsSync(candidate));
}

function load(): LoadResult {
  if (loaded !== undefined) return loaded;
  const file = addonPath();
  if (file === undefined) {
    loaded = { ok: false, reason: 'native/build/fsraft_native.node is missing (build it with: node native/build_native.mjs)' };
    return loaded;
  }
  try {
    loaded = { ok: true, addon: createRequire(import.meta.url)(file) as FsraftNativeAddon };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    loaded = { ok: false, reason: `native/build/fsraft_native.node failed to load (${message}); rebuild it with: node native/build_native.mjs` };
  }
  return loaded;
}

/** True when the addon loaded; FUSE mounting needs it. */
export function nativeAvailable(): boolean {
  return load().ok;
}

/** Why the addon is unavailable (one line), or null when it loaded. */
export function nativeUnavailableReason(): string | null {
  const result = load();
  return result.ok ? null : result.reason;
}

/** The addon, or a NativeError('ENOSYS') naming why it is unavailable. */
export function nativeAddon(): FsraftNativeAddon {
  const result = load();
  if (!result.ok) throw new NativeError('ENOSYS', `fsraft native addon unavailable: ${result.reason}`);
  return result.addon;
}

/**
 * The first offset at or after `offset` that holds data (lseek SEEK_DATA), or -1 when there is
 * none (ENXIO: only holes up to the end, or `offset` at or past the end). Without the addon every
 * byte counts as data: `offset` if it is below the size, else -1.
 */
export function seekData(fd: number, offset: number): number {
  const result = load();
  if (result.ok) return result.addon.seekData(fd, offset);
  return offset < fstatSync(fd).size ? offset : -1;
}

/**
 * The first hole at or after `offset` (lseek SEEK_HOLE; the end of the file counts as a hole), or
 * -1 when `offset` is past the end (ENXIO). Without the addon there are no holes: the file size.
 */
export function seekHole(fd: number, offset: number): number {
  const result = load();
  if (result.ok) return result.addon.seekHole(fd, offset);
  return fstatSync(fd).size;
}

/**
 * fallocate(2) with FALLOC_FL_* `mode` bits (0 allocate, KEEP_SIZE 1, PUNCH_HOLE 2, ZERO_RANGE
 * 0x10...). Throws an Error whose `code` is the errno name (EOPNOTSUPP where the file system or
 * the mode is not supported; always EOPNOTSUPP without the addon).
 */
export function fallocate(fd: number, mode: number, offset: number, length: number): void {
  const result = load();
  if (!result.ok) throw new NativeError('EOPNOTSUPP', 'fallocate: the fsraft native addon is unavailable');
  result.addon.fallocate(fd, mode, offset, length);
}

/** syncfs(2): flushes the whole file system holding `fd`. Without the addon, an fsync of `fd` only. */
export function syncfs(fd: number): void {
  const result = load();
  if (result.ok) result.addon.syncfs(fd);
  else fsyncSync(fd);
}

/**
 * CRC-32C with the CPU's crc32 instruction, or undefined where the addon or the instruction is
 * missing (see accelerateCrc32c in util/crc32.ts).
 */
export function nativeCrc32c(): ((bytes: Uint8Array, crc: number) => number) | undefined {
  const result = load();
  return result.ok ? result.addon.crc32c : undefined;
}
