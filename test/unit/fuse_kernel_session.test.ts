/**
 * The FUSE kernel session without a kernel: crafted request bytes go in through an injected
 * channel, replies come out into a temp file standing in for /dev/fuse. Checks INIT negotiation,
 * that malformed requests are answered EINVAL (or dropped when they carry no trustworthy unique)
 * and never crash the session, ENOSYS for what is not served, no reply to FORGET, the xattr size
 * protocol, name length limits, and INTERRUPT answering EINTR for a read still running.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import test from 'tape';
import { InitFlag, Opcode } from '../../src/fuse/kernel/fuse_abi.js';
import type { RequestChannel } from '../../src/fuse/kernel/fuse_channel.js';
import type { FuseContext } from '../../src/fuse/kernel/fuse_file_system.js';
import { FuseSession } from '../../src/fuse/kernel/fuse_session.js';
import { defaultMountOptions } from '../../src/fuse/kernel/mount_options.js';
import { MemoryFuseFs } from '../helpers/memory_fuse_fs.js';

const errno = constants.errno;

/** A channel the test pushes requests into. */
class FakeChannel implements RequestChannel {
  onRequest: (request: Buffer) => void = () => undefined;
  finishedCount = 0;
  start(onRequest: (request: Buffer) => void): void {
    this.onRequest = onRequest;
  }
  finished(): void {
    this.finishedCount++;
  }
  ref(): void {}
}

let nextUnique = 2n;

/** A request: the 40-byte header (len, opcode, unique, nodeid, uid, gid, pid) and its arguments. */
function request(opcode: number, nodeid: number, ...args: Buffer[]): { bytes: Buffer; unique: bigint } {
  const unique = nextUnique;
  nextUnique += 2n;
  const body = Buffer.concat(args);
  const header = Buffer.alloc(40);
  header.writeUInt32LE(40 + body.length, 0);
  header.writeUInt32LE(opcode, 4);
  header.writeBigUInt64LE(unique, 8);
  header.writeBigUInt64LE(BigInt(nodeid), 16);
  header.writeUInt32LE(1000, 24);
  header.writeUInt32LE(1000, 28);
  header.writeUInt32LE(4242, 32);
  return { bytes: Buffer.concat([header, body]), unique };
}

function u32s(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => out.writeUInt32LE(value >>> 0, index * 4));
  return out;
}

function u64(value: number | bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt(value));
  return out;
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'latin1');
}

interface ParsedReply {
  readonly error: number;
  readonly unique: bigint;
  readonly payload: Buffer;
}

function parseReplies(bytes: Buffer): ParsedReply[] {
  const replies: ParsedReply[] = [];
  for (let at = 0; at < bytes.length; ) {
    const len = bytes.readUInt32LE(at);
    replies.push({ error: bytes.readInt32LE(at + 4), unique: bytes.readBigUInt64LE(at + 8), payload: bytes.subarray(at + 16, at + len) });
    at += len;
  }
  return replies;
}

async function withSession(t: test.Test, fs: MemoryFuseFs, body: (push: (bytes: Buffer) => void, replies: () => ParsedReply[], channel: FakeChannel) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fsraft-session-'));
  const file = path.join(dir, 'replies');
  const fd = openSync(file, 'w+');
  const channel = new FakeChannel();
  const logs: string[] = [];
  const session = new FuseSession(fd, fs, '/nonexistent', defaultMountOptions, null, { channel, log: (line) => logs.push(line) });
  try {
    await body((bytes) => channel.onRequest(bytes), () => parseReplies(readFileSync(file)), channel);
    void session;
  } finally {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
    t.comment(`session log: ${logs.length} line(s)`);
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function init(minor: number, flags: number): { bytes: Buffer; unique: bigint } {
  return request(Opcode.INIT, 0, u32s(7, minor, 128 * 1024, flags, 0), Buffer.alloc(44));
}

test('fuse session: INIT takes min(kernel, 38) as the minor and only the flags both want', async (t) => {
  await withSession(t, new MemoryFuseFs(), async (push, replies) => {
    const req = init(44, 0xffffffff);
    push(req.bytes);
    await settle();
    const [reply] = replies();
    t.equal(reply?.error, 0, 'INIT answered OK');
    t.equal(reply?.unique, req.unique, 'to its unique');
    const out = reply?.payload ?? Buffer.alloc(64);
    t.equal(out.length, 64, 'a 64-byte fuse_init_out');
    t.equal(out.readUInt32LE(0), 7, 'major 7');
    t.equal(out.readUInt32LE(4), 38, 'minor 38 (ours) against a 7.44 kernel');
    const flags = out.readUInt32LE(12);
    for (const name of ['ASYNC_READ', 'BIG_WRITES', 'ATOMIC_O_TRUNC', 'AUTO_INVAL_DATA', 'DO_READDIRPLUS', 'READDIRPLUS_AUTO', 'PARALLEL_DIROPS', 'CACHE_SYMLINKS', 'ASYNC_DIO', 'MAX_PAGES'] as const) {
      t.ok((flags & InitFlag[name]) !== 0, `asks for ${name}`);
    }
    for (const name of ['POSIX_LOCKS', 'FLOCK_LOCKS', 'WRITEBACK_CACHE', 'DONT_MASK', 'POSIX_ACL', 'INIT_EXT'] as const) {
      t.ok((flags & InitFlag[name]) === 0, `does not ask for ${name}`);
    }
    t.equal(out.readUInt32LE(20), 1024 * 1024, 'max_write 1 MiB');
    t.equal(out.readUInt16LE(28), 256, 'max_pages 256');
    t.equal(out.readUInt32LE(24), 1, 'time_gran 1 ns');
  });
});

test('fuse session: a kernel older than 7.31 is refused with EPROTO', async (t) => {
  await withSession(t, new MemoryFuseFs(), async (push, replies) => {
    push(init(30, 0).bytes);
    await settle();
    t.equal(replies()[0]?.error, -errno.EPROTO, 'EPROTO');
  });
});

test('fuse session: malformed and unserved requests are answered, never crash the session', async (t) => {
  const fs = new MemoryFuseFs();
  const forgotten: Array<[number, number]> = [];
  fs.forget = (ino, nlookup) => void forgotten.push([ino, nlookup]);
  await withSession(t, fs, async (push, replies, channel) => {
    push(init(38, 0xffffffff).bytes);
    const cases: Array<[string, { bytes: Buffer; unique: bigint }, number]> = [
      ['LOOKUP without a NUL', request(Opcode.LOOKUP, 1, Buffer.from('abc')), -errno.EINVAL],
      ['GETATTR with 4 of its 16 argument bytes', request(Opcode.GETATTR, 1, Buffer.alloc(4)), -errno.EINVAL],
      ['WRITE whose size disagrees with its data', request(Opcode.WRITE, 1, u64(1), u64(0), u32s(100, 0), u64(0), u32s(0, 0), Buffer.alloc(10)), -errno.EINVAL],
      ['READ at an offset above 2^53', request(Opcode.READ, 1, u64(1), u64(2n ** 60n), u32s(4096, 0), u64(0), u32s(0, 0)), -errno.EINVAL],
      ['an unknown opcode', request(999, 1), -errno.ENOSYS],
      ['GETLK', request(Opcode.GETLK, 1, Buffer.alloc(48)), -errno.ENOSYS],
      ['IOCTL', request(Opcode.IOCTL, 1, Buffer.alloc(32)), -errno.ENOSYS],
      ['COPY_FILE_RANGE', request(Opcode.COPY_FILE_RANGE, 1, Buffer.alloc(56)), -errno.ENOSYS],
      ['TMPFILE', request(Opcode.TMPFILE, 1, Buffer.alloc(16), cstring('x')), -errno.ENOSYS],
      ['LOOKUP of a 256-byte name', request(Opcode.LOOKUP, 1, cstring('n'.repeat(256))), -errno.ENAMETOOLONG],
      ['LOOKUP of a 255-byte name that is absent', request(Opcode.LOOKUP, 1, cstring('n'.repeat(255))), -errno.ENOENT],
      ['GETATTR of an unknown inode', request(Opcode.GETATTR, 77, Buffer.alloc(16)), -errno.ENOENT],
      ['SETXATTR of system.posix_acl_access', request(Opcode.SETXATTR, 1, u32s(4, 0), cstring('system.posix_acl_access'), Buffer.alloc(4)), -errno.EOPNOTSUPP],
    ];
    for (const [, req] of cases) push(req.bytes);
    // No unique to answer: a header whose len disagrees with the bytes read is dropped.
    const lying = request(Opcode.GETATTR, 1, Buffer.alloc(16));
    lying.bytes.writeUInt32LE(9999, 0);
    push(lying.bytes);
    push(Buffer.alloc(10));
    // FORGET and a BATCH_FORGET are never answered, even when malformed.
    push(request(Opcode.FORGET, 5, u64(3)).bytes);
    push(request(Opcode.BATCH_FORGET, 0, u32s(2, 0), u64(6), u64(1), u64(7), u64(2)).bytes);
    push(request(Opcode.BATCH_FORGET, 0, u32s(1000, 0), u64(6)).bytes);
    await settle();
    await settle();
    const byUnique = new Map(replies().map((reply) => [reply.unique, reply]));
    for (const [what, req, expected] of cases) t.equal(byUnique.get(req.unique)?.error, expected, `${what}: ${expected}`);
    t.notOk(byUnique.has(lying.unique), 'a request whose length lies gets no reply');
    t.equal(replies().length, cases.length + 1, 'exactly one reply per answerable request (plus INIT), none for FORGET');
    t.deepEqual(forgotten, [[5, 3], [6, 1], [7, 2]], 'FORGET and BATCH_FORGET reach the file system');
    t.equal(channel.finishedCount, cases.length + 1 + 2 + 3, 'every request handed over is given back to the channel');
  });
});

test('fuse session: getxattr and listxattr answer size probes, ERANGE and the value', async (t) => {
  const fs = new MemoryFuseFs();
  const ctx: FuseContext = { uid: 0, gid: 0, pid: 0, unique: 0n };
  await fs.setxattr(ctx, 1, 'user.k', Buffer.from('value!'), 0);
  await withSession(t, fs, async (push, replies) => {
    push(init(38, 0).bytes);
    const probe = request(Opcode.GETXATTR, 1, u32s(0, 0), cstring('user.k'));
    const small = request(Opcode.GETXATTR, 1, u32s(3, 0), cstring('user.k'));
    const whole = request(Opcode.GETXATTR, 1, u32s(100, 0), cstring('user.k'));
    const missing = request(Opcode.GETXATTR, 1, u32s(100, 0), cstring('user.none'));
    const list = request(Opcode.LISTXATTR, 1, u32s(100, 0));
    for (const req of [probe, small, whole, missing, list]) push(req.bytes);
    await settle();
    const byUnique = new Map(replies().map((reply) => [reply.unique, reply]));
    t.equal(byUnique.get(probe.unique)?.payload.readUInt32LE(0), 6, 'size 0 asks for the size: 6');
    t.equal(byUnique.get(small.unique)?.error, -errno.ERANGE, 'a 3-byte buffer is ERANGE');
    t.equal(byUnique.get(whole.unique)?.payload.toString(), 'value!', 'a large enough buffer gets the value');
    t.equal(byUnique.get(missing.unique)?.error, -errno.ENODATA, 'an absent name is ENODATA');
    t.equal(byUnique.get(list.unique)?.payload.toString(), 'user.k\0', 'listxattr: NUL-terminated names');
  });
});

test('fuse session: INTERRUPT answers EINTR for a read still running and drops its late answer', async (t) => {
  const fs = new MemoryFuseFs();
  let release: () => void = () => undefined;
  fs.read = () => new Promise((resolve) => (release = () => resolve(Buffer.from('late'))));
  await withSession(t, fs, async (push, replies) => {
    push(init(38, 0).bytes);
    const read = request(Opcode.READ, 1, u64(1), u64(0), u32s(4096, 0), u64(0), u32s(0, 0));
    push(read.bytes);
    await settle();
    const interrupt = request(Opcode.INTERRUPT, 0, u64(read.unique));
    push(interrupt.bytes);
    await settle();
    release();
    await settle();
    const forRead = replies().filter((reply) => reply.unique === read.unique);
    t.equal(forRead.length, 1, 'the read is answered once');
    t.equal(forRead[0]?.error, -errno.EINTR, 'with EINTR');
    const unknown = request(Opcode.INTERRUPT, 0, u64(123456n));
    push(unknown.bytes);
    await settle();
    t.equal(replies().find((reply) => reply.unique === unknown.unique)?.error, -errno.EAGAIN, 'an interrupt for a request not seen asks the kernel to send it again (EAGAIN)');
  });
});
