/**
 * Where the CLIs look for the cluster config when none is given, shared by fsraft-node and
 * fsraft-mount so both pick the same cluster.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's default config, used when ./config/cluster.json does not exist. */
export function defaultConfigPath(): string {
  const local = path.resolve('config/cluster.json');
  if (existsSync(local)) return local;
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../../config/cluster.json');
}
