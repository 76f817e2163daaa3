/**
 * Snapshots and log compaction in the core (Raft §7): compaction after SnapshotTaken, the
 * leader's chunked InstallSnapshot with bounded chunks in flight and retransmission, the
 * follower's in-order chunk storage, install after the driver's check (keeping a matching
 * suffix, else discarding the log), and restart from a snapshot. Whole action lists compared.
 */
import test from 'tape';
import { RaftMachine } from '../../src/raft/raft_machine.js';
import type { InstallSnapshot, InstallSnapshotResponse, RaftAction, RaftInitialState, SnapshotMeta } from '../../src/raft/types.js';
import { asLogIndex } from '../../src/util/types.js';
import { branded, type Plain } from '../helpers/plain_ids.js';
import { FixedRandom, appendEntries, appendResponse, command, event, leaderOf, logOf, machine, options, receive, send, ticks } from './raft_fixtures.js';

const encoder = new TextEncoder();
const noBytes = new Uint8Array(0);

function chunk(fields: Partial<Plain<InstallSnapshot>> & { offset: number; length: number }): InstallSnapshot {
  const totalBytes = fields.totalBytes ?? 250;
  return branded<InstallSnapshot>({
    type: 'InstallSnapshot',
    from: 1,
    to: 3,
    term: 1,
    lastIncludedIndex: 6,
    lastIncludedTerm: 1,
    totalBytes,
    done: fields.offset + fields.length === totalBytes,
    data: noBytes,
    ...fields,
  });
}

function chunkResponse(fields: Partial<Plain<InstallSnapshotResponse>>): InstallSnapshotResponse {
  return branded<InstallSnapshotResponse>({ type: 'InstallSnapshotResponse', from: 3, to: 1, term: 1, lastIncludedIndex: 6, bytesStored: 0, installed: false, ...fields });
}

/** A leader of [1, 2, 3] in term 1 with entries 1..6 committed (follower 2 acknowledged them); follower 3 never answered. */
function leaderWithSixEntries(overrides = {}): RaftMachine {
  const leader = leaderOf({ overrides });
  leader.step({ type: 'Propose', commands: ['a', 'b', 'c', 'd', 'e'].map((text) => encoder.encode(text)) });
  leader.step(event({ type: 'Persisted', index: 6, term: 1 }));
  leader.step(receive(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 6 })));
  return leader;
}

const snapshotAt6 = branded<SnapshotMeta>({ index: 6, term: 1, bytes: 250 });

test('SnapshotTaken: the log is compacted keeping compactionKeepEntries before the snapshot, and CompactLog emitted (§7)', (t) => {
  const leader = leaderWithSixEntries();
  t.equal(leader.commitIndex, 6);
  t.deepEqual(leader.step(event({ type: 'SnapshotTaken', snapshot: snapshotAt6 })), [
    { type: 'CompactLog', base: { index: 4, term: 1 }, snapshot: snapshotAt6, discardLog: false },
  ]);
  t.equal(leader.baseIndex, 4, 'entries 5 and 6 are kept');
  t.equal(leader.entryAt(asLogIndex(4)), undefined);
  t.deepEqual(leader.entryAt(asLogIndex(5)), command(5, 1, 'd'));
  t.deepEqual(leader.step(event({ type: 'SnapshotTaken', snapshot: { index: 5, term: 1, bytes: 10 } })), [], 'an older snapshot than the latest is ignored');
  t.end();
});

test('SnapshotTaken: the kept entries are bounded by compactionKeepBytes too, since one entry may carry many commands', (t) => {
  // Entries 5 ('d') and 6 ('e') hold one byte each: a budget of one byte keeps only entry 6.
  const leader = leaderWithSixEntries({ compactionKeepEntries: 3, compactionKeepBytes: 1 });
  t.deepEqual(leader.step(event({ type: 'SnapshotTaken', snapshot: snapshotAt6 })), [
    { type: 'CompactLog', base: { index: 5, term: 1 }, snapshot: snapshotAt6, discardLog: false },
  ]);
  t.equal(leader.baseIndex, 5, 'entry 6 is kept, entry 5 would pass the byte budget');
  const none = leaderWithSixEntries({ compactionKeepEntries: 3, compactionKeepBytes: 0 });
  t.deepEqual(none.step(event({ type: 'SnapshotTaken', snapshot: snapshotAt6 }))[0], { type: 'CompactLog', base: { index: 6, term: 1 }, snapshot: snapshotAt6, discardLog: false }, 'a zero budget keeps nothing');
  t.end();
});

test('leader: a follower that needs compacted entries is sent the snapshot in bounded chunks, few in flight, then replicated (§7)', (t) => {
  const leader = leaderWithSixEntries();
  leader.step(event({ type: 'SnapshotTaken', snapshot: snapshotAt6 }));
  // Follower 3's log is empty: it rejects the probe at index 1, which is compacted.
  t.deepEqual(leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, success: false, conflictIndex: 1 }))), [
    send(chunk({ offset: 0, length: 100 })),
    send(chunk({ offset: 100, length: 100 })),
  ], 'snapshotChunksInflightMax (2) chunks of snapshotChunkBytesMax (100)');
  t.deepEqual(leader.step(receive(chunkResponse({ bytesStored: 100 }))), [send(chunk({ offset: 200, length: 50 }))]);
  t.deepEqual(leader.step(receive(chunkResponse({ bytesStored: 200 }))), [], 'nothing left to send');
  t.deepEqual(leader.step(receive(chunkResponse({ bytesStored: 250 }))), [], 'the follower is checking the file');
  t.deepEqual(leader.step(receive(chunkResponse({ bytesStored: 250, installed: true }))), [], 'installed: replicate from index 7, nothing new yet');
  const actions = leader.step({ type: 'Propose', commands: [encoder.encode('f')] });
  const appends = actions.filter((action): action is Extract<RaftAction, { type: 'Send' }> => action.type === 'Send' && action.message.to === 3);
  t.deepEqual(appends, [send(appendEntries({ from: 1, to: 3, term: 1, prevLogIndex: 6, prevLogTerm: 1, entries: [command(7, 1, 'f')], leaderCommit: 6 }))]);
  t.end();
});

test('leader: a chunk unanswered for snapshotRetransmitTicks is sent again; a lost chunk is resent from the bytes stored', (t) => {
  const leader = leaderWithSixEntries({ snapshotRetransmitTicks: 4 });
  leader.step(event({ type: 'SnapshotTaken', snapshot: snapshotAt6 }));
  leader.step(receive(appendResponse({ from: 3, to: 1, term: 1, success: false, conflictIndex: 1 })));
  const resent = ticks(leader, 4).filter((action) => action.type === 'Send' && action.message.type === 'InstallSnapshot');
  t.deepEqual(resent, [send(chunk({ offset: 0, length: 100 })), send(chunk({ offset: 100, length: 100 }))]);
  // Chunk 0 arrived; chunk 100 was lost, so the follower answers chunk 200 with 100 bytes held.
  t.deepEqual(leader.step(receive(chunkResponse({ bytesStored: 100 }))), [send(chunk({ offset: 200, length: 50 }))]);
  t.deepEqual(leader.step(receive(chunkResponse({ bytesStored: 100 }))), [], 'no proof of a loss yet: chunk 100 may still be on its way');
  const again = ticks(leader, 4).filter((action) => action.type === 'Send' && action.message.type === 'InstallSnapshot');
  t.deepEqual(again, [send(chunk({ offset: 100, length: 100 })), send(chunk({ offset: 200, length: 50 }))], 'resent from the oldest unanswered byte');
  t.end();
});

test('follower: chunks are stored in order and answered; one out of order is answered with the bytes held (§7)', (t) => {
  const follower = machine({ id: 3, term: 1, log: logOf([1, 1, 1]) });
  const first = follower.step(receive(chunk({ offset: 0, length: 100 })));
  t.deepEqual(first, [
    { type: 'StoreSnapshotChunk', from: 1, snapshot: snapshotAt6, offset: 0, length: 100, done: false },
    send(chunkResponse({ from: 3, to: 1, bytesStored: 100 })),
    { type: 'RoleChanged', role: 'follower', term: 1, leaderId: 1 },
  ]);
  t.deepEqual(follower.step(receive(chunk({ offset: 200, length: 50 }))), [send(chunkResponse({ bytesStored: 100 }))], 'a gap');
  t.deepEqual(follower.step(receive(chunk({ offset: 0, length: 100 }))), [send(chunkResponse({ bytesStored: 100 }))], 'a late duplicate of chunk 0 does not restart the stream');
  t.deepEqual(follower.step(receive(chunk({ offset: 100, length: 100 }))), [
    { type: 'StoreSnapshotChunk', from: 1, snapshot: snapshotAt6, offset: 100, length: 100, done: false },
    send(chunkResponse({ bytesStored: 200 })),
  ]);
  t.deepEqual(follower.step(receive(chunk({ offset: 200, length: 50 }))), [
    { type: 'StoreSnapshotChunk', from: 1, snapshot: snapshotAt6, offset: 200, length: 50, done: true },
  ], 'the last chunk is answered after the check');
  t.deepEqual(follower.step(receive(chunk({ offset: 200, length: 50 }))), [send(chunkResponse({ bytesStored: 250 }))], 'while checking');
  t.deepEqual(follower.step(event({ type: 'SnapshotReceived', snapshot: snapshotAt6, valid: true })), [
    { type: 'CompactLog', base: { index: 6, term: 1 }, snapshot: snapshotAt6, discardLog: true },
    send(chunkResponse({ bytesStored: 250, installed: true })),
    { type: 'RestoreSnapshot', snapshot: snapshotAt6 },
  ], 'its log (3 entries) does not reach the snapshot: discarded');
  t.deepEqual([follower.baseIndex, follower.lastIndex, follower.commitIndex, follower.lastAppliedIndex], [6, 6, 6, 6]);
  t.end();
});

test('follower: a checked snapshot whose last entry is in the log keeps the entries after it; a damaged one starts over', (t) => {
  const follower = machine({ id: 3, term: 1, log: logOf([1, 1, 1, 1, 1, 1, 1, 1]) });
  const whole = chunk({ offset: 0, length: 250, totalBytes: 250 });
  follower.step(receive(whole));
  t.deepEqual(follower.step(event({ type: 'SnapshotReceived', snapshot: snapshotAt6, valid: false })), [send(chunkResponse({ bytesStored: 0 }))]);
  follower.step(receive(whole));
  t.deepEqual(follower.step(event({ type: 'SnapshotReceived', snapshot: snapshotAt6, valid: true })), [
    { type: 'CompactLog', base: { index: 6, term: 1 }, snapshot: snapshotAt6, discardLog: false },
    send(chunkResponse({ bytesStored: 250, installed: true })),
    { type: 'RestoreSnapshot', snapshot: snapshotAt6 },
  ]);
  t.deepEqual([follower.baseIndex, follower.lastIndex, follower.commitIndex], [6, 8, 6], 'entries 7 and 8 kept (§7)');
  t.end();
});

test('follower: a snapshot of entries already committed here is answered installed at once', (t) => {
  const follower = machine({ id: 3, term: 1, log: logOf([1, 1, 1, 1, 1, 1, 1]) });
  follower.step(receive(appendEntries({ from: 1, to: 3, term: 1, prevLogIndex: 7, prevLogTerm: 1, leaderCommit: 7 })));
  t.deepEqual(follower.step(receive(chunk({ offset: 0, length: 100 }))), [send(chunkResponse({ bytesStored: 250, installed: true }))]);
  t.end();
});

test('restart: a node starts from its snapshot (committed and applied) and accepts appends anchored below its base', (t) => {
  const snapshot = branded<SnapshotMeta>({ index: 5, term: 1, bytes: 10 });
  const node = new RaftMachine(
    options(2),
    branded<RaftInitialState>({ hardState: { currentTerm: 1, votedFor: 0 }, snapshot, base: { index: 5, term: 1 }, entries: [command(6, 1, 'x')] }),
    new FixedRandom(0),
  );
  t.deepEqual([node.baseIndex, node.lastIndex, node.commitIndex, node.lastAppliedIndex], [5, 6, 5, 5]);
  const entries = [command(4, 1, 'x4'), command(5, 1, 'x5'), command(6, 1, 'x'), command(7, 1, 'y')];
  const actions = node.step(receive(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 3, prevLogTerm: 1, entries, leaderCommit: 7 })));
  t.deepEqual(actions, [
    { type: 'PersistEntries', entries: [command(7, 1, 'y')] },
    send(appendResponse({ from: 2, to: 1, term: 1, matchIndex: 7 })),
    { type: 'Apply', entries: [command(6, 1, 'x'), command(7, 1, 'y')] },
    { type: 'RoleChanged', role: 'follower', term: 1, leaderId: 1 },
  ], 'the compacted entries are committed, so they match the leader’s');
  t.end();
});

test('leader: a follower that keeps rejecting below its matchIndex lost its log (wiped) and is probed from where it is', (t) => {
  const leader = leaderWithSixEntries();
  const stale = receive(appendResponse({ from: 2, to: 1, term: 1, success: false, conflictIndex: 1 }));
  t.deepEqual(leader.step(stale), [], 'one such answer is taken for a stale one');
  t.deepEqual(leader.step(stale), []);
  const actions = leader.step(stale);
  t.deepEqual(actions, [send(appendEntries({ from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: leader.entries(asLogIndex(1), asLogIndex(6)), leaderCommit: 6 }))], 'the third in a row: probe from index 1');
  t.equal(leader.commitIndex, 6, 'commitIndex does not go back');
  t.end();
});
