#!/usr/bin/env node
// Mounts an fsraft cluster with FUSE; the implementation lives in dist/ (built by `npm run build`).
import '../dist/src/cli/fsraft_mount.js';
