/**
 * Hands out what a step produced, ordered by the ORDERING RULE of ./types.ts, and checks the
 * invariants that must hold after every step.
 */
import { assert } from '../util/assert.js';
import type { RaftState } from './raft_state.js';
import type { RaftAction } from './types.js';
import { indexPlus } from '../util/types.js';

/** Assembles this step's actions in phase order: persist, send, apply, notify. */
export function collectActions(raft: RaftState): RaftAction[] {
  const actions: RaftAction[] = [];
  if (raft.currentTerm !== raft.persistedHardState.currentTerm || raft.votedFor !== raft.persistedHardState.votedFor) {
    raft.persistedHardState = { currentTerm: raft.currentTerm, votedFor: raft.votedFor };
    actions.push({ type: 'PersistHardState', hardState: raft.persistedHardState });
  }
  actions.push(...raft.persistActions, ...raft.sendActions);
  raft.persistActions = [];
  raft.sendActions = [];
  collectApply(raft, actions);
  collectRoleChanged(raft, actions);
  actions.push(...raft.noticeActions);
  raft.noticeActions = [];
  checkInvariants(raft);
  return actions;
}

function collectApply(raft: RaftState, actions: RaftAction[]): void {
  if (raft.restored !== null) {
    actions.push({ type: 'RestoreSnapshot', snapshot: raft.restored });
    raft.restored = null;
  }
  if (raft.commitIndex <= raft.appliedIndex) return;
  actions.push({ type: 'Apply', entries: raft.log.slice(indexPlus(raft.appliedIndex, 1), raft.commitIndex) });
  raft.appliedIndex = raft.commitIndex;
}

function collectRoleChanged(raft: RaftState, actions: RaftAction[]): void {
  const { role, term, leaderId } = raft.reported;
  if (role === raft.role && term === raft.currentTerm && leaderId === raft.leaderId) return;
  raft.reported = { role: raft.role, term: raft.currentTerm, leaderId: raft.leaderId };
  actions.push({ type: 'RoleChanged', ...raft.reported });
}

function checkInvariants(raft: RaftState): void {
  assert(raft.commitIndex <= raft.log.lastIndex, `commitIndex ${raft.commitIndex} beyond lastIndex ${raft.log.lastIndex}`);
  assert(raft.persistedIndex <= raft.log.lastIndex, `persistedIndex ${raft.persistedIndex} beyond lastIndex`);
  assert((raft.role === 'leader') === (raft.leaderId === raft.id), `role ${raft.role} with leaderId ${raft.leaderId}`);
  assert(raft.role !== 'candidate' || raft.votedFor === raft.id, 'candidate that did not vote for itself');
}
