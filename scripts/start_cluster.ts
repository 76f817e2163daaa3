/**
 * Starts every node of a cluster config as a child process (`npm start`), prefixes their output,
 * and stops all of them on Ctrl-C (SIGINT) or SIGTERM. If a node dies, the others keep running:
 * that is what a cluster is for; it is reported, and can be restarted by hand with
 * `node bin/fsraft-node.js <id>`.
 * Usage: node dist/scripts/start_cluster.js [--config FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterConfig } from '../src/cli/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function main(): void {
  const configFlag = process.argv.indexOf('--config');
  const configFile = configFlag >= 0 ? (process.argv[configFlag + 1] ?? '') : path.join(root, 'config/cluster.json');
  const config = loadClusterConfig(configFile);
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  for (const node of config.nodes) {
    const child = spawn(process.execPath, [path.join(root, 'bin/fsraft-node.js'), String(node.id), '--config', config.file], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.set(node.id, child);
    child.on('exit', (code, signal) => {
      children.delete(node.id);
      if (!stopping) process.stdout.write(`cluster: node ${node.id} exited (${signal ?? code}); the others keep serving\n`);
      if (children.size === 0) process.exit(stopping ? 0 : 1);
    });
  }
  const pids = [...children].map(([id, child]) => `n${id} pid ${child.pid ?? '?'}`).join(', ');
  process.stdout.write(`cluster: started ${config.nodes.length} nodes from ${config.file} (${pids}); clients may connect to ${config.nodes.map((node) => node.clientAddress).join(', ')}; Ctrl-C stops them all\n`);
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const child of children.values()) child.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
