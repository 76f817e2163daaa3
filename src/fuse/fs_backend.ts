/**
 * What the FUSE operations need from the cluster: the tree commands of FsraftClient, as an
 * interface so the operations can be unit-tested against an in-memory fake and the real client
 * can be swapped in unchanged. The shapes are those of src/client/fsraft_client.ts.
 */
import type { CallOptions, FsDirEntry, FsSetattr, FsStat } from '../client/fsraft_client.js';

export type { CallOptions, FsDirEntry, FsSetattr, FsStat };

/**
 * The subset of FsraftClient the mount calls. Failures are thrown as FsraftError (see errno.ts).
 * `options.timeoutMs` is what is left of the FUSE operation's deadline; the mount also stops
 * waiting at that deadline itself, so a backend that ignores it cannot hold an operation longer.
 */
export interface FsBackend {
  stat(name: string, options?: CallOptions): Promise<FsStat>;
  list(name: string, options?: CallOptions): Promise<FsDirEntry[]>;
  readAt(name: string, offset: number, count: number, options?: CallOptions): Promise<{ version: number; content: Uint8Array }>;
  create(name: string, mode: number, exclusive: boolean, options?: CallOptions): Promise<{ version: number }>;
  mkdir(name: string, mode: number, options?: CallOptions): Promise<{ version: number }>;
  rmdir(name: string, options?: CallOptions): Promise<void>;
  rename(from: string, to: string, options?: CallOptions): Promise<void>;
  truncate(name: string, size: number, options?: CallOptions): Promise<{ version: number }>;
  /** offset -1 appends at the current end, atomically. */
  writeAt(name: string, offset: number, content: Uint8Array, options?: CallOptions): Promise<{ version: number }>;
  setattr(name: string, attrs: FsSetattr, options?: CallOptions): Promise<{ version: number }>;
  /** false when there was no such file. */
  delete(name: string, options?: CallOptions): Promise<boolean>;
}
