/**
 * Leader election (Raft §5.2) with pre-vote and check-quorum (thesis §9.6, §6.2): the election
 * and heartbeat timers, role transitions, and both sides of RequestVote. Time is counted in
 * ticks and the election timeout is drawn from the injected Random, so a simulation replays.
 */
import { assert } from '../util/assert.js';
import { indexPlus, nextTerm, noNode, type NodeId, type Term } from '../util/types.js';
import { broadcastAppends, broadcastHeartbeats } from './append_sender.js';
import { appendAsLeader } from './durability.js';
import { failReads } from './read_index.js';
import { Progress } from './progress.js';
import type { RaftState } from './raft_state.js';
import { EntryType, type RequestVote, type RequestVoteResponse } from './types.js';

/** One tick: a leader counts toward heartbeats and check-quorum, anyone else toward an election. */
export function onTick(raft: RaftState): void {
  raft.nowTick++;
  if (raft.role === 'leader') {
    tickLeader(raft);
    return;
  }
  raft.electionElapsedTicks++;
  raft.leaderSilentTicks++;
  if (raft.electionElapsedTicks >= raft.electionTimeoutTicksRandomized) startPreVote(raft);
}

function tickLeader(raft: RaftState): void {
  raft.checkQuorumElapsedTicks++;
  if (raft.checkQuorumElapsedTicks >= raft.options.electionTimeoutTicks) {
    raft.checkQuorumElapsedTicks = 0;
    // Check-quorum (thesis §6.2): a leader cut off from a majority steps down instead of
    // serving reads from a stale state and holding clients until a partition heals.
    if (!takeActiveQuorum(raft)) {
      becomeFollower(raft, raft.currentTerm, noNode);
      return;
    }
  }
  raft.heartbeatElapsedTicks++;
  if (raft.heartbeatElapsedTicks >= raft.options.heartbeatIntervalTicks) {
    raft.heartbeatElapsedTicks = 0;
    broadcastHeartbeats(raft);
  }
}

/** True when a majority (this node included) answered in the window; starts a new window. */
function takeActiveQuorum(raft: RaftState): boolean {
  let active = 1;
  for (const progress of raft.progress.values()) {
    if (progress.recentActive) active++;
    progress.recentActive = false;
  }
  return active >= raft.quorum;
}

/** Draws a new timeout in [electionTimeoutTicks, 2 * electionTimeoutTicks) (Raft §5.2). */
export function resetElectionTimer(raft: RaftState): void {
  raft.electionElapsedTicks = 0;
  const base = raft.options.electionTimeoutTicks;
  raft.electionTimeoutTicksRandomized = base + raft.random.nextInt(base);
}

/**
 * The leader lease (like etcd's inLease): a node that heard from a live leader less than an
 * election timeout ago ignores vote requests, so a node rejoining from a partition with a
 * higher term cannot depose a healthy leader (thesis §9.6). A leader is its own live leader.
 */
function inLease(raft: RaftState): boolean {
  if (raft.role === 'leader') return true;
  return raft.role === 'follower' && raft.leaderId !== noNode && raft.leaderSilentTicks < raft.options.electionTimeoutTicks;
}

/** Adopts `term` (forgetting the vote if it is new) and follows `leaderId` (0: unknown). */
export function becomeFollower(raft: RaftState, term: Term, leaderId: NodeId): void {
  assert(term >= raft.currentTerm, `becomeFollower to older term ${term} < ${raft.currentTerm}`);
  if (term > raft.currentTerm) {
    raft.currentTerm = term;
    raft.votedFor = noNode;
  }
  if (raft.role === 'leader') stopLeading(raft, leaderId);
  raft.role = 'follower';
  raft.leaderId = leaderId;
  raft.votes.clear();
  resetElectionTimer(raft);
}

function stopLeading(raft: RaftState, leaderId: NodeId): void {
  failReads(raft, leaderId);
  raft.progress.clear();
}

/**
 * Pre-vote (thesis §9.6): ask whether an election could be won before bumping the term, so a
 * node that was partitioned away does not force the cluster into a new term when it returns.
 */
function startPreVote(raft: RaftState): void {
  raft.role = 'precandidate';
  raft.leaderId = noNode;
  raft.votes = new Map([[raft.id, true]]);
  resetElectionTimer(raft);
  if (raft.quorum === 1) {
    startElection(raft);
    return;
  }
  broadcastVoteRequests(raft, nextTerm(raft.currentTerm), true);
}

/** Raft §5.2: increment currentTerm, vote for self, request votes from every other member. */
function startElection(raft: RaftState): void {
  raft.currentTerm = nextTerm(raft.currentTerm);
  raft.votedFor = raft.id;
  raft.role = 'candidate';
  raft.leaderId = noNode;
  raft.votes = new Map([[raft.id, true]]);
  resetElectionTimer(raft);
  if (raft.quorum === 1) {
    becomeLeader(raft);
    return;
  }
  broadcastVoteRequests(raft, raft.currentTerm, false);
}

function broadcastVoteRequests(raft: RaftState, term: Term, preVote: boolean): void {
  for (const peer of raft.peers) {
    raft.send({
      type: 'RequestVote',
      from: raft.id,
      to: peer,
      term,
      lastLogIndex: raft.log.lastIndex,
      lastLogTerm: raft.log.lastTerm,
      preVote,
    });
  }
}

/**
 * Raft §5.2 and §8: the new leader appends a no-op entry of its term. Entries of earlier terms
 * commit only together with it (§5.4.2), and reads wait for it (thesis §6.4).
 */
function becomeLeader(raft: RaftState): void {
  raft.role = 'leader';
  raft.leaderId = raft.id;
  raft.votes.clear();
  // A leader holds every committed entry (§5.4); a snapshot half received is of no use to it.
  raft.incoming = null;
  raft.progress = new Map(raft.peers.map((peer) => [peer, new Progress(indexPlus(raft.log.lastIndex, 1))]));
  raft.round = 0;
  raft.confirmedRound = 0;
  raft.heartbeatElapsedTicks = 0;
  raft.checkQuorumElapsedTicks = 0;
  appendAsLeader(raft, EntryType.Noop, [new Uint8Array(0)]);
  broadcastAppends(raft);
}

/** Raft §5.2, receiver of RequestVote (and of a pre-vote, which changes nothing here). */
export function onRequestVote(raft: RaftState, request: RequestVote): void {
  if (inLease(raft)) return;
  if (request.preVote) {
    answerPreVote(raft, request);
    return;
  }
  if (request.term > raft.currentTerm) becomeFollower(raft, request.term, noNode);
  const grant =
    request.term === raft.currentTerm &&
    (raft.votedFor === noNode || raft.votedFor === request.from) &&
    raft.log.isUpToDate(request.lastLogIndex, request.lastLogTerm);
  if (grant) {
    // Raft §5.2: at most one vote per term; votedFor reaches disk before the answer (ORDERING RULE).
    raft.votedFor = request.from;
    if (raft.role !== 'follower') becomeFollower(raft, raft.currentTerm, noNode);
    resetElectionTimer(raft);
  }
  sendVoteResponse(raft, request, raft.currentTerm, grant);
}

/**
 * Thesis §9.6: grant if the candidate's next term is above ours and its log is at least as
 * up-to-date (§5.4.1). Nothing changes here: a pre-vote is a question, not a vote.
 */
function answerPreVote(raft: RaftState, request: RequestVote): void {
  const grant = request.term > raft.currentTerm && raft.log.isUpToDate(request.lastLogIndex, request.lastLogTerm);
  sendVoteResponse(raft, request, grant ? request.term : raft.currentTerm, grant);
}

function sendVoteResponse(raft: RaftState, request: RequestVote, term: Term, voteGranted: boolean): void {
  raft.send({ type: 'RequestVoteResponse', from: raft.id, to: request.from, term, voteGranted, preVote: request.preVote });
}

/** Counts an answer to this node's pre-vote or election: a majority either way decides it. */
export function onRequestVoteResponse(raft: RaftState, response: RequestVoteResponse): void {
  if (!isCurrentVoteResponse(raft, response) || raft.votes.has(response.from)) return;
  raft.votes.set(response.from, response.voteGranted);
  let granted = 0;
  for (const vote of raft.votes.values()) if (vote) granted++;
  const rejected = raft.votes.size - granted;
  if (granted >= raft.quorum) {
    if (raft.role === 'precandidate') startElection(raft);
    else becomeLeader(raft);
  } else if (rejected >= raft.quorum) {
    becomeFollower(raft, raft.currentTerm, noNode);
  }
}

/** True for an answer to this node's current pre-vote or election (stale answers are ignored). */
function isCurrentVoteResponse(raft: RaftState, response: RequestVoteResponse): boolean {
  if (!response.preVote) return raft.role === 'candidate' && response.term === raft.currentTerm;
  if (raft.role !== 'precandidate') return false;
  return response.term === (response.voteGranted ? nextTerm(raft.currentTerm) : raft.currentTerm);
}

/** Raft §5.2: a message from the leader of currentTerm makes this node its follower and resets the election timer. */
export function followLeader(raft: RaftState, leaderId: NodeId): void {
  assert(raft.role !== 'leader', `two leaders in term ${raft.currentTerm}: ${raft.id} and ${leaderId}`);
  assert(raft.leaderId === noNode || raft.leaderId === leaderId, `two leaders in term ${raft.currentTerm}`);
  if (raft.role !== 'follower' || raft.leaderId !== leaderId) becomeFollower(raft, raft.currentTerm, leaderId);
  resetElectionTimer(raft);
  raft.leaderSilentTicks = 0;
}
