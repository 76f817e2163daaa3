/**
 * Starts every node of a cluster config as a child process (`npm start`), prefixes their output,
 * and once every node is ready mounts the cluster at ./mnt with fsraft-mount when FUSE is
 * available (otherwise it prints why and keeps serving); as root with allow_other, so other
 * users can use it under the usual permission checks. Ctrl-C (SIGINT) or SIGTERM unmounts
 * first, then stops the nodes. If a node dies, the others keep running: that is what a cluster is
 * for; it is reported, and can be restarted by hand with `./bin/fsraft-node.js <id>`.
 * Usage: node dist/scripts/start_cluster.js [--config FILE] [--no-mount]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterConfig } from '../src/cli/config.js';
import { nodeEnvironment } from '../src/cli/node_environment.js';
import { loadFuse } from '../src/fuse/fuse_loader.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Printed by fsraft-node once it serves clients. */
const nodeReadyMarker = ' ready: ';
const mountpoint = path.join(root, 'mnt');

/** Forwards a child's output line by line, calling `onLine` for each. */
function forward(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream === null) return;
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      process.stdout.write(`${line}\n`);
      onLine(line);
    }
  });
}

function main(): void {
  const configFlag = process.argv.indexOf('--config');
  const configFile = configFlag >= 0 ? (process.argv[configFlag + 1] ?? '') : path.join(root, 'config/cluster.json');
  const wantMount = !process.argv.includes('--no-mount');
  const config = loadClusterConfig(configFile);
  const children = new Map<number, ChildProcess>();
  const ready = new Set<number>();
  let mount: ChildProcess | undefined;
  let stopping = false;
  for (const node of config.nodes) {
    // Own process groups: Ctrl-C reaches only this script, which unmounts before the nodes stop.
    const child = spawn(process.execPath, [path.join(root, 'bin/fsraft-node.js'), String(node.id), '--config', config.file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: nodeEnvironment(process.env),
      detached: true,
    });
    children.set(node.id, child);
    forward(child.stdout, (line) => {
      if (!line.includes(nodeReadyMarker) || ready.has(node.id)) return;
      ready.add(node.id);
      if (ready.size === config.nodes.length && wantMount && !stopping) void startMount();
    });
    child.on('exit', (code, signal) => {
      children.delete(node.id);
      if (!stopping) process.stdout.write(`cluster: node ${node.id} exited (${signal ?? code}); the others keep serving\n`);
      if (children.size === 0) process.exit(stopping ? 0 : 1);
    });
  }
  const pids = [...children].map(([id, child]) => `n${id} pid ${child.pid ?? '?'}`).join(', ');
  process.stdout.write(`cluster: started ${config.nodes.length} nodes from ${config.file} (${pids}); clients may connect to ${config.nodes.map((node) => node.clientAddress).join(', ')}; Ctrl-C stops them all\n`);

  async function startMount(): Promise<void> {
    const fuse = await loadFuse();
    if (!fuse.ok) {
      process.stdout.write(`cluster: not mounting at ${mountpoint}: FUSE unavailable: ${fuse.reason}; the cluster keeps serving\n`);
      return;
    }
    mkdirSync(mountpoint, { recursive: true });
    // Root mounts for every user, as a shared directory is used; the kernel still checks each
    // access against the mode bits (default_permissions is fsraft-mount's default). Another user
    // may ask for allow_other only where /etc/fuse.conf has user_allow_other, so they get a mount
    // of their own.
    const options = process.getuid?.() === 0 ? ['-o', 'allow_other'] : [];
    mount = spawn(process.execPath, [path.join(root, 'bin/fsraft-mount.js'), mountpoint, '--config', config.file, ...options], {
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    mount.on('exit', (code) => {
      mount = undefined;
      if (!stopping) process.stdout.write(`cluster: the mount at ${mountpoint} ended (${code}); the cluster keeps serving\n`);
    });
  }

  const stopNodes = (): void => {
    for (const child of children.values()) child.kill('SIGTERM');
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const current = mount;
    if (current === undefined) return stopNodes();
    // Unmount first: the mount may still be committing a file's last writes to the nodes.
    current.once('exit', stopNodes);
    current.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  // Detached children do not die with this process on their own: never leave them behind.
  process.on('exit', () => {
    mount?.kill('SIGTERM');
    for (const child of children.values()) child.kill('SIGTERM');
  });
}

main();
