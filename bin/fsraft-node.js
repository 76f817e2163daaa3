#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.trim_threshold=67108864:glibc.malloc.top_pad=16777216:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432 node
// Runs one fsraft node; the implementation lives in dist/ (built by `npm run build`).
// The #! line sets glibc's malloc tunables (see src/cli/node_environment.ts); started as
// `node bin/fsraft-node.js`, pass them yourself: GLIBC_TUNABLES=... node bin/fsraft-node.js <id>.
import '../dist/src/cli/fsraft_node.js';
