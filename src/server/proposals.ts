/**
 * A leader's client commands on their way into the log: queued, grouped into log entries,
 * proposed, and answered once applied.
 *
 * The commands a leader proposes together travel in one log entry (up to batchEntryBytesMax),
 * applied in order: one record, checksum and LevelDB put on every node instead of one per
 * command. While proposed commands are uncommitted, new ones wait and go out together once they
 * commit; then, briefly, they also wait for the clients just answered to send their next commands
 * (see holdForAnswered).
 */
import type { DeadlineClock } from '../clock/clock.js';
import { encodeFsBatch } from '../codec/fs_request_codec.js';
import type { FsApplied } from '../fs/types.js';
import type { RaftAction } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { ByteBudget } from '../util/byte_budget.js';
import { indexPlus, type LogIndex, type Term } from '../util/types.js';
import { NodeStoppedError, NotLeaderError, OutcomeUnknownError, OverloadedError } from './node_errors.js';

/** A waiting client's promise callbacks. */
export interface Deferred<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

/** A proposal waiting to be stepped into the core (collected for one `Propose`). */
interface QueuedProposal extends Deferred<FsApplied> {
  readonly data: Uint8Array;
}

/** A log entry this leader appended at a known (index, term), waiting to be applied. */
interface AppendedProposal {
  readonly term: Term;
  /** The clients waiting for the entry's requests, in the entry's order. */
  readonly waiters: ReadonlyArray<Deferred<FsApplied>>;
}

/** Requests proposed together as one log entry, up to this many bytes (one request may be larger). */
const batchEntryBytesMax = 256 * 1024;
/** Queued commands of at least this many bytes are proposed even while earlier ones are uncommitted. */
const proposeEarlyBytes = 1024 * 1024;
/** The longest a leader holds commands for the clients it has just answered (see holdForAnswered). */
const answeredHoldMsMax = 10;

/** The outcome of stepping one `Propose`: the core's Proposed or ProposeRejected. */
export type ProposeOutcome = Extract<RaftAction, { type: 'Proposed' | 'ProposeRejected' }>;

/** What the proposer needs from the node. */
export interface ProposerHost {
  /** Steps `Propose` with these entries' payloads and returns the core's answer to it. */
  propose(commands: readonly Uint8Array[]): ProposeOutcome;
  isStopped(): boolean;
  readonly clock: DeadlineClock;
}

/** The leader's queue of client commands and the log entries that carry them. */
export class Proposer {
  private queued: QueuedProposal[] = [];
  /** The bytes of the queued commands. */
  private queuedBytes = 0;
  /** Bytes of the commands submitted and not yet answered (queued, or in the log and unapplied). */
  readonly pending: ByteBudget;
  private proposeScheduled = false;
  /** While the queued commands are fewer than this, they wait for more (see holdForAnswered); 0 = no hold. */
  private holdTarget = 0;
  private cancelHold: (() => void) | undefined;
  /** clock.monotonicMs() when the latest Propose was stepped, to time how long commits take. */
  private proposedAtMs = 0;
  /** Entries appended to the log, by index. Invariant: all belong to the current leader term. */
  private readonly appended = new Map<LogIndex, AppendedProposal>();

  constructor(
    private readonly host: ProposerHost,
    pendingBytesMax: number,
  ) {
    this.pending = new ByteBudget(pendingBytesMax);
  }

  /** Queues an encoded request; resolves once it is applied. */
  submit(data: Uint8Array): Promise<FsApplied> {
    this.pending.change(data.length);
    return new Promise<FsApplied>((resolve, reject) => {
      this.queued.push({
        data,
        resolve: (applied) => {
          this.pending.change(-data.length);
          resolve(applied);
        },
        reject: (error) => {
          this.pending.change(-data.length);
          reject(error);
        },
      });
      this.queuedBytes += data.length;
      this.schedule();
    });
  }

  /** The term the appended entries were proposed in, if any wait. */
  get appendedTerm(): Term | undefined {
    return this.appended.values().next().value?.term;
  }

  /**
   * Answers the clients of an applied entry: `results` in the entry's order, or undefined when the
   * entry carried no commands this replica could apply. Returns how many clients were answered.
   */
  applied(index: LogIndex, term: Term, results: readonly FsApplied[] | undefined): number {
    const appended = this.appended.get(index);
    if (appended === undefined) return 0;
    this.appended.delete(index);
    appended.waiters.forEach((waiter, position) => {
      const result = results?.[position];
      if (appended.term === term && result !== undefined) waiter.resolve(result);
      else waiter.reject(new OutcomeUnknownError('another leader overwrote the entry'));
    });
    return appended.waiters.length;
  }

  /**
   * After a batch of applies: the commands held back while earlier ones were in flight go out
   * now, with the next commands of the clients just answered (holdForAnswered).
   */
  afterApplied(answered: number): void {
    if (this.appended.size > 0) return;
    if (answered > 0) this.holdForAnswered(answered);
    if (this.queued.length > 0) this.schedule();
  }

  /** Fails every command not yet answered. */
  failAll(error: Error): void {
    this.endHold();
    for (const appended of this.appended.values()) for (const waiter of appended.waiters) waiter.reject(error);
    this.appended.clear();
    for (const proposal of this.queued) proposal.reject(error);
    this.queued = [];
    this.queuedBytes = 0;
  }

  /**
   * Proposes the queued commands on the next turn, unless commands proposed earlier are still
   * uncommitted: then they wait for that commit (see applied), unless they already fill
   * proposeEarlyBytes. Followers write one batch at a time anyway, so a command proposed while
   * another batch is in flight would rarely commit sooner; waiting makes the batches as large as
   * the clients' concurrency allows, and every batch costs each node a message, a write and an
   * fsync. Large commands (FUSE writes of 1 MiB) fill the bound alone and stay pipelined.
   */
  private schedule(): void {
    if (this.proposeScheduled) return;
    if (this.queuedBytes < proposeEarlyBytes && (this.appended.size > 0 || this.queued.length < this.holdTarget)) return;
    this.endHold();
    this.proposeScheduled = true;
    // setImmediate lets every command that arrived in this I/O turn join one Propose: one entry
    // (or a few, for large commands), one fsync, one AppendEntries per follower for all of them.
    setImmediate(() => {
      this.proposeScheduled = false;
      const batch = this.queued;
      this.queued = [];
      this.queuedBytes = 0;
      if (batch.length === 0) return;
      if (this.host.isStopped()) {
        for (const proposal of batch) proposal.reject(new NodeStoppedError());
        return;
      }
      this.propose(groupProposals(batch));
    });
  }

  private propose(groups: QueuedProposal[][]): void {
    this.proposedAtMs = this.host.clock.monotonicMs();
    const outcome = this.host.propose(groups.map((group) => (group.length === 1 ? group[0]!.data : encodeFsBatch(group.map((proposal) => proposal.data)))));
    if (outcome.type === 'ProposeRejected') {
      const error = outcome.reason === 'overloaded' ? new OverloadedError() : new NotLeaderError(outcome.leaderId);
      for (const group of groups) for (const proposal of group) proposal.reject(error);
      return;
    }
    assert(outcome.count === groups.length, `Proposed count ${outcome.count} != ${groups.length} entries`);
    groups.forEach((group, offset) => {
      this.appended.set(indexPlus(outcome.firstIndex, offset), { term: outcome.term, waiters: group });
    });
  }

  /**
   * Called when every proposed command has been answered: the clients just answered typically
   * send their next command within a loopback round trip and an event-loop turn or two. Proposing
   * the commands already queued at once would send them as a batch of their own, and the
   * answered clients' commands would then wait for that batch to commit: the clients would split
   * into two groups taking turns, each batch half the size the concurrency allows. Every batch
   * costs each node a message, a write and an fsync, so on a busy machine the halves cost up to a
   * third of the throughput. Instead the queued commands wait until as many more have arrived as
   * clients were answered, or for as long as the last batch took to commit (at most
   * answeredHoldMsMax), whichever comes first: at worst a held command waits one commit's time
   * more, when the answered clients send nothing. (Half that bound cut batches at 64
   * clients to about 52 commands, the clients' turnaround on a busy machine being longer; the
   * whole of it lets them reach about 61.) A lone client is not held: its next command meets the
   * target on arrival.
   */
  private holdForAnswered(answered: number): void {
    this.endHold();
    this.holdTarget = this.queued.length + answered;
    const holdMs = Math.min(answeredHoldMsMax, this.host.clock.monotonicMs() - this.proposedAtMs);
    this.cancelHold = this.host.clock.after(holdMs, () => {
      this.cancelHold = undefined;
      this.holdTarget = 0;
      if (this.queued.length > 0) this.schedule();
    });
  }

  private endHold(): void {
    this.holdTarget = 0;
    this.cancelHold?.();
    this.cancelHold = undefined;
  }
}

/** Splits proposals, in order, into groups of at most batchEntryBytesMax bytes (a larger one alone). */
function groupProposals(proposals: readonly QueuedProposal[]): QueuedProposal[][] {
  const groups: QueuedProposal[][] = [];
  let group: QueuedProposal[] = [];
  let bytes = 0;
  for (const proposal of proposals) {
    // Each request takes its bytes plus a u32 length in the batch (encodeFsBatch).
    if (group.length > 0 && bytes + 4 + proposal.data.length > batchEntryBytesMax) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(proposal);
    bytes += proposal.data.length + 4;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
