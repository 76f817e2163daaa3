/**
 * Builders for the Raft core's unit tests: options, entries, messages, and machines brought into
 * a given role by stepping real events (never by reaching into private state).
 */
import { RaftMachine } from '../../src/raft/raft_machine.js';
import {
  EntryType,
  type AppendEntries,
  type AppendEntriesResponse,
  type LogEntry,
  type RaftAction,
  type RaftEvent,
  type RaftInitialState,
  type RaftMessage,
  type RaftOptions,
  type RequestVote,
  type RequestVoteResponse,
  type Role,
} from '../../src/raft/types.js';
import type { Random } from '../../src/util/prng.js';
import { branded, type Plain } from '../helpers/plain_ids.js';

/** Small limits so that tests reach them: election timeout 10 ticks, heartbeat 2 ticks. */
export function options(id: number, members: readonly number[] = [1, 2, 3], overrides: Partial<Plain<RaftOptions>> = {}): RaftOptions {
  return branded<RaftOptions>({
    id,
    members,
    electionTimeoutTicks: 10,
    heartbeatIntervalTicks: 2,
    appendEntriesMax: 10,
    appendBytesMax: 1024,
    inflightAppendsMax: 2,
    pendingProposalsMax: 100,
    pendingReadsMax: 10,
    compactionKeepEntries: 2,
    compactionKeepBytes: 1_000_000,
    snapshotChunkBytesMax: 100,
    snapshotChunksInflightMax: 2,
    snapshotRetransmitTicks: 10,
    ...overrides,
  });
}

/** A Random whose draws are fixed: `nextInt` returns min(value, bound - 1). */
export class FixedRandom implements Random {
  constructor(private readonly value = 0) {}
  nextInt(boundExclusive: number): number {
    return Math.min(this.value, boundExclusive - 1);
  }
  nextFloat(): number {
    return 0;
  }
}

const encoder = new TextEncoder();

export function command(index: number, term: number, text: string): LogEntry {
  return branded<LogEntry>({ index, term, type: EntryType.Command, data: encoder.encode(text) });
}

export function noop(index: number, term: number): LogEntry {
  return branded<LogEntry>({ index, term, type: EntryType.Noop, data: new Uint8Array(0) });
}

/** A log whose entry k + 1 has term `terms[k]` (commands named after their position). */
export function logOf(terms: readonly number[]): LogEntry[] {
  return terms.map((term, k) => command(k + 1, term, `x${k + 1}`));
}

/** A machine with the given durable state. */
export function machine(config: {
  id?: number;
  members?: readonly number[];
  term?: number;
  votedFor?: number;
  log?: readonly LogEntry[];
  overrides?: Partial<Plain<RaftOptions>>;
  random?: Random;
}): RaftMachine {
  return new RaftMachine(
    options(config.id ?? 1, config.members, config.overrides),
    branded<RaftInitialState>({ hardState: { currentTerm: config.term ?? 0, votedFor: config.votedFor ?? 0 }, entries: config.log ?? [] }),
    config.random ?? new FixedRandom(0),
  );
}

export const tick: RaftEvent = { type: 'Tick' };

export function receive(message: RaftMessage): RaftEvent {
  return { type: 'Receive', message };
}

/** Steps `count` ticks and returns every action they produced. */
export function ticks(node: RaftMachine, count: number): RaftAction[] {
  const actions: RaftAction[] = [];
  for (let k = 0; k < count; k++) actions.push(...node.step(tick));
  return actions;
}

type Addressed = { from: number; to: number; term: number };

export function appendEntries(fields: Addressed & Partial<Plain<AppendEntries>>): AppendEntries {
  return branded<AppendEntries>({ type: 'AppendEntries', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, round: 0, ...fields });
}

export function appendResponse(fields: Addressed & Partial<Plain<AppendEntriesResponse>>): AppendEntriesResponse {
  return branded<AppendEntriesResponse>({ type: 'AppendEntriesResponse', success: true, matchIndex: 0, conflictIndex: 0, round: 0, ...fields });
}

export function requestVote(fields: Addressed & Partial<Plain<RequestVote>>): RequestVote {
  return branded<RequestVote>({ type: 'RequestVote', lastLogIndex: 0, lastLogTerm: 0, preVote: false, ...fields });
}

export function voteResponse(fields: Addressed & Partial<Plain<RequestVoteResponse>>): RequestVoteResponse {
  return branded<RequestVoteResponse>({ type: 'RequestVoteResponse', voteGranted: true, preVote: false, ...fields });
}

export function send(message: RaftMessage): RaftAction {
  return { type: 'Send', message };
}

/**
 * Makes `node` leader by real events: election timeout, granted pre-votes, granted votes from
 * just enough peers. Returns the actions of the step that made it leader.
 */
export function elect(node: RaftMachine, voters: readonly number[]): RaftAction[] {
  // Read the role through a function: each step changes it, which TypeScript's narrowing cannot see.
  const role = (): Role => node.role;
  while (role() !== 'precandidate') node.step(tick);
  const preVoteTerm = node.currentTerm + 1;
  for (const voter of voters) {
    if (role() !== 'precandidate') break;
    node.step(receive(voteResponse({ from: voter, to: node.id, term: preVoteTerm, preVote: true })));
  }
  let last: RaftAction[] = [];
  for (const voter of voters) {
    if (role() !== 'candidate') break;
    last = node.step(receive(voteResponse({ from: voter, to: node.id, term: node.currentTerm })));
  }
  if (role() !== 'leader') throw new Error(`elect: node ${node.id} is ${node.role}`);
  return last;
}

/** A leader of [1, 2, 3] (id 1) whose noop is durable; `log` precedes the noop. */
export function leaderOf(config: { log?: readonly LogEntry[]; term?: number; members?: readonly number[]; overrides?: Partial<Plain<RaftOptions>> } = {}): RaftMachine {
  const members = config.members ?? [1, 2, 3];
  const node = machine({ id: 1, members, term: config.term ?? 0, log: config.log, overrides: config.overrides });
  elect(node, members.filter((member) => member !== 1));
  node.step({ type: 'Persisted', index: node.lastIndex, term: node.currentTerm });
  return node;
}

/** Only the actions of the given types, e.g. to look at what a step sent. */
export function only<T extends RaftAction['type']>(actions: readonly RaftAction[], ...types: T[]): Extract<RaftAction, { type: T }>[] {
  return actions.filter((action): action is Extract<RaftAction, { type: T }> => (types as string[]).includes(action.type));
}

/** An event written with plain numbers for its ids, terms and indexes. */
export function event(plain: Plain<RaftEvent>): RaftEvent {
  return branded<RaftEvent>(plain);
}
