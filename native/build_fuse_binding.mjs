/**
 * Builds fuse-native's addon so that it loads on a machine with no system libfuse.
 *
 * fuse-native 2.x ships a prebuilt addon (prebuilds/linux-x64/node.napi.node) that needs
 * `libfuse.so.2` but carries no RUNPATH, so on a machine without the libfuse2 package every
 * `require('fuse-native')` fails with "libfuse.so.2: cannot open shared object file". Its own
 * install script (node-gyp-build) would rebuild with node-gyp, which downloads Node's headers
 * from the internet, and its result still has no RUNPATH. So this script compiles the addon's one
 * C file directly with the C compiler, against the libfuse 2.9 build and headers that the npm
 * package fuse-shared-library-linux ships, links it with RUNPATH=$ORIGIN and copies that
 * libfuse beside it as libfuse.so.2. The result goes to node_modules/fuse-native/build/Release,
 * which node-gyp-build prefers over the prebuilds. No network, about one second.
 *
 * Run by the project's postinstall (npm install / npm ci), or by hand:
 *   node native/build_fuse_binding.mjs
 * A failure prints why and exits 0, so the rest of fsraft still installs; the FUSE loader
 * (src/fuse/fuse_loader.ts) then reports the binding as unavailable.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function packageDir(name, fromDir) {
  const require = createRequire(path.join(fromDir, 'package.json'));
  return path.dirname(require.resolve(`${name}/package.json`));
}

/** Node's own headers (node_api.h, uv.h) as installed beside the running node binary. */
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

/** Applies each [from, to] replacement once; a missing `from` means another fuse-native version. */
function patchSource(source, replacements) {
  let patched = source;
  for (const [from, to] of replacements) {
    if (!patched.includes(from)) throw new Error(`fuse-native.c has changed: cannot find ${JSON.stringify(from.slice(0, 60))}`);
    patched = patched.replace(from, to);
  }
  return patched;
}

function build() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    // fuse-shared-library-linux ships an x86-64 libfuse only; elsewhere keep fuse-native's own way.
    return `skipped on ${process.platform}-${process.arch}`;
  }
  const fuseNativeDir = packageDir('fuse-native', root);
  const libfuseDir = path.join(packageDir('fuse-shared-library-linux', fuseNativeDir), 'libfuse');
  const napiMacrosDir = packageDir('napi-macros', fuseNativeDir);
  const outDir = path.join(fuseNativeDir, 'build', 'Release');
  const temporaryDir = path.join(fuseNativeDir, 'build', 'Release.tmp');
  rmSync(temporaryDir, { recursive: true, force: true });
  mkdirSync(temporaryDir, { recursive: true });
  // The soname inside this libfuse is libfuse.so.2: that is the file name the loader looks for.
  copyFileSync(path.join(libfuseDir, 'lib', 'libfuse.so'), path.join(temporaryDir, 'libfuse.so.2'));
  // fuse-native 2.2.6's utimens hands JavaScript the access time twice (argv 5 converts
  // l->atime, not l->mtime), so no mtime set through the mount would ever arrive. Compile a
  // copy with that one argument fixed.
  //
  // And libfuse 2.9 hands utimens a time marked UTIME_OMIT ("leave it") only to a file system that
  // sets flag_utime_omit_ok; otherwise it drops every call that sets one time alone, which is how
  // `touch -m` and `tar x` set an mtime, so those were silently lost. The copy sets the flag and
  // passes UTIME_OMIT as UINT64_MAX ms and UTIME_NOW as the current time, so JavaScript can tell
  // "leave unchanged" from a real time (fuse-native would turn both into about 1073 ms).
  const source = readFileSync(path.join(fuseNativeDir, 'fuse-native.c'), 'utf8');
  const fixedSource = patchSource(source, [
    ['FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)'],
    ['  l->atime = timespec_to_uint64(&tv[0]);\n  l->mtime = timespec_to_uint64(&tv[1]);',
      '  l->atime = utimens_time_to_uint64(&tv[0]);\n  l->mtime = utimens_time_to_uint64(&tv[1]);'],
    ['static void populate_stat (', `static uint64_t utimens_time_to_uint64 (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return UINT64_MAX;
  if (ts->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return timespec_to_uint64(&now);
  }
  return timespec_to_uint64(ts);
}

static void populate_stat (`],
    // create: hand JavaScript the open flags too (O_EXCL, O_APPEND), as a fifth argument.
    ['FUSE_METHOD(create, 2, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {\n  l->path = path;\n  l->mode = mode;\n  l->info = info;\n}, {\n  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));\n  napi_create_uint32(env, l->mode, &(argv[3]));\n',
      'FUSE_METHOD(create, 3, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {\n  l->path = path;\n  l->mode = mode;\n  l->info = info;\n}, {\n  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));\n  napi_create_uint32(env, l->mode, &(argv[3]));\n  napi_create_uint32(env, (uint32_t) l->info->flags, &(argv[4]));\n'],
    ['  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;',
      '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n  ops.flag_utime_omit_ok = 1;'],
  ]);
  writeFileSync(path.join(temporaryDir, 'fuse-native.c'), fixedSource);
  const compiler = process.env.CC ?? 'cc';
  execFileSync(
    compiler,
    [
      '-O2', '-shared', '-fPIC', '-D_FILE_OFFSET_BITS=64',
      '-I', nodeIncludeDir(), '-I', napiMacrosDir, '-I', path.join(libfuseDir, 'include'),
      '-o', path.join(temporaryDir, 'fuse.node'),
      path.join(temporaryDir, 'fuse-native.c'),
      path.join(temporaryDir, 'libfuse.so.2'),
      '-lpthread',
      // $ORIGIN: find libfuse.so.2 beside fuse.node, wherever node_modules lives.
      '-Wl,-rpath,$ORIGIN',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  rmSync(path.join(temporaryDir, 'fuse-native.c'));
  // Swap in whole: a half-written build/Release would shadow the prebuilds with a broken addon.
  rmSync(outDir, { recursive: true, force: true });
  renameSync(temporaryDir, outDir);
  return `built ${path.relative(root, path.join(outDir, 'fuse.node'))}`;
}

try {
  console.log(`fsraft native: fuse-native ${build()}`);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.warn(`fsraft native: could not build the fuse-native binding, FUSE mounts will be unavailable: ${message}`);
}
