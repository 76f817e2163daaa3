/**
 * Free space on the filesystems that hold a node's log and state. LevelDB cannot be trusted after
 * a failed write (a half-written log record may hide the records after it), so a node whose write
 * fails stops (src/cli/fsraft_node.ts). The monitor keeps clients from driving it there: while the
 * space left under any of the node's directories is below a reserve, the leader refuses the
 * commands that add data with ERR_NO_SPACE (see RaftNode.submit), and still serves reads and the
 * commands that free space (delete, rmdir) or keep it (rename, setattr). The reserve is room for
 * what a node writes without a client asking: log entries already accepted, snapshots, LevelDB's
 * compactions, and writes of the other members' logs on a shared disk.
 *
 * Space is checked every `intervalMs` of the injected clock with statfs(2), off the event loop's
 * critical path; the answer may be up to one interval old, which the reserve absorbs.
 */
import { statfs } from 'node:fs/promises';
import type { Clock } from '../clock/clock.js';

/** The part of statfs(2) the monitor needs. */
export interface FsSpace {
  /** Blocks available to unprivileged users. */
  readonly bavail: number;
  /** Blocks in all. */
  readonly blocks: number;
  /** Bytes per block. */
  readonly bsize: number;
}

/** The disk as the `statfs` command reports it: the smallest of the node's directories' disks. */
export interface DiskFigures {
  readonly totalBytes: number;
  /** Free bytes less the reserve (never below 0): what clients may still fill. */
  readonly freeBytes: number;
}

export interface DiskSpaceOptions {
  /** Directories whose filesystems are watched (the node's log and state directories). */
  readonly dirs: readonly string[];
  /** Below this many free bytes on any of them, space is low; 0 never reports low. */
  readonly reserveBytes: number;
  /** Time between checks. Default 1000 ms. */
  readonly intervalMs?: number;
  /** Runs the periodic checks (tests substitute a clock they advance by hand). */
  readonly clock: Clock;
  /** Told when space becomes low, when it recovers, and when a directory cannot be checked. */
  readonly log: (line: string) => void;
  /** statfs(2); tests substitute their own. */
  readonly statfs?: (dir: string) => Promise<FsSpace>;
}

const intervalMsDefault = 1000;

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Watches free space under a node's directories; `low` answers from the latest check. */
export class DiskSpaceMonitor {
  private readonly options: DiskSpaceOptions;
  private readonly statfs: (dir: string) => Promise<FsSpace>;
  /** Stops the periodic checks; undefined while they are not running. */
  private stopChecks: (() => void) | undefined;
  private lowNow = false;
  private figures: DiskFigures = { totalBytes: 0, freeBytes: 0 };
  /** Directories whose last check failed, so each failure is logged once until it succeeds. */
  private readonly failing = new Set<string>();
  private running: Promise<void> | undefined;

  constructor(options: DiskSpaceOptions) {
    this.options = options;
    this.statfs = options.statfs ?? ((dir) => statfs(dir));
  }

  /** True while the free space under some directory is below the reserve (as of the last check). */
  get low(): boolean {
    return this.lowNow;
  }

  /** The disk as of the last check (the tightest of the directories). */
  stat(): DiskFigures {
    return this.figures;
  }

  /** Checks once now, then every interval until stop() (for `low` and `stat`). */
  async start(): Promise<void> {
    await this.check();
    this.stopChecks = this.options.clock.every(this.options.intervalMs ?? intervalMsDefault, () => void this.check());
  }

  /** Ends the periodic checks (the node's shutdown calls it). */
  stop(): void {
    this.stopChecks?.();
    this.stopChecks = undefined;
  }

  /** One check of every directory (a check already running is awaited instead of doubled). */
  check(): Promise<void> {
    this.running ??= this.checkAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkAll(): Promise<void> {
    const { reserveBytes } = this.options;
    let lowest: { dir: string; free: number; total: number } | undefined;
    for (const dir of this.options.dirs) {
      let space: FsSpace;
      try {
        space = await this.statfs(dir);
      } catch (error) {
        // An unreadable directory says nothing about space; the last answer stands.
        if (!this.failing.has(dir)) this.options.log(`cannot check the free space of ${dir}: ${(error as Error).message}`);
        this.failing.add(dir);
        continue;
      }
      this.failing.delete(dir);
      const free = space.bavail * space.bsize;
      if (lowest === undefined || free < lowest.free) lowest = { dir, free, total: space.blocks * space.bsize };
    }
    if (lowest === undefined) return;
    this.figures = { totalBytes: lowest.total, freeBytes: Math.max(0, lowest.free - reserveBytes) };
    // No reserve: space is never low (the figures above still serve statfs).
    const low = reserveBytes > 0 && lowest.free < reserveBytes;
    if (low && !this.lowNow) {
      this.options.log(`disk space low: ${mib(lowest.free)} free under ${lowest.dir}, below the reserve of ${mib(reserveBytes)}; refusing writes that add data (ERR_NO_SPACE) until there is more`);
    } else if (!low && this.lowNow) {
      this.options.log(`disk space recovered: ${mib(lowest.free)} free under ${lowest.dir}; accepting writes again`);
    }
    this.lowNow = low;
  }
}
