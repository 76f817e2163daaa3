/**
 * Safety checkers for the simulator, incremental so they can run after every step. Each one is a
 * property from the Raft paper's Figure 3 (or the linearizability of reads, thesis §6.4).
 */
import { EntryType, type LogEntry } from '../../src/raft/types.js';
import type { LogIndex, NodeId, Term } from '../../src/util/types.js';

/** A violated property; `checker` names it in the failure report. */
export class SimViolation extends Error {
  constructor(
    readonly checker: string,
    readonly detail: string,
  ) {
    super(`${checker}: ${detail}`);
    this.name = 'SimViolation';
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  for (let k = 0; k < a.byteLength; k++) if (a[k] !== b[k]) return false;
  return true;
}

function sameEntry(a: LogEntry, b: LogEntry): boolean {
  return a.index === b.index && a.term === b.term && a.type === b.type && bytesEqual(a.data, b.data);
}

function describe(entry: LogEntry): string {
  const what = entry.type === EntryType.Noop ? 'noop' : new TextDecoder().decode(entry.data);
  return `${entry.index}/t${entry.term}:${what}`;
}

/** Election Safety (Figure 3): at most one leader per term, across the whole history. */
export class ElectionSafety {
  private readonly leaderOfTerm = new Map<Term, NodeId>();

  observe(node: NodeId, term: Term): void {
    const leader = this.leaderOfTerm.get(term);
    if (leader === undefined) this.leaderOfTerm.set(term, node);
    else if (leader !== node) throw new SimViolation('election safety', `n${leader} and n${node} both leader in term ${term}`);
  }

  get termsWithLeader(): number {
    return this.leaderOfTerm.size;
  }
}

/**
 * Log Matching (Figure 3): entries with the same index and term are identical, and so are all
 * entries before them. Checked by induction: every (index, term) ever appended anywhere must
 * carry the same payload and follow an entry of the same term.
 */
export class LogMatching {
  private readonly byIndex = new Map<LogIndex, Map<Term, { entry: LogEntry; prevTerm: Term }>>();

  observe(node: NodeId, entry: LogEntry, prevTerm: Term): void {
    let byTerm = this.byIndex.get(entry.index);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.byIndex.set(entry.index, byTerm);
    }
    const known = byTerm.get(entry.term);
    if (known === undefined) {
      byTerm.set(entry.term, { entry, prevTerm });
      return;
    }
    if (!sameEntry(known.entry, entry)) {
      throw new SimViolation('log matching', `n${node} holds ${describe(entry)}, another node ${describe(known.entry)}`);
    }
    if (known.prevTerm !== prevTerm) {
      throw new SimViolation('log matching', `n${node} holds ${describe(entry)} after term ${prevTerm}, another node after term ${known.prevTerm}`);
    }
  }
}

/**
 * State Machine Safety (Figure 3): every node applies the same entry at each index, so each
 * node's applied sequence is a prefix of one global sequence.
 */
export class AppliedSequence {
  /** The global sequence: entry at index k + 1 is `entries[k]`. */
  readonly entries: LogEntry[] = [];
  /** digests[k]: the simulated state machine after the first k entries (see digestStep). */
  private readonly digests: number[] = [0];

  constructor(private readonly digestStep: (digest: number, entry: LogEntry) => number) {}

  /** The state of a state machine that applied the first `index` entries. */
  digestAt(index: LogIndex): number {
    const digest = this.digests[index];
    if (digest === undefined) throw new SimViolation('snapshot', `state at ${index} asked, only ${this.entries.length} entries applied`);
    return digest;
  }

  observe(node: NodeId, appliedCount: number, entry: LogEntry): void {
    if (entry.index !== appliedCount + 1) {
      throw new SimViolation('apply order', `n${node} applied index ${entry.index} after ${appliedCount}`);
    }
    const known = this.entries[entry.index - 1];
    if (known === undefined) {
      this.entries.push(entry);
      this.digests.push(this.digestStep(this.digests[this.digests.length - 1]!, entry));
    }
    else if (!sameEntry(known, entry)) {
      throw new SimViolation('state machine safety', `n${node} applied ${describe(entry)}, another node ${describe(known)}`);
    }
  }
}

/**
 * Leader Completeness (Figure 3, §5.4): a leader's log holds every committed entry. Checked when a
 * node becomes leader, against the entries some node has already applied (all committed); the
 * entries up to its compacted base are in its snapshot, which must not be beyond them.
 */
export function checkLeaderCompleteness(node: NodeId, baseIndex: LogIndex, entryAt: (index: LogIndex) => LogEntry | undefined, committed: readonly LogEntry[]): void {
  if (baseIndex > committed.length) throw new SimViolation('leader completeness', `new leader n${node} compacted to ${baseIndex}, only ${committed.length} entries applied`);
  for (const entry of committed.slice(baseIndex)) {
    const held = entryAt(entry.index);
    if (held === undefined || held.term !== entry.term) {
      throw new SimViolation('leader completeness', `new leader n${node} lacks committed ${describe(entry)}`);
    }
  }
}
