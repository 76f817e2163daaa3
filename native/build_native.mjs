/**
 * Builds fsraft's own addon, native/fsraft_native.c, into native/build/fsraft_native.node.
 *
 * It compiles the one C file with `cc` (or $CC) against Node's own headers, which are installed
 * beside the node binary, so there is no node-gyp and no download. The addon mounts FUSE for the
 * kernel-protocol session (src/fuse/kernel/) and gives the storage nodes lseek SEEK_DATA/SEEK_HOLE,
 * fallocate and syncfs (src/native/fsraft_native.ts loads it).
 *
 * Run by the project's postinstall after build_fuse_binding.mjs, or by hand:
 *   node native/build_native.mjs
 * A failure prints why and exits 0, so the rest of fsraft still installs; the loader then reports
 * the addon as unavailable (nativeAvailable() false, with the reason) and the storage functions
 * fall back to what Node can do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const nativeDir = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(nativeDir, 'build');
const outFile = path.join(outDir, 'fsraft_native.node');

/** Node's own headers (node_api.h) as installed beside the running node binary. */
function nodeIncludeDir() {
  const candidates = [
    path.resolve(path.dirname(process.execPath), '../include/node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'node_api.h')));
  if (found === undefined) throw new Error(`node_api.h not found in ${candidates.join(', ')}`);
  return found;
}

function build() {
  if (process.platform !== 'linux') return `skipped on ${process.platform}: the addon uses Linux system calls`;
  mkdirSync(outDir, { recursive: true });
  // Written beside, then renamed: a half-written .node must never be what the loader finds.
  const temporary = `${outFile}.tmp`;
  rmSync(temporary, { force: true });
  execFileSync(
    process.env.CC ?? 'cc',
    [
      '-O2', '-shared', '-fPIC', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter',
      // Error messages are cut to their buffers on purpose.
      '-Wno-format-truncation',
      '-D_FILE_OFFSET_BITS=64', '-DNODE_GYP_MODULE_NAME=fsraft_native',
      '-I', nodeIncludeDir(),
      '-o', temporary,
      path.join(nativeDir, 'fsraft_native.c'),
      '-lpthread',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  renameSync(temporary, outFile);
  return `built ${path.relative(path.resolve(nativeDir, '..'), outFile)}`;
}

try {
  console.log(`fsraft native: ${build()}`);
} catch (error) {
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  console.warn(`fsraft native: could not build native/fsraft_native.c; kernel FUSE mounts will be unavailable and the storage functions fall back: ${message}`);
}
