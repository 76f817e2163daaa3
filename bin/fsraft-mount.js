#!/usr/bin/env node
// Mounts an fsraft cluster with FUSE; the implementation lives in dist/ (built by `npm run build`).
// The FUSE reader hands requests to the event loop; the libuv pool is sized before its first use,
// so that file work elsewhere in the process cannot starve it.
process.env.UV_THREADPOOL_SIZE ??= '8';
await import('../dist/src/cli/fsraft_mount.js');
