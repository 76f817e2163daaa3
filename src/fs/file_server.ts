/**
 * The replicated file-server state machine: every replica applies the same FsRequests in log
 * order and so holds the same files, versions and session answers (protocol.md "Semantics").
 *
 * Pure and deterministic: no clock (time arrives as the leader's stamp in each request), no
 * randomness, and iteration only over insertion-ordered Maps and a heap with total ordering.
 */
import { unreachable } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { ExpiryHeap, type ExpiryEntry } from './expiry_heap.js';
import { normalizeName, validateName } from './names.js';
import type { FsCommand, FsReadResult, FsRequest, FsResult } from './types.js';

/**
 * Expired files removed per apply(), at most. Lookups check expiry themselves, so reaping later
 * is still correct; the bound keeps one apply() from stalling the node when thousands of files
 * share one deadline.
 */
export const expiredFilesReapedPerApplyMax = 256;

/** Tuning for tests; production uses the defaults from src/util/limits.ts. */
export interface FileServerOptions {
  /** Exactly-once sessions kept; the least recently used is forgotten beyond this. */
  readonly sessionsMax?: number;
  readonly expiredFilesReapedPerApplyMax?: number;
}

interface StoredFile {
  readonly version: number;
  /** An owned copy: see `write`. */
  readonly content: Uint8Array;
  /** Infinity when the file never expires. */
  readonly expiresAtMs: number;
}

interface Session {
  readonly lastSequence: number;
  readonly lastResult: FsResult;
}

const notFound: FsResult = { type: 'not_found' };
const deleted: FsResult = { type: 'deleted' };
const staleRequest: FsResult = { type: 'stale_request' };
const readNotFound: FsReadResult = { type: 'not_found' };

/**
 * The file tree plus the exactly-once session table.
 * Invariant: every file with a finite expiry has exactly one heap entry with its version.
 */
export class FileServerState {
  private readonly files = new Map<string, StoredFile>();
  private readonly expiries = new ExpiryHeap();
  /** Insertion order is recency order: a used session is deleted and re-inserted at the end. */
  private readonly sessions = new Map<number, Session>();
  private readonly sessionsMax: number;
  private readonly reapPerApplyMax: number;
  private version = 0;
  private stampMs = -Infinity;

  constructor(options: FileServerOptions = {}) {
    this.sessionsMax = options.sessionsMax ?? limits.sessionsMax;
    this.reapPerApplyMax = options.expiredFilesReapedPerApplyMax ?? expiredFilesReapedPerApplyMax;
  }

  /** Files held, including expired ones not yet reaped (lookups already treat those as missing). */
  get fileCount(): number {
    return this.files.size;
  }

  /** The version given to the latest successful write/cas; 0 before the first. */
  get lastVersion(): number {
    return this.version;
  }

  /** Exactly-once sessions currently remembered. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The latest stamp applied; -Infinity before the first apply. */
  get lastStampMs(): number {
    return this.stampMs;
  }

  /**
   * Applies one committed log entry. Deterministic: the result and the new state depend only on
   * the state and `request`. Requests of a session (clientId != 0) take effect at most once.
   */
  apply(request: FsRequest): FsResult {
    // Stamps never decrease along the log; keeping the max keeps expiry monotonic even if a buggy
    // leader broke that, instead of resurrecting files a later stamp already expired. (A NaN
    // stamp fails the comparison and is ignored rather than poisoning every later expiry check.)
    if (request.stampMs > this.stampMs) this.stampMs = request.stampMs;
    this.reapExpired(this.stampMs);
    if (request.clientId === 0) return this.execute(request.command);
    return this.applyInSession(request);
  }

  /**
   * Reads `name` as of `nowMs` without changing state. The leader calls this for linearizable
   * reads once it knows it is still leader; `nowMs` below the last applied stamp is raised to it so
   * a file the log already treated as expired is never shown again.
   */
  read(name: string, nowMs: number): FsReadResult {
    if (validateName(name) !== null) return readNotFound;
    const atMs = Math.max(nowMs, this.stampMs);
    const file = this.liveFile(normalizeName(name), atMs);
    if (file === undefined) return readNotFound;
    return {
      type: 'contents',
      version: file.version,
      content: file.content,
      exptimeRemainingSeconds: remainingSeconds(file.expiresAtMs, atMs),
    };
  }

  private applyInSession(request: FsRequest): FsResult {
    const session = this.sessions.get(request.clientId);
    if (session !== undefined && request.sequence === session.lastSequence) {
      // A retry (e.g. after a leader change) of a request already applied: answer it again
      // without applying twice, or a retried cas would fail against its own first success.
      this.rememberSession(request.clientId, session);
      return session.lastResult;
    }
    if (session !== undefined && request.sequence < session.lastSequence) return staleRequest;
    const result = this.execute(request.command);
    this.rememberSession(request.clientId, { lastSequence: request.sequence, lastResult: result });
    return result;
  }

  private rememberSession(clientId: number, session: Session): void {
    this.sessions.delete(clientId);
    this.sessions.set(clientId, session);
    // Without a bound, every client that ever connected would hold memory on every replica.
    while (this.sessions.size > this.sessionsMax) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
    }
  }

  private execute(command: FsCommand): FsResult {
    // The parser and the log codec refuse invalid names, so this only guards a buggy proposer:
    // answering not_found is deterministic, whereas a throw would stop every replica at once.
    if (validateName(command.name) !== null) return notFound;
    const name = normalizeName(command.name);
    switch (command.op) {
      case 'write':
        return this.store(name, command.content, command.exptimeSeconds);
      case 'cas':
        return this.compareAndStore(name, command.version, command.content, command.exptimeSeconds);
      case 'delete':
        return this.remove(name);
      default:
        return unreachable(command, 'command');
    }
  }

  private compareAndStore(name: string, version: number, content: Uint8Array, exptimeSeconds: number): FsResult {
    const file = this.liveFile(name, this.stampMs);
    if (file === undefined) return version === 0 ? this.store(name, content, exptimeSeconds) : notFound;
    if (file.version !== version) return { type: 'version_mismatch', currentVersion: file.version };
    return this.store(name, content, exptimeSeconds);
  }

  private remove(name: string): FsResult {
    if (this.liveFile(name, this.stampMs) === undefined) return notFound;
    // The heap entry (if any) goes stale: its version no longer matches any file.
    this.files.delete(name);
    return deleted;
  }

  private store(name: string, content: Uint8Array, exptimeSeconds: number): FsResult {
    this.version += 1;
    const expiresAtMs = exptimeSeconds > 0 ? this.stampMs + exptimeSeconds * 1000 : Infinity;
    // Copy: the command's bytes are usually a view into a whole log batch or network message;
    // keeping the view would pin that entire buffer for as long as the file lives.
    this.files.set(name, { version: this.version, content: content.slice(), expiresAtMs });
    if (expiresAtMs !== Infinity) this.trackExpiry({ expiresAtMs, name, version: this.version });
    return { type: 'ok', version: this.version };
  }

  private trackExpiry(entry: ExpiryEntry): void {
    this.expiries.push(entry);
    // Rewrites leave stale entries behind; shed them once they outnumber live files, which
    // keeps the heap O(files) at an amortized O(1) cost per push.
    if (this.expiries.size > 2 * this.files.size + 1024) {
      this.expiries.retain((candidate) => this.isCurrent(candidate));
    }
  }

  private reapExpired(nowMs: number): void {
    for (let popped = 0; popped < this.reapPerApplyMax; popped++) {
      const next = this.expiries.peek();
      if (next === undefined || next.expiresAtMs > nowMs) return;
      this.expiries.pop();
      if (this.isCurrent(next)) this.files.delete(next.name);
    }
  }

  private isCurrent(entry: ExpiryEntry): boolean {
    return this.files.get(entry.name)?.version === entry.version;
  }

  /** The file if it exists and has not expired at `atMs` (expired means expiresAtMs <= atMs). */
  private liveFile(name: string, atMs: number): StoredFile | undefined {
    const file = this.files.get(name);
    if (file === undefined || file.expiresAtMs <= atMs) return undefined;
    return file;
  }
}

/** Whole seconds left, rounded up (a file with 1 ms left reports 1); 0 for "never expires". */
function remainingSeconds(expiresAtMs: number, nowMs: number): number {
  if (expiresAtMs === Infinity) return 0;
  // An exptime near 2^53 seconds overflows safe integers once in ms; clamp rather than hand the
  // reply encoder a number it cannot print exactly.
  return Math.min(Math.ceil((expiresAtMs - nowMs) / 1000), Number.MAX_SAFE_INTEGER);
}
