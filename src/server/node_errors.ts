/**
 * Expected failures of a request to a node, as values with string codes. The client handler maps
 * each to a protocol reply; none of them is a crash.
 */
import type { NodeId } from '../util/types.js';

/** This node is not the leader; `leaderId` is the leader it knows of, or 0. */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER';
  constructor(readonly leaderId: NodeId) {
    super(leaderId === 0 ? 'no leader is known' : `node ${leaderId} is the leader`);
    this.name = 'NotLeaderError';
  }
}

/**
 * Leadership was lost while the request waited: it may or may not have been committed. The
 * client must be told "error", never "OK" (protocol.md, "Acknowledged means committed").
 */
export class OutcomeUnknownError extends Error {
  readonly code = 'OUTCOME_UNKNOWN';
  constructor(reason: string) {
    super(`the outcome is unknown: ${reason}`);
    this.name = 'OutcomeUnknownError';
  }
}

/** The leader holds too many uncommitted requests; the client should retry later. */
export class OverloadedError extends Error {
  readonly code = 'OVERLOADED';
  constructor() {
    super('too many requests are waiting for commitment');
    this.name = 'OverloadedError';
  }
}

/** The leader's disk is nearly full (see src/storage/disk_space.ts); the command was not proposed. */
export class NoSpaceError extends Error {
  readonly code = 'NO_SPACE';
  constructor() {
    super('the disk is nearly full');
    this.name = 'NoSpaceError';
  }
}

/** The node is shutting down. */
export class NodeStoppedError extends Error {
  readonly code = 'NODE_STOPPED';
  constructor() {
    super('the node is stopping');
    this.name = 'NodeStoppedError';
  }
}
