/**
 * Loading and validating the cluster config (config/cluster.json). Every mistake is reported as
 * a ConfigError whose message names the file and the field, so an operator never sees a stack
 * trace for a typo.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { asNodeId, type NodeId } from '../util/types.js';
import { limits } from '../util/limits.js';
import { parseHostPort } from '../util/host_port.js';

/** One member of the cluster as the config describes it, directories made absolute. */
export interface NodeConfig {
  readonly id: NodeId;
  /** Where clients speak the file-server protocol, `host:port`. */
  readonly clientAddress: string;
  /** Where other nodes send Raft messages, `host:port`. */
  readonly raftAddress: string;
  /** The LevelDB holding this node's Raft log and hard state. */
  readonly logDir: string;
  /** This node's other durable state (snapshots). */
  readonly stateDir: string;
}

/** Timing of the Raft core; the defaults suit a LAN or loopback cluster. */
export interface TimingConfig {
  /** Length of one Raft tick in milliseconds. */
  readonly tickMs: number;
  /** Followers campaign after a random [1x, 2x) of this many ticks without a leader. */
  readonly electionTimeoutTicks: number;
  /** A leader sends heartbeats this often. */
  readonly heartbeatIntervalTicks: number;
  /** A follower that knows no leader waits this long for one before answering ERR_INTERNAL. */
  readonly leaderWaitMs: number;
  /** A client that sends part of a command and then nothing for this long is disconnected. */
  readonly partialCommandTimeoutMs: number;
}

/** When nodes snapshot their state and compact their logs (README "Snapshots and log compaction"). */
export interface SnapshotConfig {
  /** A node snapshots once this many entries were applied since its last snapshot. */
  readonly logEntriesMax: number;
  /** ... or once the entries applied since its last snapshot hold this many payload bytes. */
  readonly logBytesMax: number;
  /** Entries kept in the log before a snapshot's index, so a slightly lagging follower catches up from the log. */
  readonly keepEntries: number;
  /** ... holding at most this many payload bytes (an entry may carry many commands). */
  readonly keepBytes: number;
}

/** The whole validated cluster config. */
export interface ClusterConfig {
  /** The file it came from (absolute), for messages. */
  readonly file: string;
  readonly nodes: readonly NodeConfig[];
  readonly timing: TimingConfig;
  /** Largest content of one write/cas in bytes. */
  readonly contentBytesMax: number;
  /** Largest file in bytes (writeat/truncate past it are ERR_TOO_LARGE). Must be the same on every node. */
  readonly fileBytesMax: number;
  /**
   * While less than this many bytes are free under a node's log or state directory, the leader
   * answers commands that add data with ERR_NO_SPACE (src/storage/disk_space.ts); 0 turns it off.
   */
  readonly diskReserveBytes: number;
  /**
   * A leader whose clients' submitted, unanswered commands hold this many bytes stops reading new
   * commands until they fall to half (RaftNode.acceptingCommands).
   */
  readonly pendingBytesMax: number;
  readonly snapshot: SnapshotConfig;
}

/** A config that cannot be used; the message names the file and the field. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const timingDefaults: TimingConfig = {
  tickMs: 10,
  electionTimeoutTicks: 30,
  heartbeatIntervalTicks: 5,
  leaderWaitMs: 3000,
  partialCommandTimeoutMs: 30_000,
};

const diskReserveBytesDefault = 64 * 1024 * 1024;
const pendingBytesMaxDefault = 64 * 1024 * 1024;

const snapshotDefaults: SnapshotConfig = {
  logEntriesMax: 20_000,
  logBytesMax: 64 * 1024 * 1024,
  keepEntries: 5_000,
  keepBytes: 8 * 1024 * 1024,
};

/** Reads, parses and validates a cluster config file. */
export function loadClusterConfig(file: string): ClusterConfig {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(`${absolute}: cannot read the config file (${(error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${absolute}: not valid JSON (${(error as Error).message})`);
  }
  return parseClusterConfig(raw, absolute);
}

/** Validates an already parsed config object; `file` locates relative directories and messages. */
export function parseClusterConfig(raw: unknown, file: string): ClusterConfig {
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(`${file}: ${field}: ${problem}`);
  };
  if (!isObject(raw)) return fail('(top level)', 'expected an object with a "nodes" array');
  const nodesRaw = raw['nodes'];
  if (!Array.isArray(nodesRaw) || nodesRaw.length === 0) return fail('nodes', 'expected a non-empty array of nodes');
  const baseDir = path.dirname(file);
  const nodes = nodesRaw.map((node, position) => parseNode(node, `nodes[${position}]`, baseDir, fail));
  checkUnique(nodes, fail);
  const timing = parseTiming(raw['timing'], fail);
  const contentBytesMax = optionalInteger(raw, 'contentBytesMax', limits.contentBytesMaxDefault, 1, 64 * 1024 * 1024, '', fail);
  // Every replica must refuse the same growth, so this is cluster-wide like contentBytesMax.
  const fileBytesMax = optionalInteger(raw, 'fileBytesMax', limits.fileBytesMaxDefault, 0, Number.MAX_SAFE_INTEGER, '', fail);
  const diskReserveBytes = optionalInteger(raw, 'diskReserveBytes', diskReserveBytesDefault, 0, Number.MAX_SAFE_INTEGER, '', fail);
  const pendingBytesMax = optionalInteger(raw, 'pendingBytesMax', pendingBytesMaxDefault, 1, Number.MAX_SAFE_INTEGER, '', fail);
  const snapshot = parseSnapshot(raw['snapshot'], fail);
  return { file, nodes, timing, contentBytesMax, fileBytesMax, diskReserveBytes, pendingBytesMax, snapshot };
}

function parseSnapshot(raw: unknown, fail: Fail): SnapshotConfig {
  if (raw === undefined) return snapshotDefaults;
  if (!isObject(raw)) return fail('snapshot', 'expected an object');
  return {
    logEntriesMax: optionalInteger(raw, 'logEntriesMax', snapshotDefaults.logEntriesMax, 1, 100_000_000, 'snapshot.', fail),
    logBytesMax: optionalInteger(raw, 'logBytesMax', snapshotDefaults.logBytesMax, 1, 64 * 1024 * 1024 * 1024, 'snapshot.', fail),
    keepEntries: optionalInteger(raw, 'keepEntries', snapshotDefaults.keepEntries, 0, 100_000_000, 'snapshot.', fail),
    keepBytes: optionalInteger(raw, 'keepBytes', snapshotDefaults.keepBytes, 0, 64 * 1024 * 1024 * 1024, 'snapshot.', fail),
  };
}

type Fail = (field: string, problem: string) => never;

function parseNode(raw: unknown, field: string, baseDir: string, fail: Fail): NodeConfig {
  if (!isObject(raw)) return fail(field, 'expected an object');
  const id = raw['id'];
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 65535) {
    return fail(`${field}.id`, `expected an integer from 1 to 65535, got ${JSON.stringify(id)}`);
  }
  return {
    id: asNodeId(id),
    clientAddress: address(raw, 'clientAddress', field, fail),
    raftAddress: address(raw, 'raftAddress', field, fail),
    logDir: directory(raw, 'logDir', field, baseDir, fail),
    stateDir: directory(raw, 'stateDir', field, baseDir, fail),
  };
}

function address(raw: Record<string, unknown>, key: string, field: string, fail: Fail): string {
  const value = raw[key];
  if (typeof value !== 'string' || parseHostPort(value) === null) {
    return fail(`${field}.${key}`, `expected "host:port" with a port from 1 to 65535, got ${JSON.stringify(value)}`);
  }
  return value;
}

function directory(raw: Record<string, unknown>, key: string, field: string, baseDir: string, fail: Fail): string {
  const value = raw[key];
  if (typeof value !== 'string' || value.length === 0) {
    return fail(`${field}.${key}`, `expected a directory path, got ${JSON.stringify(value)}`);
  }
  return path.resolve(baseDir, value);
}

function checkUnique(nodes: readonly NodeConfig[], fail: Fail): void {
  const seen = new Map<string, number>();
  nodes.forEach((node, position) => {
    const keys: Array<[string, string]> = [
      ['id', String(node.id)],
      ['clientAddress', node.clientAddress],
      ['raftAddress', node.raftAddress],
      ['logDir', node.logDir],
      ['stateDir', node.stateDir],
    ];
    for (const [key, value] of keys) {
      const previous = seen.get(`${key}=${value}`);
      if (previous !== undefined) fail(`nodes[${position}].${key}`, `${value} is already used by nodes[${previous}]`);
      seen.set(`${key}=${value}`, position);
    }
  });
}

function parseTiming(raw: unknown, fail: Fail): TimingConfig {
  if (raw === undefined) return timingDefaults;
  if (!isObject(raw)) return fail('timing', 'expected an object');
  const tickMs = optionalInteger(raw, 'tickMs', timingDefaults.tickMs, 1, 10_000, 'timing.', fail);
  const electionTimeoutTicks = optionalInteger(raw, 'electionTimeoutTicks', timingDefaults.electionTimeoutTicks, 2, 100_000, 'timing.', fail);
  const heartbeatIntervalTicks = optionalInteger(raw, 'heartbeatIntervalTicks', timingDefaults.heartbeatIntervalTicks, 1, 100_000, 'timing.', fail);
  const leaderWaitMs = optionalInteger(raw, 'leaderWaitMs', timingDefaults.leaderWaitMs, 0, 600_000, 'timing.', fail);
  const partialCommandTimeoutMs = optionalInteger(raw, 'partialCommandTimeoutMs', timingDefaults.partialCommandTimeoutMs, 100, 3_600_000, 'timing.', fail);
  if (heartbeatIntervalTicks * 2 > electionTimeoutTicks) {
    fail('timing.heartbeatIntervalTicks', `must be at most half of electionTimeoutTicks (${electionTimeoutTicks}), got ${heartbeatIntervalTicks}`);
  }
  return { tickMs, electionTimeoutTicks, heartbeatIntervalTicks, leaderWaitMs, partialCommandTimeoutMs };
}

function optionalInteger(
  raw: Record<string, unknown>,
  key: string,
  fallback: number,
  minimum: number,
  maximum: number,
  prefix: string,
  fail: Fail,
): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
    return fail(`${prefix}${key}`, `expected an integer from ${minimum} to ${maximum}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
