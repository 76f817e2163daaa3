/**
 * Kernel-protocol FUSE mounts for tests: each serves the in-memory file system from a child
 * process (kernel_mount_server.ts) in a fresh temp dir, is driven from the test process with async
 * calls and child tools, and is always unmounted: SIGTERM first (the server unmounts, retrying
 * while busy), then SIGKILL plus `umount -l` if it does not go, and a last-resort cleanup when the
 * test process exits. Processes are stopped by their PID only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import type { Test } from 'tape';
import { nativeUnavailableReason } from '../../src/native/fsraft_native.js';
import { findFusermount } from '../../src/fuse/kernel/fuse_session.js';
import { exitCleanup, isMounted, runTool } from '../../src/launch/mount_process.js';
import { repoRoot } from '../../src/launch/local_cluster.js';

/** The serving script, compiled. */
export const kernelMountServer = path.join(repoRoot, 'dist/test/helpers/kernel_mount_server.js');
const readyMarker = 'kernel-mount: mounted ';
/** The unprivileged user the tests act as (nobody). */
export const nobody = { uid: 65534, gid: 65534 } as const;


/**
 * True when a kernel-protocol mount can be tried here; otherwise fails `t` with the reason (or
 * skips it when FSRAFT_SKIP_FUSE=1) and returns false.
 */
export function kernelFuseAvailable(t: Test): boolean {
  const reason = !existsSync('/dev/fuse')
    ? 'no /dev/fuse on this machine'
    : process.getuid?.() !== 0 && findFusermount() === null
      ? 'not root and no fusermount3/fusermount on PATH'
      : nativeUnavailableReason();
  if (reason === null) return true;
  if (process.env['FSRAFT_SKIP_FUSE'] === '1') t.skip(`kernel FUSE unavailable: ${reason}`);
  else t.fail(`kernel FUSE unavailable: ${reason} (set FSRAFT_SKIP_FUSE=1 to skip)`);
  return false;
}

/** How to start a mount. */
export interface KernelMountOptions {
  /** The -o string. */
  readonly options?: string;
  readonly reader?: 'thread' | 'pool';
  /** Serve as this user (setpriv), mounting through fusermount; the mountpoint is chowned to it. */
  readonly asUser?: { readonly uid: number; readonly gid: number };
  readonly unmountRetryMs?: number;
  readonly unmountAttempts?: number;
  readonly readyTimeoutMs?: number;
}

/** A running kernel_mount_server process and its mount. */
export class KernelMount {
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
        this.lines.push(`(exited: code ${code}, signal ${signal})`);
        this.exitCode = code ?? (signal === null ? null : -1);
        resolve(this.exitCode);
      });
    });
    const collect = (prefix: string) => {
      // A line may arrive in two chunks: keep the unfinished tail until its newline comes.
      let pending = '';
      return (chunk: Buffer) => {
        const parts = (pending + chunk.toString('utf8')).split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) if (line !== '') this.lines.push(`${prefix}${line}`);
        if (this.lines.length > 2000) this.lines.splice(0, this.lines.length - 2000);
      };
    };
    child.stdout?.on('data', collect(''));
    child.stderr?.on('data', collect('stderr: '));
  }

  /** Mounts in a fresh temp dir and resolves once the server printed its readiness line. */
  static async start(options: KernelMountOptions = {}): Promise<KernelMount> {
    const dir = await mkdtemp(path.join(tmpdir(), 'fsraft-kmnt-'));
    const args = [kernelMountServer, dir];
    if (options.options !== undefined) args.push('-o', options.options);
    if (options.reader !== undefined) args.push('--reader', options.reader);
    args.push('--unmount-retry-ms', String(options.unmountRetryMs ?? 200), '--unmount-attempts', String(options.unmountAttempts ?? 10));
    let child: ChildProcess;
    if (options.asUser !== undefined) {
      await chown(dir, options.asUser.uid, options.asUser.gid);
      child = spawn('setpriv', [`--reuid=${options.asUser.uid}`, `--regid=${options.asUser.gid}`, '--clear-groups', process.execPath, ...args], {
        cwd: '/', stdio: ['pipe', 'pipe', 'pipe'],
      });
    } else {
      child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    }
    child.stdin?.on('error', () => undefined);
    exitCleanup.track(child.pid, dir);
    const mount = new KernelMount(dir, child);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    while (!mount.lines.some((line) => line.startsWith(readyMarker))) {
      if (mount.exitCode !== undefined) {
        await mount.stopAndRemove();
        throw new Error(`kernel_mount_server exited (${mount.exitCode}) before it was ready:\n${mount.output()}`);
      }
      if (Date.now() > deadline) {
        await mount.stopAndRemove();
        throw new Error(`kernel_mount_server printed no readiness line in time:\n${mount.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return mount;
  }

  /** The server's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything it printed (stderr lines prefixed). */
  output(): string {
    return this.lines.join('\n');
  }

  /** The readiness line ("kernel-mount: mounted <dir> FUSE 7.x flags 0x... reader ..."). */
  readyLine(): string {
    return this.lines.find((line) => line.startsWith(readyMarker)) ?? '';
  }

  /** A path inside the mount. */
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Resolves with the exit code once the server has ended. */
  waitExit(): Promise<number | null> {
    return this.exited;
  }

  /** True until the server process has ended. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The memory file system's counters (SIGUSR2 to the server, which prints them). */
  async stats(timeoutMs = 5_000): Promise<{ inodes: number; lseekCalls: number }> {
    const before = this.lines.length;
    this.child.kill('SIGUSR2');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.lines.slice(before).find((candidate) => candidate.startsWith('kernel-mount: stats '));
      if (line !== undefined) return JSON.parse(line.slice('kernel-mount: stats '.length)) as { inodes: number; lseekCalls: number };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no stats from the server:\n${this.output()}`);
  }

  /**
   * Changes `name` (in the mount's root) behind the kernel's back: new content and/or a new name;
   * with `invalidate`, the server then tells the kernel to drop what it cached of it.
   */
  async changeBehindTheKernel(change: { name: string; content?: string; newName?: string; invalidate: boolean }, timeoutMs = 5_000): Promise<void> {
    const before = this.lines.length;
    this.child.stdin?.write(`change ${JSON.stringify(change)}\n`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.lines.slice(before).find((candidate) => candidate.startsWith('kernel-mount: changed '));
      if (line !== undefined) {
        const answer = JSON.parse(line.slice('kernel-mount: changed '.length)) as { error?: string };
        if (answer.error !== undefined) throw new Error(`the change failed: ${answer.error}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`the server did not confirm the change:\n${this.output()}`);
  }

  /** Sends a signal to the server by its PID. */
  signal(signal: NodeJS.Signals): void {
    if (this.exitCode === undefined) this.child.kill(signal);
  }

  /**
   * Unmounts: SIGTERM and wait (the server retries while busy, then detaches lazily); if it has
   * not exited within `timeoutMs`, SIGKILL and `umount -l`. Resolves with the exit code (null if it
   * had to be killed).
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
  async stopAndRemove(timeoutMs?: number): Promise<number | null> {
    const code = await this.stop(timeoutMs);
    await rmdir(this.dir).catch(() => undefined);
    return code;
  }
}

/** The first of `candidates` that exists, or null: tools are looked up by absolute path. */
export function tool(...candidates: string[]): string | null {
  return candidates.find((candidate) => existsSync(candidate)) ?? null;
}

/** The system python3 (not a per-user shim, so other users can run it too), or null. */
export const python3 = tool('/usr/bin/python3', '/usr/local/bin/python3');

/** Runs a python3 script with arguments; resolves with its result. */
export function python(script: string, args: readonly string[] = [], options: { asUser?: { uid: number; gid: number }; timeoutMs?: number } = {}) {
  if (python3 === null) throw new Error('no python3');
  if (options.asUser !== undefined) {
    return runTool('setpriv', [`--reuid=${options.asUser.uid}`, `--regid=${options.asUser.gid}`, '--clear-groups', python3, '-c', script, ...args], { timeoutMs: options.timeoutMs ?? 60_000 });
  }
  return runTool(python3, ['-c', script, ...args], { timeoutMs: options.timeoutMs ?? 60_000 });
}

/** Runs a shell script (bash -e), optionally as another user, in `cwd`. */
export function shell(script: string, options: { cwd?: string; asUser?: { uid: number; gid: number }; timeoutMs?: number } = {}) {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const cwd = options.cwd ?? '/';
  if (options.asUser !== undefined) {
    // cd after the switch: a mount without allow_other refuses even root, so the child must not
    // enter it before it is the other user.
    return runTool('setpriv', [`--reuid=${options.asUser.uid}`, `--regid=${options.asUser.gid}`, '--clear-groups', '/bin/bash', '-ec', `cd -- "$0"\n${script}`, cwd], { timeoutMs });
  }
  return runTool('/bin/bash', ['-ec', script], { cwd, timeoutMs });
}
