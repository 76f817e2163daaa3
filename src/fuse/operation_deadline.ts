/**
 * The deadline of one FUSE operation, applied to everything it waits for. An operation may be
 * several cluster calls and waits on a file's earlier writes (utimens: commit the buffered writes,
 * then setattr), and each of those alone ends within the request timeout; without one deadline
 * over all of them, a utimens behind four chained writes took five timeouts. A timed-out
 * operation fails with UNAVAILABLE (EIO): what it changed, if anything, is unknown.
 */
import { FsraftUnavailableError } from '../client/errors.js';
import type { Deadline } from '../clock/deadline.js';
import { limits } from '../util/limits.js';
import type { CallOptions } from '../client/fsraft_client.js';

/** The error of an operation that reached its deadline waiting for `what`. */
export function timedOut(deadline: Deadline, what: string): FsraftUnavailableError {
  return new FsraftUnavailableError(`gave up after ${deadline.elapsedMs()} ms (the limit is ${deadline.budgetMs} ms) waiting for ${what}`);
}

/** `work`'s outcome, or UNAVAILABLE naming `what` at the deadline (`work` keeps running). */
export function waitWithin<T>(deadline: Deadline, work: Promise<T>, what: string): Promise<T> {
  return deadline.race(work, () => {
    throw timedOut(deadline, what);
  });
}

/**
 * One cluster call within `deadline`. It gets what is left of the deadline as its own timeout, so
 * it ends by then with its own error (which names the call's last failure); the operation stops
 * waiting half a slack later in any case, should the backend overrun. Once the deadline has
 * passed nothing is sent.
 */
export function callWithin<T>(deadline: Deadline, what: string, call: (options: CallOptions) => Promise<T>): Promise<T> {
  if (deadline.passed) return Promise.reject(new FsraftUnavailableError(`${what}: not sent, nothing left of the ${deadline.budgetMs} ms limit`));
  let work: Promise<T>;
  try {
    work = call({ timeoutMs: deadline.remainingMs() });
  } catch (error) {
    return Promise.reject(error);
  }
  return deadline.race(
    work,
    () => {
      throw timedOut(deadline, what);
    },
    limits.deadlineSlackMs / 2,
  );
}
