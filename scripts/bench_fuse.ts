/**
 * `node dist/scripts/bench_fuse.js`: starts its own 5-node cluster on 127.0.0.1 (temp dirs, free
 * ports) and an fsraft-mount, and prints, beside the same operation on a local temp directory:
 * small files (4 KiB) created, written and closed per second, one at a time and 16 at once;
 * sequential write and read of a 64 MiB file in MiB/s; and `ls -l` of a 1,000-entry directory in
 * ms. Then it unmounts, stops every node by PID and removes its temp dirs.
 *
 * The file work runs in child processes (dd, cat, ls) or with async node:fs from this process;
 * the mount is another process, so nothing here calls synchronously into it.
 * Environment: BENCH_SMALL_FILES (default 300).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster } from '../src/launch/local_cluster.js';
import { MountProcess, runTool, sh, tempMountpoint } from '../src/launch/mount_process.js';

const smallFiles = Number(process.env['BENCH_SMALL_FILES'] ?? 300);
const smallFileBytes = 4096;
const bigFileMiB = 64;
const listedEntries = 1000;
const listRuns = 5;

interface Figures {
  readonly smallSerialPerSecond: number;
  readonly smallParallelPerSecond: number;
  readonly writeMiBPerSecond: number;
  readonly readMiBPerSecond: number;
  readonly listMs: number;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const startedMs = performance.now();
  await work();
  return performance.now() - startedMs;
}

async function checked(script: string, cwd: string): Promise<void> {
  const result = await sh(script, cwd, 600_000);
  if (result.code !== 0) throw new Error(`'${script}' failed in ${cwd}: ${result.stderr}`);
}

/** Every figure for one directory (the mount, or a local temp dir). */
async function measure(dir: string): Promise<Figures> {
  const block = Buffer.alloc(smallFileBytes, 0x61);
  await checked('mkdir -p serial parallel listed', dir);
  const serialMs = await timed(async () => {
    for (let i = 0; i < smallFiles; i++) await writeFile(path.join(dir, 'serial', `f${i}`), block);
  });
  const parallelMs = await timed(async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < smallFiles) await writeFile(path.join(dir, 'parallel', `f${next++}`), block);
      }),
    );
  });
  // dd's close returns only once every byte is committed, so this is the committed rate.
  const writeMs = await timed(() => checked(`dd if=/dev/zero of=big bs=1M count=${bigFileMiB} status=none`, dir));
  const readMs = await timed(() => checked('cat big > /dev/null', dir));
  await checked(`cd listed && for i in $(seq 1 ${listedEntries}); do : > "entry-$i"; done`, dir);
  const listTimes: number[] = [];
  for (let run = 0; run < listRuns; run++) {
    listTimes.push(await timed(() => runTool('/bin/ls', ['-l', path.join(dir, 'listed')])));
  }
  listTimes.sort((a, b) => a - b);
  await checked('rm -r serial parallel listed big', dir);
  return {
    smallSerialPerSecond: smallFiles / (serialMs / 1000),
    smallParallelPerSecond: smallFiles / (parallelMs / 1000),
    writeMiBPerSecond: bigFileMiB / (writeMs / 1000),
    readMiBPerSecond: bigFileMiB / (readMs / 1000),
    listMs: listTimes[Math.floor(listRuns / 2)] as number,
  };
}

function row(what: string, mount: number, local: number, digits = 0): string {
  const format = (value: number): string => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return `| ${what} | ${format(mount)} | ${format(local)} |`;
}

async function main(): Promise<void> {
  const cluster = await LocalCluster.create();
  let mount: MountProcess | undefined;
  const localDir = await mkdtemp(path.join(os.tmpdir(), 'fsraft-bench-local-'));
  try {
    await cluster.start();
    await cluster.waitForLeader();
    mount = await MountProcess.start(await tempMountpoint(), ['--config', cluster.configFile]);
    const onMount = await measure(mount.dir);
    const onLocal = await measure(localDir);
    const cpus = os.cpus();
    process.stdout.write(`fsraft FUSE benchmark: 5 nodes and the mount on ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}\n\n`);
    process.stdout.write('| operation | fsraft mount | local directory |\n|---|---|---|\n');
    process.stdout.write(`${[
      row(`4 KiB files created+written+closed per second, one at a time (${smallFiles})`, onMount.smallSerialPerSecond, onLocal.smallSerialPerSecond),
      row('4 KiB files created+written+closed per second, 16 at once', onMount.smallParallelPerSecond, onLocal.smallParallelPerSecond),
      row(`sequential write of a ${bigFileMiB} MiB file, MiB/s (dd bs=1M, until close)`, onMount.writeMiBPerSecond, onLocal.writeMiBPerSecond, 1),
      row(`sequential read of a ${bigFileMiB} MiB file, MiB/s (cat)`, onMount.readMiBPerSecond, onLocal.readMiBPerSecond, 1),
      row(`ls -l of a ${listedEntries.toLocaleString('en-US')}-entry directory, ms (median of ${listRuns})`, onMount.listMs, onLocal.listMs, 1),
    ].join('\n')}\n`);
    process.stdout.write(`\nmount process RSS at the end: ${Math.round((await mount.rssKib()) / 1024)} MiB\n`);
  } finally {
    await mount?.stopAndRemove();
    await cluster.stop();
    await rm(localDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench_fuse: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
