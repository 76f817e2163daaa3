import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';
import { mallocTunables, nodeEnvironment } from '../../src/cli/node_environment.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('node environment: the tunables are added, and an operator\'s own GLIBC_TUNABLES is kept', (t) => {
  t.equal(nodeEnvironment({ PATH: '/bin' })['GLIBC_TUNABLES'], mallocTunables);
  t.equal(nodeEnvironment({ PATH: '/bin' })['PATH'], '/bin', 'the rest of the environment is passed on');
  t.equal(nodeEnvironment({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' })['GLIBC_TUNABLES'], 'glibc.malloc.arena_max=4');
  t.equal(nodeEnvironment({ GLIBC_TUNABLES: '' })['GLIBC_TUNABLES'], mallocTunables, 'an empty setting counts as none');
  t.end();
});

test('node environment: bin/fsraft-node.js starts node with the same tunables', (t) => {
  const firstLine = readFileSync(path.join(repoRoot, 'bin/fsraft-node.js'), 'utf8').split('\n')[0];
  t.equal(firstLine, `#!/usr/bin/env -S GLIBC_TUNABLES=${mallocTunables} node`);
  t.end();
});
