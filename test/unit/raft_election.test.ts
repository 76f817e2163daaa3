/**
 * Leader election (Raft §5.2, §5.4.1), pre-vote and the leader lease (thesis §9.6), check-quorum
 * (thesis §6.2). Each test steps a machine and compares whole action lists.
 */
import test from 'tape';
import {
  appendEntries,
  appendResponse,
  elect,
  event,
  FixedRandom,
  leaderOf,
  logOf,
  machine,
  noop,
  only,
  receive,
  requestVote,
  send,
  tick,
  ticks,
  voteResponse,
} from './raft_fixtures.js';

test('election timer: a follower silent for electionTimeoutTicks starts a pre-vote for term + 1 without changing its term (§5.2, thesis §9.6)', (t) => {
  const node = machine({ id: 1, term: 1, log: logOf([1]) });
  t.deepEqual(ticks(node, 9), [], 'nothing before the timeout');
  t.deepEqual(node.step(tick), [
    send(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 1, lastLogTerm: 1, preVote: true })),
    send(requestVote({ from: 1, to: 3, term: 2, lastLogIndex: 1, lastLogTerm: 1, preVote: true })),
    { type: 'RoleChanged', role: 'precandidate', term: 1, leaderId: 0 },
  ]);
  t.equal(node.currentTerm, 1, 'term unchanged');
  t.equal(node.votedFor, 0, 'vote unchanged');
  t.end();
});

test('election timer: the timeout is drawn from [electionTimeoutTicks, 2 * electionTimeoutTicks) by the injected Random (§5.2)', (t) => {
  const node = machine({ id: 1, random: new FixedRandom(9) });
  t.deepEqual(ticks(node, 18), [], 'no campaign before 19 ticks');
  t.equal(only(node.step(tick), 'Send').length, 2, 'pre-vote at tick 19');
  t.end();
});

test('pre-vote: a majority of granted pre-votes makes a candidate that persists term and vote before requesting votes (§5.2, thesis §9.6)', (t) => {
  const node = machine({ id: 1, term: 1, log: logOf([1]) });
  ticks(node, 10);
  t.deepEqual(node.step(receive(voteResponse({ from: 2, to: 1, term: 2, preVote: true }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 2, votedFor: 1 } },
    send(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 1, lastLogTerm: 1 })),
    send(requestVote({ from: 1, to: 3, term: 2, lastLogIndex: 1, lastLogTerm: 1 })),
    { type: 'RoleChanged', role: 'candidate', term: 2, leaderId: 0 },
  ]);
  t.end();
});

test('pre-vote: a majority of refusals ends the pre-vote; a refusal from a higher term is adopted (§5.1, thesis §9.6)', (t) => {
  const refused = machine({ id: 1, term: 1 });
  ticks(refused, 10);
  t.deepEqual(refused.step(receive(voteResponse({ from: 2, to: 1, term: 1, voteGranted: false, preVote: true }))), []);
  t.deepEqual(refused.step(receive(voteResponse({ from: 3, to: 1, term: 1, voteGranted: false, preVote: true }))), [
    { type: 'RoleChanged', role: 'follower', term: 1, leaderId: 0 },
  ]);

  const behind = machine({ id: 1, term: 1 });
  ticks(behind, 10);
  t.deepEqual(behind.step(receive(voteResponse({ from: 2, to: 1, term: 5, voteGranted: false, preVote: true }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 5, votedFor: 0 } },
    { type: 'RoleChanged', role: 'follower', term: 5, leaderId: 0 },
  ]);
  t.end();
});

test('pre-vote: a voter grants when the term is higher and the log at least as up-to-date, changing nothing (thesis §9.6, §5.4.1)', (t) => {
  const voter = machine({ id: 2, term: 1, log: logOf([1, 1]) });
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 2, lastLogTerm: 1, preVote: true }))), [
    send(voteResponse({ from: 2, to: 1, term: 2, voteGranted: true, preVote: true })),
  ]);
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 1, lastLogTerm: 1, preVote: true }))), [
    send(voteResponse({ from: 2, to: 1, term: 1, voteGranted: false, preVote: true })),
  ], 'shorter log with the same last term: refused');
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 1, lastLogIndex: 9, lastLogTerm: 1, preVote: true }))), [
    send(voteResponse({ from: 2, to: 1, term: 1, voteGranted: false, preVote: true })),
  ], 'term not above ours: refused');
  t.equal(voter.currentTerm, 1, 'term unchanged');
  t.equal(voter.votedFor, 0, 'vote unchanged');
  t.end();
});

test('RequestVote: one vote per term, persisted before the answer; a repeated request gets the same answer (§5.2)', (t) => {
  const voter = machine({ id: 2, term: 1, log: logOf([1]) });
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 1, lastLogTerm: 1 }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 2, votedFor: 1 } },
    send(voteResponse({ from: 2, to: 1, term: 2, voteGranted: true })),
    { type: 'RoleChanged', role: 'follower', term: 2, leaderId: 0 },
  ]);
  t.deepEqual(voter.step(receive(requestVote({ from: 3, to: 2, term: 2, lastLogIndex: 1, lastLogTerm: 1 }))), [
    send(voteResponse({ from: 2, to: 3, term: 2, voteGranted: false })),
  ], 'already voted for 1 in term 2');
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 1, lastLogTerm: 1 }))), [
    send(voteResponse({ from: 2, to: 1, term: 2, voteGranted: true })),
  ], 'duplicate request from the same candidate');
  t.end();
});

test('RequestVote: a candidate with a less up-to-date log is refused, but its higher term is adopted (§5.4.1, §5.1)', (t) => {
  const voter = machine({ id: 2, term: 1, log: logOf([1, 1]) });
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 3, lastLogIndex: 1, lastLogTerm: 1 }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 3, votedFor: 0 } },
    send(voteResponse({ from: 2, to: 1, term: 3, voteGranted: false })),
    { type: 'RoleChanged', role: 'follower', term: 3, leaderId: 0 },
  ]);
  t.deepEqual(voter.step(receive(requestVote({ from: 3, to: 2, term: 3, lastLogIndex: 1, lastLogTerm: 2 }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 3, votedFor: 3 } },
    send(voteResponse({ from: 2, to: 3, term: 3, voteGranted: true })),
  ], 'a higher last term wins over a longer log');
  t.deepEqual(voter.step(receive(requestVote({ from: 1, to: 2, term: 2, lastLogIndex: 9, lastLogTerm: 2 }))), [
    send(voteResponse({ from: 2, to: 1, term: 3, voteGranted: false })),
  ], 'a stale term is refused with currentTerm');
  t.end();
});

test('lease: a follower that heard from its leader less than electionTimeoutTicks ago ignores vote requests entirely (thesis §9.6)', (t) => {
  const follower = machine({ id: 2, term: 1, random: new FixedRandom(5) });
  follower.step(receive(appendEntries({ from: 1, to: 2, term: 1 })));
  ticks(follower, 9);
  t.deepEqual(follower.step(receive(requestVote({ from: 3, to: 2, term: 2, preVote: true }))), [], 'pre-vote ignored');
  t.deepEqual(follower.step(receive(requestVote({ from: 3, to: 2, term: 2 }))), [], 'vote ignored');
  t.equal(follower.currentTerm, 1, 'the higher term is not adopted');
  t.deepEqual(follower.step(tick), [], 'lease expires after 10 silent ticks');
  t.deepEqual(follower.step(receive(requestVote({ from: 3, to: 2, term: 2 }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 2, votedFor: 3 } },
    send(voteResponse({ from: 2, to: 3, term: 2, voteGranted: true })),
    { type: 'RoleChanged', role: 'follower', term: 2, leaderId: 0 },
  ]);
  t.end();
});

test('lease: a leader ignores vote requests, so a rejoining node cannot depose it (thesis §9.6)', (t) => {
  const leader = leaderOf();
  t.deepEqual(leader.step(receive(requestVote({ from: 3, to: 1, term: 9, lastLogIndex: 5, lastLogTerm: 8 }))), []);
  t.equal(leader.role, 'leader');
  t.equal(leader.currentTerm, 1);
  t.end();
});

test('candidate: a majority of votes makes a leader that appends a Noop of its term and replicates it (§5.2, §8)', (t) => {
  const node = machine({ id: 1, term: 1, log: logOf([1]) });
  ticks(node, 10);
  node.step(receive(voteResponse({ from: 2, to: 1, term: 2, preVote: true })));
  t.deepEqual(node.step(receive(voteResponse({ from: 3, to: 1, term: 2 }))), [
    { type: 'PersistEntries', entries: [noop(2, 2)] },
    send(appendEntries({ from: 1, to: 2, term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [noop(2, 2)] })),
    send(appendEntries({ from: 1, to: 3, term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [noop(2, 2)] })),
    { type: 'RoleChanged', role: 'leader', term: 2, leaderId: 1 },
  ]);
  t.end();
});

test('candidate: a refusal of the current term does not count as a vote; AppendEntries of its term makes it a follower (§5.2)', (t) => {
  const node = machine({ id: 1, term: 1, log: logOf([1]) });
  ticks(node, 10);
  node.step(receive(voteResponse({ from: 2, to: 1, term: 2, preVote: true })));
  t.deepEqual(node.step(receive(voteResponse({ from: 2, to: 1, term: 2, voteGranted: false }))), []);
  t.deepEqual(node.step(receive(appendEntries({ from: 3, to: 1, term: 2, prevLogIndex: 1, prevLogTerm: 1 }))), [
    send(appendResponse({ from: 1, to: 3, term: 2, success: true, matchIndex: 1 })),
    { type: 'RoleChanged', role: 'follower', term: 2, leaderId: 3 },
  ]);
  t.end();
});

test('single member: an election timeout makes it leader at once; its Persisted commits the Noop (§5.2)', (t) => {
  const node = machine({ id: 1, members: [1] });
  ticks(node, 9);
  t.deepEqual(node.step(tick), [
    { type: 'PersistHardState', hardState: { currentTerm: 1, votedFor: 1 } },
    { type: 'PersistEntries', entries: [noop(1, 1)] },
    { type: 'RoleChanged', role: 'leader', term: 1, leaderId: 1 },
  ]);
  t.deepEqual(node.step(event({ type: 'Persisted', index: 1, term: 1 })), [{ type: 'Apply', entries: [noop(1, 1)] }]);
  t.end();
});

test('check-quorum: a leader that hears from no majority for electionTimeoutTicks steps down and fails its reads (thesis §6.2)', (t) => {
  const leader = leaderOf();
  leader.step({ type: 'ReadIndex', requestId: 7 });
  const heartbeats = only(ticks(leader, 9), 'Send');
  t.equal(heartbeats.length, 8, 'heartbeats at ticks 2, 4, 6, 8 to both followers');
  t.deepEqual(leader.step(tick), [
    { type: 'RoleChanged', role: 'follower', term: 1, leaderId: 0 },
    { type: 'ReadFailed', requestIds: [7], leaderId: 0 },
  ]);
  t.end();
});

test('check-quorum: one answering follower keeps a leader of three in office for the next window (thesis §6.2)', (t) => {
  const leader = leaderOf();
  leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 })));
  ticks(leader, 10);
  t.equal(leader.role, 'leader', 'still leader after the first window');
  ticks(leader, 9);
  t.deepEqual(leader.step(tick), [{ type: 'RoleChanged', role: 'follower', term: 1, leaderId: 0 }], 'silent second window');
  t.end();
});

test('elect fixture: a five-member cluster needs two granted votes besides its own (§5.2)', (t) => {
  const node = machine({ id: 1, members: [1, 2, 3, 4, 5] });
  elect(node, [2, 3]);
  t.equal(node.role, 'leader');
  t.equal(node.currentTerm, 1);
  t.end();
});
