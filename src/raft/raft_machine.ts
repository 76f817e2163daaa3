/**
 * The Raft consensus core as a pure state machine: `step(event)` returns the actions the driver
 * must execute under the ORDERING RULE of ./types.ts. No I/O, no clock, no global randomness: time
 * arrives as Tick events and the election timeout is drawn from an injected Random, so a
 * simulation replays exactly from its seed.
 *
 * Beyond the Raft paper (Ongaro & Ousterhout, 2014) it implements, from the Raft thesis:
 * pre-vote (§9.6), check-quorum with leader stickiness (§6.2, §9.6), ReadIndex (§6.4) and
 * pipelined replication with parallel leader persistence (§10.2.1).
 *
 * Snapshots (Raft §7): the driver snapshots the state machine and reports it (`SnapshotTaken`);
 * the core then compacts its log, keeping `compactionKeepEntries` before the snapshot. A follower
 * that needs compacted entries is sent the snapshot in chunks the driver fills from the file; the
 * snapshot's bytes never pass through the core.
 */
import { assert, unreachable } from '../util/assert.js';
import type { Random } from '../util/prng.js';
import type { LogIndex, NodeId, Term } from '../util/types.js';
import { Progress } from './progress.js';
import { RaftLog } from './raft_log.js';
import { ReadIndexQueue } from './read_index.js';
import {
  EntryType,
  type InstallSnapshot,
  type InstallSnapshotResponse,
  type LogBase,
  type SnapshotMeta,
  type AppendEntries,
  type AppendEntriesResponse,
  type HardState,
  type LogEntry,
  type RaftAction,
  type RaftEvent,
  type RaftInitialState,
  type RaftMessage,
  type RaftOptions,
  type RequestVote,
  type RequestVoteResponse,
  type Role,
} from './types.js';

/** The (index, term) of the newest entry that any write issued before the latest truncation held. */
interface PersistBarrier {
  readonly index: LogIndex;
  readonly term: Term;
}

/** A snapshot this node (as follower) is receiving from a leader, chunk by chunk. */
interface IncomingSnapshot {
  readonly leaderId: NodeId;
  readonly leaderTerm: Term;
  readonly snapshot: SnapshotMeta;
  /** Bytes stored so far, contiguous from 0. */
  receivedBytes: number;
  /** Every byte is stored; waiting for the driver's `SnapshotReceived`. */
  awaitingCheck: boolean;
}

/** One Raft node's consensus state. Drive it with `step`; read it through the getters. */
export class RaftMachine {
  private readonly options: RaftOptions;
  private readonly random: Random;
  private readonly peers: readonly NodeId[];
  private readonly peerSet: ReadonlySet<NodeId>;
  /** Votes or acknowledgements needed, counting this node: a majority of members. */
  private readonly quorum: number;
  private readonly log: RaftLog;

  #currentTerm: Term;
  #votedFor: NodeId;
  #role: Role = 'follower';
  #leaderId: NodeId = 0;
  #commitIndex: LogIndex = 0;
  /**
   * Highest index handed to the driver in an `Apply` or `RestoreSnapshot`; a restarted node
   * starts from its snapshot's index and re-applies the log after it.
   */
  private appliedIndex: LogIndex = 0;
  /** The latest durable snapshot of this node (taken here or installed from a leader). */
  #snapshot: SnapshotMeta | null;
  /** The snapshot being received from a leader, if any. */
  private incoming: IncomingSnapshot | null = null;
  /** A received snapshot installed by this step: the driver must restore it before later applies. */
  private restored: SnapshotMeta | null = null;

  /**
   * Highest index of this node's log known to be durable. The leader counts itself toward
   * commitment only up to here, because it sends entries before its own write finishes (§10.2.1):
   * counting unwritten entries could "commit" an entry held durably by a minority only.
   */
  #persistedIndex: LogIndex;
  /** Highest index and term of any entry this incarnation asked to write (or loaded). */
  private writtenIndexMax: LogIndex;
  private writtenTermMax: Term;
  /**
   * Set by a truncation, cleared by the first `Persisted` that must come from a later write. An
   * entry (i, t) can be written, truncated away, then written again; a `Persisted {i, t}` from the
   * first write would otherwise claim durability while the truncating write is still pending.
   */
  private persistBarrier: PersistBarrier | null = null;
  /** The hard state as last handed to the driver, to emit `PersistHardState` only on change. */
  private persistedHardState: HardState;

  /** Ticks since construction; the clock for presuming pipelined messages lost. */
  private nowTick = 0;
  private electionElapsedTicks = 0;
  private electionTimeoutTicksRandomized = 0;
  /** Ticks since an AppendEntries from the current leader (follower only): the leader lease. */
  private leaderSilentTicks = 0;
  private heartbeatElapsedTicks = 0;
  private checkQuorumElapsedTicks = 0;

  /** Answers received in the current pre-vote or election; the first answer of a voter counts. */
  private votes = new Map<NodeId, boolean>();

  private progress = new Map<NodeId, Progress>();
  /** The last quorum round the leader started (ReadIndex, thesis §6.4); carried in every AppendEntries. */
  private round = 0;
  /** The last round a majority has answered. */
  private confirmedRound = 0;
  private reads = new ReadIndexQueue();

  private reported: { role: Role; term: Term; leaderId: NodeId };
  private persistActions: RaftAction[] = [];
  private sendActions: RaftAction[] = [];
  private noticeActions: RaftAction[] = [];

  constructor(options: RaftOptions, initial: RaftInitialState, random: Random) {
    validateOptions(options);
    this.options = options;
    this.random = random;
    this.peers = options.members.filter((member) => member !== options.id);
    this.peerSet = new Set(this.peers);
    this.quorum = Math.floor(options.members.length / 2) + 1;
    this.log = new RaftLog(initial.entries, initial.base);
    this.#snapshot = initial.snapshot ?? null;
    validateInitialSnapshot(this.log, this.#snapshot);
    // The state machine starts from the snapshot, so everything in it is committed and applied.
    this.#commitIndex = this.#snapshot?.index ?? 0;
    this.appliedIndex = this.#commitIndex;
    this.#currentTerm = initial.hardState.currentTerm;
    this.#votedFor = initial.hardState.votedFor;
    assert(this.#votedFor === 0 || options.members.includes(this.#votedFor), `votedFor ${this.#votedFor} is not a member`);
    assert(this.log.lastTerm <= this.#currentTerm, `log term ${this.log.lastTerm} above currentTerm ${this.#currentTerm}`);
    this.persistedHardState = initial.hardState;
    // Entries loaded from storage are durable by definition.
    this.#persistedIndex = this.log.lastIndex;
    this.writtenIndexMax = this.log.lastIndex;
    this.writtenTermMax = this.log.lastTerm;
    this.reported = { role: this.#role, term: this.#currentTerm, leaderId: this.#leaderId };
    this.resetElectionTimer();
  }

  /** This node's id. */
  get id(): NodeId {
    return this.options.id;
  }

  /** follower, precandidate (pre-vote, thesis §9.6), candidate or leader. */
  get role(): Role {
    return this.#role;
  }

  /** Latest term this node has seen (Raft Figure 2); durable once the step's PersistHardState is written. */
  get currentTerm(): Term {
    return this.#currentTerm;
  }

  /** Candidate that received this node's vote in currentTerm, 0 for none (Raft Figure 2). */
  get votedFor(): NodeId {
    return this.#votedFor;
  }

  /** The leader of currentTerm as far as this node knows; 0 when unknown. */
  get leaderId(): NodeId {
    return this.#leaderId;
  }

  /** Highest index known to be committed (Raft Figure 2); volatile, 0 after a restart. */
  get commitIndex(): LogIndex {
    return this.#commitIndex;
  }

  /** Highest index known to be durable in this node's own log (see `Persisted`). */
  get persistedIndex(): LogIndex {
    return this.#persistedIndex;
  }

  /** The latest durable snapshot (index, term, size), null before the first. */
  get snapshot(): SnapshotMeta | null {
    return this.#snapshot;
  }

  /** The last compacted index: the in-memory log holds entries after it (0 before any compaction). */
  get baseIndex(): LogIndex {
    return this.log.baseIndex;
  }

  /** The term of the entry at baseIndex (0 before any compaction). */
  get baseTerm(): Term {
    return this.log.baseTerm;
  }

  /** The highest index handed to the driver to apply (or restored from a snapshot). */
  get lastAppliedIndex(): LogIndex {
    return this.appliedIndex;
  }

  /** Index of the last entry in the in-memory log (the base when it holds none). */
  get lastIndex(): LogIndex {
    return this.log.lastIndex;
  }

  /** Term of the last entry in the in-memory log, 0 when empty. */
  get lastTerm(): Term {
    return this.log.lastTerm;
  }

  /** The in-memory entry at `index`, or undefined outside [1, lastIndex]. */
  entryAt(index: LogIndex): LogEntry | undefined {
    return this.log.entryAt(index);
  }

  /** The in-memory entries with indexes in [fromIndex, toIndex], inclusive, clamped to the log. */
  entries(fromIndex: LogIndex, toIndex: LogIndex): LogEntry[] {
    return this.log.slice(fromIndex, toIndex);
  }

  /** Consumes one event and returns the actions to execute, already in ORDERING RULE phase order. */
  step(event: RaftEvent): RaftAction[] {
    switch (event.type) {
      case 'Tick':
        this.onTick();
        break;
      case 'Receive':
        this.onReceive(event.message);
        break;
      case 'Propose':
        this.onPropose(event.commands);
        break;
      case 'ReadIndex':
        this.onReadIndex(event.requestId);
        break;
      case 'Persisted':
        this.onPersisted(event.index, event.term);
        break;
      case 'SnapshotTaken':
        this.onSnapshotTaken(event.snapshot);
        break;
      case 'SnapshotReceived':
        this.onSnapshotReceived(event.snapshot, event.valid);
        break;
      case 'SnapshotUnavailable':
        this.onSnapshotUnavailable(event.to, event.index);
        break;
      case 'SnapshotStreamEnded':
        this.onSnapshotStreamEnded(event.to, event.index, event.bytes);
        break;
      default:
        unreachable(event, 'event');
    }
    return this.collectActions();
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  private onTick(): void {
    this.nowTick++;
    if (this.#role === 'leader') {
      this.tickLeader();
      return;
    }
    this.electionElapsedTicks++;
    this.leaderSilentTicks++;
    if (this.electionElapsedTicks >= this.electionTimeoutTicksRandomized) this.startPreVote();
  }

  private tickLeader(): void {
    this.checkQuorumElapsedTicks++;
    if (this.checkQuorumElapsedTicks >= this.options.electionTimeoutTicks) {
      this.checkQuorumElapsedTicks = 0;
      // Check-quorum (thesis §6.2): a leader cut off from a majority steps down instead of
      // serving reads from a stale state and holding clients until a partition heals.
      if (!this.takeActiveQuorum()) {
        this.becomeFollower(this.#currentTerm, 0);
        return;
      }
    }
    this.heartbeatElapsedTicks++;
    if (this.heartbeatElapsedTicks >= this.options.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeats();
    }
  }

  /** True when a majority (this node included) answered in the window; starts a new window. */
  private takeActiveQuorum(): boolean {
    let active = 1;
    for (const progress of this.progress.values()) {
      if (progress.recentActive) active++;
      progress.recentActive = false;
    }
    return active >= this.quorum;
  }

  /** Draws a new timeout in [electionTimeoutTicks, 2 * electionTimeoutTicks) (Raft §5.2). */
  private resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    const base = this.options.electionTimeoutTicks;
    this.electionTimeoutTicksRandomized = base + this.random.nextInt(base);
  }

  /**
   * The leader lease (like etcd's inLease): a node that heard from a live leader less than an
   * election timeout ago ignores vote requests, so a node rejoining from a partition with a
   * higher term cannot depose a healthy leader (thesis §9.6). A leader is its own live leader.
   */
  private inLease(): boolean {
    if (this.#role === 'leader') return true;
    return this.#role === 'follower' && this.#leaderId !== 0 && this.leaderSilentTicks < this.options.electionTimeoutTicks;
  }

  // ---------------------------------------------------------------------------------------------
  // Role transitions

  /** Adopts `term` (forgetting the vote if it is new) and follows `leaderId` (0: unknown). */
  private becomeFollower(term: Term, leaderId: NodeId): void {
    assert(term >= this.#currentTerm, `becomeFollower to older term ${term} < ${this.#currentTerm}`);
    if (term > this.#currentTerm) {
      this.#currentTerm = term;
      this.#votedFor = 0;
    }
    if (this.#role === 'leader') this.stopLeading(leaderId);
    this.#role = 'follower';
    this.#leaderId = leaderId;
    this.votes.clear();
    this.resetElectionTimer();
  }

  private stopLeading(leaderId: NodeId): void {
    this.failReads(leaderId);
    this.progress.clear();
  }

  /**
   * Pre-vote (thesis §9.6): ask whether an election could be won before bumping the term, so a
   * node that was partitioned away does not force the cluster into a new term when it returns.
   */
  private startPreVote(): void {
    this.#role = 'precandidate';
    this.#leaderId = 0;
    this.votes = new Map([[this.id, true]]);
    this.resetElectionTimer();
    if (this.quorum === 1) {
      this.startElection();
      return;
    }
    this.broadcastVoteRequests(this.#currentTerm + 1, true);
  }

  /** Raft §5.2: increment currentTerm, vote for self, request votes from every other member. */
  private startElection(): void {
    this.#currentTerm++;
    this.#votedFor = this.id;
    this.#role = 'candidate';
    this.#leaderId = 0;
    this.votes = new Map([[this.id, true]]);
    this.resetElectionTimer();
    if (this.quorum === 1) {
      this.becomeLeader();
      return;
    }
    this.broadcastVoteRequests(this.#currentTerm, false);
  }

  private broadcastVoteRequests(term: Term, preVote: boolean): void {
    for (const peer of this.peers) {
      this.send({
        type: 'RequestVote',
        from: this.id,
        to: peer,
        term,
        lastLogIndex: this.log.lastIndex,
        lastLogTerm: this.log.lastTerm,
        preVote,
      });
    }
  }

  /**
   * Raft §5.2 and §8: the new leader appends a no-op entry of its term. Entries of earlier terms
   * commit only together with it (§5.4.2), and reads wait for it (thesis §6.4).
   */
  private becomeLeader(): void {
    this.#role = 'leader';
    this.#leaderId = this.id;
    this.votes.clear();
    // A leader holds every committed entry (§5.4); a snapshot half received is of no use to it.
    this.incoming = null;
    this.progress = new Map(this.peers.map((peer) => [peer, new Progress(this.log.lastIndex + 1)]));
    this.round = 0;
    this.confirmedRound = 0;
    this.heartbeatElapsedTicks = 0;
    this.checkQuorumElapsedTicks = 0;
    this.appendAsLeader(EntryType.Noop, [new Uint8Array(0)]);
    this.broadcastAppends();
  }

  // ---------------------------------------------------------------------------------------------
  // Messages

  private onReceive(message: RaftMessage): void {
    assert(message.to === this.id, `message for ${message.to} delivered to ${this.id}`);
    assert(this.peerSet.has(message.from), `message from non-member ${message.from}`);
    if (message.type === 'RequestVote') {
      this.onRequestVote(message);
      return;
    }
    // Raft §5.1: a higher term makes this node a follower. A granted pre-vote carries the term
    // the candidate would campaign in, not one anyone has entered, so it is exempt.
    const grantedPreVote = message.type === 'RequestVoteResponse' && message.preVote && message.voteGranted;
    if (message.term > this.#currentTerm && !grantedPreVote) {
      const fromLeader = message.type === 'AppendEntries' || message.type === 'InstallSnapshot';
      this.becomeFollower(message.term, fromLeader ? message.from : 0);
    }
    switch (message.type) {
      case 'AppendEntries':
        this.onAppendEntries(message);
        return;
      case 'InstallSnapshot':
        this.onInstallSnapshot(message);
        return;
      case 'InstallSnapshotResponse':
        this.onInstallSnapshotResponse(message);
        return;
      case 'AppendEntriesResponse':
        this.onAppendEntriesResponse(message);
        return;
      case 'RequestVoteResponse':
        this.onRequestVoteResponse(message);
        return;
      default:
        unreachable(message, 'message');
    }
  }

  private onRequestVote(request: RequestVote): void {
    if (this.inLease()) return;
    if (request.preVote) {
      this.answerPreVote(request);
      return;
    }
    if (request.term > this.#currentTerm) this.becomeFollower(request.term, 0);
    const grant =
      request.term === this.#currentTerm &&
      (this.#votedFor === 0 || this.#votedFor === request.from) &&
      this.log.isUpToDate(request.lastLogIndex, request.lastLogTerm);
    if (grant) {
      // Raft §5.2: at most one vote per term; votedFor reaches disk before the answer (ORDERING RULE).
      this.#votedFor = request.from;
      if (this.#role !== 'follower') this.becomeFollower(this.#currentTerm, 0);
      this.resetElectionTimer();
    }
    this.sendVoteResponse(request, this.#currentTerm, grant);
  }

  /**
   * Thesis §9.6: grant if the candidate's next term is above ours and its log is at least as
   * up-to-date (§5.4.1). Nothing changes here: a pre-vote is a question, not a vote.
   */
  private answerPreVote(request: RequestVote): void {
    const grant = request.term > this.#currentTerm && this.log.isUpToDate(request.lastLogIndex, request.lastLogTerm);
    this.sendVoteResponse(request, grant ? request.term : this.#currentTerm, grant);
  }

  private sendVoteResponse(request: RequestVote, term: Term, voteGranted: boolean): void {
    this.send({ type: 'RequestVoteResponse', from: this.id, to: request.from, term, voteGranted, preVote: request.preVote });
  }

  private onRequestVoteResponse(response: RequestVoteResponse): void {
    if (!this.isCurrentVoteResponse(response) || this.votes.has(response.from)) return;
    this.votes.set(response.from, response.voteGranted);
    let granted = 0;
    for (const vote of this.votes.values()) if (vote) granted++;
    const rejected = this.votes.size - granted;
    if (granted >= this.quorum) {
      if (this.#role === 'precandidate') this.startElection();
      else this.becomeLeader();
    } else if (rejected >= this.quorum) {
      this.becomeFollower(this.#currentTerm, 0);
    }
  }

  /** True for an answer to this node's current pre-vote or election (stale answers are ignored). */
  private isCurrentVoteResponse(response: RequestVoteResponse): boolean {
    if (!response.preVote) return this.#role === 'candidate' && response.term === this.#currentTerm;
    if (this.#role !== 'precandidate') return false;
    return response.term === (response.voteGranted ? this.#currentTerm + 1 : this.#currentTerm);
  }

  /** Raft §5.3, receiver implementation of AppendEntries (Figure 2). */
  private onAppendEntries(received: AppendEntries): void {
    if (received.term < this.#currentTerm) {
      // A deposed leader learns the new term from this answer and steps down (§5.1). The
      // conflictIndex 0 marks it as a term-only answer (a real rejection's hint is always >= 1).
      this.sendAppendResponse(received, false, 0, 0);
      return;
    }
    this.followLeader(received.from);
    const request = this.skipCompacted(received);
    const conflictIndex = this.findConsistencyFailure(request);
    if (conflictIndex !== 0) {
      this.sendAppendResponse(request, false, 0, conflictIndex);
      return;
    }
    this.appendFromLeader(request);
    const lastNewIndex = request.prevLogIndex + request.entries.length;
    // Figure 2: commitIndex = min(leaderCommit, index of last new entry). Capping at what this
    // request proved matches keeps a follower from committing a stale suffix it has not replaced.
    const commitIndex = Math.min(request.leaderCommit, lastNewIndex);
    if (commitIndex > this.#commitIndex) this.#commitIndex = commitIndex;
    this.sendAppendResponse(request, true, lastNewIndex, 0);
  }

  /** Raft §5.2: a message from the leader of currentTerm makes this node its follower and resets the election timer. */
  private followLeader(leaderId: NodeId): void {
    assert(this.#role !== 'leader', `two leaders in term ${this.#currentTerm}: ${this.id} and ${leaderId}`);
    assert(this.#leaderId === 0 || this.#leaderId === leaderId, `two leaders in term ${this.#currentTerm}`);
    if (this.#role !== 'follower' || this.#leaderId !== leaderId) this.becomeFollower(this.#currentTerm, leaderId);
    this.resetElectionTimer();
    this.leaderSilentTicks = 0;
  }

  /**
   * The request without the entries this node has compacted. Compacted entries are committed,
   * and committed entries are in every later leader's log (§5.4), so they match: the request is
   * re-anchored at the base, whose term this node still knows.
   */
  private skipCompacted(request: AppendEntries): AppendEntries {
    const base = this.log.baseIndex;
    if (request.prevLogIndex >= base) return request;
    const entries = request.entries.filter((entry) => entry.index > base);
    return { ...request, prevLogIndex: base, prevLogTerm: this.log.baseTerm, entries };
  }

  /**
   * Returns 0 when the log holds prevLogIndex with prevLogTerm; otherwise the index the leader
   * should probe next (§5.3 optimization): past our last entry, or the start of the conflicting term.
   */
  private findConsistencyFailure(request: AppendEntries): LogIndex {
    if (request.prevLogIndex > this.log.lastIndex) return this.log.lastIndex + 1;
    if (this.log.termAt(request.prevLogIndex) === request.prevLogTerm) return 0;
    // Committed entries are in every later leader's log (§5.4 Leader Completeness), so they cannot conflict.
    assert(request.prevLogIndex > this.#commitIndex, `conflict at committed index ${request.prevLogIndex}`);
    return Math.max(this.log.firstIndexOfTermAt(request.prevLogIndex), this.#commitIndex + 1);
  }

  /**
   * Appends the entries not already present. Entries that match are kept: a delayed, shorter
   * AppendEntries from the same leader must not cut off entries that a later one delivered (and
   * that this node may already have acknowledged).
   */
  private appendFromLeader(request: AppendEntries): void {
    let skip = 0;
    for (const [offset, entry] of request.entries.entries()) {
      assert(entry.index === request.prevLogIndex + 1 + offset, 'AppendEntries entries are not contiguous');
      if (skip === offset && this.log.matches(entry.index, entry.term)) skip++;
    }
    if (skip === request.entries.length) return;
    const fresh = request.entries.slice(skip);
    const firstIndex = fresh[0]!.index;
    if (firstIndex > this.log.lastIndex) {
      this.appendEntries(fresh);
      return;
    }
    // §5.3: "If an existing entry conflicts with a new one, delete the existing entry and all that follow it."
    assert(firstIndex > this.#commitIndex, `truncating committed index ${firstIndex} (commitIndex ${this.#commitIndex})`);
    this.truncateAndAppend(firstIndex, fresh);
  }

  private sendAppendResponse(request: AppendEntries, success: boolean, matchIndex: LogIndex, conflictIndex: LogIndex): void {
    this.send({
      type: 'AppendEntriesResponse',
      from: this.id,
      to: request.from,
      term: this.#currentTerm,
      success,
      matchIndex,
      conflictIndex,
      round: request.round,
    });
  }

  private onAppendEntriesResponse(response: AppendEntriesResponse): void {
    if (this.#role !== 'leader' || response.term !== this.#currentTerm) return;
    // A term-only rejection answers a request from an older term: the responder's currentTerm
    // can equal ours, but its round belongs to our previous leadership. Counting it would
    // confirm a ReadIndex round of this term that no follower answered (thesis §6.4).
    if (!response.success && response.conflictIndex === 0) return;
    const progress = this.progress.get(response.from)!;
    assert(response.round <= this.round, `round ${response.round} echoed, only ${this.round} started`);
    progress.recentActive = true;
    progress.ackedRound = Math.max(progress.ackedRound, response.round);
    if (response.success) this.onAppendAccepted(response.from, progress, response.matchIndex);
    else this.onAppendRejected(response.from, progress, response.conflictIndex);
    this.confirmRounds();
  }

  private onAppendAccepted(peer: NodeId, progress: Progress, matchIndex: LogIndex): void {
    assert(matchIndex <= this.log.lastIndex, `follower ${peer} matched ${matchIndex} beyond lastIndex ${this.log.lastIndex}`);
    const wasProbing = progress.state === 'probe';
    const advanced = progress.acknowledge(matchIndex);
    // A follower being sent a snapshot that turns out to match at or after our base can be fed
    // from the log after all (it caught up from another leader, or the heartbeat found a match).
    const canLeaveSnapshot = progress.state === 'snapshot' && progress.matchIndex >= this.log.baseIndex;
    if (wasProbing || canLeaveSnapshot) progress.becomeReplicate();
    if (advanced) this.maybeCommit();
    this.sendAppends(peer, progress);
  }

  private onAppendRejected(peer: NodeId, progress: Progress, conflictIndex: LogIndex): void {
    // The follower durably holds our entries up to matchIndex, so a conflict at or below it is
    // usually the answer to an older request (duplicated or reordered): acting on it would throw
    // away a healthy pipeline. Several in a row with no success between them mean the follower
    // lost its log (its data directory was wiped): start over from where it says it is. Lowering
    // matchIndex only delays commits; commitIndex never goes back.
    if (conflictIndex <= progress.matchIndex) {
      progress.lowRejections++;
      if (progress.lowRejections < lostLogRejectionsMin) return;
      progress.matchIndex = conflictIndex - 1;
    }
    progress.lowRejections = 0;
    // While a snapshot streams, the heartbeats' rejections only say what we know already.
    if (progress.state === 'snapshot') return;
    progress.becomeProbe(Math.min(conflictIndex, this.log.lastIndex + 1));
    this.sendAppends(peer, progress);
  }

  // ---------------------------------------------------------------------------------------------
  // Replication (leader)

  private broadcastAppends(): void {
    for (const [peer, progress] of this.progress) this.sendAppends(peer, progress);
  }

  /**
   * Sends what flow control allows: one probe, or pipelined batches up to inflightAppendsMax, or
   * snapshot chunks when the follower needs entries that were compacted (Raft §7).
   */
  private sendAppends(peer: NodeId, progress: Progress): void {
    if (progress.state !== 'snapshot' && progress.nextIndex - 1 < this.log.baseIndex) {
      // The entry before nextIndex is compacted: its term, needed for prevLogTerm, is gone.
      assert(this.#snapshot !== null, `log compacted to ${this.log.baseIndex} without a snapshot`);
      progress.becomeSnapshot(this.#snapshot);
    }
    if (progress.state === 'snapshot') {
      this.sendChunks(peer, progress);
      return;
    }
    while (!progress.isPaused(this.options.inflightAppendsMax)) {
      if (progress.state === 'replicate' && progress.nextIndex > this.log.lastIndex) return;
      const entries = this.log.batchFrom(progress.nextIndex, this.options.appendEntriesMax, this.options.appendBytesMax);
      this.sendAppend(peer, progress.nextIndex - 1, entries);
      progress.sent(progress.nextIndex - 1 + entries.length, this.nowTick);
    }
  }

  /**
   * Heartbeats (Raft §5.2) keep followers from campaigning and carry commitIndex. In replicate
   * state one is anchored at matchIndex, so it succeeds whatever is in flight; in probe state it
   * is anchored at nextIndex - 1 and doubles as the probe.
   */
  private broadcastHeartbeats(): void {
    for (const [peer, progress] of this.progress) {
      if (progress.isStalled(this.nowTick, this.options.electionTimeoutTicks)) progress.becomeProbe(progress.matchIndex + 1);
      this.sendHeartbeat(peer, progress);
      if (progress.chunksStalled(this.nowTick, this.options.snapshotRetransmitTicks)) {
        // A chunk (or its answer) was lost: send again from the oldest unanswered byte.
        const stream = progress.stream!;
        stream.nextOffset = stream.inflights[0]!.offset;
        stream.inflights = [];
        this.sendChunks(peer, progress);
      }
    }
  }

  private sendHeartbeat(peer: NodeId, progress: Progress): void {
    if (progress.state === 'replicate') {
      // Anchored at the base if matchIndex was compacted meanwhile: a rejection moves it to probe and on to a snapshot.
      this.sendAppend(peer, Math.max(progress.matchIndex, this.log.baseIndex), []);
      return;
    }
    if (progress.state === 'snapshot') {
      // Keeps the follower from campaigning while the snapshot streams, and carries read rounds.
      this.sendAppend(peer, Math.max(progress.matchIndex, this.log.baseIndex), []);
      return;
    }
    if (progress.nextIndex - 1 < this.log.baseIndex) {
      this.sendAppends(peer, progress);
      return;
    }
    this.sendAppend(peer, progress.nextIndex - 1, []);
    progress.probeSent = true;
  }

  private sendAppend(peer: NodeId, prevLogIndex: LogIndex, entries: readonly LogEntry[]): void {
    this.send({
      type: 'AppendEntries',
      from: this.id,
      to: peer,
      term: this.#currentTerm,
      prevLogIndex,
      prevLogTerm: this.log.termAt(prevLogIndex),
      entries,
      leaderCommit: this.#commitIndex,
      round: this.round,
    });
  }

  /**
   * Raft §5.4.2: commit the highest index stored on a majority, but only if its entry is of the
   * current term. Counting replicas of an older-term entry is the Figure 8 hazard: such an entry
   * can still be overwritten by a leader that never saw it.
   */
  private maybeCommit(): void {
    const matched = [this.#persistedIndex];
    for (const progress of this.progress.values()) matched.push(progress.matchIndex);
    matched.sort((a, b) => b - a);
    const majorityIndex = matched[this.quorum - 1]!;
    if (majorityIndex <= this.#commitIndex || this.log.termAt(majorityIndex) !== this.#currentTerm) return;
    this.#commitIndex = majorityIndex;
    if (this.reads.size > 0) this.registerReads(this.reads.takeDeferred());
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots (Raft §7)

  /** Sends the next chunks of the follower's snapshot stream, up to snapshotChunksInflightMax. */
  private sendChunks(peer: NodeId, progress: Progress): void {
    const stream = progress.stream!;
    const { snapshot } = stream;
    while (stream.inflights.length < this.options.snapshotChunksInflightMax && stream.nextOffset < stream.totalBytes) {
      const offset = stream.nextOffset;
      const length = Math.min(this.options.snapshotChunkBytesMax, stream.totalBytes - offset);
      const done = offset + length === stream.totalBytes;
      this.send({
        type: 'InstallSnapshot',
        from: this.id,
        to: peer,
        term: this.#currentTerm,
        lastIncludedIndex: snapshot.index,
        lastIncludedTerm: snapshot.term,
        totalBytes: snapshot.bytes,
        offset,
        length,
        done,
        data: noBytes,
      });
      stream.inflights.push({ offset, end: offset + length, sentTick: this.nowTick });
      stream.nextOffset = offset + length;
    }
  }

  private onInstallSnapshotResponse(response: InstallSnapshotResponse): void {
    if (this.#role !== 'leader' || response.term !== this.#currentTerm) return;
    const progress = this.progress.get(response.from)!;
    progress.recentActive = true;
    if (response.installed) {
      // The follower holds every entry up to the snapshot: replicate from just after it.
      assert(response.lastIncludedIndex <= this.#commitIndex, `follower ${response.from} installed ${response.lastIncludedIndex} beyond commitIndex`);
      const advanced = progress.acknowledge(response.lastIncludedIndex);
      if (progress.state !== 'replicate') progress.becomeReplicate();
      if (advanced) this.maybeCommit();
      this.sendAppends(response.from, progress);
      return;
    }
    const stream = progress.stream;
    if (progress.state !== 'snapshot' || stream === null || stream.snapshot.index !== response.lastIncludedIndex) return;
    progress.acknowledgeChunks(response.bytesStored);
    this.sendChunks(response.from, progress);
  }

  /** The driver cannot produce a chunk of the pinned snapshot: restart `to` from byte 0 with the newest. */
  private onSnapshotUnavailable(to: NodeId, index: LogIndex): void {
    const progress = this.progress.get(to);
    if (this.#role !== 'leader' || progress?.state !== 'snapshot' || progress.stream?.snapshot.index !== index) return;
    if (this.#snapshot === null) return;
    progress.becomeSnapshot(this.#snapshot);
    this.sendChunks(to, progress);
  }

  /** The driver generated the whole stream of `index` to `to`: it is `bytes` long. */
  private onSnapshotStreamEnded(to: NodeId, index: LogIndex, bytes: number): void {
    const progress = this.progress.get(to);
    if (this.#role !== 'leader' || progress?.state !== 'snapshot' || progress.stream?.snapshot.index !== index) return;
    progress.streamEnded(bytes);
  }

  /**
   * Raft §7, receiver side, one chunk at a time: chunks are stored in order from byte 0; one
   * out of order is answered with the bytes held, so the leader resends from there.
   */
  private onInstallSnapshot(request: InstallSnapshot): void {
    if (request.term < this.#currentTerm) {
      this.sendSnapshotResponse(request.from, request.lastIncludedIndex, 0, false);
      return;
    }
    this.followLeader(request.from);
    const snapshot: SnapshotMeta = { index: request.lastIncludedIndex, term: request.lastIncludedTerm, bytes: request.totalBytes };
    if (snapshot.index <= this.#commitIndex) {
      // Everything it covers is committed here already (§7: "If existing log entry has same
      // index and term as snapshot's last included entry, retain log entries following it").
      this.sendSnapshotResponse(request.from, snapshot.index, snapshot.bytes, true);
      return;
    }
    const incoming = this.incoming;
    if (incoming !== null && incoming.awaitingCheck) {
      // The driver is checking a complete file; a new stream must wait until it is done.
      const same = this.isIncoming(incoming, request, snapshot);
      this.sendSnapshotResponse(request.from, snapshot.index, same ? incoming.receivedBytes : 0, false);
      return;
    }
    const held = incoming !== null && this.isIncoming(incoming, request, snapshot) ? incoming.receivedBytes : 0;
    const continues = held > 0 && request.offset === held;
    // Out of order, or a duplicate of a chunk already stored (a late copy of chunk 0 must not
    // restart a stream that got further): answer with what is held.
    if (!continues && (request.offset !== 0 || held > 0)) {
      this.sendSnapshotResponse(request.from, snapshot.index, held, false);
      return;
    }
    const stream: IncomingSnapshot = continues
      ? incoming!
      : { leaderId: request.from, leaderTerm: request.term, snapshot, receivedBytes: 0, awaitingCheck: false };
    this.incoming = stream;
    this.persistActions.push({ type: 'StoreSnapshotChunk', from: request.from, snapshot, offset: request.offset, length: request.length, done: request.done });
    stream.receivedBytes = request.offset + request.length;
    stream.awaitingCheck = request.done;
    // Answered once stored (ORDERING RULE: sends follow persists); the last chunk is answered
    // after the driver has checked the whole file (`SnapshotReceived`).
    if (!request.done) this.sendSnapshotResponse(request.from, snapshot.index, stream.receivedBytes, false);
  }

  private isIncoming(incoming: IncomingSnapshot, request: InstallSnapshot, snapshot: SnapshotMeta): boolean {
    return (
      incoming.leaderId === request.from &&
      incoming.leaderTerm === request.term &&
      incoming.snapshot.index === snapshot.index &&
      incoming.snapshot.term === snapshot.term &&
      incoming.snapshot.bytes === snapshot.bytes
    );
  }

  private sendSnapshotResponse(to: NodeId, lastIncludedIndex: LogIndex, bytesStored: number, installed: boolean): void {
    this.send({ type: 'InstallSnapshotResponse', from: this.id, to, term: this.#currentTerm, lastIncludedIndex, bytesStored, installed });
  }

  /**
   * The received snapshot is durable and checked. Raft §7: keep the log entries that follow it
   * if the log holds its last entry, else discard the whole log; the state machine is replaced
   * by the snapshot. A snapshot everything of which is committed here by now is dropped.
   */
  private onSnapshotReceived(snapshot: SnapshotMeta, valid: boolean): void {
    const incoming = this.incoming;
    if (incoming === null || !incoming.awaitingCheck || incoming.snapshot.index !== snapshot.index || incoming.snapshot.term !== snapshot.term) return;
    this.incoming = null;
    if (!valid) {
      this.sendSnapshotResponse(incoming.leaderId, snapshot.index, 0, false);
      return;
    }
    if (snapshot.index > this.#commitIndex) this.installSnapshot(snapshot);
    this.sendSnapshotResponse(incoming.leaderId, snapshot.index, snapshot.bytes, true);
  }

  private installSnapshot(snapshot: SnapshotMeta): void {
    const base: LogBase = { index: snapshot.index, term: snapshot.term };
    const keep = this.log.matches(snapshot.index, snapshot.term);
    if (keep) {
      this.log.compactThrough(base);
    } else {
      this.log.reset(base);
      // As with a truncation: an older write that held (i, t) may complete after this point and
      // must not count as durable for an (i, t) appended again after the install.
      this.persistBarrier = { index: this.writtenIndexMax, term: this.writtenTermMax };
      this.#persistedIndex = Math.min(this.#persistedIndex, snapshot.index);
    }
    this.#snapshot = snapshot;
    this.#commitIndex = snapshot.index;
    this.appliedIndex = snapshot.index;
    this.restored = snapshot;
    this.persistActions.push({ type: 'CompactLog', base, snapshot, discardLog: !keep });
  }

  /**
   * The driver durably wrote a snapshot at an applied index: remember it (for followers that need
   * it) and compact the log, keeping compactionKeepEntries before it for slightly lagging followers.
   */
  private onSnapshotTaken(snapshot: SnapshotMeta): void {
    const previous = this.#snapshot?.index ?? 0;
    // A snapshot installed from a leader meanwhile may already be newer: nothing to do then.
    if (snapshot.index <= previous) return;
    assert(snapshot.index <= this.appliedIndex, `snapshot at ${snapshot.index} beyond applied index ${this.appliedIndex}`);
    assert(this.log.termAt(snapshot.index) === snapshot.term, `snapshot at ${snapshot.index} with term ${snapshot.term}, log has ${this.log.termAt(snapshot.index)}`);
    this.#snapshot = snapshot;
    // A follower being sent an older snapshot needs the entries after it once installed:
    // compacting them away would make it start over with this snapshot, and under steady writes
    // every stream would end that way.
    const throughIndex = Math.max(this.log.baseIndex, Math.min(this.keptFrom(snapshot.index) - 1, this.oldestStreamedIndex()));
    const base: LogBase = { index: throughIndex, term: this.log.termAt(throughIndex) };
    this.log.compactThrough(base);
    this.persistActions.push({ type: 'CompactLog', base, snapshot, discardLog: false });
  }

  /** The lowest snapshot index being streamed to a follower (Infinity when none is). */
  private oldestStreamedIndex(): LogIndex {
    let oldest = Infinity;
    if (this.#role !== 'leader') return oldest;
    for (const progress of this.progress.values()) {
      if (progress.state === 'snapshot' && progress.stream !== null) oldest = Math.min(oldest, progress.stream.snapshot.index);
    }
    return oldest;
  }

  /**
   * The first index to keep when compacting up to a snapshot at `snapshotIndex`: at most
   * compactionKeepEntries entries before it, holding at most compactionKeepBytes of data.
   */
  private keptFrom(snapshotIndex: LogIndex): LogIndex {
    let first = snapshotIndex + 1;
    let bytes = 0;
    const lowest = Math.max(this.log.baseIndex + 1, snapshotIndex + 1 - this.options.compactionKeepEntries);
    while (first > lowest) {
      const size = this.log.entryAt(first - 1)?.data.length ?? 0;
      if (bytes + size > this.options.compactionKeepBytes) break;
      bytes += size;
      first--;
    }
    return first;
  }

  // ---------------------------------------------------------------------------------------------
  // Client requests (leader)

  private onPropose(commands: readonly Uint8Array[]): void {
    assert(commands.length > 0, 'Propose without commands');
    if (this.#role !== 'leader') {
      this.notice({ type: 'ProposeRejected', leaderId: this.#leaderId, reason: 'not_leader' });
      return;
    }
    const uncommitted = this.log.lastIndex - this.#commitIndex;
    if (uncommitted + commands.length > this.options.pendingProposalsMax) {
      this.notice({ type: 'ProposeRejected', leaderId: this.id, reason: 'overloaded' });
      return;
    }
    const firstIndex = this.log.lastIndex + 1;
    this.appendAsLeader(EntryType.Command, commands);
    this.notice({ type: 'Proposed', firstIndex, term: this.#currentTerm, count: commands.length });
    // Replicate now rather than at the next heartbeat: a write's latency is one round trip.
    this.broadcastAppends();
  }

  private appendAsLeader(type: EntryType, payloads: readonly Uint8Array[]): void {
    const first = this.log.lastIndex + 1;
    const term = this.#currentTerm;
    this.appendEntries(payloads.map((data, offset) => ({ index: first + offset, term, type, data })));
  }

  private onReadIndex(requestId: number): void {
    if (this.#role !== 'leader') {
      this.notice({ type: 'ReadFailed', requestIds: [requestId], leaderId: this.#leaderId });
      return;
    }
    if (this.reads.size >= this.options.pendingReadsMax) {
      // Overloaded, not deposed: the hint names this node, so the client may retry here later.
      this.notice({ type: 'ReadFailed', requestIds: [requestId], leaderId: this.id });
      return;
    }
    if (this.log.termAt(this.#commitIndex) !== this.#currentTerm) {
      this.reads.defer(requestId);
      return;
    }
    this.registerReads([requestId]);
  }

  /**
   * Thesis §6.4: the reads are safe at the current commitIndex once a majority confirms this
   * node's leadership in a round started after they arrived. A round already in flight started
   * before them, so they join the next one, which starts now if nothing is in flight.
   */
  private registerReads(requestIds: readonly number[]): void {
    if (requestIds.length === 0) return;
    if (this.quorum === 1) {
      this.notice({ type: 'ReadReady', requestIds: [...requestIds], readIndex: this.#commitIndex });
      return;
    }
    for (const requestId of requestIds) this.reads.register(requestId, this.#commitIndex, this.round + 1);
    if (this.round === this.confirmedRound) this.startRound();
  }

  private startRound(): void {
    this.round++;
    for (const [peer, progress] of this.progress) this.sendHeartbeat(peer, progress);
  }

  /** Releases the reads of every round a majority has answered (this node answers every round). */
  private confirmRounds(): void {
    if (this.round === this.confirmedRound) return;
    const acked = [this.round];
    for (const progress of this.progress.values()) acked.push(progress.ackedRound);
    acked.sort((a, b) => b - a);
    const confirmed = acked[this.quorum - 1]!;
    if (confirmed <= this.confirmedRound) return;
    this.confirmedRound = confirmed;
    for (const ready of this.reads.release(confirmed)) this.notice({ type: 'ReadReady', ...ready });
    if (this.reads.hasWaiting) this.startRound();
  }

  private failReads(leaderId: NodeId): void {
    const requestIds = this.reads.takeAll();
    if (requestIds.length > 0) this.notice({ type: 'ReadFailed', requestIds, leaderId });
  }

  // ---------------------------------------------------------------------------------------------
  // Durability

  private appendEntries(entries: readonly LogEntry[]): void {
    this.log.append(entries);
    this.notePersist(entries);
    this.persistActions.push({ type: 'PersistEntries', entries });
  }

  private truncateAndAppend(truncateFrom: LogIndex, entries: readonly LogEntry[]): void {
    this.log.truncateFrom(truncateFrom);
    this.log.append(entries);
    // Writes still pending may have held anything written so far; see persistBarrier.
    this.persistBarrier = { index: this.writtenIndexMax, term: this.writtenTermMax };
    this.#persistedIndex = Math.min(this.#persistedIndex, truncateFrom - 1);
    this.notePersist(entries);
    this.persistActions.push({ type: 'PersistEntries', truncateFrom, entries });
  }

  private notePersist(entries: readonly LogEntry[]): void {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    this.writtenIndexMax = Math.max(this.writtenIndexMax, last.index);
    this.writtenTermMax = Math.max(this.writtenTermMax, last.term);
  }

  /**
   * The driver made entries durable up to (index, term). Writes complete in order, so everything
   * before it is durable too, provided the entry is still the one in our log.
   */
  private onPersisted(index: LogIndex, term: Term): void {
    if (index === 0 || !this.log.matches(index, term)) return;
    const barrier = this.persistBarrier;
    if (barrier !== null && index <= barrier.index && term <= barrier.term) return;
    this.persistBarrier = null;
    this.#persistedIndex = Math.max(this.#persistedIndex, index);
    if (this.#role === 'leader') this.maybeCommit();
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  private send(message: RaftMessage): void {
    this.sendActions.push({ type: 'Send', message });
  }

  private notice(action: RaftAction): void {
    this.noticeActions.push(action);
  }

  /** Assembles this step's actions in phase order: persist, send, apply, notify. */
  private collectActions(): RaftAction[] {
    const actions: RaftAction[] = [];
    if (this.#currentTerm !== this.persistedHardState.currentTerm || this.#votedFor !== this.persistedHardState.votedFor) {
      this.persistedHardState = { currentTerm: this.#currentTerm, votedFor: this.#votedFor };
      actions.push({ type: 'PersistHardState', hardState: this.persistedHardState });
    }
    actions.push(...this.persistActions, ...this.sendActions);
    this.persistActions = [];
    this.sendActions = [];
    this.collectApply(actions);
    this.collectRoleChanged(actions);
    actions.push(...this.noticeActions);
    this.noticeActions = [];
    this.checkInvariants();
    return actions;
  }

  private collectApply(actions: RaftAction[]): void {
    if (this.restored !== null) {
      actions.push({ type: 'RestoreSnapshot', snapshot: this.restored });
      this.restored = null;
    }
    if (this.#commitIndex <= this.appliedIndex) return;
    actions.push({ type: 'Apply', entries: this.log.slice(this.appliedIndex + 1, this.#commitIndex) });
    this.appliedIndex = this.#commitIndex;
  }

  private collectRoleChanged(actions: RaftAction[]): void {
    const { role, term, leaderId } = this.reported;
    if (role === this.#role && term === this.#currentTerm && leaderId === this.#leaderId) return;
    this.reported = { role: this.#role, term: this.#currentTerm, leaderId: this.#leaderId };
    actions.push({ type: 'RoleChanged', ...this.reported });
  }

  private checkInvariants(): void {
    assert(this.#commitIndex <= this.log.lastIndex, `commitIndex ${this.#commitIndex} beyond lastIndex ${this.log.lastIndex}`);
    assert(this.#persistedIndex <= this.log.lastIndex, `persistedIndex ${this.#persistedIndex} beyond lastIndex`);
    assert((this.#role === 'leader') === (this.#leaderId === this.id), `role ${this.#role} with leaderId ${this.#leaderId}`);
    assert(this.#role !== 'candidate' || this.#votedFor === this.id, 'candidate that did not vote for itself');
  }
}

const noBytes = new Uint8Array(0);

/** Rejections below a follower's matchIndex, in a row, that show it lost its log (see onAppendRejected). */
const lostLogRejectionsMin = 3;

/** A loaded snapshot must sit between the log's base and its last entry, and match its term. */
function validateInitialSnapshot(log: RaftLog, snapshot: SnapshotMeta | null): void {
  if (snapshot === null) {
    assert(log.baseIndex === 0, `log compacted to ${log.baseIndex} without a snapshot`);
    return;
  }
  assert(snapshot.index >= log.baseIndex && snapshot.index <= log.lastIndex, `snapshot at ${snapshot.index} outside the log ${log.baseIndex}..${log.lastIndex}`);
  assert(log.termAt(snapshot.index) === snapshot.term, `snapshot at ${snapshot.index} has term ${snapshot.term}, the log ${log.termAt(snapshot.index)}`);
}

function validateOptions(options: RaftOptions): void {
  assert(options.members.includes(options.id), `id ${options.id} is not among members`);
  assert(new Set(options.members).size === options.members.length, 'duplicate members');
  assert(options.members.every((member) => Number.isInteger(member) && member > 0), 'member ids must be positive integers');
  assert(options.heartbeatIntervalTicks >= 1, 'heartbeatIntervalTicks must be >= 1');
  // A heartbeat must arrive well within every follower's timeout or followers campaign needlessly.
  assert(options.electionTimeoutTicks > options.heartbeatIntervalTicks, 'electionTimeoutTicks must exceed heartbeatIntervalTicks');
  assert(options.appendEntriesMax >= 1 && options.appendBytesMax >= 1, 'append limits must be >= 1');
  assert(options.inflightAppendsMax >= 1, 'inflightAppendsMax must be >= 1');
  assert(options.pendingProposalsMax >= 1 && options.pendingReadsMax >= 1, 'pending limits must be >= 1');
  assert(options.compactionKeepEntries >= 0, 'compactionKeepEntries must be >= 0');
  assert(options.compactionKeepBytes >= 0, 'compactionKeepBytes must be >= 0');
  assert(options.snapshotChunkBytesMax >= 1 && options.snapshotChunksInflightMax >= 1, 'snapshot chunk limits must be >= 1');
  assert(options.snapshotRetransmitTicks >= 1, 'snapshotRetransmitTicks must be >= 1');
}
