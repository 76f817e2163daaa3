/**
 * Real `fsraft-mount` processes for tests and benchmarks: each mounts in its own temp dir, is driven from
 * the test process with async node:fs and child tools (never a synchronous call into a mount, and
 * never the mount's own process), and is always unmounted: SIGTERM first, then SIGKILL plus a
 * lazy `umount -l` if it does not go, and a last-resort cleanup when the test process exits.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './local_cluster.js';

/** The mount's launcher, as an operator runs it. */
export const mountBin = path.join(repoRoot, 'bin/fsraft-mount.js');
/** The readiness line's marker. */
const readyMarker = 'fsraft-mount: mounted ';

/**
 * The processes and mounts a test or benchmark process started and has not yet seen end: if it
 * exits first (a failed assertion, an exception), they are killed by PID and lazily unmounted.
 */
export const exitCleanup = new (class ExitCleanup {
  readonly pids = new Set<number>();
  readonly mounts = new Set<string>();
  private installed = false;

  /** Tracks a started child and the mountpoint it serves. */
  track(pid: number | undefined, mountpoint: string): void {
    this.install();
    if (pid !== undefined) this.pids.add(pid);
    this.mounts.add(mountpoint);
  }

  private install(): void {
    if (this.installed) return;
    this.installed = true;
    process.on('exit', () => {
      for (const pid of this.pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      for (const dir of this.mounts) {
        try {
          execFileSync('/usr/bin/umount', ['-l', dir], { stdio: 'ignore' });
        } catch {
          // Not mounted.
        }
      }
    });
  }
})();

/** True if `dir` is a mount point now (per /proc/self/mountinfo). */
export async function isMounted(dir: string): Promise<boolean> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').some((line) => line.split(' ')[4] === dir);
}

/** A fresh empty directory under the system temp dir. */
export function tempMountpoint(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'fsraft-mnt-'));
}

/** What a finished child process printed and how it ended. */
export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A user other than the caller's, as setpriv(1) takes it. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** How to start a child: as another user (root only) and with another environment. */
export interface ChildOptions {
  /** Run as this user: through `setpriv --reuid --regid --clear-groups`, which needs root. */
  readonly asUser?: RunAs;
  /** The child's whole environment (the caller's by default). */
  readonly env?: NodeJS.ProcessEnv;
}

/** The file and arguments that run `file args` as `options.asUser` (unchanged without it). */
export function commandAs(file: string, args: readonly string[], options: ChildOptions): [string, string[]] {
  if (options.asUser === undefined) return [file, [...args]];
  const { uid, gid } = options.asUser;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate)) ?? 'setpriv';
  return [setpriv, [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', file, ...args]];
}

/** Runs a program to completion (asynchronously, so a mount in this process could still answer). */
export function runTool(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } & ChildOptions = {}): Promise<ToolResult> {
  const [command, commandArgs] = commandAs(file, args, options);
  return new Promise((resolve) => {
    execFile(command, commandArgs, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs a shell script (bash -e) in `cwd`. */
export function sh(script: string, cwd: string, timeoutMs?: number): Promise<ToolResult> {
  return runTool('/bin/bash', ['-ec', script], { cwd, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/** A running fsraft-mount process. */
export class MountProcess {
  private readonly lines: string[] = [];
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (child.pid !== undefined) exitCleanup.pids.delete(child.pid);
        this.exitCode = code ?? (signal === null ? null : -1);
        resolve(this.exitCode);
      });
    });
    const collect = (prefix: string) => (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.lines.push(`${prefix}${line}`);
      if (this.lines.length > 2000) this.lines.splice(0, this.lines.length - 2000);
    };
    child.stdout?.on('data', collect(''));
    child.stderr?.on('data', collect('stderr: '));
  }

  /**
   * Spawns `fsraft-mount <dir> ...args`, as `asUser` (who must be allowed to mount on `dir`) and
   * with `env` if given. With `waitReady` (default) resolves once it printed its readiness line,
   * and rejects with its output if it exits first or is late.
   */
  static async start(dir: string, args: readonly string[], options: { waitReady?: boolean; readyTimeoutMs?: number } & ChildOptions = {}): Promise<MountProcess> {
    const [command, commandArgs] = commandAs(process.execPath, [mountBin, dir, ...args], options);
    const child = spawn(command, commandArgs, { cwd: repoRoot, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    exitCleanup.track(child.pid, dir);
    const mount = new MountProcess(dir, child);
    if (options.waitReady === false) return mount;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    while (!mount.lines.some((line) => line.includes(readyMarker))) {
      if (mount.exitCode !== undefined) throw new Error(`fsraft-mount exited (${mount.exitCode}) before it was ready:\n${mount.output()}`);
      if (Date.now() > deadline) {
        await mount.stop();
        throw new Error(`fsraft-mount printed no readiness line in time:\n${mount.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return mount;
  }

  /** The process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything it printed (stderr lines prefixed). */
  output(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the exit code once the process has ended. */
  waitExit(): Promise<number | null> {
    return this.exited;
  }

  /**
   * Closes this end of the process's stdout and stderr, as a reader that went away would (a
   * closed terminal, `| head -1`); its later lines are lost, so output() stops growing.
   */
  closeOutput(): void {
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  /** Resident memory of the mount process in KiB (from /proc). */
  async rssKib(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match === null ? 0 : Number(match[1]);
  }

  /**
   * Unmounts: SIGTERM and wait (the mount retries while busy); if it has not exited within
   * `timeoutMs`, SIGKILL and `umount -l`. Resolves with the exit code (null if it had to be killed).
   */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    if (this.exitCode === undefined) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.child.kill('SIGKILL');
        await this.exited;
        this.exitCode = null;
      }
    }
    if (await isMounted(this.dir)) await runTool('/usr/bin/umount', ['-l', this.dir]);
    exitCleanup.mounts.delete(this.dir);
    return this.exitCode ?? null;
  }

  /** stop(), then remove the (empty) mountpoint; never recursive, in case a mount is still there. */
  async stopAndRemove(): Promise<number | null> {
    const code = await this.stop();
    await rmdir(this.dir).catch(() => undefined);
    return code;
  }
}
