/**
 * The leader's side of a state stream (src/server/snapshot_transfer.ts), driven as the core
 * drives it: chunks asked for in order, first with the stream's length unknown, then again from
 * byte 0 for a follower that restarted, this time asking for exactly the bytes that are left.
 */
import test from 'tape';
import type { FsCommand } from '../../src/fs/types.js';
import type { InstallSnapshot, RaftEvent } from '../../src/raft/types.js';
import { SnapshotSender } from '../../src/server/snapshot_transfer.js';
import { openMemoryState, type MemoryState } from '../helpers/fs_state.js';
import { branded } from '../helpers/plain_ids.js';

const chunkBytes = 4096;

/** A state whose stream is many chunks long. */
async function populated(): Promise<MemoryState> {
  const stores = await openMemoryState();
  const commands: FsCommand[] = [
    { op: 'create', name: 'big', mode: 0o644, exclusive: true },
    { op: 'writeat', name: 'big', offset: 0, content: new Uint8Array(100_000).fill(7) },
  ];
  let index = 0;
  for (const command of commands) await stores.machine.applyEntry(++index, 1, [{ clientId: 0, sequence: 0, stampMs: 1000, command }]);
  await stores.machine.syncPoint();
  return stores;
}

/** A sender over `stores`, and what it sent and told the core. */
function harness(stores: MemoryState): { sender: SnapshotSender; sent: InstallSnapshot[]; events: RaftEvent[] } {
  const sent: InstallSnapshot[] = [];
  const events: RaftEvent[] = [];
  const sender = new SnapshotSender({
    view: (index) => stores.machine.view(index),
    send: (message) => sent.push(message),
    step: (event) => events.push(event),
    log: () => undefined,
  });
  return { sender, sent, events };
}

/** Asks for one chunk and waits until it is sent. */
async function ask(h: ReturnType<typeof harness>, request: InstallSnapshot): Promise<InstallSnapshot> {
  const before = h.sent.length;
  h.sender.fill(request);
  for (let turn = 0; h.sent.length === before; turn++) {
    if (turn > 10_000) throw new Error(`no chunk sent for offset ${request.offset}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return h.sent[h.sent.length - 1]!;
}

function request(index: number, offset: number, length: number, done: boolean): InstallSnapshot {
  return branded<InstallSnapshot>({ type: 'InstallSnapshot', from: 1, to: 2, term: 1, lastIncludedIndex: index, lastIncludedTerm: 1, totalBytes: 0, offset, length, done, data: new Uint8Array(0) });
}

test('snapshot sender: a stream sent again with its length known ends with a chunk marked done', async (t) => {
  const stores = await populated();
  const h = harness(stores);
  const index = stores.machine.appliedIndex;
  // First stream: the length is unknown, every chunk is asked for whole until one comes back done.
  const first: Uint8Array[] = [];
  for (let offset = 0; ; ) {
    const chunk = await ask(h, request(index, offset, chunkBytes, false));
    first.push(chunk.data);
    offset += chunk.data.length;
    if (chunk.done) break;
  }
  const total = first.reduce((sum, chunk) => sum + chunk.length, 0);
  t.ok(first.length > 8, `the stream is ${first.length} chunks (${total} bytes), more than the sender keeps for resending`);
  t.ok(h.events.some((event) => event.type === 'SnapshotStreamEnded' && event.bytes === total), 'the core is told the length');
  // The follower restarted before installing it: from byte 0 again, the last chunk exactly what is left.
  const second: InstallSnapshot[] = [];
  for (let offset = 0; offset < total; offset += chunkBytes) {
    const length = Math.min(chunkBytes, total - offset);
    second.push(await ask(h, request(index, offset, length, offset + length === total)));
  }
  t.deepEqual(second.map((chunk) => chunk.done), second.map((_, k) => k === second.length - 1), 'only the last chunk of the second stream is marked done');
  t.deepEqual(Buffer.concat(second.map((chunk) => chunk.data)), Buffer.concat(first), 'the second stream holds the same bytes');
  await h.sender.closeAll();
  await stores.machine.close();
});
