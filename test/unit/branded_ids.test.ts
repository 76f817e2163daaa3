/**
 * Branded ids (src/util/types.ts): at run time plain numbers, to the compiler three types that do
 * not mix. The `@ts-expect-error` lines are the test that matters: if a brand stopped keeping a
 * Term out of a LogIndex (or a plain number out of either), they would fail the build.
 */
import test from 'tape';
import { RaftLog } from '../../src/raft/raft_log.js';
import { asLogIndex, asNodeId, asTerm, indexPlus, indexZero, maxOf, minOf, nextTerm, noNode, termZero, type LogIndex, type NodeId, type Term } from '../../src/util/types.js';

test('branded ids: swapped or plain-number arguments do not compile', (t) => {
  const index = asLogIndex(3);
  const term = asTerm(2);
  const node = asNodeId(1);
  // @ts-expect-error a Term is not a LogIndex
  const termAsIndex: LogIndex = term;
  // @ts-expect-error a LogIndex is not a NodeId
  const indexAsNode: NodeId = index;
  // @ts-expect-error a NodeId is not a Term
  const nodeAsTerm: Term = node;
  // @ts-expect-error a plain number is not a LogIndex: it needs a constructor at the boundary
  const plainIndex: LogIndex = 3;
  const log = new RaftLog([]);
  // @ts-expect-error isUpToDate(lastLogIndex, lastLogTerm) with the arguments swapped
  log.isUpToDate(term, index);
  t.equal(log.isUpToDate(index, term), true, 'the right order compiles (and a longer log of a higher term is up to date)');
  t.deepEqual([termAsIndex, indexAsNode, nodeAsTerm, plainIndex], [2, 3, 1, 3], 'at run time they are the same numbers');
  t.end();
});

test('branded ids: the helpers keep the brand and the arithmetic', (t) => {
  t.equal(indexPlus(asLogIndex(5), 2), 7);
  t.equal(indexPlus(asLogIndex(5), -5), indexZero);
  t.equal(nextTerm(termZero), 1);
  t.equal(maxOf(asLogIndex(4), asLogIndex(9)), 9);
  t.equal(minOf(asTerm(4), asTerm(9)), 4);
  t.equal(noNode, 0, 'no node is 0, as votedFor and leaderId have always written it');
  t.end();
});
