/**
 * What the FUSE operations need from the cluster: the tree commands of FsraftClient, as an
 * interface so the operations can be unit-tested against an in-memory fake and the real client
 * can be swapped in unchanged. The shapes are those of src/client/fsraft_client.ts.
 */
import type { FsDirEntry, FsSetattr, FsStat } from '../client/fsraft_client.js';

export type { FsDirEntry, FsSetattr, FsStat };

/** The subset of FsraftClient the mount calls. Failures are thrown as FsraftError (see errno.ts). */
export interface FsBackend {
  stat(name: string): Promise<FsStat>;
  list(name: string): Promise<FsDirEntry[]>;
  readAt(name: string, offset: number, count: number): Promise<{ version: number; content: Uint8Array }>;
  create(name: string, mode: number, exclusive: boolean): Promise<{ version: number }>;
  mkdir(name: string, mode: number): Promise<{ version: number }>;
  rmdir(name: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  truncate(name: string, size: number): Promise<{ version: number }>;
  /** offset -1 appends at the current end, atomically. */
  writeAt(name: string, offset: number, content: Uint8Array): Promise<{ version: number }>;
  setattr(name: string, attrs: FsSetattr): Promise<{ version: number }>;
  /** false when there was no such file. */
  delete(name: string): Promise<boolean>;
}
