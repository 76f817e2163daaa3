#!/usr/bin/env node
// Runs one fsraft node; the implementation lives in dist/ (built by `npm run build`).
import '../dist/src/cli/fsraft_node.js';
