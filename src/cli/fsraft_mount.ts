/**
 * `fsraft-mount <mountpoint> [--config FILE | --servers host:port,...] [--request-timeout-ms N]`:
 * mounts an fsraft cluster as a filesystem with FUSE, in this process, until SIGINT/SIGTERM
 * unmounts it. It creates nothing outside the mountpoint and refuses a missing, non-directory,
 * busy or non-empty mountpoint with one line and exit code 1.
 */
import path from 'node:path';
import process from 'node:process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { FsraftClient } from '../client/fsraft_client.js';
import type { FsBackend } from '../fuse/fs_backend.js';
import { loadFuse } from '../fuse/fuse_loader.js';
import { FsraftFs } from '../fuse/fsraft_fs.js';
import { lazyUnmount, mountpointProblem, unmountWithRetry } from '../fuse/mountpoint.js';
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

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('fsraft-mount')
    .command('$0 <mountpoint>', 'mount an fsraft cluster with FUSE until SIGINT/SIGTERM', (command) =>
      command.positional('mountpoint', { type: 'string', describe: 'an existing empty directory', demandOption: true }),
    )
    .option('config', { type: 'string', describe: 'cluster config file (default config/cluster.json)' })
    .option('servers', { type: 'string', describe: 'comma-separated client addresses host:port instead of a config' })
    .option('request-timeout-ms', {
      type: 'number',
      describe: 'how long one operation may wait for a leader before it fails with EIO',
      default: limits.fuseRequestTimeoutMs,
    })
    .conflicts('config', 'servers')
    .strict()
    .help()
    .parse();
  const mountpoint = path.resolve(String(argv.mountpoint));
  const requestTimeoutMs = argv['request-timeout-ms'];
  if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs < 1) fail(`--request-timeout-ms must be a positive integer, not ${requestTimeoutMs}`);
  let target: Target;
  try {
    target = targetOf(argv.config, argv.servers);
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error));
  }
  const problem = await mountpointProblem(mountpoint);
  if (problem !== null) fail(problem);
  const loaded = await loadFuse();
  if (!loaded.ok) fail(`FUSE unavailable: ${loaded.reason}`);

  let client: FsraftClient;
  try {
    // A generous request timeout: through a leader change, operations stall and then continue.
    client = FsraftClient.fromAddresses(target.addresses, { requestTimeoutMs, contentBytesMax: target.contentBytesMax });
  } catch (error) {
    fail((error as Error).message);
  }
  const backend: FsBackend = client;
  const filesystem = new FsraftFs(backend, {
    chunkBytes: target.contentBytesMax,
    // Each operation, however many client calls it makes, ends within the request timeout.
    operationTimeoutMs: requestTimeoutMs,
    onError: (operation, file, error) => process.stderr.write(`fsraft-mount: ${operation} ${file}: EIO (${(error as Error).message ?? String(error)})\n`),
  });
  const fuse = new loaded.Fuse(mountpoint, filesystem.operations(), {
    // A backstop that must never fire first: fuse-native answers a read it timed out while the
    // operation may still fill the kernel's buffer.
    timeout: Math.max(limits.fuseOperationTimeoutMs, requestTimeoutMs + 2 * limits.deadlineSlackMs),
    // fuse-native only knows a fixed set of -o options (and drops attr_timeout=0 as falsy) but
    // appends fsname verbatim. big_writes: the kernel sends writes of up to 128 KiB, not 4 KiB
    // pages. attr_timeout=0: the kernel keeps no attributes of its own, so the size it reads up to
    // is the one open() just fetched (close-to-open); the mount's own short-lived cache still
    // answers the stat storm of `ls -l`.
    fsname: 'fsraft,subtype=fsraft,big_writes,attr_timeout=0',
  });
  await new Promise<void>((resolve) => {
    fuse.mount((error) => {
      if (error) fail(`mounting at ${mountpoint} failed: ${error.message}`);
      resolve();
    });
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`fsraft-mount: ${signal}: unmounting ${mountpoint}\n`);
    void (async () => {
      const error = await unmountWithRetry(
        () => new Promise<void>((resolve, reject) => fuse.unmount((failure) => (failure ? reject(failure) : resolve()))),
        limits.fuseUnmountAttemptsMax,
        limits.fuseUnmountRetryMs,
        (failure) => process.stderr.write(`fsraft-mount: ${mountpoint} is busy (${failure.message.split('\n')[0]}); retrying\n`),
      );
      client.close();
      if (error === null) {
        process.stdout.write(`fsraft-mount: unmounted ${mountpoint}\n`);
        process.exit(0);
      }
      // Still busy after every retry: detach it lazily rather than leave a dead mount behind.
      await lazyUnmount(mountpoint).catch(() => undefined);
      process.stderr.write(`fsraft-mount: ${mountpoint} stayed busy; detached it lazily (${error.message.split('\n')[0]})\n`);
      process.exit(1);
    })();
  };
  // A bug must not leave a dead mount behind ("Transport endpoint is not connected"): detach it.
  process.on('uncaughtException', (error) => {
    process.stderr.write(`fsraft-mount: internal error, detaching ${mountpoint}: ${error.stack ?? error.message}\n`);
    void lazyUnmount(mountpoint).finally(() => process.exit(1));
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.stdout.write(`fsraft-mount: mounted ${target.label} at ${mountpoint}\n`);
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
