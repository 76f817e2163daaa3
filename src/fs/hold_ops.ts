/**
 * Holds (a mount's open files, README "Open files") and the leader's housekeeping: a nameless
 * node lives while someone holds it, a silent holder's lease lapses, expired files go. Part of
 * TreeOps, which routes to it.
 *
 * Pure: no Node APIs.
 */
import type { RecordTables } from './record_tables.js';
import type { Inode } from './records.js';
import { done, invalid, isCount, isError, type Found, type OpContext, type TreeLimits } from './tree_common.js';
import type { FsCommand, FsError, FsResult } from './types.js';

/** What the holds need of the tree: lookups, and removing names and nodes. */
export interface HoldTree {
  find(name: string, atMs: number): Found | FsError;
  purge(node: Inode): Promise<void>;
  removeAllNames(node: Inode, op: OpContext): Promise<void>;
}

/** Hold, release and reap commands over the state's records. */
export class HoldOps {
  constructor(
    private readonly records: RecordTables,
    private readonly limits: TreeLimits,
    private readonly tree: HoldTree,
  ) {}

  /** `holder` opens (+1) or closes (-1) the node `name`, or renews its lease (0) (README "Open files"). */
  async hold(name: string, holder: number, delta: 1 | -1 | 0, op: OpContext): Promise<FsResult> {
    if (!isCount(holder) || holder === 0) return invalid;
    const lease = this.records.lease(holder);
    if (delta === 0) {
      if (lease !== undefined) this.records.putLease(holder, { ...lease, seenAtMs: op.stampMs });
      return done;
    }
    const lookup = this.tree.find(name, op.stampMs);
    if (isError(lookup)) return lookup;
    const node = lookup.node;
    const count = this.records.holdCount(node.ino, holder);
    const next = Math.max(0, count + delta);
    const heldBefore = lease?.holds ?? 0;
    const change = next > 0 && count === 0 ? 1 : next === 0 && count > 0 ? -1 : 0;
    if (change > 0 && heldBefore >= this.limits.holdsPerHolderMax) return { type: 'no_space' };
    if (next !== count) this.records.setHold(node.ino, holder, next);
    const holds = heldBefore + change;
    this.records.putLease(holder, holds > 0 ? { seenAtMs: op.stampMs, holds } : null);
    if (change === 0) return done;
    const updated: Inode = { ...node, holds: node.holds + change };
    if (updated.holds === 0 && updated.nlink === 0) await this.tree.purge(updated);
    else this.records.putInode(updated);
    return done;
  }

  /** Drops every hold of `holder` (its lease lapsed), freeing what only it held. */
  private async releaseHolds(holder: number): Promise<void> {
    for (const ino of await this.records.heldBy(holder, Number.MAX_SAFE_INTEGER)) {
      const node = this.records.inode(ino);
      this.records.setHold(ino, holder, 0);
      if (node === undefined) continue;
      const updated: Inode = { ...node, holds: Math.max(0, node.holds - 1) };
      if (updated.holds === 0 && updated.nlink === 0) await this.tree.purge(updated);
      else this.records.putInode(updated);
    }
    this.records.putLease(holder, null);
  }

  /** The leader's housekeeping: expired files, nameless nodes nobody holds, lapsed sessions' holds. */
  async reap(command: Extract<FsCommand, { op: 'reap' }>, op: OpContext): Promise<FsResult> {
    for (const target of command.expired) {
      const node = this.records.inode(target.ino);
      if (node === undefined || node.expiresAtMs !== target.expiresAtMs || node.expiresAtMs > op.stampMs) continue;
      await this.tree.removeAllNames(node, op);
    }
    for (const ino of command.orphans) {
      const node = this.records.inode(ino);
      if (node !== undefined && node.nlink === 0 && node.holds === 0) await this.tree.purge(node);
    }
    for (const holder of command.holders) {
      const lease = this.records.lease(holder);
      if (lease !== undefined && lease.seenAtMs + this.limits.holdLeaseMs <= op.stampMs) await this.releaseHolds(holder);
    }
    return done;
  }
}
