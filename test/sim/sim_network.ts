/**
 * A seeded, lossy network for the simulator: every message may be dropped, delayed (which
 * reorders), or duplicated, and partitions cut the cluster into groups that cannot talk.
 */
import type { RaftMessage } from '../../src/raft/types.js';
import type { Random } from '../../src/util/prng.js';
import type { NodeId } from '../../src/util/types.js';

/** Fault rates of the network; they may change during a run (e.g. cleared before the final check). */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a delivered message is delivered a second time (with its own delay). */
  duplicateRate: number;
  /** Delivery takes 1..delayTicksMax ticks, drawn per copy. */
  delayTicksMax: number;
  /** Probability that a copy is held up much longer (a congested link), reordering it past elections. */
  longDelayRate: number;
  longDelayTicksMax: number;
}

/** Messages in flight, bucketed by the tick they arrive. */
export class SimNetwork {
  private readonly buckets = new Map<number, RaftMessage[]>();
  /** Partition group of each node; nodes in different groups cannot exchange messages. */
  private readonly groupOf = new Map<NodeId, number>();
  /** Messages handed to the network, counting duplicates; for statistics. */
  sentCount = 0;

  constructor(
    private readonly random: Random,
    public faults: NetworkFaults,
  ) {}

  /** Sends `message` at `nowTick`, subject to the fault rates. */
  send(message: RaftMessage, nowTick: number): void {
    this.sentCount++;
    if (this.random.nextFloat() < this.faults.dropRate) return;
    this.enqueue(message, nowTick);
    if (this.random.nextFloat() < this.faults.duplicateRate) this.enqueue(message, nowTick);
  }

  private enqueue(message: RaftMessage, nowTick: number): void {
    const long = this.random.nextFloat() < this.faults.longDelayRate;
    const arrivalTick = nowTick + 1 + this.random.nextInt(long ? this.faults.longDelayTicksMax : this.faults.delayTicksMax);
    const bucket = this.buckets.get(arrivalTick);
    if (bucket === undefined) this.buckets.set(arrivalTick, [message]);
    else bucket.push(message);
  }

  /** Removes and returns the messages arriving at `tick` whose endpoints are connected now. */
  takeArrivals(tick: number): RaftMessage[] {
    const bucket = this.buckets.get(tick);
    if (bucket === undefined) return [];
    this.buckets.delete(tick);
    return bucket.filter((message) => this.connected(message.from, message.to));
  }

  /** True when `a` and `b` are in the same partition group. */
  connected(a: NodeId, b: NodeId): boolean {
    return (this.groupOf.get(a) ?? 0) === (this.groupOf.get(b) ?? 0);
  }

  /** Splits the cluster: each listed group is isolated from the others (unlisted nodes form group 0). */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groupOf.clear();
    groups.forEach((group, number) => group.forEach((node) => this.groupOf.set(node, number + 1)));
  }

  heal(): void {
    this.groupOf.clear();
  }

  get partitioned(): boolean {
    return this.groupOf.size > 0;
  }

  /** Drops every undelivered message sent by `node` (it crashed with them in its send buffers). */
  discardFrom(node: NodeId): void {
    for (const [tick, bucket] of this.buckets) {
      this.buckets.set(
        tick,
        bucket.filter((message) => message.from !== node),
      );
    }
  }

  /** Messages not yet delivered. */
  get inFlightCount(): number {
    let count = 0;
    for (const bucket of this.buckets.values()) count += bucket.length;
    return count;
  }
}
