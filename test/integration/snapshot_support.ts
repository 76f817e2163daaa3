/**
 * Shared by the snapshot integration tests: pipelined raw writes (thousands of commands without
 * a round trip each) and an offline look at a stopped node's data directory, rebuilt exactly as
 * the node rebuilds it at start (snapshot, then the log after it).
 */
import path from 'node:path';
import { decodeFsEntry } from '../../src/codec/fs_request_codec.js';
import { FsStateMachine } from '../../src/fs/fs_state_machine.js';
import { EntryType } from '../../src/raft/types.js';
import { LevelRaftStorage } from '../../src/storage/level_storage.js';
import { StateDirectory } from '../../src/storage/state_directory.js';
import type { LocalCluster } from '../../src/launch/local_cluster.js';
import { ProtocolClient, describeReply, encodeWrite } from '../../src/launch/protocol_client.js';

/** Commands sent on one connection before their replies are read. */
const windowCommands = 128;

/** The last acknowledged version and content of each file written. */
export type Written = Map<string, { version: number; content: string }>;

/** Attempts at a batch of commands before giving up (a leader change interrupts one). */
const batchAttemptsMax = 5;

/**
 * Writes `count` commands over `fileCount` files (file k % fileCount gets command k) through the
 * leader, `lanes` connections at a time, each pipelining `windowCommands`. Every one must be
 * acknowledged; the file's last version is recorded in `written`. A batch interrupted by a leader
 * change (ERR_INTERNAL, a redirect, a closed connection) is sent again from the first unanswered
 * command to the new leader: a command whose outcome was unknown may so apply twice, which only
 * gives its file a newer version, and the newest acknowledged one is what is recorded.
 */
export async function pipelinedWrites(cluster: LocalCluster, prefix: string, count: number, fileCount: number, written: Written, lanes = 4): Promise<void> {
  const perLane = Math.ceil(count / lanes);
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const first = lane * perLane;
      const end = Math.min(count, first + perLane);
      for (let start = first; start < end; start += windowCommands) {
        const batch: Array<{ name: string; content: string }> = [];
        for (let k = start; k < Math.min(end, start + windowCommands); k++) {
          batch.push({ name: `${prefix}/${k % fileCount}`, content: `${prefix} command ${k}` });
        }
        await writeBatch(cluster, batch, written);
      }
    }),
  );
}

async function writeBatch(cluster: LocalCluster, batch: ReadonlyArray<{ name: string; content: string }>, written: Written): Promise<void> {
  let done = 0;
  for (let attempt = 1; done < batch.length; attempt++) {
    const client = await ProtocolClient.connect(cluster.clientAddress(await cluster.waitForLeader()));
    try {
      const rest = batch.slice(done);
      client.send(Buffer.concat(rest.map(({ name, content }) => encodeWrite(name, content))));
      for (const { name, content } of rest) {
        const reply = await client.readReply(30_000);
        if (reply.kind !== 'ok' || reply.version === undefined) {
          if (attempt >= batchAttemptsMax) throw new Error(`${name}: ${describeReply(reply)} (attempt ${attempt})`);
          break;
        }
        const previous = written.get(name);
        if (previous === undefined || previous.version < reply.version) written.set(name, { version: reply.version, content });
        done++;
      }
    } catch (error) {
      if (attempt >= batchAttemptsMax) throw error;
    } finally {
      client.destroy();
    }
  }
}

/** What a stopped node holds on disk. */
export interface NodeDisk {
  /** The state's applied index: its last sync point (a stopped node takes one as it stops). */
  readonly snapshotIndex: number;
  readonly entryCount: number;
  /** The state machine as on disk, with every stored entry after it applied. */
  readonly state: FsStateMachine;
  /** Closes what readNodeDisk opened. */
  close(): Promise<void>;
}

/** Opens a stopped node's data and rebuilds its state machine (the entries after its state applied in memory). */
export async function readNodeDisk(cluster: LocalCluster, id: number): Promise<NodeDisk> {
  const storage = await LevelRaftStorage.open(path.join(cluster.dir, `n${id}`, 'log'));
  const host = await StateDirectory.open(path.join(cluster.dir, `n${id}`, 'state'), undefined);
  try {
    const initial = await storage.load();
    const state = await FsStateMachine.open(host.current.kv, host.current.content);
    const from = state.appliedIndex;
    for (const entry of initial.entries) {
      if (entry.index <= from) continue;
      const decoded = entry.type === EntryType.Command ? decodeFsEntry(entry.data) : undefined;
      if (decoded?.ok === true) await state.applyEntry(entry.index, entry.term, decoded.requests);
      else await state.skipEntry(entry.index, entry.term);
    }
    return {
      snapshotIndex: from,
      entryCount: initial.entries.length,
      state,
      close: async () => {
        await state.close();
        await host.close();
      },
    };
  } finally {
    await storage.close();
  }
}

/** Names of files in `written` that `state` does not hold with the acknowledged version and content (at most 10). */
export async function missingFiles(state: FsStateMachine, written: Written): Promise<string[]> {
  const wrong: string[] = [];
  for (const [name, expected] of written) {
    const file = await state.query({ op: 'read', name, bytesMax: Number.MAX_SAFE_INTEGER }, 0);
    const ok = file.type === 'contents' && file.version === expected.version && Buffer.from(file.content).toString() === expected.content;
    if (!ok && wrong.length < 10) wrong.push(`${name}: expected version ${expected.version}`);
  }
  return wrong;
}
