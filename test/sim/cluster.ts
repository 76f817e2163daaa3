/**
 * A simulated Raft cluster on virtual ticks: RaftMachines behind simulated drivers (sim_node.ts),
 * a lossy partitionable network, crashes that lose unsynced writes, and clients that propose
 * unique commands and issue linearizable reads. One SeededRandom drives everything, so a seed
 * replays a run exactly. Checkers run after every step and throw SimViolation.
 */
import { EntryType, type LogEntry, type RaftAction, type RaftEvent, type RaftOptions } from '../../src/raft/types.js';
import { SeededRandom } from '../../src/util/prng.js';
import { asNodeId, indexPlus, indexZero, maxOf, type LogIndex, type NodeId, type Term } from '../../src/util/types.js';
import { AppliedSequence, ElectionSafety, LogMatching, SimViolation, bytesEqual, checkLeaderCompleteness } from './checkers.js';
import { SimNetwork, type NetworkFaults } from './sim_network.js';
import { SimNode, digestStep, type DiskTiming, type NodeEffects, type SnapshotTiming } from './sim_node.js';

/** The knobs of one simulation run. */
export interface SimConfig {
  readonly nodeCount: number;
  /** Ticks of the chaotic phase, before healing and the final checks. */
  readonly ticks: number;
  readonly raft: Omit<RaftOptions, 'id' | 'members'>;
  readonly network: NetworkFaults;
  readonly disk: DiskTiming;
  readonly snapshot: SnapshotTiming;
  readonly crashPerTick: number;
  readonly restartDelayTicksMax: number;
  /** Probability that a crash is allowed to take down a third node (majority loss in a 5-node cluster). */
  readonly majorityLossRate: number;
  readonly partitionPerTick: number;
  readonly partitionTicksMax: number;
  readonly proposePerTick: number;
  readonly readPerTick: number;
  /** Ticks allowed for the healed cluster to converge before liveness counts as violated. */
  readonly quiesceTicksMax: number;
}

/** Figures of one run, for the test's summary line. */
export interface SimStats {
  ticks: number;
  proposed: number;
  acknowledged: number;
  readsServed: number;
  readsFailed: number;
  crashes: number;
  partitions: number;
  termsWithLeader: number;
  committed: number;
  messages: number;
  rejectedNotLeader: number;
  rejectedOverloaded: number;
  /** Ticks of the chaotic phase in which no node was leader. */
  leaderlessTicks: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
}

/** A proposal waiting for its leader to apply it. */
interface PendingProposal {
  readonly term: Term;
  readonly data: Uint8Array;
}

/** A read waiting for ReadReady: its answer must reflect every write acknowledged before it was issued. */
interface PendingRead {
  readonly node: NodeId;
  readonly ackedIndexMin: LogIndex;
}

/** Draws a varied configuration from `random`: each seed explores different fault rates and limits. */
export function randomConfig(random: SeededRandom, ticks: number): SimConfig {
  const between = (low: number, high: number): number => low + random.nextFloat() * (high - low);
  const integer = (low: number, high: number): number => low + random.nextInt(high - low + 1);
  return {
    nodeCount: 5,
    ticks,
    raft: {
      electionTimeoutTicks: 20,
      heartbeatIntervalTicks: 4,
      appendEntriesMax: integer(1, 8),
      appendBytesMax: integer(8, 64),
      inflightAppendsMax: integer(1, 4),
      pendingProposalsMax: integer(8, 64),
      pendingReadsMax: integer(2, 16),
      compactionKeepEntries: integer(0, 20),
      compactionKeepBytes: integer(0, 200),
      snapshotChunkBytesMax: integer(16, 256),
      snapshotChunksInflightMax: integer(1, 3),
      snapshotRetransmitTicks: integer(5, 30),
    },
    network: {
      dropRate: between(0, 0.1),
      duplicateRate: between(0, 0.05),
      delayTicksMax: integer(1, 5),
      longDelayRate: between(0, 0.01),
      longDelayTicksMax: 60,
    },
    disk: { stallRate: between(0, 0.05), stallTicksMax: 40 },
    // One seed in five never snapshots, so the plain log path keeps its coverage.
    snapshot: {
      everyEntries: random.nextFloat() < 0.2 ? 0 : integer(4, 60),
      writeTicksMax: integer(1, 20),
      paddingBytesMax: integer(0, 800),
      corruptRate: between(0, 0.1),
    },
    crashPerTick: between(0, 0.015),
    restartDelayTicksMax: integer(5, 100),
    majorityLossRate: 0.1,
    partitionPerTick: between(0, 0.01),
    partitionTicksMax: integer(20, 200),
    proposePerTick: between(0.1, 0.8),
    readPerTick: between(0, 0.3),
    quiesceTicksMax: 3000,
  };
}

/** Five (or nodeCount) simulated nodes, their network, their clients and the checkers. */
export class SimCluster implements NodeEffects {
  readonly nodes: SimNode[];
  readonly network: SimNetwork;
  nowTick = 0;
  readonly stats: SimStats;
  /** Recent events, when tracing (replay a seed with tracing to see how it failed). */
  readonly trace: string[] | null;

  private readonly members: NodeId[];
  private readonly electionSafety = new ElectionSafety();
  private readonly logMatching = new LogMatching();
  private readonly applied = new AppliedSequence(digestStep);
  private readonly proposals = new Map<NodeId, Map<LogIndex, PendingProposal>>();
  private readonly reads = new Map<number, PendingRead>();
  /** Acknowledged commands and the index each was acknowledged at. */
  private readonly acknowledged = new Map<string, LogIndex>();
  private ackedIndexMax = indexZero;
  private nextCommand = 1;
  private nextReadId = 1;
  private partitionEndTick = 0;
  private clientsEnabled = true;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    readonly config: SimConfig,
    readonly random: SeededRandom,
    trace = false,
  ) {
    this.trace = trace ? [] : null;
    this.members = Array.from({ length: config.nodeCount }, (_, k) => asNodeId(k + 1));
    this.network = new SimNetwork(random, { ...config.network });
    this.nodes = this.members.map((id) => new SimNode(id, random, this, config.disk, config.snapshot));
    this.stats = emptyStats();
    for (const node of this.nodes) this.startNode(node);
  }

  /** Runs the chaotic phase, then heals, restarts every node and checks convergence. */
  run(): SimStats {
    for (let k = 0; k < this.config.ticks; k++) this.tick(true);
    this.settle();
    this.stats.ticks = this.nowTick;
    this.stats.termsWithLeader = this.electionSafety.termsWithLeader;
    this.stats.committed = this.applied.entries.length;
    this.stats.messages = this.network.sentCount;
    this.stats.snapshotsTaken = this.nodes.reduce((sum, node) => sum + node.snapshotsTaken, 0);
    this.stats.snapshotsInstalled = this.nodes.reduce((sum, node) => sum + node.snapshotsInstalled, 0);
    return this.stats;
  }

  /** One virtual tick: restarts, deliveries, disk completions, Tick events, then faults and clients. */
  tick(chaos: boolean): void {
    this.nowTick++;
    for (const node of this.nodes) if (!node.up && node.restartTick <= this.nowTick) this.startNode(node);
    for (const message of this.network.takeArrivals(this.nowTick)) {
      const node = this.nodes[message.to - 1]!;
      if (node.up) node.step({ type: 'Receive', message }, this.nowTick);
    }
    for (const node of this.nodes) if (node.up) node.advance(this.nowTick);
    for (const node of this.nodes) if (node.up) node.step({ type: 'Tick' }, this.nowTick);
    if (chaos) {
      if (!this.nodes.some((node) => node.machine?.role === 'leader')) this.stats.leaderlessTicks++;
      this.maybeCrash();
      this.maybePartition();
    }
    if (this.clientsEnabled) this.runClients();
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  private startNode(node: SimNode): void {
    const options: RaftOptions = { ...this.config.raft, id: node.id, members: this.members };
    node.start(options, this.random);
    this.proposals.set(node.id, new Map());
    this.note(`n${node.id} starts (incarnation ${node.incarnation}, snapshot ${node.disk.snapshot?.index ?? 0}, entries ${node.disk.base.index + 1}..${node.disk.lastIndex}, term ${node.disk.hardState.currentTerm})`);
  }

  private maybeCrash(): void {
    if (this.random.nextFloat() >= this.config.crashPerTick) return;
    const up = this.nodes.filter((node) => node.up);
    const down = this.nodes.length - up.length;
    // Keep a majority up most of the time, but sometimes lose it: progress must stop, not safety.
    if (down >= 2 && this.random.nextFloat() >= this.config.majorityLossRate) return;
    if (up.length === 0) return;
    const victim = this.pickVictim(up);
    this.crashNode(victim);
    victim.restartTick = this.nowTick + 1 + this.random.nextInt(this.config.restartDelayTicksMax);
  }

  /**
   * Any node, a leader, or a node with a write in flight: crashing a leader between commit and
   * the end of its own write is what exposes a leader counting its unwritten log (§10.2.1).
   */
  private pickVictim(up: readonly SimNode[]): SimNode {
    const choice = this.random.nextInt(3);
    const leaders = up.filter((node) => node.machine!.role === 'leader');
    const writing = up.filter((node) => node.writing);
    const writingLeaders = leaders.filter((node) => node.writing);
    let pool: readonly SimNode[] = up;
    if (choice === 1 && leaders.length > 0) pool = leaders;
    if (choice === 2 && writing.length > 0) pool = writingLeaders.length > 0 ? writingLeaders : writing;
    return pool[this.random.nextInt(pool.length)]!;
  }

  private crashNode(node: SimNode): void {
    this.note(`n${node.id} crashes`);
    node.crash();
    this.network.discardFrom(node.id);
    this.proposals.get(node.id)!.clear();
    for (const [id, read] of this.reads) if (read.node === node.id) this.reads.delete(id);
    this.stats.crashes++;
  }

  private maybePartition(): void {
    if (this.network.partitioned) {
      if (this.nowTick >= this.partitionEndTick) {
        this.network.heal();
        this.note('partition heals');
      }
      return;
    }
    if (this.random.nextFloat() >= this.config.partitionPerTick) return;
    const shuffled = [...this.members];
    for (let k = shuffled.length - 1; k > 0; k--) {
      const other = this.random.nextInt(k + 1);
      [shuffled[k], shuffled[other]] = [shuffled[other]!, shuffled[k]!];
    }
    const cut = 1 + this.random.nextInt(2);
    const groups = this.random.nextFloat() < 0.2 ? [shuffled.slice(0, 1), shuffled.slice(1, 3)] : [shuffled.slice(0, cut)];
    this.network.partition(groups);
    this.partitionEndTick = this.nowTick + 1 + this.random.nextInt(this.config.partitionTicksMax);
    this.stats.partitions++;
    this.note(`partition ${JSON.stringify(groups)} until t${this.partitionEndTick}`);
  }

  /**
   * The final phase: heal the network, stop faults and clients, crash and restart every node from
   * its disk, then run until the cluster converges (or fail liveness).
   */
  private settle(): void {
    this.network.heal();
    this.network.faults = { ...this.network.faults, dropRate: 0, duplicateRate: 0, longDelayRate: 0 };
    this.clientsEnabled = false;
    for (const node of this.nodes) if (node.up) this.crashNode(node);
    for (const node of this.nodes) this.startNode(node);
    for (let k = 0; k < this.config.quiesceTicksMax; k++) {
      this.tick(false);
      if (this.converged()) {
        this.checkFinal();
        return;
      }
    }
    throw new SimViolation('liveness', `no convergence ${this.config.quiesceTicksMax} ticks after healing: ${this.describeNodes()}`);
  }

  private converged(): boolean {
    const leaders = this.nodes.filter((node) => node.machine?.role === 'leader');
    if (leaders.length !== 1) return false;
    const leader = leaders[0]!.machine!;
    return this.nodes.every((node) => {
      const machine = node.machine;
      if (machine === null || !node.idle) return false;
      if (machine.currentTerm !== leader.currentTerm || machine.leaderId !== leader.id) return false;
      if (machine.lastIndex !== leader.lastIndex || machine.lastTerm !== leader.lastTerm) return false;
      return machine.commitIndex === leader.lastIndex && node.appliedCount === leader.lastIndex;
    });
  }

  /**
   * Logs (after each node's compacted base), state machines and applied sequences agree, and
   * every acknowledged command is in them exactly once.
   */
  private checkFinal(): void {
    const sequence = this.applied.entries;
    for (const node of this.nodes) {
      const machine = node.machine!;
      if (machine.lastIndex !== sequence.length) {
        throw new SimViolation('convergence', `n${node.id} has ${machine.lastIndex} entries, ${sequence.length} applied`);
      }
      if (node.digest !== this.applied.digestAt(node.appliedCount)) {
        throw new SimViolation('convergence', `n${node.id} state machine differs from the applied sequence at ${node.appliedCount}`);
      }
      for (const entry of sequence.slice(machine.baseIndex)) {
        const held = machine.entryAt(entry.index)!;
        if (held.term !== entry.term || !bytesEqual(held.data, entry.data)) {
          throw new SimViolation('convergence', `n${node.id} log differs at index ${entry.index}`);
        }
      }
    }
    const seen = new Map<string, LogIndex>();
    for (const entry of sequence) {
      if (entry.type !== EntryType.Command) continue;
      const command = this.decoder.decode(entry.data);
      const earlier = seen.get(command);
      if (earlier !== undefined) throw new SimViolation('exactly once', `${command} applied at ${earlier} and ${entry.index}`);
      seen.set(command, entry.index);
    }
    for (const [command, index] of this.acknowledged) {
      const found = seen.get(command);
      if (found !== index) throw new SimViolation('durability', `acknowledged ${command} at ${index}, final log has it at ${found ?? 'nowhere'}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Clients

  private runClients(): void {
    if (this.random.nextFloat() < this.config.proposePerTick) this.propose();
    if (this.random.nextFloat() < this.config.readPerTick) this.read();
  }

  /** Usually the node that believes it leads (there may be stale ones); sometimes any node. */
  private pickTarget(): SimNode | undefined {
    const up = this.nodes.filter((node) => node.up);
    const leaders = up.filter((node) => node.machine!.role === 'leader');
    const pool = leaders.length > 0 && this.random.nextFloat() < 0.9 ? leaders : up;
    return pool.length === 0 ? undefined : pool[this.random.nextInt(pool.length)];
  }

  private propose(): void {
    const node = this.pickTarget();
    if (node === undefined) return;
    const count = 1 + this.random.nextInt(3);
    const commands = Array.from({ length: count }, () => this.encoder.encode(`c${this.nextCommand++}`));
    this.stats.proposed += count;
    node.step({ type: 'Propose', commands }, this.nowTick);
  }

  private read(): void {
    const node = this.pickTarget();
    if (node === undefined) return;
    const requestId = this.nextReadId++;
    this.reads.set(requestId, { node: node.id, ackedIndexMin: this.ackedIndexMax });
    node.step({ type: 'ReadIndex', requestId }, this.nowTick);
  }

  // ---------------------------------------------------------------------------------------------
  // NodeEffects: checks after every step, and the execution of actions

  stepped(node: SimNode, event: RaftEvent, actions: readonly RaftAction[]): void {
    const machine = node.machine!;
    if (machine.role === 'leader') this.electionSafety.observe(node.id, machine.currentTerm);
    if (machine.commitIndex < node.lastCommitIndex) {
      throw new SimViolation('commit monotonic', `n${node.id} commitIndex ${node.lastCommitIndex} -> ${machine.commitIndex}`);
    }
    node.lastCommitIndex = machine.commitIndex;
    for (const action of actions) {
      if (action.type === 'PersistEntries') this.observeAppended(node, action.entries);
      else if (action.type === 'Proposed') this.recordProposal(node, event, action);
      else if (action.type === 'RoleChanged') this.roleChanged(node, action);
    }
  }

  private roleChanged(node: SimNode, action: Extract<RaftAction, { type: 'RoleChanged' }>): void {
    const machine = node.machine!;
    if (action.role === 'leader') checkLeaderCompleteness(node.id, machine.baseIndex, (index) => machine.entryAt(index), this.applied.entries);
    if (this.trace !== null) this.note(`n${node.id} ${action.role} t${action.term} leader n${action.leaderId} last ${machine.lastIndex} commit ${machine.commitIndex}`);
  }

  private observeAppended(node: SimNode, entries: readonly LogEntry[]): void {
    const machine = node.machine!;
    for (const entry of entries) {
      const prevIndex = indexPlus(entry.index, -1);
      const prevTerm = prevIndex === machine.baseIndex ? machine.baseTerm : machine.entryAt(prevIndex)!.term;
      this.logMatching.observe(node.id, entry, prevTerm);
    }
  }

  /** The driver learns each command's (index, term) from the step's result, as the real one does. */
  private recordProposal(node: SimNode, event: RaftEvent, action: Extract<RaftAction, { type: 'Proposed' }>): void {
    if (event.type !== 'Propose') throw new SimViolation('proposal', `Proposed without Propose on n${node.id}`);
    if (action.count !== event.commands.length) throw new SimViolation('proposal', `Proposed ${action.count} of ${event.commands.length}`);
    const pending = this.proposals.get(node.id)!;
    event.commands.forEach((data, offset) => pending.set(indexPlus(action.firstIndex, offset), { term: action.term, data }));
  }

  send(node: SimNode, action: Extract<RaftAction, { type: 'Send' }>): void {
    if (action.message.from !== node.id) throw new SimViolation('send', `n${node.id} sent a message from n${action.message.from}`);
    this.network.send(action.message, this.nowTick);
  }

  apply(node: SimNode, entries: readonly LogEntry[]): void {
    const pending = this.proposals.get(node.id)!;
    for (const entry of entries) {
      this.applied.observe(node.id, node.appliedCount, entry);
      node.appliedCount = indexPlus(node.appliedCount, 1);
      node.digest = digestStep(node.digest, entry);
      const proposal = pending.get(entry.index);
      if (proposal === undefined) continue;
      pending.delete(entry.index);
      if (proposal.term !== entry.term) continue;
      if (!bytesEqual(proposal.data, entry.data)) throw new SimViolation('proposal', `index ${entry.index} holds another command`);
      this.acknowledged.set(this.decoder.decode(entry.data), entry.index);
      this.ackedIndexMax = maxOf(this.ackedIndexMax, entry.index);
      this.stats.acknowledged++;
    }
  }

  /**
   * A state machine restored from a snapshot must equal the state of the applied sequence at the
   * snapshot's index: a snapshot of the wrong state, or installed at the wrong index, fails here.
   */
  restored(node: SimNode, index: LogIndex, digest: number, how: 'start' | 'install'): void {
    this.note(`n${node.id} state from snapshot at ${index} (${how})`);
    if (index > this.applied.entries.length) throw new SimViolation('snapshot', `n${node.id} restored a snapshot at ${index}, only ${this.applied.entries.length} entries were ever applied`);
    if (digest !== this.applied.digestAt(index)) throw new SimViolation('snapshot', `n${node.id} restored (${how}) a state that differs from the applied state at ${index}`);
  }

  notify(node: SimNode, action: RaftAction): void {
    if (action.type === 'ReadReady') this.readReady(node, action.requestIds, action.readIndex);
    else if (action.type === 'ReadFailed') this.readFailed(node, action.requestIds);
    else if (action.type === 'ProposeRejected' && action.reason === 'not_leader') this.stats.rejectedNotLeader++;
    else if (action.type === 'ProposeRejected') this.stats.rejectedOverloaded++;
  }

  private readReady(node: SimNode, requestIds: readonly number[], readIndex: LogIndex): void {
    for (const requestId of requestIds) {
      const read = this.takeRead(node, requestId);
      // Linearizability (thesis §6.4): a read must see every write acknowledged before it began.
      if (readIndex < read.ackedIndexMin) {
        throw new SimViolation('linearizable read', `read ${requestId} on n${node.id} at index ${readIndex}, but index ${read.ackedIndexMin} was acknowledged before it`);
      }
      if (readIndex > node.machine!.commitIndex) throw new SimViolation('linearizable read', `readIndex ${readIndex} beyond commitIndex`);
      this.stats.readsServed++;
    }
  }

  private readFailed(node: SimNode, requestIds: readonly number[]): void {
    for (const requestId of requestIds) this.takeRead(node, requestId);
    this.stats.readsFailed += requestIds.length;
  }

  private takeRead(node: SimNode, requestId: number): PendingRead {
    const read = this.reads.get(requestId);
    if (read === undefined || read.node !== node.id) throw new SimViolation('read', `n${node.id} answered unknown or finished read ${requestId}`);
    this.reads.delete(requestId);
    return read;
  }

  // ---------------------------------------------------------------------------------------------
  // Diagnostics

  private note(text: string): void {
    if (this.trace === null) return;
    this.trace.push(`t${this.nowTick} ${text}`);
    if (this.trace.length > 5000) this.trace.splice(0, 1000);
  }

  describeNodes(): string {
    return this.nodes
      .map((node) => {
        const machine = node.machine;
        if (machine === null) return `n${node.id}: down`;
        return `n${node.id}: ${machine.role} t${machine.currentTerm} leader n${machine.leaderId} base ${machine.baseIndex} last ${machine.lastIndex}/t${machine.lastTerm} commit ${machine.commitIndex} applied ${node.appliedCount}${node.idle ? '' : ' writing'}`;
      })
      .join('; ');
  }
}

/** All-zero statistics, to sum seeds into. */
export function emptyStats(): SimStats {
  return { ticks: 0, proposed: 0, acknowledged: 0, readsServed: 0, readsFailed: 0, crashes: 0, partitions: 0, termsWithLeader: 0, committed: 0, messages: 0, rejectedNotLeader: 0, rejectedOverloaded: 0, leaderlessTicks: 0, snapshotsTaken: 0, snapshotsInstalled: 0 };
}

/** The outcome of one seed. */
export interface SeedResult {
  readonly seed: number;
  readonly stats: SimStats;
  /** The violated checker and what it saw; absent when every check held. */
  readonly failure?: { readonly checker: string; readonly message: string };
  /** Recent events, when run with tracing. */
  readonly trace: readonly string[] | null;
}

/**
 * Runs one seed end to end. A core assertion counts as a violation too: the core asserts its own
 * invariants (e.g. never truncating a committed entry).
 */
export function runSeed(seed: number, ticks: number, trace = false): SeedResult {
  const random = new SeededRandom(seed);
  const cluster = new SimCluster(randomConfig(random, ticks), random, trace);
  try {
    const stats = cluster.run();
    return { seed, stats, trace: cluster.trace };
  } catch (error) {
    const checker = error instanceof SimViolation ? error.checker : 'core assertion';
    const what = error instanceof SimViolation ? error.detail : error instanceof Error ? error.message : String(error);
    const message = `${what} at t${cluster.nowTick} [${cluster.describeNodes()}]`;
    return { seed, stats: cluster.stats, failure: { checker, message }, trace: cluster.trace };
  }
}
