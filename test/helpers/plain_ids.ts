/**
 * Tests write node ids, terms and log indexes as plain numbers (`term: 2`); `branded` turns such a
 * value into the branded types of src/util/types.ts. A test's literals are its input boundary, as
 * bytes are a decoder's, so this is where the cast belongs.
 */
import type { LogIndex, NodeId, Term } from '../../src/util/types.js';

/** `T` with every NodeId, Term and LogIndex in it (however deep) widened to a plain number. */
export type Plain<T> = T extends NodeId | Term | LogIndex
  ? number
  : T extends Uint8Array
    ? T
    : T extends readonly (infer U)[]
      ? readonly Plain<U>[]
      : T extends object
        ? { [K in keyof T]: Plain<T[K]> }
        : T;

/** The value as its branded type: ids and indexes are numbers at run time, so nothing changes. */
export function branded<T>(plain: Plain<T>): T {
  return plain as unknown as T;
}
