#!/usr/bin/env node
// Checks the layering of design.md: imports point inward, and the pure zone (util, raft, fs,
// codec) touches no I/O, clock, randomness or process. Exits 1 and names each violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
/** Lower ranks are inner layers; a file may import its own layer or inner ones. */
const rank = { util: 0, raft: 1, fs: 1, codec: 2, storage: 3, transport: 3, clock: 3, native: 3, server: 4, client: 4, fuse: 5, cli: 6, launch: 7 };
const pure = new Set(['util', 'raft', 'fs', 'codec']);
const forbiddenInPure = [/\bDate\b/, /\bsetTimeout\b/, /\bsetInterval\b/, /\bsetImmediate\b/, /\bMath\.random\b/, /\bprocess\./, /\bconsole\./, /\bBuffer\b/];

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

const problems = [];
for (const file of files(src)) {
  const layer = path.relative(src, file).split(path.sep)[0];
  const text = readFileSync(file, 'utf8');
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  if (path.basename(file) === 'index.ts') problems.push(`${file}: no barrel index.ts files`);
  for (const match of code.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(['"]([^'"]+)['"]\)/g)) {
    const target = match[1] ?? match[2];
    if (target.startsWith('.')) {
      const targetLayer = path.relative(src, path.resolve(path.dirname(file), target)).split(path.sep)[0];
      if (!(targetLayer in rank)) continue;
      if (rank[targetLayer] > rank[layer] || (rank[targetLayer] === rank[layer] && targetLayer !== layer && pure.has(layer))) {
        problems.push(`${path.relative(src, file)}: imports ${target} (layer ${targetLayer} is not inward of ${layer})`);
      }
    } else if (pure.has(layer)) {
      problems.push(`${path.relative(src, file)}: the pure layer ${layer} imports package ${target}`);
    }
  }
  if (pure.has(layer)) {
    for (const pattern of forbiddenInPure) {
      if (pattern.test(code)) problems.push(`${path.relative(src, file)}: the pure layer ${layer} uses ${pattern.source.replace(/\\b|\\/g, '')}`);
    }
  }
}
for (const problem of problems) console.log(`layer check: ${problem}`);
console.log(problems.length === 0 ? 'layer check: ok' : `layer check: ${problems.length} problem(s)`);
process.exit(problems.length === 0 ? 0 : 1);
