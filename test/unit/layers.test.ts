import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('layers: imports point inward and the pure zone touches no I/O', (t) => {
  const result = spawnSync(process.execPath, [path.join(root, 'scripts/check_layers.mjs')], { encoding: 'utf8' });
  t.equal(result.status, 0, result.stdout.trim());
  t.end();
});
