/**
 * Log replication and commitment (Raft §5.3, §5.4.2, Figure 8), flow control, parallel leader
 * persistence (§10.2.1) and proposals. Each test compares whole action lists.
 */
import test from 'tape';
import type { RaftMachine } from '../../src/raft/raft_machine.js';
import type { RaftAction } from '../../src/raft/types.js';
import {
  appendEntries,
  appendResponse,
  command,
  elect,
  event,
  leaderOf,
  logOf,
  machine,
  noop,
  receive,
  requestVote,
  send,
  ticks,
  voteResponse,
} from './raft_fixtures.js';

const encoder = new TextEncoder();

function propose(node: RaftMachine, ...texts: string[]): RaftAction[] {
  return node.step({ type: 'Propose', commands: texts.map((text) => encoder.encode(text)) });
}

/** A leader of [1, 2, 3] in term 1 whose noop is committed, with follower 2 in replicate state. */
function committedLeader(overrides = {}): RaftMachine {
  const leader = leaderOf({ overrides });
  leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 })));
  return leader;
}

test('leader: a majority acknowledgement, counting itself via Persisted, commits and applies (§5.3, §5.4.2)', (t) => {
  const leader = leaderOf();
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 }))), [
    { type: 'Apply', entries: [noop(1, 1)] },
  ]);
  t.equal(leader.commitIndex, 1);
  t.end();
});

test('Propose: the leader appends all commands in one PersistEntries, reports Proposed and sends at once (§5.3)', (t) => {
  const leader = committedLeader();
  t.deepEqual(propose(leader, 'a', 'b'), [
    { type: 'PersistEntries', entries: [command(2, 1, 'a'), command(3, 1, 'b')] },
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [command(2, 1, 'a'), command(3, 1, 'b')], leaderCommit: 1 })),
    { type: 'Proposed', firstIndex: 2, term: 1, count: 2 },
  ], 'follower 3 is still probing with its probe outstanding, so it gets nothing yet');
  t.end();
});

test('Propose: a follower refuses with its leader hint; a leader refuses beyond pendingProposalsMax uncommitted entries', (t) => {
  const follower = machine({ id: 2, term: 1 });
  follower.step(receive(appendEntries({ from: 3, to: 2, term: 1 })));
  t.deepEqual(propose(follower, 'a'), [{ type: 'ProposeRejected', leaderId: 3, reason: 'not_leader' }]);

  const leader = committedLeader({ pendingProposalsMax: 3 });
  t.equal(propose(leader, 'a', 'b', 'c').at(-1)?.type, 'Proposed', 'three uncommitted entries fit');
  t.deepEqual(propose(leader, 'd'), [{ type: 'ProposeRejected', leaderId: 1, reason: 'overloaded' }]);
  t.end();
});

test('leader: its own log counts toward commitment only after a Persisted of the matching term (§10.2.1)', (t) => {
  const leader = committedLeader();
  propose(leader, 'a');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 2 }))), [], 'one follower of three is not a majority');
  t.deepEqual(leader.step(event({ type: 'Persisted', index: 2, term: 7 })), [], 'a Persisted for another term is ignored');
  t.deepEqual(leader.step(event({ type: 'Persisted', index: 2, term: 1 })), [{ type: 'Apply', entries: [command(2, 1, 'a')] }]);
  t.end();
});

test('leader: an entry of an earlier term is not committed by counting replicas, only with one of its own term (§5.4.2)', (t) => {
  const leader = leaderOf({ log: logOf([1, 2]), term: 2 });
  t.equal(leader.currentTerm, 3);
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 3, matchIndex: 2 }))), [
    send(appendEntries({ from: 1, to: 2, term: 3, prevLogIndex: 2, prevLogTerm: 2, entries: [noop(3, 3)] })),
  ], 'index 2 is on a majority but of term 2: not committed');
  t.equal(leader.commitIndex, 0);
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 3, matchIndex: 3 }))), [
    { type: 'Apply', entries: [...logOf([1, 2]), noop(3, 3)] },
  ], 'the noop of term 3 commits everything before it');
  t.end();
});

test('Figure 8: an old-term entry stored on a majority can still be overwritten, which is why it must not count as committed (§5.4.2)', (t) => {
  const members = [1, 2, 3, 4, 5];
  const overrides = { appendEntriesMax: 1 };
  // (c): S1 leads term 4 and has replicated its term-2 entry at index 2 to S2 and S3, not yet its noop.
  const s1 = machine({ id: 1, members, term: 3, log: logOf([1, 2]), overrides });
  elect(s1, [2, 3]);
  s1.step(event({ type: 'Persisted', index: 3, term: 4 }));
  s1.step(receive(appendResponse({ from: 2, to: 1, term: 4, matchIndex: 2 })));
  s1.step(receive(appendResponse({ from: 3, to: 1, term: 4, matchIndex: 2 })));
  t.equal(s1.commitIndex, 0, 'S1 does not commit index 2 although S1, S2, S3 hold it');

  // (d): S5, whose log ends in term 3, can win term 5 with the votes of S2, S3 and S4 ...
  const s3 = machine({ id: 3, members, term: 4, log: logOf([1, 2]) });
  for (const voter of [machine({ id: 2, members, term: 4, log: logOf([1, 2]) }), s3, machine({ id: 4, members, term: 4, log: logOf([1]) })]) {
    const answer = voter.step(receive(requestVote({ from: 5, to: voter.id, term: 5, lastLogIndex: 2, lastLogTerm: 3 })));
    t.deepEqual(answer[1], send(voteResponse({ from: voter.id, to: 5, term: 5, voteGranted: true })), `S${voter.id} votes for S5`);
  }
  // ... and then overwrites index 2 on S3.
  const fromS5 = [command(2, 3, 'x2'), noop(3, 5)];
  t.deepEqual(s3.step(receive(appendEntries({ from: 5, to: 3, term: 5, prevLogIndex: 1, prevLogTerm: 1, entries: fromS5 }))), [
    { type: 'PersistEntries', truncateFrom: 2, entries: fromS5 },
    send(appendResponse({ from: 3, to: 5, term: 5, matchIndex: 3 })),
    { type: 'RoleChanged', role: 'follower', term: 5, leaderId: 5 },
  ]);
  t.end();
});

test('follower: AppendEntries of a stale term is refused with currentTerm, a term-only answer (§5.1)', (t) => {
  const follower = machine({ id: 2, term: 2, log: logOf([1, 1, 2]) });
  t.deepEqual(follower.step(receive(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 3, prevLogTerm: 2, round: 4 }))), [
    send(appendResponse({ from: 2, to: 1, term: 2, success: false, matchIndex: 0, conflictIndex: 0, round: 4 })),
  ]);
  t.end();
});

test('follower: a prevLogIndex beyond its log is refused with the hint lastIndex + 1 (§5.3)', (t) => {
  const follower = machine({ id: 2, term: 2, log: logOf([1, 1, 2]) });
  t.deepEqual(follower.step(receive(appendEntries({ from: 1, to: 2, term: 2, prevLogIndex: 5, prevLogTerm: 2, round: 3 }))), [
    send(appendResponse({ from: 2, to: 1, term: 2, success: false, conflictIndex: 4, round: 3 })),
    { type: 'RoleChanged', role: 'follower', term: 2, leaderId: 1 },
  ]);
  t.end();
});

test('follower: a term conflict at prevLogIndex is refused with the first index of the conflicting term (§5.3)', (t) => {
  const follower = machine({ id: 2, term: 2, log: logOf([1, 1, 2, 2]) });
  t.deepEqual(follower.step(receive(appendEntries({ from: 1, to: 2, term: 3, prevLogIndex: 4, prevLogTerm: 3 }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 3, votedFor: 0 } },
    send(appendResponse({ from: 2, to: 1, term: 3, success: false, conflictIndex: 3 })),
    { type: 'RoleChanged', role: 'follower', term: 3, leaderId: 1 },
  ]);
  t.end();
});

test('follower: keeps matching entries, truncates at the first conflict, appends the rest and commits min(leaderCommit, last new index) (§5.3)', (t) => {
  const follower = machine({ id: 2, term: 3, log: logOf([1, 1, 2, 2]) });
  const entries = [command(3, 2, 'x3'), command(4, 3, 'n4'), command(5, 3, 'n5')];
  t.deepEqual(follower.step(receive(appendEntries({ from: 1, to: 2, term: 3, prevLogIndex: 2, prevLogTerm: 1, entries, leaderCommit: 9 }))), [
    { type: 'PersistEntries', truncateFrom: 4, entries: entries.slice(1) },
    send(appendResponse({ from: 2, to: 1, term: 3, matchIndex: 5 })),
    { type: 'Apply', entries: [...logOf([1, 1, 2]), ...entries.slice(1)] },
    { type: 'RoleChanged', role: 'follower', term: 3, leaderId: 1 },
  ]);
  t.end();
});

test('follower: a delayed, shorter AppendEntries from the same leader does not cut off later entries (§5.3)', (t) => {
  const follower = machine({ id: 2, term: 1, log: logOf([1, 1, 1]) });
  t.deepEqual(follower.step(receive(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: logOf([1]), leaderCommit: 3 }))), [
    send(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 })),
    { type: 'Apply', entries: logOf([1]) },
    { type: 'RoleChanged', role: 'follower', term: 1, leaderId: 1 },
  ], 'commit capped at the last index this request proved: 1, not 3');
  t.equal(follower.lastIndex, 3, 'entries 2 and 3 kept');
  t.end();
});

test('leader: a rejection probes from the hint and re-sends from there; a rejection at or below matchIndex is stale (§5.3)', (t) => {
  const leader = leaderOf({ log: logOf([1, 1, 1]), term: 1 });
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 2, success: false, conflictIndex: 2 }))), [
    send(appendEntries({ from: 1, to: 2, term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [...logOf([1, 1, 1]).slice(1), noop(4, 2)] })),
  ]);
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 2, matchIndex: 4 }))), [
    { type: 'Apply', entries: [...logOf([1, 1, 1]), noop(4, 2)] },
  ]);
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 2, success: false, conflictIndex: 3 }))), [], 'stale rejection ignored');
  t.end();
});

test('leader: pipelines up to inflightAppendsMax messages of at most appendEntriesMax entries, and refills as acks arrive (§10.2.1)', (t) => {
  const leader = committedLeader({ appendEntriesMax: 2, inflightAppendsMax: 2 });
  const entries = ['a', 'b', 'c', 'd', 'e'].map((text, k) => command(k + 2, 1, text));
  t.deepEqual(propose(leader, 'a', 'b', 'c', 'd', 'e'), [
    { type: 'PersistEntries', entries },
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: entries.slice(0, 2), leaderCommit: 1 })),
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 3, prevLogTerm: 1, entries: entries.slice(2, 4), leaderCommit: 1 })),
    { type: 'Proposed', firstIndex: 2, term: 1, count: 5 },
  ]);
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 3 }))), [
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 5, prevLogTerm: 1, entries: entries.slice(4), leaderCommit: 1 })),
  ], 'the first ack frees one slot');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 6 }))), [], 'nothing left to send; self not yet durable');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 3 }))), [], 'a duplicated, older ack is harmless');
  t.deepEqual(leader.step(event({ type: 'Persisted', index: 6, term: 1 })), [{ type: 'Apply', entries }]);
  t.end();
});

test('leader: appendBytesMax splits batches, but a single larger entry is still sent alone', (t) => {
  const leader = committedLeader({ appendBytesMax: 4, inflightAppendsMax: 4 });
  const sends = propose(leader, 'aa', 'bb', 'cc', 'toolarge').filter((action) => action.type === 'Send');
  const counts = sends.map((action) => (action.type === 'Send' && action.message.type === 'AppendEntries' ? action.message.entries.length : -1));
  t.deepEqual(counts, [2, 1, 1], '[aa, bb] (4 bytes), [cc], [toolarge]');
  t.end();
});

test('heartbeat: every heartbeatIntervalTicks, anchored at matchIndex in replicate state and nextIndex - 1 in probe state (§5.2)', (t) => {
  const leader = committedLeader();
  t.deepEqual(ticks(leader, 2), [
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1 })),
    send(appendEntries({ from: 1, to: 3, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 1 })),
  ]);
  t.end();
});

test('heartbeat: a pipelined AppendEntries unanswered for electionTimeoutTicks is presumed lost and the follower re-probed (§5.3)', (t) => {
  const leader = committedLeader();
  propose(leader, 'a');
  leader.step(event({ type: 'Persisted', index: 2, term: 1 }));
  leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, matchIndex: 1 })));
  // Keep the leader in office: follower 3 answers every heartbeat, follower 2 never answers again.
  for (let k = 0; k < 8; k++) {
    ticks(leader, 2);
    leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, matchIndex: 2 })));
  }
  t.deepEqual(ticks(leader, 2), [
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 2 })),
    send(appendEntries({ from: 1, to: 3, term: 1, prevLogIndex: 2, prevLogTerm: 1, leaderCommit: 2 })),
  ], 'follower 2 is probed at matchIndex 1');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 }))), [
    send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [command(2, 1, 'a')], leaderCommit: 2 })),
  ], 'and the lost entry is re-sent');
  t.end();
});

test('leader: an answer carrying a higher term makes it a follower of that term (§5.1)', (t) => {
  const leader = committedLeader();
  t.deepEqual(leader.step(receive(appendResponse({ from: 3, to: 1, term: 5, success: false }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 5, votedFor: 0 } },
    { type: 'RoleChanged', role: 'follower', term: 5, leaderId: 0 },
  ]);
  t.end();
});

test('leader: a term-only rejection of its own term answers a request of an earlier term and confirms nothing (§5.1, thesis §6.4)', (t) => {
  // Follower 2 moved to term 2 and then answered a heartbeat of round 1 from the term-1 leader:
  // the answer carries term 2, like the new leader's, and round 1, like the new leader's round.
  const leader = leaderOf({ term: 1 });
  leader.step(receive(appendResponse({ from: 2, to: 1, term: 2, matchIndex: 1 })));
  leader.step(receive(appendResponse({ from: 3, to: 1, term: 2, matchIndex: 1 })));
  leader.step({ type: 'ReadIndex', requestId: 9 });
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 2, success: false, conflictIndex: 0, round: 1 }))), [], 'the read stays pending');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 2, matchIndex: 1, round: 1 }))), [
    { type: 'ReadReady', requestIds: [9], readIndex: 1 },
  ]);
  t.end();
});

test('Persisted: a completion that may come from a write older than a truncation does not count as durable (§10.2.1)', (t) => {
  const follower = machine({ id: 2, members: [1, 2, 3], term: 1, log: logOf([1]) });
  follower.step(receive(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [command(2, 1, 'a'), command(3, 1, 'b')] })));
  follower.step(receive(appendEntries({ from: 3, to: 2, term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [command(2, 2, 'c')] })));
  follower.step(receive(appendEntries({ from: 1, to: 2, term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [command(2, 1, 'a'), command(3, 1, 'b')] })));
  t.equal(follower.persistedIndex, 1, 'truncations lowered it');
  follower.step(event({ type: 'Persisted', index: 3, term: 1 }));
  t.equal(follower.persistedIndex, 1, 'the first write of (3, t1) may have completed while the truncating ones are pending');
  follower.step(receive(appendEntries({ from: 1, to: 2, term: 3, prevLogIndex: 3, prevLogTerm: 1, entries: [noop(4, 3)] })));
  follower.step(event({ type: 'Persisted', index: 4, term: 3 }));
  t.equal(follower.persistedIndex, 4, 'a write newer than every truncation makes everything before it durable');
  t.end();
});
