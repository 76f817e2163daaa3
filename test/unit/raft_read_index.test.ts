/**
 * Linearizable reads by ReadIndex (Raft thesis §6.4): a read is served at the commitIndex it saw
 * on arrival once a majority has answered a quorum round that started after it arrived.
 */
import test from 'tape';
import type { RaftMachine } from '../../src/raft/raft_machine.js';
import { appendEntries, appendResponse, event, leaderOf, machine, noop, receive, send, ticks } from './raft_fixtures.js';

/** A leader of [1, 2, 3] in term 1 whose noop (index 1) is committed, both followers in replicate state. */
function committedLeader(overrides = {}): RaftMachine {
  const leader = leaderOf({ overrides });
  leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 })));
  leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, matchIndex: 1 })));
  return leader;
}

function heartbeat(to: number, round: number) {
  return send(appendEntries({ from: 1, to, term: 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1, round }));
}

test('ReadIndex: a follower fails the read with its leader hint', (t) => {
  const follower = machine({ id: 2, term: 1 });
  follower.step(receive(appendEntries({ from: 3, to: 2, term: 1 })));
  t.deepEqual(follower.step({ type: 'ReadIndex', requestId: 7 }), [{ type: 'ReadFailed', requestIds: [7], leaderId: 3 }]);
  t.end();
});

test('ReadIndex: a new leader holds reads until it commits an entry of its term, then starts a round (thesis §6.4)', (t) => {
  const leader = leaderOf();
  t.deepEqual(leader.step({ type: 'ReadIndex', requestId: 7 }), [], 'noop not committed: commitIndex may be stale');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1 }))), [
    heartbeat(2, 1),
    send(appendEntries({ from: 1, to: 3, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 1, round: 1 })),
    { type: 'Apply', entries: [noop(1, 1)] },
  ], 'the noop commits and round 1 starts');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1, round: 1 }))), [
    { type: 'ReadReady', requestIds: [7], readIndex: 1 },
  ], 'a majority (leader and follower 2) answered round 1');
  t.end();
});

test('ReadIndex: reads arriving during a round join the next one; answers to the older round do not release them (thesis §6.4)', (t) => {
  const leader = committedLeader();
  t.deepEqual(leader.step({ type: 'ReadIndex', requestId: 1 }), [heartbeat(2, 1), heartbeat(3, 1)], 'round 1 starts');
  t.deepEqual(leader.step({ type: 'ReadIndex', requestId: 2 }), [], 'read 2 waits for round 2');
  t.deepEqual(leader.step({ type: 'ReadIndex', requestId: 3 }), [], 'so does read 3');
  t.deepEqual(leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 1, round: 1 }))), [
    heartbeat(2, 2),
    heartbeat(3, 2),
    { type: 'ReadReady', requestIds: [1], readIndex: 1 },
  ], 'round 1 confirmed releases read 1 and starts round 2');
  t.deepEqual(leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, matchIndex: 1, round: 1 }))), [], 'a late round-1 answer proves nothing about reads 2 and 3');
  t.deepEqual(leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, matchIndex: 1, round: 2 }))), [
    { type: 'ReadReady', requestIds: [2, 3], readIndex: 1 },
  ]);
  t.end();
});

test('ReadIndex: a refusal of the current term still confirms the round; heartbeats carry the current round (thesis §6.4)', (t) => {
  const leader = committedLeader();
  leader.step({ type: 'ReadIndex', requestId: 4 });
  t.deepEqual(ticks(leader, 2), [heartbeat(2, 1), heartbeat(3, 1)]);
  t.deepEqual(leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, success: false, conflictIndex: 2, round: 1 }))), [
    heartbeat(3, 1),
    { type: 'ReadReady', requestIds: [4], readIndex: 1 },
  ], 'the refusal also sends follower 3 a probe at index 2');
  t.end();
});

test('ReadIndex: beyond pendingReadsMax the leader refuses, naming itself', (t) => {
  const leader = committedLeader({ pendingReadsMax: 2 });
  leader.step({ type: 'ReadIndex', requestId: 1 });
  leader.step({ type: 'ReadIndex', requestId: 2 });
  t.deepEqual(leader.step({ type: 'ReadIndex', requestId: 3 }), [{ type: 'ReadFailed', requestIds: [3], leaderId: 1 }]);
  t.end();
});

test('ReadIndex: losing leadership fails every pending read, held or waiting (thesis §6.4)', (t) => {
  const leader = committedLeader();
  leader.step({ type: 'ReadIndex', requestId: 1 });
  leader.step({ type: 'ReadIndex', requestId: 2 });
  t.deepEqual(leader.step(receive(appendEntries({ from: 3, to: 1, term: 2, prevLogIndex: 1, prevLogTerm: 1 }))), [
    { type: 'PersistHardState', hardState: { currentTerm: 2, votedFor: 0 } },
    send(appendResponse({ from: 1, to: 3, term: 2, matchIndex: 1 })),
    { type: 'RoleChanged', role: 'follower', term: 2, leaderId: 3 },
    { type: 'ReadFailed', requestIds: [1, 2], leaderId: 3 },
  ]);
  t.end();
});

test('ReadIndex: a single-member leader is its own majority and answers at once', (t) => {
  const leader = machine({ id: 1, members: [1] });
  ticks(leader, 10);
  leader.step(event({ type: 'Persisted', index: 1, term: 1 }));
  t.deepEqual(leader.step({ type: 'ReadIndex', requestId: 5 }), [{ type: 'ReadReady', requestIds: [5], readIndex: 1 }]);
  t.end();
});
