/**
 * The test runner's reading of tape's TAP lines: a skipped check is counted as skipped, never as
 * passed (so a run whose FUSE tests were all skipped cannot report them as passing).
 */
import test from 'tape';
import { classifyTapLine } from '../../scripts/tap_line.js';

test('tap lines: passed, failed, skipped and everything else', (t) => {
  const cases: ReadonlyArray<readonly [string, ReturnType<typeof classifyTapLine>]> = [
    ['ok 1 the write reached the leader', 'passed'],
    ['ok 12 should be equal', 'passed'],
    ['not ok 3 should be equal', 'failed'],
    ['ok 4 FUSE unavailable: no /dev/fuse # SKIP', 'skipped'],
    ['ok 5 # SKIP', 'skipped'],
    ['ok 6 cannot mount a tmpfs (needs root): permission denied # SKIP', 'skipped'],
    // A check whose message merely mentions skipping still passed.
    ['ok 7 list skips it at the deadline', 'passed'],
    ['ok 8 # skip written in lower case is not the directive tape prints', 'passed'],
    ['# fuse write: flush commits them', 'other'],
    ['TAP version 13', 'other'],
    ['1..42', 'other'],
    ['  ---', 'other'],
    ['    ok 9 indented output of a child process', 'other'],
    ['not ok - dist/test/x.test.js exited with 1', 'other'],
    ['', 'other'],
  ];
  // The messages name the case by number: a message quoting a skipped line would itself end in
  // the directive and be counted as skipped by the runner.
  cases.forEach(([line, kind], index) => t.equal(classifyTapLine(line), kind, `case ${index + 1} is ${kind}`));
  t.end();
});
