/**
 * Runs every compiled test file (dist/test/**\/*.test.js), each in its own process so a crash or a
 * leaked handle in one cannot hide the others, and ends with the line `N passed, N failed` (CI greps
 * it), after a line `N skipped`: a skipped check (`ok N ... # SKIP`) is never counted as passed.
 * Usage: node dist/scripts/run_tests.js [folder-or-file ...]   (default: dist/test)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyTapLine } from './tap_line.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** A test file that runs longer than this is killed and counted as failed. */
const fileTimeoutMs = 10 * 60 * 1000;
/** Order: fast pure tests first, real processes last. */
const folderOrder = ['unit', 'sim', 'integration'];

function findTests(target: string): string[] {
  if (statSync(target).isFile()) return [target];
  return readdirSync(target)
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .flatMap((name) => {
      const full = path.join(target, name);
      if (statSync(full).isDirectory()) return findTests(full);
      return name.endsWith('.test.js') ? [full] : [];
    });
}

function rank(name: string): number {
  const position = folderOrder.indexOf(name);
  return position === -1 ? folderOrder.length : position;
}

interface FileResult {
  passed: number;
  failed: number;
  skipped: number;
}

function runFile(file: string): Promise<FileResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const counts: FileResult = { passed: 0, failed: 0, skipped: 0 };
    let pending = '';
    const timer = setTimeout(() => {
      process.stdout.write(`not ok - ${file} timed out after ${fileTimeoutMs} ms\n`);
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const kind = classifyTapLine(line);
        if (kind !== 'other') counts[kind]++;
        process.stdout.write(`${line}\n`);
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pending !== '') process.stdout.write(`${pending}\n`);
      if ((code !== 0 || signal !== null) && counts.failed === 0) {
        // A crash or a hung file must never pass silently.
        process.stdout.write(`not ok - ${file} exited with ${signal ?? code}\n`);
        counts.failed++;
      }
      const { passed, failed, skipped } = counts;
      process.stdout.write(`# ${path.relative(root, file)}: ${passed} passed, ${failed} failed, ${skipped} skipped in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      resolve(counts);
    });
  });
}

async function main(): Promise<void> {
  const targets = process.argv.slice(2);
  const files = (targets.length > 0 ? targets : [path.join(root, 'dist/test')]).flatMap((target) => findTests(path.resolve(target)));
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of files) {
    const result = await runFile(file);
    passed += result.passed;
    failed += result.failed;
    skipped += result.skipped;
  }
  if (files.length === 0) failed++;
  process.stdout.write(`${skipped} skipped\n`);
  // Exactly this last line: CI greps it.
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

void main();
