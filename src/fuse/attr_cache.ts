/**
 * Attributes learnt from the last directory listing, so that `ls -l` of a large directory costs
 * one `list` instead of one `stat` per entry. An entry answers getattr for at most `ttlMs`
 * (<= 1 s); this mount's own mutations drop what they touch at once. Other mounts' changes can
 * therefore stay unseen by getattr for up to `ttlMs`; open() never uses the cache (close-to-open).
 */
import type { FsStat } from './fs_backend.js';

interface CachedAttributes {
  readonly stat: FsStat;
  readonly expiresMs: number;
}

/** A bounded, short-lived path -> attributes map. */
export class AttrCache {
  private readonly entries = new Map<string, CachedAttributes>();

  constructor(
    private readonly ttlMs: number,
    private readonly entriesMax: number,
    private readonly nowMs: () => number,
  ) {}

  /** The cached attributes of `path`, if still fresh. */
  get(path: string): FsStat | undefined {
    const entry = this.entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.expiresMs <= this.nowMs()) {
      this.entries.delete(path);
      return undefined;
    }
    return entry.stat;
  }

  /** Remembers the attributes of every entry of directory `dir` (a FUSE path, '/' for the root). */
  fill(dir: string, entries: ReadonlyArray<FsStat & { readonly name: string }>): void {
    // Past the bound, start over rather than track recency: entries live one second anyway.
    if (this.entries.size + entries.length > this.entriesMax) this.entries.clear();
    if (entries.length > this.entriesMax) return;
    const expiresMs = this.nowMs() + this.ttlMs;
    const prefix = dir === '/' ? '/' : `${dir}/`;
    for (const entry of entries) this.entries.set(`${prefix}${entry.name}`, { stat: entry, expiresMs });
  }

  /** Remembers attributes this mount just gave `path` itself (a file it created). */
  put(path: string, stat: FsStat): void {
    if (this.entries.size >= this.entriesMax) this.entries.clear();
    this.entries.set(path, { stat, expiresMs: this.nowMs() + this.ttlMs });
  }

  /** Forgets `path` and its parent directory (whose mtime and listing the change alters). */
  invalidate(path: string): void {
    this.entries.delete(path);
    this.entries.delete(parentOf(path));
  }

  /** Forgets everything (after a rename or rmdir, which can move or drop a whole subtree). */
  clear(): void {
    this.entries.clear();
  }
}

/** The parent directory of a FUSE path ('/a/b' -> '/a', '/a' -> '/'). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
