/**
 * Assertions that stay on in production. A broken invariant means the process can no longer be
 * trusted with replicated state, so it throws an AssertionFailure that the node driver treats as
 * fatal (the node exits and recovers by restarting from disk).
 */
export class AssertionFailure extends Error {
  readonly code = 'ASSERTION_FAILURE';
  constructor(message: string) {
    super(message);
    this.name = 'AssertionFailure';
  }
}

/** Throws AssertionFailure unless `condition` holds. */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}

/** Marks a switch as exhaustive: TypeScript rejects the call if a case is missing. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionFailure(`unreachable ${what}: ${JSON.stringify(value)}`);
}
