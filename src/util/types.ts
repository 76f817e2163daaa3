/** A node's identity in the cluster (a small positive integer from the config). */
export type NodeId = number;
/** A Raft term (Raft §5.1): starts at 0, only grows. */
export type Term = number;
/** A position in the replicated log, starting at 1; 0 means "before the first entry". */
export type LogIndex = number;
