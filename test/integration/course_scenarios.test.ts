/**
 * The course's client scenarios against a real 5-node cluster: exact replies and versions, binary
 * content, split and pipelined commands, expiry, cas semantics and redirects (protocol.md).
 */
import test from 'tape';
import { assertReply, connectLeader, fileCluster, okVersion, startTest, stopTest } from '../helpers/cluster_test.js';
import { ProtocolClient, encodeRead, encodeWrite, pause, type Reply } from '../../src/launch/protocol_client.js';

const cluster = await fileCluster({ timing: { tickMs: 10, electionTimeoutTicks: 30, heartbeatIntervalTicks: 5 } });
startTest(cluster);

test('course: write, read, cas and delete give exact replies and versions', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());

  const first = await client.write('course/a', 'hello');
  assertReply(t, first, 'OK 1', undefined, 'the first write of a fresh cluster gets version 1');
  const v = okVersion(first);
  assertReply(t, await client.read('course/a'), `CONTENTS ${v} 5 0`, 'hello', 'read returns the written bytes');
  assertReply(t, await client.write('course/a', 'world!'), `OK ${v + 1}`, undefined, 'a rewrite takes the next version');
  assertReply(t, await client.read('course/a'), `CONTENTS ${v + 1} 6 0`, 'world!');
  assertReply(t, await client.cas('course/a', v + 1, 'third'), `OK ${v + 2}`, undefined, 'cas with the current version succeeds');
  assertReply(t, await client.cas('course/a', v + 1, 'stale'), `ERR_VERSION ${v + 2}`, undefined, 'cas with an old version gets ERR_VERSION <current>');
  assertReply(t, await client.cas('course/a', v + 7, 'future'), `ERR_VERSION ${v + 2}`, undefined, 'cas with a future version gets ERR_VERSION <current>');
  assertReply(t, await client.read('course/a'), `CONTENTS ${v + 2} 5 0`, 'third', 'failed cas changed nothing');
  assertReply(t, await client.write('course/b', 'other'), `OK ${v + 3}`, undefined, 'versions are one counter across files');
  assertReply(t, await client.delete('course/a'), 'OK', undefined, 'delete answers a bare OK');
  assertReply(t, await client.read('course/a'), 'ERR_FILE_NOT_FOUND', undefined, 'a deleted file is gone');
  assertReply(t, await client.delete('course/a'), 'ERR_FILE_NOT_FOUND', undefined, 'deleting a missing file');
  assertReply(t, await client.read('course/never'), 'ERR_FILE_NOT_FOUND', undefined, 'reading a file never written');
  assertReply(t, await client.write('course/a', 'again'), `OK ${v + 4}`, undefined, 'delete did not advance the counter');
  const missingCas = await client.cas('course/missing', 3, 'x');
  t.equal(missingCas.kind, 'error', `cas of a missing file with version 3 is an error (${missingCas.line})`);
  assertReply(t, await client.read('course/missing'), 'ERR_FILE_NOT_FOUND', undefined, 'and creates nothing');
});

test('course: binary content with CRLF and NUL round-trips byte for byte', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const allBytes = Buffer.from(Array.from({ length: 256 }, (_, value) => value));
  const tricky = Buffer.concat([Buffer.from('\r\n\0write x 3\r\nabc\r\n\r\n'), allBytes, Buffer.from('\0\r\n')]);
  const v = okVersion(await client.write('course/binary', tricky), 'write binary');
  assertReply(t, await client.read('course/binary'), `CONTENTS ${v} ${tricky.length} 0`, tricky, 'binary content comes back unchanged');

  const empty = okVersion(await client.write('course/empty', Buffer.alloc(0)), 'write empty');
  assertReply(t, await client.read('course/empty'), `CONTENTS ${empty} 0 0`, Buffer.alloc(0), 'an empty file has 0 bytes');
  const casCrlf = await client.cas('course/binary', v, '\r\n');
  assertReply(t, casCrlf, `OK ${empty + 1}`, undefined, 'cas with content that is just CRLF');
  assertReply(t, await client.read('course/binary'), `CONTENTS ${empty + 1} 2 0`, '\r\n');
});

test('course: one command sent in five chunks gets exactly one reply', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const content = 'split\r\nacross packets';
  const command = encodeWrite('course/chunked', content);
  // Cut points inside the verb, inside the header's CRLF, inside the content and its final CRLF.
  const cuts = [3, command.indexOf('\r\n') + 1, command.indexOf('\r\n') + 8, command.length - 1];
  let from = 0;
  for (const cut of [...cuts, command.length]) {
    client.send(command.subarray(from, cut));
    from = cut;
    // The delay is the scenario itself: separate packets with the server idle in between.
    await pause(40);
  }
  const v = okVersion(await client.readReply(), 'chunked write');
  assertReply(t, await client.read('course/chunked'), `CONTENTS ${v} ${content.length} 0`, content);
  t.equal(client.queuedReplies, 0, 'no extra reply');
});

test('course: three pipelined commands in one packet are answered in order', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  client.send(Buffer.concat([encodeWrite('course/piped', 'abc'), encodeRead('course/piped'), Buffer.from('delete course/piped\r\n')]));
  const written = await client.readReply();
  const v = okVersion(written, 'pipelined write');
  assertReply(t, await client.readReply(), `CONTENTS ${v} 3 0`, 'abc', 'the read sees the write before it');
  assertReply(t, await client.readReply(), 'OK', undefined, 'the delete comes third');
  assertReply(t, await client.read('course/piped'), 'ERR_FILE_NOT_FOUND', undefined, 'and it ran');
});

test('course: a file written with exptime 2 is readable before and gone after', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const sentMs = Date.now();
  const v = okVersion(await client.write('course/expiring', 'soon gone', 2), 'write with exptime');
  const ackMs = Date.now();
  // The leader stamps the write between sentMs and ackMs; it expires at stamp + 2000 ms.
  const observations: Array<{ sentMs: number; answeredMs: number; reply: Reply }> = [];
  const deadlineMs = ackMs + 3500;
  while (Date.now() < deadlineMs) {
    const readSentMs = Date.now();
    const reply = await client.read('course/expiring');
    observations.push({ sentMs: readSentMs, answeredMs: Date.now(), reply });
    if (reply.kind === 'error') break;
    await pause(100);
  }
  const last = observations[observations.length - 1];
  t.ok(last !== undefined && last.reply.line === 'ERR_FILE_NOT_FOUND', `gone within 3.5 s of the ack (last reply: ${last?.reply.line})`);
  for (const { sentMs: readSentMs, answeredMs, reply } of observations) {
    const at = `read sent ${readSentMs - sentMs} ms, answered ${answeredMs - sentMs} ms after the write was sent`;
    if (answeredMs < sentMs + 2000) t.equal(reply.kind === 'contents' ? `${reply.version} ${reply.content.toString()}` : reply.line, `${v} soon gone`, `${at}: still there`);
    if (reply.kind === 'contents' && answeredMs < sentMs + 1000) t.equal(reply.exptime, 2, `${at}: 2 s remain (rounded up)`);
    if (reply.kind === 'contents' && readSentMs >= ackMs + 1000) t.equal(reply.exptime, 1, `${at}: 1 s remains (rounded up)`);
    if (readSentMs > ackMs + 2000) t.equal(reply.line, 'ERR_FILE_NOT_FOUND', `${at}: expired`);
  }
  t.ok(observations.some((o) => o.reply.kind === 'contents' && o.answeredMs >= ackMs + 1000), 'present at ~1 s');
  assertReply(t, await client.delete('course/expiring'), 'ERR_FILE_NOT_FOUND', undefined, 'an expired file is missing for delete too');
  const casExpired = await client.cas('course/expiring', v, 'x');
  t.equal(casExpired.kind, 'error', `cas of the expired file's version fails (${casExpired.line})`);
  assertReply(t, await client.read('course/expiring'), 'ERR_FILE_NOT_FOUND', undefined, 'still missing');
});

test('course: a rewrite without exptime cancels the expiry', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  okVersion(await client.write('course/renewed', 'short', 1), 'write with exptime 1');
  const v = okVersion(await client.write('course/renewed', 'forever'), 'rewrite without exptime');
  const ackMs = Date.now();
  let reads = 0;
  // Observe past the old expiry (1 s) with margin: every read must still find the file.
  while (Date.now() < ackMs + 2000) {
    assertReply(t, await client.read('course/renewed'), `CONTENTS ${v} 7 0`, undefined, `read ${++reads}: present, no expiry`);
    await pause(250);
  }
  okVersion(await client.write('course/renewed', 'short again', 1), 'write with exptime 1');
  const casV = okVersion(await client.cas('course/renewed', v + 1, 'kept', 0), 'cas with exptime 0');
  const casAckMs = Date.now();
  while (Date.now() < casAckMs + 2000) {
    assertReply(t, await client.read('course/renewed'), `CONTENTS ${casV} 4 0`, 'kept', `read ${++reads}: cas with exptime 0 also cleared it`);
    await pause(250);
  }
});

test('course: read reports the remaining seconds, rounded up', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const sentMs = Date.now();
  const v = okVersion(await client.write('course/ttl', 'x', 100), 'write with exptime 100');
  const reply = await client.read('course/ttl');
  const elapsedMs = Date.now() - sentMs;
  if (elapsedMs < 1000) assertReply(t, reply, `CONTENTS ${v} 1 100`, 'x', `100 s remain ${elapsedMs} ms later`);
  else t.ok(reply.kind === 'contents' && reply.exptime <= 100 && reply.exptime >= 99, `about 100 s remain (${reply.line})`);
  const negative = okVersion(await client.write('course/ttl-negative', 'y', -5), 'write with negative exptime');
  assertReply(t, await client.read('course/ttl-negative'), `CONTENTS ${negative} 1 0`, 'y', 'a negative exptime means never');
});

test('course: cas with version 0 creates only if absent', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const v = okVersion(await client.cas('course/once', 0, 'first'), 'cas 0 on a missing file');
  assertReply(t, await client.cas('course/once', 0, 'second'), `ERR_VERSION ${v}`, undefined, 'cas 0 on an existing file');
  assertReply(t, await client.read('course/once'), `CONTENTS ${v} 5 0`, 'first', 'the first creator won');
  assertReply(t, await client.delete('course/once'), 'OK');
  assertReply(t, await client.cas('course/once', 0, 'third'), `OK ${v + 1}`, undefined, 'after delete, cas 0 creates again');
});

test('course: a follower answers ERR_REDIRECT <leader client address> and closes', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const leader = await cluster.waitForLeader();
  const followers = cluster.nodes.filter((node) => node.id !== leader);
  for (const follower of followers) {
    const client = await ProtocolClient.connect(follower.clientAddress);
    client.send(Buffer.concat([encodeWrite('course/redirected', 'no'), encodeRead('course/redirected')]));
    assertReply(t, await client.readReply(), `ERR_REDIRECT ${cluster.clientAddress(leader)}`, undefined, `node ${follower.id} redirects to node ${leader}`);
    t.ok(await client.waitClosed(5000), `node ${follower.id} closes the connection after the redirect`);
    t.equal(client.queuedReplies, 0, 'the pipelined read got no reply');
    client.destroy();
  }
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  assertReply(t, await client.read('course/redirected'), 'ERR_FILE_NOT_FOUND', undefined, 'the redirected write did not run');
});

test('course: content of contentBytesMax (1 MiB) round-trips, one byte more is refused', { timeout: 120_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const contentBytesMax = 1024 * 1024;
  const big = Buffer.alloc(contentBytesMax);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >> 8)) & 0xff;
  // Several at once, so one AppendEntries carries more than one large entry.
  const others = await Promise.all([1, 2, 3].map(() => connectLeader(cluster)));
  t.teardown(() => others.forEach((other) => other.destroy()));
  const versions = await Promise.all(others.map((other, i) => other.write(`course/big-${i}`, big).then((reply) => okVersion(reply, `1 MiB write ${i}`))));
  for (const [i, v] of versions.entries()) {
    assertReply(t, await client.read(`course/big-${i}`, 30_000), `CONTENTS ${v} ${contentBytesMax} 0`, big, `1 MiB file ${i} reads back`);
  }
  const tooBig = await ProtocolClient.connect(client.address);
  t.teardown(() => tooBig.destroy());
  tooBig.send(`write course/too-big ${contentBytesMax + 1}\r\n`);
  const outcome = await tooBig.nextReplyOrClose(10_000);
  t.equal(outcome === 'closed' ? 'closed' : outcome.line, 'ERR_CMD_ERR', 'contentBytesMax + 1 is refused at the header');
  t.ok(await tooBig.waitClosed(5_000), 'and the connection closed');
});

test('course: names are paths; percent-encoded bytes and a leading slash name the same file', { timeout: 60_000 }, async (t) => {
  cluster.watch(t);
  const client = await connectLeader(cluster);
  t.teardown(() => client.destroy());
  const v = okVersion(await client.write('/course/dir/with%20space%25', 'spaced'), 'write an encoded name');
  assertReply(t, await client.read('course/dir/with%20space%25'), `CONTENTS ${v} 6 0`, 'spaced', 'the leading slash carries no meaning');
  assertReply(t, await client.read('course/dir/with space%25'), 'ERR_FILE_NOT_FOUND', undefined, 'a raw space ends the name (the rest is an ignored field)');
  assertReply(t, await client.read('course/dir/with%2'), 'ERR_CMD_ERR', undefined, 'a truncated escape is malformed');
});

stopTest(cluster);
