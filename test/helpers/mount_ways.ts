/**
 * The ways fsraft-mount can mount, so that a test file runs its checks each way on one machine:
 * as root with fusermount on PATH, as root on a machine without the fuse/fuse3 package, and as a
 * non-root user through fusermount3/fusermount. "Without the package" is a PATH on which no
 * fusermount can be found: a temp dir of symlinks to every program on the real PATH except
 * fusermount and fusermount3 (findFusermount looks at PATH only, and nothing in the mount runs a
 * fusermount by absolute path), so no package is removed and other tests are unaffected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import type { Test } from 'tape';
import { findFusermount } from '../../src/fuse/kernel/fuse_session.js';
import { commandAs, mountBin, runTool, type RunAs } from '../../src/launch/mount_process.js';
import { nobody } from './kernel_mount.js';


/** One way of mounting. */
export interface MountWay {
  /** Short, for test names: "root, fusermount on PATH". */
  readonly name: string;
  /** The user fsraft-mount runs as (undefined: this process's). */
  readonly asUser?: RunAs;
  /** fsraft-mount's whole environment. */
  readonly env: NodeJS.ProcessEnv;
  /** The uid the kernel's mount line shows (user_id=). */
  readonly uid: number;
  /** The fusermount the mount goes through, or null for mount(2) itself. */
  readonly fusermount: string | null;
  /** Why this way cannot be tried on this machine (the test then skips), or null. */
  readonly unavailable: string | null;
}

/** The PATH entries that hold a fusermount: what a machine without the fuse3 package lacks. */
const fusermountNames = new Set(['fusermount', 'fusermount3']);

/**
 * A directory to use as the whole PATH: symlinks to the first program of each name on `searchPath`,
 * except fusermount and fusermount3. Remove it with rm -r (it holds only symlinks).
 */
export async function pathWithoutFusermount(searchPath: string = process.env['PATH'] ?? ''): Promise<string> {
  const shadow = await mkdtemp(path.join(tmpdir(), 'fsraft-path-'));
  await chmod(shadow, 0o755);
  const seen = new Set<string>();
  for (const directory of searchPath.split(':').filter((entry) => entry !== '')) {
    const names = await readdir(directory).catch(() => [] as string[]);
    for (const name of names) {
      if (fusermountNames.has(name) || seen.has(name)) continue;
      seen.add(name);
      await symlink(path.join(directory, name), path.join(shadow, name));
    }
  }
  return shadow;
}

/**
 * The three ways; the environment of a machine without fusermount (for any user); and the cleanup
 * of what building them left (the PATH dir).
 */
export async function mountWays(): Promise<{ ways: MountWay[]; withoutFusermountEnv: NodeJS.ProcessEnv; cleanup: () => Promise<void> }> {
  const root = process.getuid?.() === 0;
  const withFusermount = findFusermount();
  const shadow = await pathWithoutFusermount();
  const withoutEnv = { ...process.env, PATH: shadow };
  const leftOver = findFusermount(shadow);
  const ways: MountWay[] = [
    {
      name: 'root, fusermount on PATH',
      env: process.env,
      uid: 0,
      fusermount: null,
      unavailable: !root ? 'needs root' : withFusermount === null ? 'no fusermount3 or fusermount on PATH (Debian package fuse3)' : null,
    },
    {
      name: 'root, no fusermount on PATH',
      env: withoutEnv,
      uid: 0,
      fusermount: null,
      unavailable: !root ? 'needs root' : leftOver !== null ? `a fusermount is still found: ${leftOver}` : null,
    },
    {
      name: 'non-root, through fusermount',
      ...(root ? { asUser: nobody } : {}),
      env: process.env,
      uid: root ? nobody.uid : process.getuid?.() ?? -1,
      fusermount: withFusermount,
      unavailable: withFusermount === null ? 'no fusermount3 or fusermount on PATH (Debian package fuse3)' : await unreadableCheckout(root ? nobody : undefined),
    },
  ];
  return { ways, withoutFusermountEnv: withoutEnv, cleanup: () => rm(shadow, { recursive: true, force: true }) };
}

/** Null if `asUser` can run fsraft-mount from this checkout, else why not (a checkout under a private home). */
async function unreadableCheckout(asUser: RunAs | undefined): Promise<string | null> {
  if (asUser === undefined) return null;
  const result = await runTool(process.execPath, [mountBin, '--help'], { asUser, cwd: '/', timeoutMs: 30_000 });
  return result.code === 0 ? null : `uid ${asUser.uid} cannot run ${mountBin} (${result.stderr.split('\n')[0] ?? `exit ${result.code}`})`;
}

/**
 * fusermount opens /dev/fuse with the calling user's rights, so the device's mode decides who may
 * use FUSE. Distributions make it 0666 (udev); a container may leave it 0600: then it is opened
 * up (as udev would) until the returned function puts it back. Nothing to do for a root way.
 */
export async function fuseDeviceForUsers(t: Test, way: MountWay): Promise<() => Promise<void>> {
  if (way.asUser === undefined) return async () => undefined;
  const mode = (await stat('/dev/fuse')).mode & 0o777;
  if ((mode & 0o006) === 0o006) return async () => undefined;
  t.comment(`/dev/fuse is ${mode.toString(8)}: made 666 for this test, as udev makes it`);
  await chmod('/dev/fuse', 0o666);
  return () => chmod('/dev/fuse', mode);
}

/** A process holding a directory open (an fd, not its cwd) until released. */
export class DirectoryHolder {
  private constructor(private readonly child: ChildProcess, private readonly exited: Promise<void>) {}

  /** Opens `dir` in a child shell (as `asUser` if given); resolves once it is open. */
  static async hold(dir: string, asUser?: RunAs): Promise<DirectoryHolder> {
    const [command, args] = commandAs('/bin/sh', ['-c', 'exec 3<"$1" && echo held && read line', 'fsraft-holder', dir], asUser === undefined ? {} : { asUser });
    const child = spawn(command, args, { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    const held = await new Promise<boolean>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('held')) resolve(true);
      });
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      void exited.then(() => resolve(false));
    });
    if (!held) throw new Error(`could not hold ${dir} open: ${output.trim()}`);
    return new DirectoryHolder(child, exited);
  }

  /** Closes the directory (the shell ends) and resolves once the process is gone. */
  async release(): Promise<void> {
    this.child.stdin?.end('\n');
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5_000)))]);
    clearTimeout(timer);
    if (!gone) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
