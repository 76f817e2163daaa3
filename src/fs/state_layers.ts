/**
 * The state machine's records as layers over its KvStore:
 *
 *   live     changes since the current sync point began (decoded values, and their encoded bytes)
 *   frozen   the changes of the sync point being written, until the KvStore holds them
 *   cache    values read from the KvStore, least recently used dropped past a byte bound
 *   kv       the KvStore: exactly the state of the last completed sync point
 *
 * A read looks in that order, so it always sees the latest state; the KvStore is written only at
 * sync points, in one synced batch, which makes the KvStore on disk a consistent snapshot of the
 * state at one applied index (what a restart starts from and what a follower is sent). Between
 * sync points the changes live in memory, bounded by stateOverlayBytesMax (the state machine takes
 * a sync point when it is reached).
 *
 * Each change is encoded when it is made (the bytes are folded into the running digest and kept
 * for the batch), so the encoding is done once whatever the number of later reads.
 *
 * Range reads (a directory's entries, a node's extended attributes, the expiry index) merge the
 * KvStore's range with the overlay's changes in that range: the changes are grouped by the key's
 * first bytes (prefix and first number) so a range looks only at its own group.
 *
 * Pure: no Node APIs.
 */
import { assert } from '../util/assert.js';
import { Digest } from './digest.js';
import type { KvStore, KvWrite } from './stores.js';

/** How a table's values are encoded, decoded and sized. */
export interface RecordCodec<V> {
  encode(value: V): Uint8Array;
  /** Throws StateCorruptError (naming the key) on bad bytes. */
  decode(key: Uint8Array, bytes: Uint8Array): V;
}

/** One change in an overlay. `value` null is a deletion. */
interface Change {
  readonly key: Uint8Array;
  readonly value: unknown;
  readonly bytes: Uint8Array | undefined;
  readonly group: string | undefined;
}

/** The changes of one overlay, by string key, and the keys of each range group. */
class Overlay {
  readonly changes = new Map<string, Change>();
  readonly groups = new Map<string, Set<string>>();
  bytes = 0;

  set(id: string, change: Change): void {
    const previous = this.changes.get(id);
    if (previous !== undefined) this.bytes -= sizeOf(previous);
    this.changes.set(id, change);
    this.bytes += sizeOf(change);
    if (change.group === undefined) return;
    let members = this.groups.get(change.group);
    if (members === undefined) {
      members = new Set();
      this.groups.set(change.group, members);
    }
    members.add(id);
  }
}

/**
 * What a change (or a cached value) costs in memory beside its bytes: the decoded value, its
 * string id, the Map and group entries, the key and the encoded bytes as typed arrays, and the
 * heap's slack. Counted at 96 bytes, 100,000 pipelined creates in one directory took every node
 * past 1 GiB of RSS with the overlay still under its bound; at 1 KiB, under the same 64 MiB bound,
 * they stay near 500 MiB. (A 32 MiB bound kept them near 300 MiB but made sync points so frequent
 * that under 64 clients of small writes apply waited on them until the leader lost its quorum.)
 */
const changeOverheadBytes = 1024;

/** The memory a change holds, as counted against the overlay's and the cache's bounds. */
function sizeOf(change: Change): number {
  return changeOverheadBytes + change.key.length + (change.bytes?.length ?? 0) * 2;
}

interface Cached {
  readonly value: unknown;
  readonly bytes: number;
}

/** What a frozen overlay turns into: the batch to write and the point it stands for. */
export interface FrozenChanges {
  readonly writes: KvWrite[];
  readonly bytes: number;
}

/** The layered view of the state's records. */
export class StateLayers {
  readonly digest: Digest;
  private live = new Overlay();
  private frozen: Overlay | null = null;
  private readonly cache = new Map<string, Cached>();
  private cacheBytes = 0;

  constructor(
    private readonly kv: KvStore,
    private readonly cacheBytesMax: number,
    digest: Digest,
  ) {
    this.digest = digest;
  }

  /** Bytes of changes since the sync point began. */
  get liveBytes(): number {
    return this.live.bytes;
  }

  /** True while a sync point's changes are being written. */
  get flushing(): boolean {
    return this.frozen !== null;
  }

  /**
   * The value at `id` (its string key) or undefined; `key` builds the byte key when the KvStore
   * must be asked.
   */
  get<V>(id: string, key: () => Uint8Array, codec: RecordCodec<V>): V | undefined {
    const change = this.live.changes.get(id) ?? this.frozen?.changes.get(id);
    if (change !== undefined) return (change.value ?? undefined) as V | undefined;
    const cached = this.cache.get(id);
    if (cached !== undefined) {
      // Re-insert: Map order is recency order.
      this.cache.delete(id);
      this.cache.set(id, cached);
      return (cached.value ?? undefined) as V | undefined;
    }
    const keyBytes = key();
    const stored = this.kv.get(keyBytes);
    const value = stored === undefined ? null : codec.decode(keyBytes, stored);
    this.remember(id, value, 64 + keyBytes.length + (stored?.length ?? 0) * 2);
    return (value ?? undefined) as V | undefined;
  }

  /** Sets `id` to `value` (null: deletes it), folding the change into the digest. */
  put<V>(id: string, key: Uint8Array, value: V | null, codec: RecordCodec<V>, group?: string): void {
    const bytes = value === null ? undefined : codec.encode(value);
    this.digest.bytes(key);
    if (bytes === undefined) this.digest.tag('-');
    else this.digest.bytes(bytes);
    this.live.set(id, { key, value, bytes, group });
  }

  /**
   * Up to `limit` entries of the group `group` whose keys are in [from, end) (from exclusive when
   * `after`), ascending, merged from the overlays and the KvStore; deletions hide stored entries.
   */
  async scan<V>(
    group: string,
    from: Uint8Array,
    after: boolean,
    end: Uint8Array,
    limit: number,
    codec: RecordCodec<V>,
  ): Promise<Array<{ readonly key: Uint8Array; readonly value: V }>> {
    const pending = this.pendingIn(group, from, after, end);
    const result: Array<{ key: Uint8Array; value: V }> = [];
    let cursor = from;
    let cursorAfter = after;
    let pendingAt = 0;
    const pageLimit = Math.max(16, Math.min(limit * 2, 1024));
    for (;;) {
      const page = await this.kv.range(cursorAfter ? { gt: cursor, lt: end, limit: pageLimit } : { gte: cursor, lt: end, limit: pageLimit });
      for (const [key, stored] of page) {
        // Overlay changes at or before this stored key come first (equal: the change wins).
        while (pendingAt < pending.length && compareBytes(pending[pendingAt]!.key, key) <= 0) {
          const change = pending[pendingAt++]!;
          if (change.value !== null) result.push({ key: change.key, value: change.value as V });
          if (result.length >= limit) return result;
        }
        const overridden = pendingAt > 0 && compareBytes(pending[pendingAt - 1]!.key, key) === 0;
        if (!overridden) result.push({ key, value: codec.decode(key, stored) });
        if (result.length >= limit) return result;
      }
      if (page.length < pageLimit) break;
      cursor = page[page.length - 1]![0];
      cursorAfter = true;
    }
    for (; pendingAt < pending.length; pendingAt++) {
      const change = pending[pendingAt]!;
      if (change.value !== null) result.push({ key: change.key, value: change.value as V });
      if (result.length >= limit) break;
    }
    return result;
  }

  /**
   * Starts a sync point: the live changes become the frozen batch (with `extra` writes, the meta
   * record) and a new live overlay starts. One at a time.
   */
  freeze(extra: readonly KvWrite[]): FrozenChanges {
    assert(this.frozen === null, 'a sync point is already being written');
    const frozen = this.live;
    this.frozen = frozen;
    this.live = new Overlay();
    const writes: KvWrite[] = [];
    for (const change of frozen.changes.values()) writes.push({ key: change.key, value: change.bytes });
    writes.push(...extra);
    return { writes, bytes: frozen.bytes };
  }

  /** The frozen batch is in the KvStore: its values move to the cache and the overlay goes. */
  frozenWritten(): void {
    const frozen = this.frozen;
    assert(frozen !== null, 'no sync point being written');
    this.frozen = null;
    for (const [id, change] of frozen.changes) {
      // A later live change of the same key is what reads see; the cache must not shadow it later.
      if (this.live.changes.has(id)) continue;
      this.remember(id, change.value, sizeOf(change));
    }
  }

  /** Forgets every cached value (a restore replaced the store underneath). */
  clearCache(): void {
    this.cache.clear();
    this.cacheBytes = 0;
  }

  private remember(id: string, value: unknown, bytes: number): void {
    const previous = this.cache.get(id);
    if (previous !== undefined) {
      this.cache.delete(id);
      this.cacheBytes -= previous.bytes;
    }
    this.cache.set(id, { value, bytes });
    this.cacheBytes += bytes;
    while (this.cacheBytes > this.cacheBytesMax) {
      const oldest = this.cache.entries().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value[0]);
      this.cacheBytes -= oldest.value[1].bytes;
    }
  }

  /** The overlay changes of `group` in the range, frozen first then live (live wins), sorted by key. */
  private pendingIn(group: string, from: Uint8Array, after: boolean, end: Uint8Array): Change[] {
    const merged = new Map<string, Change>();
    for (const overlay of [this.frozen, this.live]) {
      const members = overlay?.groups.get(group);
      if (overlay === null || members === undefined) continue;
      for (const id of members) {
        const change = overlay.changes.get(id)!;
        const fromOrder = compareBytes(change.key, from);
        if ((after ? fromOrder <= 0 : fromOrder < 0) || compareBytes(change.key, end) >= 0) continue;
        merged.set(id, change);
      }
    }
    return [...merged.values()].sort((a, b) => compareBytes(a.key, b.key));
  }
}

/** Byte-wise comparison, as LevelDB orders keys. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const difference = a[index]! - b[index]!;
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}
