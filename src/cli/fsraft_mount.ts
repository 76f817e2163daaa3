/**
 * `fsraft-mount <mountpoint> [-o options] [--config FILE | --servers host:port,...]
 * [--request-timeout-ms N]`: mounts an fsraft cluster with FUSE, in this process, until
 * SIGINT/SIGTERM unmounts it. The kernel protocol is spoken directly on /dev/fuse
 * (src/fuse/kernel/); each request becomes cluster calls through src/fuse/cluster_fs.ts.
 *
 * It creates nothing outside the mountpoint and refuses a missing, non-directory, busy or
 * non-empty mountpoint, an unknown -o option and a machine without usable FUSE with one line
 * and exit code 1. The mount behaves the same whether or not fusermount is installed: as root it
 * mounts and unmounts with mount(2)/umount2(2) itself.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import process from 'node:process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { FsraftClient } from '../client/fsraft_client.js';
import { systemClock } from '../clock/clock.js';
import { ClusterFs } from '../fuse/cluster_fs.js';
import { FuseSession } from '../fuse/kernel/fuse_session.js';
import { MountOptionError, defaultMountOptions, parseMountOptions, type FuseMountOptions } from '../fuse/kernel/mount_options.js';
import { mountpointProblem, setReadAhead } from '../fuse/mountpoint.js';
import { limits } from '../util/limits.js';
import { ConfigError, loadClusterConfig } from './config.js';
import { defaultConfigPath } from './config_path.js';

/** Which cluster to mount: its client addresses, its contentBytesMax and a name for messages. */
interface Target {
  readonly addresses: string[];
  readonly contentBytesMax: number;
  readonly label: string;
}

function fail(message: string): never {
  process.stderr.write(`fsraft-mount: ${message}\n`);
  process.exit(1);
}

function targetOf(config: string | undefined, servers: string | undefined): Target {
  if (servers !== undefined) {
    const addresses = servers.split(',').map((address) => address.trim()).filter((address) => address !== '');
    if (addresses.length === 0) fail('--servers needs at least one host:port');
    return { addresses, contentBytesMax: limits.contentBytesMaxDefault, label: addresses.join(',') };
  }
  const cluster = loadClusterConfig(config ?? defaultConfigPath());
  return { addresses: cluster.nodes.map((node) => node.clientAddress), contentBytesMax: cluster.contentBytesMax, label: cluster.file };
}

/**
 * The mount's options: `default_permissions` unless `-o no_default_permissions`, since the
 * cluster itself checks no permissions (README "Mounting the cluster").
 */
function mountOptionsOf(texts: readonly string[]): FuseMountOptions {
  const wanted = texts.flatMap((text) => text.split(','));
  const withoutOurs = wanted.filter((option) => option !== 'no_default_permissions');
  const base = { ...defaultMountOptions, defaultPermissions: !wanted.includes('no_default_permissions') };
  return parseMountOptions(withoutOurs.join(','), base);
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('fsraft-mount')
    .command('$0 <mountpoint>', 'mount an fsraft cluster with FUSE until SIGINT/SIGTERM', (command) =>
      command.positional('mountpoint', { type: 'string', describe: 'an existing empty directory', demandOption: true }),
    )
    .option('o', { type: 'string', array: true, describe: 'mount options, as other FUSE file systems take them (see README)', default: [] })
    .option('config', { type: 'string', describe: 'cluster config file (default config/cluster.json)' })
    .option('servers', { type: 'string', describe: 'comma-separated client addresses host:port instead of a config' })
    .option('request-timeout-ms', {
      type: 'number',
      describe: 'how long one operation may take, retries through a leader change included, before it fails with EIO',
      default: limits.fuseRequestTimeoutMs,
    })
    .conflicts('config', 'servers')
    .strict()
    .help()
    .parse();
  const mountpoint = path.resolve(String(argv.mountpoint));
  const requestTimeoutMs = argv['request-timeout-ms'];
  if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs < 1) fail(`--request-timeout-ms must be a positive integer, not ${requestTimeoutMs}`);
  let options: FuseMountOptions;
  try {
    options = mountOptionsOf((argv.o as string[]).map(String));
  } catch (error) {
    fail(error instanceof MountOptionError ? error.message : String(error));
  }
  let target: Target;
  try {
    target = targetOf(argv.config, argv.servers);
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error));
  }
  const problem = await mountpointProblem(mountpoint);
  if (problem !== null) fail(problem);

  let client: FsraftClient;
  try {
    client = FsraftClient.fromAddresses(target.addresses, { requestTimeoutMs, contentBytesMax: target.contentBytesMax });
  } catch (error) {
    fail((error as Error).message);
  }
  let session: FuseSession | undefined;
  const filesystem = new ClusterFs(client, {
    chunkBytes: target.contentBytesMax,
    requestTimeoutMs,
    entryTimeoutMs: options.entryTimeoutMs,
    attrTimeoutMs: options.attrTimeoutMs,
    // [1, 2^48): this mount's holds of open nodes, apart from every other mount's.
    holder: randomInt(1, 2 ** 48),
    clock: systemClock,
    onError: (what, error) => process.stderr.write(`fsraft-mount: ${what}: ${(error as Error).message ?? String(error)}\n`),
    // Offset -1: the attributes only; open() already tells the kernel to drop the pages (keepCache).
    invalidate: (ino) => (session === undefined ? Promise.resolve() : session.invalidateInode(ino, -1, 0)),
  });
  try {
    session = await FuseSession.mount(mountpoint, filesystem, { ...options, fsname: options.fsname === 'fsraft' ? `fsraft:${target.label}` : options.fsname }, {
      log: (line) => process.stderr.write(`fsraft-mount: ${line}\n`),
    });
  } catch (error) {
    client.close();
    fail(`mounting at ${mountpoint} failed: ${(error as Error).message}`);
  }

  const mounted = session;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`fsraft-mount: ${signal}: unmounting ${mountpoint}\n`);
    void mounted
      .unmount({
        retryMs: limits.fuseUnmountRetryMs,
        attemptsMax: limits.fuseUnmountAttemptsMax,
        onRetry: (error) => process.stderr.write(`fsraft-mount: ${mountpoint} is busy (${error.message.split('\n')[0]}); retrying\n`),
      })
      .then(
        ({ lazy }) => {
          filesystem.destroy();
          client.close();
          if (lazy) process.stderr.write(`fsraft-mount: ${mountpoint} stayed busy; detached it lazily\n`);
          else process.stdout.write(`fsraft-mount: unmounted ${mountpoint}\n`);
          process.exit(lazy ? 1 : 0);
        },
        (error: unknown) => {
          process.stderr.write(`fsraft-mount: unmounting ${mountpoint} failed: ${(error as Error).message}\n`);
          process.exit(1);
        },
      );
  };
  // The kernel ended the session (an outside umount): nothing is left to serve.
  void mounted.closed.then(() => {
    if (stopping) return;
    process.stdout.write(`fsraft-mount: ${mountpoint} was unmounted\n`);
    client.close();
    process.exit(0);
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (options.readAheadKib > 0) {
    const problem = await setReadAhead(mountpoint, options.readAheadKib);
    // Only root may; another user's mount keeps the kernel's 128 KiB, which is only slower.
    if (problem !== null && process.getuid?.() === 0) process.stderr.write(`fsraft-mount: ${problem}\n`);
  }
  process.stdout.write(`fsraft-mount: mounted ${target.label} at ${mountpoint}\n`);
}

// A reader that went away (`fsraft-mount mnt | head -1`, a closed terminal) must not turn the
// next line written into an uncaught EPIPE: the process would die on SIGTERM before unmounting,
// leaving a dead mount ("Transport endpoint is not connected") behind. Lines nobody reads are lost.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
