/**
 * Everyday tools on a real tree, through a real fsraft-mount of a real 5-node cluster: `cp -a`,
 * `rsync -aHAXS` (in, again with nothing left to change, and back out) and `tar --xattrs -S` copy
 * a tree of nested directories, files of assorted sizes, symlinks (relative, absolute, dangling, to
 * a directory), hard links across directories, a 1 GiB sparse file and one that is all hole, a
 * FIFO, user.* xattrs, odd names (spaces, %, unicode, 255 bytes), setuid/setgid/sticky modes,
 * owners other than root and past mtimes with nanoseconds. Each copy must equal the source in
 * contents (diff -r), types, symlink targets, modes, owners, sizes, link counts, mtimes to the
 * nanosecond, hard-link groups and xattrs, and the sparse files must stay sparse: in st_blocks
 * and on every node's disk, a follower that caught up through a snapshot included. A second,
 * fresh mount must see the same copies.
 *
 * Sizes are small apart from the sparse file, which is never read whole through the mount: a
 * reader without SEEK_DATA (rsync) would move 1 GiB of zeros over the cluster's read path.
 * A tool this machine lacks (rsync, getfattr/setfattr) is reported as skipped, never as passed.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type Test } from 'tape';
import { loadFuse } from '../../src/fuse/fuse_loader.js';
import { eventually } from '../../src/launch/local_cluster.js';
import { MountProcess, runTool, sh, tempMountpoint } from '../../src/launch/mount_process.js';
import { fileCluster, startTest, stopTest } from '../helpers/cluster_test.js';
import { fuseAvailable } from '../helpers/fuse_available.js';

/** The sparse file: 1 GiB with three 64 KiB blocks written (first, middle, last), the rest holes. */
const sparseName = 'sparse-1g';
const sparseBytes = 1024 ** 3;
const sparseBlockBytes = 64 * 1024;
const sparseBlockIndexes = [0, 300, sparseBytes / sparseBlockBytes - 1];
const sparseDataBytes = sparseBlockIndexes.length * sparseBlockBytes;
/** A file that is nothing but a hole. */
const allHoleName = 'all-hole';
const allHoleBytes = 8 * 1024 * 1024;
/** Slack over the written bytes that still counts as "about as little space" (file-system blocks, metadata). */
const sparseSlackBytes = 1024 * 1024;

const cluster = await fileCluster({
  // Small snapshot thresholds: the copies' few MiB of writes make the nodes snapshot, so the
  // follower stopped during the copies catches up through a snapshot stream, not the log.
  snapshot: { logBytesMax: 2 * 1024 * 1024, keepBytes: 256 * 1024 },
});
startTest(cluster);
// Not awaited here: tape starts running once the module's first await yields.
const fuseLoading = loadFuse();
// Everything below until the tests is synchronous: an await here would let tape run the cluster's
// start test alone, find no more tests registered when it ends, and finish the file; the tests
// registered after it then "exited without ending" (seen when the cluster started quickly).
const work = mkdtempSync(path.join(tmpdir(), 'fsraft-tools-'));
const source = path.join(work, 'src');
const mounts: MountProcess[] = [];
test.onFinish(() => {
  // Mounts live in their own temp dirs (tempMountpoint), never under `work`: nothing here is a mount.
  void rm(work, { recursive: true, force: true });
});

/** True if `program` is an executable file in a directory of $PATH. */
function onPath(program: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => {
    try {
      accessSync(path.join(dir || '.', program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Which optional tools are installed (Debian packages rsync and attr). */
const tools = {
  rsync: onPath('rsync'),
  getfattr: onPath('getfattr'),
  setfattr: onPath('setfattr'),
};

/**
 * The source tree, built on local disk. Hard links: small (3 names in 3 directories) and medium
 * (2). Symlink and file mtimes are set last, directory mtimes after everything inside them.
 */
const buildScript = `
mkdir -p src/dir/sub/deeper src/empty-dir src/other src/setgid src/sticky
: > src/empty
printf 'hello\\n' > src/small
head -c 70000 /dev/urandom > src/dir/medium
head -c ${3 * 1024 * 1024 + 12345} /dev/urandom > src/dir/sub/big
printf 'deep\\n' > src/dir/sub/deeper/file
ln -s small src/rel-link
ln -s ../small src/dir/up-link
ln -s /etc/hostname src/abs-link
ln -s does/not/exist src/dangling
ln -s dir/sub src/dir-link
ln src/small src/dir/hard-small
ln src/small src/other/hard-small-2
ln src/dir/medium src/dir/sub/medium-link
truncate -s ${sparseBytes} src/${sparseName}
for at in ${sparseBlockIndexes.join(' ')}; do head -c ${sparseBlockBytes} /dev/urandom | dd of=src/${sparseName} bs=${sparseBlockBytes} seek=$at conv=notrunc status=none; done
truncate -s ${allHoleBytes} src/${allHoleName}
mkfifo src/fifo
printf 'space\\n' > 'src/with space'
printf 'percent\\n' > 'src/100% sure %41'
printf 'unicode\\n' > 'src/ünïcødé 日本語 ✓'
printf 'long\\n' > "src/$(printf 'L%.0s' $(seq 255))"
printf 'long unicode\\n' > "src/$(printf 'é%.0s' $(seq 127))x"
printf 'dash\\n' > 'src/-dash'
printf 'inherits\\n' > src/setgid/file
chmod 2775 src/setgid
chmod 1777 src/sticky
chmod 600 src/dir/medium
chmod 444 'src/with space'
chmod 000 src/dir/sub/deeper/file
chmod 4755 src/small
chown 65534:65534 src/other src/dir/sub/big src/sticky src/fifo
chown -h 65534:65534 src/rel-link
if [ "$WITH_XATTRS" = 1 ]; then
  setfattr -n user.color -v blue src/small
  setfattr -n user.empty src/dir
  setfattr -n user.binary -v 0sAAECAwT/ src/dir/medium
  setfattr -n user.long -v "$(head -c 2000 /dev/zero | tr '\\0' v)" src/dir/sub/big
  setfattr -n user.sparse -v yes src/${sparseName}
fi
touch -h -d '2001-02-03 04:05:06.123456789' src/dir/sub/deeper/file src/dir/sub/big src/small src/${sparseName} src/fifo 'src/with space' src/empty src/dir/medium
touch -h -d '1999-12-31 23:59:59.987654321' src/rel-link src/dangling src/abs-link src/dir-link src/dir/up-link
touch -d '2005-05-05 05:05:05.000000001' src/dir/sub/deeper src/dir/sub src/dir src/other src/setgid src/sticky src/empty-dir src
`;

/** Runs a bash script (-e) with `args` as $1, $2...; cwd /. */
function bash(script: string, args: readonly string[], timeoutMs = 60_000): ReturnType<typeof runTool> {
  return runTool('/bin/bash', ['-ec', script, 'bash', ...args], { cwd: '/', timeoutMs });
}

/** One entry of a tree as find(1) describes it. */
interface Entry {
  readonly path: string;
  /** find's %y: f, d, l, p... */
  readonly type: string;
  /** Permission bits with setuid/setgid/sticky, octal. */
  readonly mode: string;
  readonly uid: string;
  readonly gid: string;
  readonly size: string;
  readonly nlink: string;
  /** Seconds since the epoch, to the nanosecond. */
  readonly mtime: string;
  readonly ino: string;
  /** st_blocks (512-byte units). */
  readonly blocks: number;
  /** The symlink's target. */
  readonly target: string;
}

/** Every entry below `root` ('' is the root itself), by path. */
async function describeTree(root: string): Promise<Map<string, Entry>> {
  const listed = await runTool('/usr/bin/find', ['.', '-printf', '%P\\t%y\\t%m\\t%U\\t%G\\t%s\\t%n\\t%T@\\t%i\\t%b\\t%l\\0'], { cwd: root });
  if (listed.code !== 0) throw new Error(`find in ${root} failed: ${listed.stderr}`);
  const entries = new Map<string, Entry>();
  for (const record of listed.stdout.split('\0')) {
    if (record === '') continue;
    const [name = '', type = '', mode = '', uid = '', gid = '', size = '', nlink = '', mtime = '', ino = '', blocks = '', target = ''] = record.split('\t');
    entries.set(name, { path: name, type, mode, uid, gid, size, nlink, mtime, ino, blocks: Number(blocks), target });
  }
  return entries;
}

/** What differs between two descriptions, one line per difference (directory sizes are the file system's own). */
function differences(expected: Map<string, Entry>, actual: Map<string, Entry>): string[] {
  const found: string[] = [];
  for (const name of expected.keys()) if (!actual.has(name)) found.push(`${name || '.'}: missing`);
  for (const name of actual.keys()) if (!expected.has(name)) found.push(`${name || '.'}: not in the source`);
  const fields = ['type', 'mode', 'uid', 'gid', 'size', 'nlink', 'mtime', 'target'] as const;
  for (const [name, want] of expected) {
    const got = actual.get(name);
    if (got === undefined) continue;
    for (const field of fields) {
      if (field === 'size' && want.type === 'd') continue;
      if (want[field] !== got[field]) found.push(`${name || '.'}: ${field} ${got[field]}, not ${want[field]}`);
    }
  }
  return found;
}

/** The names of each inode with more than one name, as sorted groups: hard links. */
function linkGroups(entries: Map<string, Entry>): string[] {
  const byInode = new Map<string, string[]>();
  for (const entry of entries.values()) {
    if (entry.type === 'd') continue;
    byInode.set(entry.ino, [...(byInode.get(entry.ino) ?? []), entry.path]);
  }
  return [...byInode.values()].filter((names) => names.length > 1).map((names) => names.sort().join(' = ')).sort();
}

/** Every symlink below the root and its target, as find -type l and readlink see them. */
async function symlinks(root: string): Promise<string[]> {
  const listed = await sh('find . -type l -print0 | sort -z | while IFS= read -r -d "" link; do printf "%s -> %s\\n" "$link" "$(readlink "$link")"; done', root);
  return listed.stdout.split('\n').filter((line) => line !== '');
}

/**
 * Every extended attribute below the root (getfattr -R -h -d -m -, hex values), one sorted line
 * each; a long value is shown by its length and digest, so that a failure stays readable.
 */
async function xattrs(root: string): Promise<string[]> {
  const dumped = await runTool('/usr/bin/getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root });
  const lines: string[] = [];
  let file = '';
  for (const line of dumped.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice('# file: '.length);
    else if (line.length > 100) lines.push(`${file}\t${line.slice(0, line.indexOf('=') + 1)}<${line.length} chars, sha256 ${createHash('sha256').update(line).digest('hex').slice(0, 16)}>`);
    else if (line !== '') lines.push(`${file}\t${line}`);
  }
  return lines.sort();
}

/**
 * Checks the copy at `copy` against the source `expected` (described beforehand) in every way the
 * tools promise to keep.
 */
async function compareTrees(t: Test, what: string, expected: Map<string, Entry>, copy: string): Promise<void> {
  const actual = await describeTree(copy);
  t.deepEqual(differences(expected, actual), [], `${what}: every name, type, mode (setuid/setgid/sticky), owner, size, link count and mtime (to the ns) as in the source`);
  t.deepEqual(await symlinks(copy), await symlinks(source), `${what}: find -type l and readlink: the same symlinks with the same targets (relative, absolute, dangling, to a directory)`);
  const groups = linkGroups(actual);
  t.deepEqual(groups, linkGroups(expected), `${what}: names hard-linked in the source are hard-linked in the copy (${groups.length} groups)`);
  const sparse = actual.get(sparseName);
  const sparseBytesUsed = (sparse?.blocks ?? -1) * 512;
  t.ok(sparseBytesUsed >= sparseDataBytes && sparseBytesUsed <= sparseDataBytes + sparseSlackBytes,
    `${what}: the 1 GiB sparse file takes ${sparseBytesUsed} bytes (st_blocks), about its ${sparseDataBytes} written`);
  t.equal(actual.get(allHoleName)?.blocks, 0, `${what}: the all-hole file takes no blocks`);
  const du = await runTool('/usr/bin/du', ['-s', '-B1', sparseName], { cwd: copy });
  t.ok(Number(du.stdout.split('\t')[0]) <= sparseDataBytes + sparseSlackBytes, `${what}: du agrees (${du.stdout.split('\t')[0]} bytes)`);
  // The sparse file is compared where it holds data and at a hole; a whole read would move 1 GiB.
  const diff = await runTool('/usr/bin/diff', ['-r', '--no-dereference', '-x', 'fifo', '-x', sparseName, source, copy], { timeoutMs: 60_000 });
  t.equal(diff.code, 0, `${what}: diff -r finds the same contents${diff.code === 0 ? '' : `:\n${diff.stdout}${diff.stderr}`}`);
  const regions = sparseBlockIndexes.map((index) => `cmp -n ${sparseBlockBytes} -i ${index * sparseBlockBytes} "$1/${sparseName}" "$2/${sparseName}"`);
  const compared = await bash(`${regions.join(' && ')} && cmp -n 1048576 -i ${sparseBytes / 2}:0 "$2/${sparseName}" /dev/zero`, [source, copy]);
  t.equal(compared.code, 0, `${what}: the sparse file's written blocks are equal and a hole reads as zeros${compared.code === 0 ? '' : `: ${compared.stdout}${compared.stderr}`}`);
  if (!tools.getfattr) {
    t.skip(`${what}: getfattr not installed (Debian package attr): xattrs not compared`);
    return;
  }
  const names = await xattrs(copy);
  t.deepEqual(names, await xattrs(source), `${what}: getfattr -d shows the same xattrs (${names.length}), and none of the mount's own`);
}

/** Bytes used and apparent bytes of each node's state directory (du). */
async function nodeStateUsage(): Promise<Array<{ id: number; usedBytes: number; apparentBytes: number }>> {
  return Promise.all(
    cluster.nodes.map(async ({ id }) => {
      const dir = path.join(cluster.dir, `n${id}`, 'state');
      const used = await runTool('/usr/bin/du', ['-s', '-B1', dir]);
      const apparent = await runTool('/usr/bin/du', ['-s', '-B1', '--apparent-size', dir]);
      return { id, usedBytes: Number(used.stdout.split('\t')[0]), apparentBytes: Number(apparent.stdout.split('\t')[0]) };
    }),
  );
}

/**
 * The bytes on disk (st_blocks) of each file of exactly the sparse file's size in the state node
 * `id` uses (the one its stateDir's CURRENT names, not one being received beside it): the node's
 * copies of the sparse files, one sparse content file per inode (README "Where a node keeps its data").
 */
async function sparseFilesOnNode(id: number): Promise<number[]> {
  const stateDir = path.join(cluster.dir, `n${id}`, 'state');
  const current = (await readFile(path.join(stateDir, 'CURRENT'), 'utf8').catch(() => '')).trim();
  if (current === '') return [];
  const found = await runTool('/usr/bin/find', [path.join(stateDir, current), '-type', 'f', '-size', `${sparseBytes}c`, '-printf', '%b\n']);
  return found.stdout.split('\n').filter((line) => line !== '').map((blocks) => Number(blocks) * 512);
}

async function guard(t: Test): Promise<boolean> {
  if (!(await fuseAvailable(t, fuseLoading))) return false;
  cluster.watch(t);
  return true;
}

let first: MountProcess | undefined;
let expected: Map<string, Entry> = new Map();
let usageBefore: Array<{ id: number; usedBytes: number; apparentBytes: number }> = [];
/** The copies made into the mount (a: cp, b: rsync, c: tar), each with its own 1 GiB sparse file. */
const made: string[] = [];
/** The follower stopped while the copies are made, to catch up afterwards. */
let lagging = 0;

test('tools: a source tree on local disk, and a mount', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t))) return;
  if (!tools.setfattr) t.skip('setfattr not installed (Debian package attr): the tree has no xattrs');
  const built = await sh(`WITH_XATTRS=${tools.setfattr ? 1 : 0}\n${buildScript}`, work, 60_000);
  t.equal(built.code, 0, `the tree is built in ${source}${built.code === 0 ? '' : `: ${built.stderr}`}`);
  expected = await describeTree(source);
  t.equal(expected.get(sparseName)?.size, String(sparseBytes), `the source has a 1 GiB sparse file taking ${(expected.get(sparseName)?.blocks ?? 0) * 512} bytes`);
  usageBefore = await nodeStateUsage();
  first = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile]);
  mounts.push(first);
  const leader = await cluster.waitForLeader();
  lagging = cluster.nodes.map((node) => node.id).find((id) => id !== leader) ?? 0;
  await cluster.stopNode(lagging);
  t.pass(`mounted at ${first.dir}; node ${lagging} is stopped while the copies are made`);
});

test('tools: cp -a into the mount keeps everything', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  const copied = await runTool('/bin/cp', ['-a', source, path.join(first.dir, 'a')], { timeoutMs: 50_000 });
  t.equal(copied.code, 0, `cp -a src mnt/a${copied.code === 0 ? '' : `: ${copied.stderr}`}`);
  made.push('a');
  await compareTrees(t, 'cp -a', expected, path.join(first.dir, 'a'));
});

test('tools: rsync -aHAXS into the mount, again with nothing to change, and back out', { timeout: 90_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  if (!tools.rsync) {
    t.skip('rsync not installed (Debian package rsync): not tested');
    return;
  }
  const into = path.join(first.dir, 'b');
  const copied = await runTool('rsync', ['-aHAXS', `${source}/`, `${into}/`], { timeoutMs: 60_000 });
  t.equal(copied.code, 0, `rsync -aHAXS src/ mnt/b/${copied.code === 0 ? '' : `: ${copied.stderr}`}`);
  made.push('b');
  await compareTrees(t, 'rsync in', expected, into);
  const again = await runTool('rsync', ['-aHAXS', '--itemize-changes', `${source}/`, `${into}/`], { timeoutMs: 60_000 });
  t.deepEqual([again.code, again.stdout.trim()], [0, ''], 'a second rsync -aHAXS finds nothing to change (sizes, mtimes, modes, owners, links, xattrs all kept)');

  // Back out: the sparse file with cp, which reads only its data (SEEK_DATA); the rest with rsync.
  const back = path.join(work, 'back');
  const out = await bash(`mkdir "$2" && cp -a --sparse=always "$1/${sparseName}" "$2/" && rsync -aHAXS --exclude=/${sparseName} "$1/" "$2/"`, [into, back]);
  t.equal(out.code, 0, `rsync -aHAXS mnt/b/ back out to local disk${out.code === 0 ? '' : `: ${out.stderr}`}`);
  await compareTrees(t, 'rsync back out', expected, back);
  await rm(back, { recursive: true, force: true });
});

test('tools: tar --xattrs -S through a pipe into the mount', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  const into = path.join(first.dir, 'c');
  const copied = await bash(`mkdir "$2" && tar --xattrs -C "$1" -cSf - . | tar --xattrs --xattrs-include='user.*' -xSf - -C "$2"`, [source, into]);
  t.equal(copied.code, 0, `tar --xattrs -cSf - | tar -xSf - into mnt/c${copied.code === 0 ? '' : `: ${copied.stderr}`}`);
  made.push('c');
  await compareTrees(t, 'tar', expected, into);
});

test('tools: the sparse copies take about their written bytes on every node\'s disk, the follower that caught up included', { timeout: 90_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined || lagging === 0) return;
  await cluster.restart(lagging);
  const copies = made.length;
  const apparentMin = copies * sparseBytes;
  // Each node applies on its own; the restarted one first has to receive the state: wait until
  // every node holds every copy's sparse file with all its written blocks.
  const holding = async (): Promise<Array<{ id: number; files: number[] }>> => Promise.all(cluster.nodes.map(async ({ id }) => ({ id, files: await sparseFilesOnNode(id) })));
  const complete = (all: Array<{ id: number; files: number[] }>): boolean => all.every((node) => node.files.length === copies && node.files.every((bytes) => bytes >= sparseDataBytes));
  const held = await eventually('every node holds the sparse copies with their data', 60_000, async () => {
    const now = await holding();
    return complete(now) ? now : undefined;
  }).catch(async () => holding());
  for (const node of held) {
    t.equal(node.files.length, copies, `node ${node.id}: ${node.files.length} files of 1 GiB in its state, one per copy`);
    t.ok(node.files.every((bytes) => bytes >= sparseDataBytes && bytes <= sparseDataBytes + sparseSlackBytes),
      `node ${node.id}: each takes about its ${sparseDataBytes} written bytes on disk: ${node.files.join(', ')}`);
  }
  const usage = await nodeStateUsage();
  const treeDataBytes = [...expected.values()].filter((entry) => entry.type === 'f').reduce((sum, entry) => sum + entry.blocks * 512, 0);
  // Written data of every copy, twice over for metadata, LevelDB files and state kept for a snapshot.
  const usedMax = 2 * copies * treeDataBytes + 32 * 1024 * 1024;
  for (const node of usage) {
    const before = usageBefore.find((earlier) => earlier.id === node.id);
    const grown = node.usedBytes - (before?.usedBytes ?? 0);
    t.ok(node.apparentBytes >= apparentMin, `node ${node.id}: its state holds ${(node.apparentBytes / 2 ** 30).toFixed(2)} GiB of apparent size (the ${copies} copies' sparse files)`);
    t.ok(grown <= usedMax, `node ${node.id}: its state grew by ${(grown / 2 ** 20).toFixed(1)} MiB on disk (du; at most ${(usedMax / 2 ** 20).toFixed(1)}): holes are not stored`);
  }
  const installed = cluster.output(lagging).some((line) => line.includes('installed snapshot'));
  t.comment(`node ${lagging} caught up ${installed ? 'through a snapshot stream' : 'from the log'}`);
});

test('tools: a second, fresh mount sees the same copies', { timeout: 60_000 }, async (t) => {
  if (!(await guard(t)) || first === undefined) return;
  const second = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile]);
  mounts.push(second);
  for (const name of made) await compareTrees(t, `second mount, ${name}`, expected, path.join(second.dir, name));
  t.equal(await second.stopAndRemove(), 0, 'the second mount unmounts and exits 0');
});

test('tools: every mount unmounts cleanly, and the copies are removed', { timeout: 60_000 }, async (t) => {
  if (first !== undefined) {
    const removed = await runTool('/bin/rm', ['-rf', 'a', 'b', 'c'], { cwd: first.dir, timeoutMs: 50_000 });
    t.equal(removed.code, 0, `rm -rf of the copies${removed.code === 0 ? '' : `: ${removed.stderr}`}`);
  }
  for (const mount of mounts) t.equal(await mount.stopAndRemove(), 0, `${mount.dir}: exit code 0 after SIGTERM`);
  t.end();
});

stopTest(cluster);
