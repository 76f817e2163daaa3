/**
 * Node-to-node messaging behind a small interface (nanomsg today). Delivery is best effort:
 * messages may be dropped, delayed or reordered, which Raft tolerates by design.
 */
import type { RaftMessage } from '../raft/types.js';
import type { NodeId } from '../util/types.js';

export interface Transport {
  /** Starts listening and connecting; resolves when this node's address is bound. */
  start(onMessage: (message: RaftMessage) => void): Promise<void>;
  /** Queues `message` for `message.to`; never throws on a down peer (drops instead). */
  send(message: RaftMessage): void;
  close(): Promise<void>;
}

/** Where each node listens for Raft traffic, e.g. `127.0.0.1:9001`. */
export type PeerAddresses = ReadonlyMap<NodeId, string>;
