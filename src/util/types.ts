/**
 * Branded ids: each is a number at run time, but to the compiler a NodeId, a Term and a LogIndex
 * are different types, so passing a term where an index belongs (or swapping two arguments) does
 * not compile. A plain number becomes one only through the constructors below, called where ids
 * enter the program: decoders, storage, config, and arithmetic helpers that keep the brand.
 */
declare const brand: unique symbol;

/** A node's identity in the cluster (a small positive integer from the config); 0 means none. */
export type NodeId = number & { readonly [brand]: 'NodeId' };
/** A Raft term (Raft §5.1): starts at 0, only grows. */
export type Term = number & { readonly [brand]: 'Term' };
/** A position in the replicated log, starting at 1; 0 means "before the first entry". */
export type LogIndex = number & { readonly [brand]: 'LogIndex' };

/** A NodeId from a number read from config or the wire. */
export function asNodeId(value: number): NodeId {
  return value as NodeId;
}

/** A Term from a number read from storage or the wire. */
export function asTerm(value: number): Term {
  return value as Term;
}

/** A LogIndex from a number read from storage or the wire. */
export function asLogIndex(value: number): LogIndex {
  return value as LogIndex;
}

/** "No node": no vote cast, no leader known. */
export const noNode = asNodeId(0);
/** The term before any election. */
export const termZero = asTerm(0);
/** The index before the first entry (an empty log's last index). */
export const indexZero = asLogIndex(0);

/** The index `delta` entries after `index` (before it, for a negative delta). */
export function indexPlus(index: LogIndex, delta: number): LogIndex {
  return (index + delta) as LogIndex;
}

/** The term after `current`: the one a candidate campaigns in (Raft §5.2). */
export function nextTerm(current: Term): Term {
  return (current + 1) as Term;
}

/** The larger of two ids of one kind (Math.max would lose the brand). */
export function maxOf<T extends number>(a: T, b: T): T {
  return a >= b ? a : b;
}

/** The smaller of two ids of one kind (Math.min would lose the brand). */
export function minOf<T extends number>(a: T, b: T): T {
  return a <= b ? a : b;
}
