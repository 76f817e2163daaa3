/**
 * Says in one line why FUSE is unavailable when it is, so that `fsraft-mount`, `npm start` and
 * the FUSE tests can report it plainly instead of failing deep inside a mount: no /dev/fuse, no
 * native addon (src/native/fsraft_native.ts mounts and reads /dev/fuse), or neither root nor
 * fusermount to mount with.
 */
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import process from 'node:process';
import { nativeAvailable, nativeUnavailableReason } from '../native/fsraft_native.js';
import { findFusermount } from './kernel/fuse_session.js';

/** FUSE can be used, or one line saying why not. */
export type FuseLoadResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const fuseDevicePath = '/dev/fuse';

/** Checks the platform, /dev/fuse, the native addon and the right to mount. Never throws. */
export async function loadFuse(): Promise<FuseLoadResult> {
  if (process.platform !== 'linux') return { ok: false, reason: `FUSE mounts are supported on Linux only, not ${process.platform}` };
  if (!existsSync(fuseDevicePath)) {
    return { ok: false, reason: `no ${fuseDevicePath}: the kernel has no FUSE support here (modprobe fuse, or give the container --device /dev/fuse)` };
  }
  const root = process.getuid?.() === 0;
  if (root) {
    try {
      await access(fuseDevicePath, constants.R_OK | constants.W_OK);
    } catch {
      return { ok: false, reason: `not permitted: ${fuseDevicePath} is not readable and writable` };
    }
  } else if (findFusermount() === null) {
    return { ok: false, reason: 'not permitted: mounting without fusermount needs root (install the fuse3 package for fusermount3, or run as root)' };
  }
  if (!nativeAvailable()) return { ok: false, reason: nativeUnavailableReason() ?? 'the native addon is unavailable' };
  return { ok: true };
}
