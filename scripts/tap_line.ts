/**
 * How the test runner reads one line of tape's TAP output. Kept apart from run_tests.ts (which
 * runs the suite when imported) so a unit test can import it.
 */

/** What one TAP line counts as: a passed, failed or skipped check, or nothing (comments, plans, output). */
export type TapLineKind = 'passed' | 'failed' | 'skipped' | 'other';

/**
 * The kind of one line of TAP output. `ok N ... # SKIP` is a check that did not run: counting it
 * as passed would let a suite whose FUSE or tmpfs tests were all skipped report them as passing.
 */
export function classifyTapLine(line: string): TapLineKind {
  if (/^ok \d+ .*# SKIP/.test(line)) return 'skipped';
  if (/^ok \d+/.test(line)) return 'passed';
  if (/^not ok \d+/.test(line)) return 'failed';
  return 'other';
}
