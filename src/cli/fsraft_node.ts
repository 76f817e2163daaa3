/**
 * `fsraft-node <id> [--config FILE]`: runs one member of the cluster described by the config.
 * Prints one log line per state change and a readiness line, and stops cleanly on SIGINT/SIGTERM.
 * This is the one place where the concrete storage, transport and clock are chosen.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { SystemClock } from '../clock/clock.js';
import { FsStateMachine, type FsStateMachineOptions } from '../fs/fs_state_machine.js';
import { RaftMachine } from '../raft/raft_machine.js';
import { ClientServer } from '../server/client_server.js';
import { RaftNode } from '../server/raft_node.js';
import { initialStateFor } from '../server/startup.js';
import { DiskSpaceMonitor } from '../storage/disk_space.js';
import { LevelRaftStorage } from '../storage/level_storage.js';
import { nativeAvailable, nativeCrc32c, fallocate, seekData, seekHole, syncfs } from '../native/fsraft_native.js';
import type { SparseFileOps } from '../storage/file_content_store.js';
import { StateDirectory, type SwitchStep } from '../storage/state_directory.js';
import { NanomsgTransport } from '../transport/nanomsg_transport.js';
import { accelerateCrc32c } from '../util/crc32.js';
import { limits } from '../util/limits.js';
import { SeededRandom } from '../util/prng.js';
import { ConfigError, loadClusterConfig, type ClusterConfig } from './config.js';
import { defaultConfigPath } from './config_path.js';
import { asLogIndex, asNodeId, asTerm, type NodeId } from '../util/types.js';


async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('fsraft-node')
    .command('$0 <id>', 'run one node of an fsraft cluster', (command) =>
      command.positional('id', { type: 'number', describe: 'this node\'s id in the config', demandOption: true }),
    )
    .option('config', { type: 'string', describe: 'cluster config file', default: defaultConfigPath() })
    .strict()
    .help()
    .parse();
  const config = loadClusterConfig(argv.config);
  await runNode(config, asNodeId(Number(argv.id)));
}

/**
 * For crash tests (the scale check): FSRAFT_TEST_KILL_AT=switch:pointer-synced or
 * switch:pointer-renamed makes the node kill itself with SIGKILL at that step of switching to a
 * state received from the leader, as a power cut there would. Unset in normal operation.
 */
function crashTestHook(killAt: string | undefined, id: NodeId, log: (line: string) => void): ((step: SwitchStep) => void) | undefined {
  if (killAt === undefined || killAt === '') return undefined;
  return (step) => {
    if (`switch:${step}` !== killAt) return;
    log(`[n${id}] FSRAFT_TEST_KILL_AT=${killAt}: SIGKILL at this step of the switch`);
    process.kill(process.pid, 'SIGKILL');
  };
}

async function runNode(config: ClusterConfig, id: NodeId): Promise<void> {
  const self = config.nodes.find((node) => node.id === id);
  if (self === undefined) {
    throw new ConfigError(`${config.file}: nodes: no node has id ${id} (ids: ${config.nodes.map((node) => node.id).join(', ')})`);
  }
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  mkdirSync(self.stateDir, { recursive: true });
  // Every log entry and state stream record is checksummed; large ones with the CPU's instruction.
  accelerateCrc32c(nativeCrc32c());
  const storage = await LevelRaftStorage.open(self.logDir);
  const stored = await storage.load();
  const host = await StateDirectory.open(self.stateDir, sparseFileOps(), crashTestHook(process.env['FSRAFT_TEST_KILL_AT'], id, log));
  const stateOptions: FsStateMachineOptions = { fileBytesMax: config.fileBytesMax };
  const state = await FsStateMachine.open(host.current.kv, host.current.content, stateOptions);
  const initial = await initialStateFor(stored, { index: asLogIndex(state.appliedIndex), term: asTerm(state.appliedTerm) }, storage, `node ${id} (${self.stateDir}, ${self.logDir})`);
  if (state.appliedIndex > 0) log(`[n${id}] restored snapshot at index ${state.appliedIndex}: ${state.inodeCount} nodes in ${path.join(self.stateDir, host.current.name)}`);
  const machine = new RaftMachine(
    {
      id,
      members: config.nodes.map((node) => node.id),
      electionTimeoutTicks: config.timing.electionTimeoutTicks,
      heartbeatIntervalTicks: config.timing.heartbeatIntervalTicks,
      appendEntriesMax: limits.appendEntriesMax,
      appendBytesMax: limits.appendBytesMax,
      inflightAppendsMax: limits.inflightAppendsMax,
      pendingProposalsMax: limits.pendingProposalsMax,
      pendingReadsMax: limits.pendingReadsMax,
      compactionKeepEntries: config.snapshot.keepEntries,
      compactionKeepBytes: config.snapshot.keepBytes,
      snapshotChunkBytesMax: limits.snapshotChunkBytesMax,
      snapshotChunksInflightMax: limits.snapshotChunksInflightMax,
      // A chunk unanswered for an election timeout is presumed lost, like an AppendEntries.
      snapshotRetransmitTicks: config.timing.electionTimeoutTicks,
    },
    initial,
    new SeededRandom(randomInt(0x7fffffff)),
  );
  const transport = new NanomsgTransport({
    id,
    peers: new Map(config.nodes.map((node) => [node.id, node.raftAddress])),
    onError: (error) => log(`[n${id}] transport: ${error.message}`),
  });
  const clock = new SystemClock();
  const diskSpace = new DiskSpaceMonitor({ dirs: [self.logDir, self.stateDir], reserveBytes: config.diskReserveBytes, clock, log: (line) => log(`[n${id}] ${line}`) });
  await diskSpace.start();
  let shuttingDown = false;
  const fatal = (error: Error): void => {
    log(`[n${id}] fatal: ${error.message}; stopping (a restart recovers from what is on disk)`);
    // Recovery is a restart from disk: memory may be ahead of what was made durable.
    process.exit(1);
  };
  const node = new RaftNode({
    machine,
    storage,
    transport,
    clock,
    state,
    stateOptions,
    host,
    snapshotPolicy: { logEntriesMax: config.snapshot.logEntriesMax, logBytesMax: config.snapshot.logBytesMax },
    tickMs: config.timing.tickMs,
    log,
    onFatal: (error) => {
      if (!shuttingDown) fatal(error);
    },
    diskSpaceLow: () => diskSpace.low,
    pendingBytesMax: config.pendingBytesMax,
  });
  const clients = new ClientServer({
    node,
    address: self.clientAddress,
    clientAddresses: new Map(config.nodes.map((node) => [node.id, node.clientAddress])),
    contentBytesMax: config.contentBytesMax,
    leaderWaitMs: config.timing.leaderWaitMs,
    partialCommandTimeoutMs: config.timing.partialCommandTimeoutMs,
    diskStat: () => diskSpace.stat(),
    log,
    clock,
  });
  await clients.listen();
  await node.start();

  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`[n${id}] ${signal}: stopping`);
    void (async () => {
      await clients.close();
      diskSpace.stop();
      await node.stop();
      await storage.close();
      await host.close();
      log(`[n${id}] stopped`);
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // Handlers first: a supervisor may stop the node the moment it reads the readiness line.
  log(`[n${id} t${machine.currentTerm} ${machine.role}] ready: clients on ${self.clientAddress}, raft on ${self.raftAddress}, log in ${self.logDir}`);
}

/** SEEK_DATA/SEEK_HOLE, hole punching and syncfs for the content files, when the native addon loaded. */
function sparseFileOps(): SparseFileOps | undefined {
  return nativeAvailable() ? { seekData, seekHole, fallocate, syncfs } : undefined;
}

main().catch((error: unknown) => {
  // Expected failures (bad config, busy port, locked or corrupt storage) are one clear line.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`fsraft-node: ${message}\n`);
  process.exit(1);
});
