/**
 * The replicated file-server state machine: every replica applies the same FsRequests in log
 * order and so holds the same tree, versions and session answers (README "The protocol"). Its
 * state lives in a KvStore (attributes, directory entries, small contents, extended attributes,
 * sessions, the expiry index) and a ContentStore (large contents), with bounded caches in front:
 * a node's memory does not grow with the data it holds.
 *
 * Durability (README "Where a node keeps its data"): changes collect in memory and are written to
 * the KvStore at sync points, each one synced batch that also records the applied index and term,
 * after the ContentStore has been synced. So the KvStore on disk is always the complete state at
 * one applied index: a restart starts there and replays the log after it, and the Raft log may be
 * compacted up to the last sync point (the driver reports each one as a snapshot).
 *
 * Every operation runs in one queue, in the order called: applies never interleave with each
 * other or with queries, so a query sees the state at one applied index.
 *
 * Deterministic: no clock (time arrives as the leader's stamp in each request), no randomness, and
 * iteration only in key order. The running digest (digest.ts) lets tests compare replicas.
 *
 * Pure: no Node APIs.
 */
import { assert } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ContentOps } from './content_ops.js';
import { Digest } from './digest.js';
import { FsQueries } from './fs_queries.js';
import { RecordTables } from './record_tables.js';
import { decodeMeta, encodeMeta, metaKey, rootIno, type Inode, type Meta, type Session } from './records.js';
import { StateLayers } from './state_layers.js';
import type { ContentStore, KvSnapshot, KvStore } from './stores.js';
import { isError, timeOfStamp, type OpContext, type TreeCounters, type TreeLimits } from './tree_common.js';
import { TreeOps } from './tree_ops.js';
import type { FsApplied, FsCommand, FsQuery, FsQueryResult, FsRequest, FsResult, ReapTarget } from './types.js';

/** Tuning; production uses the defaults from src/util/limits.ts except fileBytesMax (cluster.json). */
export interface FsStateMachineOptions {
  /** Exactly-once sessions kept; the least recently used is forgotten beyond this. */
  readonly sessionsMax?: number;
  /** Largest file in bytes; growing past it is too_large. */
  readonly fileBytesMax?: number;
  /** Entries one directory may hold; adding one more is too_large. */
  readonly directoryEntriesMax?: number;
  /** Contents up to this size live in the KvStore. */
  readonly inlineBytesMax?: number;
  readonly cacheBytesMax?: number;
  /** Bytes of changes held in memory before a sync point is due (see syncPointDue). */
  readonly overlayBytesMax?: number;
  /** A holder silent this long loses the nodes it holds open. */
  readonly holdLeaseMs?: number;
}

/** A sync point made durable: the state in the KvStore is exactly the state at this entry. */
export interface SyncPoint {
  readonly index: number;
  readonly term: number;
}

/** A consistent view of the state at a sync point, for sending to a follower (release when done). */
export interface StateView {
  readonly index: number;
  readonly term: number;
  readonly kv: KvSnapshot;
  readonly content: ContentStore;
  /** Releases this reference; the view's resources go once no reference is left. */
  release(): Promise<void>;
}

const staleRequest: FsResult = { type: 'stale_request' };

/** How long a client may stay silent before the nodes it holds open are released. */
export const holdLeaseMsDefault = 10 * 60 * 1000;

interface SharedView {
  readonly index: number;
  readonly term: number;
  readonly kv: KvSnapshot;
  refs: number;
  retired: boolean;
}

/** The state machine over its stores. */
export class FsStateMachine {
  private readonly layers: StateLayers;
  private readonly records: RecordTables;
  private readonly tree: TreeOps;
  private readonly queries: FsQueries;
  private readonly counters: TreeCounters;
  /** Exactly-once sessions in recency order (least recently used first); bounded by sessionsMax. */
  private readonly sessions: Map<number, Session>;
  private readonly sessionsMax: number;
  private readonly overlayBytesMax: number;
  private readonly holdLeaseMs: number;
  private appliedIndexValue: number;
  private appliedTermValue: number;
  private stampMsValue: number;
  private sessionClock: number;
  /** The tail of the operation queue. */
  private tail: Promise<unknown> = Promise.resolve();
  /** The sync point being written, if any. */
  private flushing: Promise<SyncPoint> | null = null;
  private latestView: SharedView | null = null;
  private closed = false;

  private constructor(
    private readonly kv: KvStore,
    private readonly content: ContentStore,
    options: FsStateMachineOptions,
    meta: Meta,
    sessions: Map<number, Session>,
  ) {
    const digest = new Digest(meta.digestHigh, meta.digestLow);
    this.layers = new StateLayers(kv, options.cacheBytesMax ?? limits.stateCacheBytesMax, digest);
    this.records = new RecordTables(this.layers);
    const treeLimits: TreeLimits = {
      fileBytesMax: options.fileBytesMax ?? limits.fileBytesMaxDefault,
      directoryEntriesMax: options.directoryEntriesMax ?? limits.directoryEntriesMax,
      componentBytesMax: limits.componentBytesMax,
      pathBytesMax: limits.pathBytesMax,
      symlinkTargetBytesMax: limits.symlinkTargetBytesMax,
      linkCountMax: limits.linkCountMax,
      inlineBytesMax: options.inlineBytesMax ?? limits.inlineContentBytesMax,
      xattrNameBytesMax: limits.xattrNameBytesMax,
      xattrValueBytesMax: limits.xattrValueBytesMax,
      xattrBytesPerNodeMax: limits.xattrBytesPerNodeMax,
      holdsPerHolderMax: limits.holdsPerHolderMax,
      holdLeaseMs: options.holdLeaseMs ?? holdLeaseMsDefault,
    };
    this.counters = { version: meta.version, nextIno: meta.nextIno, inodes: meta.inodes };
    const contentOps = new ContentOps(this.records, content, digest, treeLimits.inlineBytesMax);
    this.tree = new TreeOps(this.records, contentOps, this.counters, treeLimits);
    this.queries = new FsQueries(this.records, this.tree, contentOps);
    this.sessions = sessions;
    this.sessionsMax = options.sessionsMax ?? limits.sessionsMax;
    this.overlayBytesMax = options.overlayBytesMax ?? limits.stateOverlayBytesMax;
    this.holdLeaseMs = options.holdLeaseMs ?? holdLeaseMsDefault;
    this.appliedIndexValue = meta.appliedIndex;
    this.appliedTermValue = meta.appliedTerm;
    this.stampMsValue = meta.stampMs;
    this.sessionClock = meta.sessionClock;
  }

  /**
   * Opens the state kept in `kv` and `content`: the state of the last sync point, or a new empty
   * tree (a root directory, mode 755, at applied index 0) when `kv` holds none. Throws
   * StateCorruptError when a record cannot be decoded.
   */
  static async open(kv: KvStore, content: ContentStore, options: FsStateMachineOptions = {}): Promise<FsStateMachine> {
    const stored = kv.get(metaKey);
    const meta = stored === undefined ? emptyMeta : decodeMeta(stored);
    const sessions = new Map<number, Session>();
    const machine = new FsStateMachine(kv, content, options, meta, sessions);
    if (stored === undefined) {
      machine.records.putInode(newRootInode());
      // The empty state is a sync point of its own: index 0 is durable before anything is applied.
      await machine.syncPoint();
      return machine;
    }
    const rows = await machine.records.sessions(Number.MAX_SAFE_INTEGER);
    rows.sort((a, b) => a.session.usedAt - b.session.usedAt);
    for (const row of rows) sessions.set(row.clientId, row.session);
    machine.latestView = { index: meta.appliedIndex, term: meta.appliedTerm, kv: kv.snapshot(), refs: 0, retired: false };
    return machine;
  }

  /** The last entry applied (0 before the first). */
  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  get appliedTerm(): number {
    return this.appliedTermValue;
  }

  /** The running digest of every change, as 16 hex digits. */
  get digest(): string {
    return this.layers.digest.toHex();
  }

  /** The version given to the latest successful change; 0 before the first. */
  get lastVersion(): number {
    return this.counters.version;
  }

  /** The latest stamp applied; -Infinity before the first apply. */
  get lastStampMs(): number {
    return this.stampMsValue;
  }

  /** Nodes held (for statfs). */
  get inodeCount(): number {
    return this.counters.inodes;
  }

  /** Exactly-once sessions currently remembered. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** True once the changes held in memory reach overlayBytesMax: take a sync point. */
  get syncPointDue(): boolean {
    return this.layers.liveBytes >= this.overlayBytesMax;
  }

  /**
   * Applies one committed log entry's requests, in order, and records (index, term) as applied.
   * Deterministic: the results and the new state depend only on the state and the requests.
   * Requests of a session (clientId != 0) take effect at most once.
   */
  applyEntry(index: number, term: number, requests: readonly FsRequest[]): Promise<FsApplied[]> {
    return this.run(async () => {
      assert(index === this.appliedIndexValue + 1, `apply gap: applied ${this.appliedIndexValue}, got ${index}`);
      await this.awaitRoom();
      const applied: FsApplied[] = [];
      for (const request of requests) applied.push(await this.applyRequest(request));
      this.appliedIndexValue = index;
      this.appliedTermValue = term;
      return applied;
    });
  }

  /** Records an entry without commands (a leader's no-op, or bytes no replica can decode) as applied. */
  skipEntry(index: number, term: number): Promise<void> {
    return this.run(() => {
      assert(index === this.appliedIndexValue + 1, `apply gap: applied ${this.appliedIndexValue}, got ${index}`);
      this.appliedIndexValue = index;
      this.appliedTermValue = term;
    });
  }

  /**
   * Answers a query as of `nowMs` (raised to the last applied stamp, so a file the log already
   * treated as expired is never shown again) without changing state.
   */
  query(query: FsQuery, nowMs: number): Promise<FsQueryResult> {
    return this.run(() => this.queries.answer(query, Math.max(nowMs, this.stampMsValue)));
  }

  /**
   * Makes the state at the current applied index durable (see the file comment). Resolves with
   * that point once the KvStore holds it. One at a time: a call while one is being written
   * resolves with that one.
   */
  syncPoint(): Promise<SyncPoint> {
    if (this.flushing !== null) return this.flushing;
    const started = this.run(() => {
      const point: SyncPoint = { index: this.appliedIndexValue, term: this.appliedTermValue };
      const meta: Meta = {
        appliedIndex: point.index,
        appliedTerm: point.term,
        version: this.counters.version,
        stampMs: this.stampMsValue,
        nextIno: this.counters.nextIno,
        sessionClock: this.sessionClock,
        inodes: this.counters.inodes,
        digestHigh: this.layers.digest.high,
        digestLow: this.layers.digest.low,
      };
      return { point, frozen: this.layers.freeze([{ key: metaKey, value: encodeMeta(meta) }]) };
    });
    const flushing = started.then(async ({ point, frozen }) => {
      try {
        // Contents first: the KvStore must never claim a state whose contents could be lost.
        await this.content.sync();
        await this.kv.write(frozen.writes, true);
      } catch (error) {
        // Nothing can be trusted about a half-made sync point: the node restarts from the last one.
        throw new Error(`sync point at ${point.index} failed: ${(error as Error).message}`, { cause: error });
      }
      this.layers.frozenWritten();
      this.retireView();
      if (!this.closed) this.latestView = { index: point.index, term: point.term, kv: this.kv.snapshot(), refs: 0, retired: false };
      return point;
    });
    this.flushing = flushing;
    const clear = (): void => {
      if (this.flushing === flushing) this.flushing = null;
    };
    flushing.then(clear, clear);
    return flushing;
  }

  /**
   * The state at the latest sync point, for a follower that needs it; null when the view at
   * `index` is no longer kept (pass undefined for whatever is latest).
   */
  view(index?: number): StateView | null {
    const shared = this.latestView;
    if (shared === null || (index !== undefined && shared.index !== index)) return null;
    shared.refs += 1;
    let released = false;
    return {
      index: shared.index,
      term: shared.term,
      kv: shared.kv,
      content: this.content,
      release: async () => {
        if (released) return;
        released = true;
        shared.refs -= 1;
        if (shared.retired && shared.refs === 0) await shared.kv.release();
      },
    };
  }

  /**
   * What the leader should sweep now (expired files, nameless nodes nobody holds, lapsed clients'
   * holds): a `reap` command to propose, or null when there is nothing to do.
   */
  housekeeping(nowMs: number): Promise<FsCommand | null> {
    return this.run(async () => {
      const atMs = Math.max(nowMs, this.stampMsValue);
      const expired: ReapTarget[] = [];
      for (const due of await this.records.expiredBy(atMs, limits.reapTargetsMax)) {
        const node = this.records.inode(due.ino);
        if (node !== undefined && node.expiresAtMs <= atMs) expired.push({ ino: node.ino, expiresAtMs: node.expiresAtMs });
      }
      const orphans: number[] = [];
      for (const ino of await this.records.orphans(limits.reapTargetsMax)) {
        const node = this.records.inode(ino);
        if (node !== undefined && node.holds === 0) orphans.push(ino);
      }
      const holders: number[] = [];
      for (const { holder, lease } of await this.records.leases(Number.MAX_SAFE_INTEGER)) {
        if (lease.seenAtMs + this.holdLeaseMs <= atMs) holders.push(holder);
        if (holders.length >= limits.reapTargetsMax) break;
      }
      if (expired.length + orphans.length + holders.length === 0) return null;
      return { op: 'reap', name: '/', expired, orphans, holders };
    });
  }

  /** Waits for queued operations and the sync point being written, then releases the views. */
  async close(): Promise<void> {
    this.closed = true;
    await this.run(() => undefined);
    await this.flushing?.catch(() => undefined);
    this.retireView();
    this.latestView = null;
  }

  // -------------------------------------------------------------------------------------------

  private run<T>(work: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(work);
    // The queue goes on after a failure; the failure is the caller's to handle.
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Holds the apply while twice overlayBytesMax wait in memory behind a sync point being written. */
  private async awaitRoom(): Promise<void> {
    while (this.layers.liveBytes >= 2 * this.overlayBytesMax && this.flushing !== null) await this.flushing;
  }

  private async applyRequest(request: FsRequest): Promise<FsApplied> {
    // Stamps never decrease along the log; keeping the max keeps expiry monotonic even if a buggy
    // leader broke that, instead of resurrecting files a later stamp already expired. (A NaN
    // stamp fails the comparison and is ignored rather than poisoning every later expiry check.)
    if (request.stampMs > this.stampMsValue) this.stampMsValue = request.stampMs;
    const op: OpContext = { stampMs: this.stampMsValue, now: timeOfStamp(this.stampMsValue), clientId: request.clientId };
    const result = request.clientId === 0 ? await this.tree.execute(request.command, op) : await this.applyInSession(request, op);
    return { result, ...this.statAfter(result, op) };
  }

  private async applyInSession(request: FsRequest, op: OpContext): Promise<FsResult> {
    const session = this.sessions.get(request.clientId);
    if (session !== undefined && request.sequence === session.lastSequence) {
      // A retry (e.g. after a leader change) of a request already applied: answer it again
      // without applying twice, or a retried cas would fail against its own first success.
      this.remember(request.clientId, session);
      return session.lastResult;
    }
    if (session !== undefined && request.sequence < session.lastSequence) return staleRequest;
    const result = await this.tree.execute(request.command, op);
    this.remember(request.clientId, { lastSequence: request.sequence, lastResult: result, usedAt: 0 });
    return result;
  }

  private remember(clientId: number, session: Session): void {
    const recent: Session = { ...session, usedAt: ++this.sessionClock };
    this.sessions.delete(clientId);
    this.sessions.set(clientId, recent);
    this.records.putSession(clientId, recent);
    // Without a bound, every client that ever connected would hold memory on every replica.
    while (this.sessions.size > this.sessionsMax) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
      this.records.putSession(oldest.value, null);
    }
  }

  /** This node's view of the node a successful command touched (for the reply; not replicated). */
  private statAfter(result: FsResult, op: OpContext): { stat?: FsApplied['stat'] } {
    if (result.type !== 'ok' || result.ino === 0) return {};
    const node = this.records.inode(result.ino);
    return node === undefined ? {} : { stat: this.queries.statOf(node, op.stampMs) };
  }

  /** The previous latest view is superseded: free it once no stream uses it. */
  private retireView(): void {
    const previous = this.latestView;
    if (previous === null) return;
    previous.retired = true;
    if (previous.refs === 0) void previous.kv.release();
  }
}

/** The meta of a state that has applied nothing. */
const emptyMeta: Meta = {
  appliedIndex: 0,
  appliedTerm: 0,
  version: 0,
  stampMs: -Infinity,
  nextIno: rootIno + 1,
  sessionClock: 0,
  digestHigh: new Digest().high,
  digestLow: new Digest().low,
  inodes: 1,
};

/** The root directory of a new state: mode 755, owned by root, at time 0. */
function newRootInode(): Inode {
  const zero = { sec: 0, nsec: 0 };
  return {
    ino: rootIno,
    kind: 'dir',
    mode: 0o755,
    uid: 0,
    gid: 0,
    nlink: 2,
    rdev: 0,
    size: 0,
    version: 0,
    atime: zero,
    mtime: zero,
    ctime: zero,
    expiresAtMs: Infinity,
    inline: true,
    parent: rootIno,
    entries: 0,
    subdirs: 0,
    nextCookie: 1,
    xattrBytes: 0,
    holds: 0,
  };
}

export { isError };
