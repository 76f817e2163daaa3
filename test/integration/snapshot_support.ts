/**
 * Shared by the snapshot integration tests: pipelined raw writes (thousands of commands without
 * a round trip each) and an offline look at a stopped node's data directory, rebuilt exactly as
 * the node rebuilds it at start (snapshot, then the log after it).
 */
import path from 'node:path';
import { decodeFsRequest } from '../../src/codec/fs_request_codec.js';
import { FileServerState } from '../../src/fs/file_server.js';
import { EntryType } from '../../src/raft/types.js';
import { LevelRaftStorage } from '../../src/storage/level_storage.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import type { LocalCluster } from '../helpers/local_cluster.js';
import { ProtocolClient, describeReply, encodeWrite } from '../helpers/protocol_client.js';

/** Commands sent on one connection before their replies are read. */
const windowCommands = 128;

/** The last acknowledged version and content of each file written. */
export type Written = Map<string, { version: number; content: string }>;

/**
 * Writes `count` commands over `fileCount` files (file k % fileCount gets command k) through the
 * leader, `lanes` connections at a time, each pipelining `windowCommands`. Every one must be
 * acknowledged; the file's last version is recorded in `written`.
 */
export async function pipelinedWrites(cluster: LocalCluster, prefix: string, count: number, fileCount: number, written: Written, lanes = 4): Promise<void> {
  const leader = await cluster.waitForLeader();
  const perLane = Math.ceil(count / lanes);
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const client = await ProtocolClient.connect(cluster.clientAddress(leader));
      try {
        const first = lane * perLane;
        const end = Math.min(count, first + perLane);
        for (let start = first; start < end; start += windowCommands) {
          const batch: Array<{ name: string; content: string }> = [];
          for (let k = start; k < Math.min(end, start + windowCommands); k++) {
            batch.push({ name: `${prefix}/${k % fileCount}`, content: `${prefix} command ${k}` });
          }
          client.send(Buffer.concat(batch.map(({ name, content }) => encodeWrite(name, content))));
          for (const { name, content } of batch) {
            const reply = await client.readReply(30_000);
            if (reply.kind !== 'ok' || reply.version === undefined) throw new Error(`${name}: ${describeReply(reply)}`);
            const previous = written.get(name);
            if (previous === undefined || previous.version < reply.version) written.set(name, { version: reply.version, content });
          }
        }
      } finally {
        client.destroy();
      }
    }),
  );
}

/** What a stopped node holds on disk. */
export interface NodeDisk {
  readonly snapshotIndex: number;
  readonly entryCount: number;
  /** The state machine rebuilt from its snapshot and every stored entry after it. */
  readonly state: FileServerState;
}

/** Opens a stopped node's data (read-only in effect) and rebuilds its state machine. */
export async function readNodeDisk(cluster: LocalCluster, id: number): Promise<NodeDisk> {
  const storage = await LevelRaftStorage.open(path.join(cluster.dir, `n${id}`, 'log'));
  try {
    const initial = await storage.load();
    const snapshots = await SnapshotStore.open(path.join(cluster.dir, `n${id}`, 'state'));
    const state = initial.snapshot === undefined ? new FileServerState() : FileServerState.fromSnapshot(await snapshots.load(initial.snapshot));
    await snapshots.close();
    const from = initial.snapshot?.index ?? 0;
    for (const entry of initial.entries) {
      if (entry.index <= from || entry.type !== EntryType.Command) continue;
      const decoded = decodeFsRequest(entry.data);
      if (decoded.ok) state.apply(decoded.request);
    }
    return { snapshotIndex: from, entryCount: initial.entries.length, state };
  } finally {
    await storage.close();
  }
}

/** Names of files in `written` that `state` does not hold with the acknowledged version and content (at most 10). */
export function missingFiles(state: FileServerState, written: Written): string[] {
  const wrong: string[] = [];
  for (const [name, expected] of written) {
    const file = state.read(name, 0);
    const ok = file.type === 'contents' && file.version === expected.version && Buffer.from(file.content).toString() === expected.content;
    if (!ok && wrong.length < 10) wrong.push(`${name}: expected version ${expected.version}`);
  }
  return wrong;
}
