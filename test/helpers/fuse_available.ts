/** Whether a FUSE test can run here, as a tape assertion. */
import type { Test } from 'tape';
import type { FuseLoadResult } from '../../src/fuse/fuse_loader.js';

/**
 * True when FUSE can be used; otherwise fails `t` with the loader's reason, or skips it when
 * FSRAFT_SKIP_FUSE=1, and returns false.
 */
export async function fuseAvailable(t: Test, loading: Promise<FuseLoadResult>): Promise<boolean> {
  const fuse = await loading;
  if (fuse.ok) return true;
  if (process.env['FSRAFT_SKIP_FUSE'] === '1') t.skip(`FUSE unavailable: ${fuse.reason}`);
  else t.fail(`FUSE unavailable: ${fuse.reason} (set FSRAFT_SKIP_FUSE=1 to skip)`);
  return false;
}
