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
 *
 * This file is the door: `step` routes each event to the file that does that job (election.ts,
 * append_receiver.ts, replication.ts, read_index.ts, snapshot_receiver.ts, snapshot_sender.ts,
 * log_compaction.ts), all working on one RaftState (raft_state.ts), and actions.ts hands back
 * what they produced.
 */
import { assert, unreachable } from '../util/assert.js';
import type { Random } from '../util/prng.js';
import { indexPlus, noNode, type LogIndex, type NodeId, type Term } from '../util/types.js';
import { collectActions } from './actions.js';
import { onAppendEntries } from './append_receiver.js';
import { broadcastAppends } from './append_sender.js';
import { appendAsLeader } from './durability.js';
import { becomeFollower, onRequestVote, onRequestVoteResponse, onTick, resetElectionTimer } from './election.js';
import { onSnapshotTaken } from './log_compaction.js';
import { RaftState } from './raft_state.js';
import { onReadIndex } from './read_index.js';
import { onAppendEntriesResponse, onInstallSnapshotResponse, onPersisted } from './replication.js';
import { onInstallSnapshot, onSnapshotReceived } from './snapshot_receiver.js';
import { onSnapshotStreamEnded, onSnapshotUnavailable } from './snapshot_sender.js';
import { EntryType, type LogEntry, type RaftAction, type RaftEvent, type RaftInitialState, type RaftMessage, type RaftOptions, type Role, type SnapshotMeta } from './types.js';

/** One Raft node's consensus state. Drive it with `step`; read it through the getters. */
export class RaftMachine {
  private readonly raft: RaftState;

  constructor(options: RaftOptions, initial: RaftInitialState, random: Random) {
    this.raft = new RaftState(options, initial, random);
    resetElectionTimer(this.raft);
  }

  /** This node's id. */
  get id(): NodeId {
    return this.raft.id;
  }

  /** follower, precandidate (pre-vote, thesis §9.6), candidate or leader. */
  get role(): Role {
    return this.raft.role;
  }

  /** Latest term this node has seen (Raft Figure 2); durable once the step's PersistHardState is written. */
  get currentTerm(): Term {
    return this.raft.currentTerm;
  }

  /** Candidate that received this node's vote in currentTerm, 0 for none (Raft Figure 2). */
  get votedFor(): NodeId {
    return this.raft.votedFor;
  }

  /** The leader of currentTerm as far as this node knows; 0 when unknown. */
  get leaderId(): NodeId {
    return this.raft.leaderId;
  }

  /** Highest index known to be committed (Raft Figure 2); volatile, 0 after a restart. */
  get commitIndex(): LogIndex {
    return this.raft.commitIndex;
  }

  /** Highest index known to be durable in this node's own log (see `Persisted`). */
  get persistedIndex(): LogIndex {
    return this.raft.persistedIndex;
  }

  /** The latest durable snapshot (index, term, size), null before the first. */
  get snapshot(): SnapshotMeta | null {
    return this.raft.snapshot;
  }

  /** The last compacted index: the in-memory log holds entries after it (0 before any compaction). */
  get baseIndex(): LogIndex {
    return this.raft.log.baseIndex;
  }

  /** The term of the entry at baseIndex (0 before any compaction). */
  get baseTerm(): Term {
    return this.raft.log.baseTerm;
  }

  /** The highest index handed to the driver to apply (or restored from a snapshot). */
  get lastAppliedIndex(): LogIndex {
    return this.raft.appliedIndex;
  }

  /** Index of the last entry in the in-memory log (the base when it holds none). */
  get lastIndex(): LogIndex {
    return this.raft.log.lastIndex;
  }

  /** Term of the last entry in the in-memory log, 0 when empty. */
  get lastTerm(): Term {
    return this.raft.log.lastTerm;
  }

  /** The in-memory entry at `index`, or undefined outside [1, lastIndex]. */
  entryAt(index: LogIndex): LogEntry | undefined {
    return this.raft.log.entryAt(index);
  }

  /** The in-memory entries with indexes in [fromIndex, toIndex], inclusive, clamped to the log. */
  entries(fromIndex: LogIndex, toIndex: LogIndex): LogEntry[] {
    return this.raft.log.slice(fromIndex, toIndex);
  }

  /** Consumes one event and returns the actions to execute, already in ORDERING RULE phase order. */
  step(event: RaftEvent): RaftAction[] {
    switch (event.type) {
      case 'Tick':
        onTick(this.raft, );
        break;
      case 'Receive':
        onReceive(this.raft, event.message);
        break;
      case 'Propose':
        onPropose(this.raft, event.commands);
        break;
      case 'ReadIndex':
        onReadIndex(this.raft, event.requestId);
        break;
      case 'Persisted':
        onPersisted(this.raft, event.index, event.term);
        break;
      case 'SnapshotTaken':
        onSnapshotTaken(this.raft, event.snapshot);
        break;
      case 'SnapshotReceived':
        onSnapshotReceived(this.raft, event.snapshot, event.valid);
        break;
      case 'SnapshotUnavailable':
        onSnapshotUnavailable(this.raft, event.to, event.index);
        break;
      case 'SnapshotStreamEnded':
        onSnapshotStreamEnded(this.raft, event.to, event.index, event.bytes);
        break;
      default:
        unreachable(event, 'event');
    }
    return collectActions(this.raft);
  }
}

/** Routes a message from another node to the job that handles it. */
function onReceive(raft: RaftState, message: RaftMessage): void {
  assert(message.to === raft.id, `message for ${message.to} delivered to ${raft.id}`);
  assert(raft.peerSet.has(message.from), `message from non-member ${message.from}`);
  if (message.type === 'RequestVote') {
    onRequestVote(raft, message);
    return;
  }
  // Raft §5.1: a higher term makes this node a follower. A granted pre-vote carries the term
  // the candidate would campaign in, not one anyone has entered, so it is exempt.
  const grantedPreVote = message.type === 'RequestVoteResponse' && message.preVote && message.voteGranted;
  if (message.term > raft.currentTerm && !grantedPreVote) {
    const fromLeader = message.type === 'AppendEntries' || message.type === 'InstallSnapshot';
    becomeFollower(raft, message.term, fromLeader ? message.from : noNode);
  }
  switch (message.type) {
    case 'AppendEntries':
      onAppendEntries(raft, message);
      return;
    case 'InstallSnapshot':
      onInstallSnapshot(raft, message);
      return;
    case 'InstallSnapshotResponse':
      onInstallSnapshotResponse(raft, message);
      return;
    case 'AppendEntriesResponse':
      onAppendEntriesResponse(raft, message);
      return;
    case 'RequestVoteResponse':
      onRequestVoteResponse(raft, message);
      return;
    default:
      unreachable(message, 'message');
  }
}

/** Client commands to append (leader only): answered by `Proposed` or `ProposeRejected`. */
function onPropose(raft: RaftState, commands: readonly Uint8Array[]): void {
  assert(commands.length > 0, 'Propose without commands');
  if (raft.role !== 'leader') {
    raft.notice({ type: 'ProposeRejected', leaderId: raft.leaderId, reason: 'not_leader' });
    return;
  }
  const uncommitted = raft.log.lastIndex - raft.commitIndex;
  if (uncommitted + commands.length > raft.options.pendingProposalsMax) {
    raft.notice({ type: 'ProposeRejected', leaderId: raft.id, reason: 'overloaded' });
    return;
  }
  const firstIndex = indexPlus(raft.log.lastIndex, 1);
  appendAsLeader(raft, EntryType.Command, commands);
  raft.notice({ type: 'Proposed', firstIndex, term: raft.currentTerm, count: commands.length });
  // Replicate now rather than at the next heartbeat: a write's latency is one round trip.
  broadcastAppends(raft);
}
