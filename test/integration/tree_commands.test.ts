/**
 * The tree commands against a real 5-node cluster, over raw TCP (exact reply bytes) and through
 * FsraftClient (typed results and FsraftFsError codes), errors included; malformed tree commands
 * end in ERR_CMD_ERR and a closed connection; the course commands answer exactly as before.
 */
import net from 'node:net';
import test from 'tape';
import { connectLeader, fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { splitAddress, type ProtocolClient, type Reply } from '../../src/launch/protocol_client.js';
import { FsraftFsError, ProtocolError } from '../../src/client/errors.js';
import { FsraftClient } from '../../src/client/fsraft_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (content: Uint8Array): string => new TextDecoder().decode(content);

async function send(client: ProtocolClient, command: string | Buffer): Promise<Reply> {
  client.send(command);
  return client.readReply();
}

/**
 * Sends `command` on a fresh raw connection to the leader and returns the whole reply as text:
 * one line, or a LIST header plus its announced body. Independent of the src parsers on purpose.
 */
async function rawReply(command: string): Promise<string> {
  const leader = await cluster.waitForLeader(20_000);
  const { host, port } = splitAddress(cluster.clientAddress(leader));
  const socket = net.connect({ host, port });
  try {
    return await new Promise<string>((resolve, reject) => {
      let received = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error(`no complete reply to ${JSON.stringify(command)}`)), 10_000);
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const lineEnd = received.indexOf('\r\n');
        if (lineEnd < 0) return;
        const header = /^LIST \d+ (\d+)$/.exec(received.subarray(0, lineEnd).toString('latin1'));
        const total = header === null ? lineEnd + 2 : lineEnd + 2 + Number(header[1]) + 2;
        if (received.length < total) return;
        clearTimeout(timer);
        resolve(received.subarray(0, total).toString('utf8'));
      });
      socket.write(command);
    });
  } finally {
    socket.destroy();
  }
}

test('tree commands: every command over raw TCP, with the exact replies', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  try {
    const dir = okVersion(await send(client, 'mkdir raw 750\r\n'), 'mkdir');
    t.equal((await send(client, 'mkdir raw 750\r\n')).line, 'ERR_EXISTS');
    const created = okVersion(await send(client, 'create raw/f%20x 640 1\r\n'), 'create');
    t.ok(created > dir, 'create takes the next version');
    t.equal((await send(client, 'create raw/f%20x 640 1\r\n')).line, 'ERR_EXISTS', 'exclusive create of an existing file');
    t.equal((await send(client, 'create raw/f%20x 600 0\r\n')).line, `OK ${created}`, 'non-exclusive: its current version');
    const written = okVersion(await send(client, 'writeat raw/f%20x 0 5\r\nhello\r\n'), 'writeat');
    const appended = okVersion(await send(client, 'writeat raw/f%20x -1 6\r\n world\r\n'), 'append');
    t.ok(appended > written);
    const readat = await send(client, 'readat raw/f%20x 6 100\r\n');
    t.equal(readat.line, `CONTENTS ${appended} 5 0`);
    t.equal(readat.kind === 'contents' ? readat.content.toString() : '', 'world');
    t.equal((await send(client, 'readat raw/f%20x 100 5\r\n')).line, `CONTENTS ${appended} 0 0`, 'past the end: nothing');
    const stat = await rawReply('stat raw/f%20x\r\n');
    t.match(stat, new RegExp(`^STAT file ${appended} 11 640 0 0 \\d+ \\d+ \\d+ 0\\r\\n$`), `stat: ${JSON.stringify(stat)}`);
    t.match(await rawReply('stat /\r\n'), /^STAT dir \d+ 0 755 0 0 \d+ \d+ \d+ 0\r\n$/, 'stat of the root');
    t.equal((await send(client, 'mkdir raw/sub 755\r\n')).kind, 'ok');
    const list = await rawReply('list raw\r\n');
    t.match(list, /^LIST 2 \d+\r\nf%20x file \d+ 11 640 0 0 \d+ \d+ \d+ 0\nsub dir \d+ 0 755 0 0 \d+ \d+ \d+ 0\n\r\n$/, `list: ${JSON.stringify(list)}`);
    const truncated = okVersion(await send(client, 'truncate raw/f%20x 2\r\n'), 'truncate');
    const read = await send(client, 'read raw/f%20x\r\n');
    t.equal(read.line, `CONTENTS ${truncated} 2 0`, 'course read sees the truncated file');
    const setattr = okVersion(await send(client, 'setattr raw/f%20x 600 1000 100 5 6\r\n'), 'setattr');
    t.match(await rawReply('stat raw/f%20x\r\n'), new RegExp(`^STAT file ${setattr} 2 600 1000 100 5 6 \\d+ 0\\r\\n$`), 'setattr shows in stat');
    t.equal((await send(client, 'setattr / 755 - - - -\r\n')).kind, 'ok', 'setattr of the root');
    t.equal((await send(client, 'rename raw/f%20x raw/sub/g\r\n')).line, 'OK');
    t.equal((await send(client, 'read raw/sub/g\r\n')).line, `CONTENTS ${setattr} 2 0`, 'rename keeps the version');
    t.equal((await send(client, 'rmdir raw\r\n')).line, 'ERR_NOT_EMPTY');
    t.equal((await send(client, 'delete raw/sub/g\r\n')).line, 'OK');
    t.equal((await send(client, 'rmdir raw/sub\r\n')).line, 'OK');
    t.equal((await send(client, 'rmdir raw\r\n')).line, 'OK');
    t.equal(await rawReply('list raw\r\n'), 'ERR_FILE_NOT_FOUND\r\n');
  } finally {
    client.destroy();
  }
});

test('tree commands: every error word over raw TCP', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  try {
    okVersion(await send(client, 'write err/file 1\r\nx\r\n'), 'course write with an implicit parent');
    okVersion(await send(client, 'write err/full/x 1\r\nx\r\n'), 'write');
    const cases: Array<[string, string]> = [
      ['create err/none/f 644 0\r\n', 'ERR_FILE_NOT_FOUND'],
      ['mkdir err/file/d 755\r\n', 'ERR_NOT_DIR'],
      ['list err/file\r\n', 'ERR_NOT_DIR'],
      ['rmdir err/file\r\n', 'ERR_NOT_DIR'],
      ['rename err/full err/file\r\n', 'ERR_NOT_DIR'],
      ['read err\r\n', 'ERR_IS_DIR'],
      ['readat err 0 1\r\n', 'ERR_IS_DIR'],
      ['delete err\r\n', 'ERR_IS_DIR'],
      ['truncate err 0\r\n', 'ERR_IS_DIR'],
      ['write err 1\r\nx\r\n', 'ERR_IS_DIR'],
      ['writeat err 0 1\r\nx\r\n', 'ERR_IS_DIR'],
      ['create err 644 0\r\n', 'ERR_IS_DIR'],
      ['rename err/file err/full\r\n', 'ERR_IS_DIR'],
      ['rmdir err\r\n', 'ERR_NOT_EMPTY'],
      ['rename err err/full/inside\r\n', 'ERR_INVALID'],
      ['rmdir /\r\n', 'ERR_INVALID'],
      ['delete /\r\n', 'ERR_INVALID'],
      ['rename / x\r\n', 'ERR_INVALID'],
      ['writeat err/file 35184372088832 1\r\nx\r\n', 'ERR_TOO_LARGE'],
      ['truncate err/file 9007199254740991\r\n', 'ERR_TOO_LARGE'],
      ['writeat err/nothing 0 1\r\nx\r\n', 'ERR_FILE_NOT_FOUND'],
      ['stat err/nothing\r\n', 'ERR_FILE_NOT_FOUND'],
      ['cas err/file 999999 1\r\ny\r\n', 'ERR_VERSION'],
    ];
    for (const [command, word] of cases) {
      const reply = await send(client, command);
      t.equal(reply.line.split(' ')[0], word, JSON.stringify(command));
    }
  } finally {
    client.destroy();
  }
});

test('tree commands: malformed tree commands get ERR_CMD_ERR and a closed connection', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const bad = [
    'mkdir d\r\n',
    'create f 999 0\r\n',
    'create f 644 2\r\n',
    'rename a ../b\r\n',
    'readat f 0 99999999\r\n',
    'writeat f -2 1\r\nx\r\n',
    'truncate f 99999999999999999999999\r\n',
    'setattr f - - -\r\n',
    'list a/../b\r\n',
    `stat ${'a/'.repeat(16_400)}b\r\n`,
  ];
  for (const command of bad) {
    const client = await connectLeader(cluster);
    try {
      const reply = await send(client, command);
      t.equal(reply.line, 'ERR_CMD_ERR', JSON.stringify(command.slice(0, 40)));
      t.ok(await client.waitClosed(5000), 'and the connection is closed');
    } finally {
      client.destroy();
    }
  }
});

test('tree commands: the course commands answer exactly as before on flat names', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  try {
    const v1 = okVersion(await send(client, 'write course 5\r\nhello\r\n'), 'write');
    t.equal((await send(client, 'read course\r\n')).line, `CONTENTS ${v1} 5 0`);
    const v2 = okVersion(await send(client, `cas course ${v1} 3 100\r\nbye\r\n`), 'cas');
    t.equal((await send(client, `cas course ${v1} 1\r\nx\r\n`)).line, `ERR_VERSION ${v2}`);
    t.match((await send(client, 'read course\r\n')).line, new RegExp(`^CONTENTS ${v2} 3 (100|99)$`));
    t.equal((await send(client, 'delete course\r\n')).line, 'OK');
    t.equal((await send(client, 'delete course\r\n')).line, 'ERR_FILE_NOT_FOUND');
    t.equal((await send(client, 'read course\r\n')).line, 'ERR_FILE_NOT_FOUND');
  } finally {
    client.destroy();
  }
});

test('tree commands: FsraftClient methods end to end, with FsraftFsError codes', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = FsraftClient.fromAddresses(cluster.clientAddresses);
  const errno = async (promise: Promise<unknown>): Promise<string> => {
    const caught = await promise.then(
      () => 'resolved',
      (error: unknown) => (error instanceof FsraftFsError ? error.code : `other: ${String(error)}`),
    );
    return caught;
  };
  try {
    const made = await client.mkdir('lib', 0o755);
    t.ok(made.version > 0, 'mkdir');
    const created = await client.create('lib/f', 0o644, true);
    t.deepEqual(await client.create('lib/f', 0o600, false), created, 'create non-exclusive returns the current version');
    const written = await client.writeAt('lib/f', 0, bytes('0123456789'));
    const appended = await client.writeAt('lib/f', -1, bytes('AB'));
    t.ok(appended.version > written.version);
    const part = await client.readAt('lib/f', 8, 10);
    t.deepEqual({ version: part.version, content: text(part.content) }, { version: appended.version, content: '89AB' });
    const stat = await client.stat('lib/f');
    t.deepEqual({ kind: stat.kind, size: stat.size, mode: stat.mode, version: stat.version, exptimeRemainingSeconds: stat.exptimeRemainingSeconds }, { kind: 'file', size: 12, mode: 0o644, version: appended.version, exptimeRemainingSeconds: 0 });
    t.ok(stat.mtimeMs >= stat.atimeMs && stat.ctimeMs === stat.mtimeMs, 'times follow the stamps');
    const root = await client.stat('/');
    t.equal(root.kind, 'dir');
    const truncated = await client.truncate('lib/f', 3);
    const changed = await client.setattr('lib/f', { mode: 0o600, uid: 1000, atimeMs: 1, mtimeMs: 2 });
    t.ok(changed.version > truncated.version);
    const after = await client.stat('lib/f');
    t.deepEqual([after.mode, after.uid, after.gid, after.atimeMs, after.mtimeMs, after.size], [0o600, 1000, 0, 1, 2, 3]);
    await client.mkdir('lib/sub', 0o700);
    const entries = await client.list('lib');
    t.deepEqual(entries.map((entry) => [entry.name, entry.kind, entry.size]), [['f', 'file', 3], ['sub', 'dir', 0]]);
    await client.rename('lib/f', 'lib/sub/g');
    t.equal(text((await client.read('lib/sub/g'))?.content ?? new Uint8Array()), '012', 'rename moved the content');
    t.equal(await errno(client.rmdir('lib')), 'ENOTEMPTY');
    t.equal(await errno(client.mkdir('lib', 0o755)), 'EEXIST');
    t.equal(await errno(client.create('lib/sub/g', 0o644, true)), 'EEXIST');
    t.equal(await errno(client.stat('lib/none')), 'ENOENT');
    t.equal(await errno(client.list('lib/sub/g')), 'ENOTDIR');
    t.equal(await errno(client.delete('lib/sub')), 'EISDIR', 'delete of a directory');
    t.equal(await errno(client.read('lib/sub')), 'EISDIR', 'read of a directory');
    t.equal(await errno(client.rename('lib', 'lib/sub/inner')), 'EINVAL');
    t.equal(await errno(client.rmdir('/')), 'EINVAL');
    t.equal(await errno(client.writeAt('lib/sub/g', 2 ** 45, bytes('x'))), 'EFBIG');
    t.equal(await errno(client.truncate('lib/sub/g', 2 ** 45)), 'EFBIG');
    t.equal(await errno(client.stat(`${'a/'.repeat(2100)}b`)), 'ENAMETOOLONG', 'a path over PATH_MAX');
    t.equal(await errno(client.stat(`lib/${'n'.repeat(256)}`)), 'ENAMETOOLONG', 'a name over NAME_MAX, on lookup as on create');
    t.equal(await errno(client.create(`lib/${'n'.repeat(256)}`, 0o644, true)), 'ENAMETOOLONG');
    t.equal(await errno(client.writeAt('lib/none', 0, bytes('x'))), 'ENOENT');
    t.equal(await client.read('lib/none'), null, 'read keeps returning null for a missing file');
    t.equal(await client.delete('lib/none'), false, 'delete keeps returning false for a missing file');
    const escaped = await client.stat('lib/../etc').catch((error: unknown) => error);
    t.ok(escaped instanceof ProtocolError && escaped.code === 'CMD_ERR', 'a name that escapes is refused as CMD_ERR');
    t.equal(await client.delete('lib/sub/g'), true);
    await client.rmdir('lib/sub');
    await client.rmdir('lib');
    t.equal(await errno(client.stat('lib')), 'ENOENT', 'all gone');
  } finally {
    client.close();
  }
});

test('tree commands: a follower redirects the new reads and writes to the leader', { timeout: 30_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader(20_000);
  const follower = cluster.nodes.find((node) => node.id !== leader)!;
  const { host, port } = splitAddress(follower.clientAddress);
  for (const command of ['stat /\r\n', 'mkdir x 755\r\n']) {
    const line = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host, port }, () => socket.write(command));
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('no reply'));
      }, 10_000);
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('\r\n')) {
          clearTimeout(timer);
          socket.destroy();
          resolve(received.split('\r\n')[0]!);
        }
      });
      socket.on('error', reject);
    });
    t.equal(line, `ERR_REDIRECT ${cluster.clientAddress(leader)}`, JSON.stringify(command));
  }
});

stopTest(cluster);
