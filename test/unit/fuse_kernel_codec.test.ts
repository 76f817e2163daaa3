/**
 * Pure parts of the FUSE kernel session: -o option parsing (an unknown option is an error naming
 * it), the fusermount option string, dirent packing (8-byte records that fit the kernel's buffer)
 * and setattr decoding.
 */
import test from 'tape';
import { Size, S_IFDIR, S_IFREG, SetattrValid } from '../../src/fuse/kernel/fuse_abi.js';
import { ArgReader, decodeSetattr, FuseDecodeError, packDirents } from '../../src/fuse/kernel/fuse_codec.js';
import { MountOptionError, fusermountOptionString, parseMountOptions } from '../../src/fuse/kernel/mount_options.js';

test('mount options: -o strings parse into options; later ones win', (t) => {
  const options = parseMountOptions(['allow_other,default_permissions,ro,fsname=cluster1,subtype=fsraft', 'rw,max_read=131072,noatime,nodev,nosuid,writeback_cache,auto_unmount,entry_timeout=2.5,attr_timeout=0,read_ahead_kb=0']);
  t.equal(options.allowOther, true, 'allow_other');
  t.equal(options.defaultPermissions, true, 'default_permissions');
  t.equal(options.readOnly, false, 'rw after ro');
  t.equal(options.fsname, 'cluster1', 'fsname');
  t.equal(options.maxReadBytes, 131072, 'max_read');
  t.equal(options.noatime, true, 'noatime');
  t.equal(options.writebackCache, true, 'writeback_cache');
  t.equal(options.autoUnmount, true, 'auto_unmount');
  t.equal(options.entryTimeoutMs, 2500, 'entry_timeout in seconds');
  t.equal(options.attrTimeoutMs, 0, 'attr_timeout 0');
  t.equal(options.readAheadKib, 0, 'read_ahead_kb 0: the kernel\'s');
  t.equal(parseMountOptions('read_ahead_kb=8192').readAheadKib, 8192, 'read_ahead_kb');
  t.equal(parseMountOptions('').readAheadKib, 4096, 'read-ahead 4 MiB by default');
  t.end();
});

test('mount options: unknown or malformed options are errors that name them', (t) => {
  for (const [text, fragment] of [
    ['allow_other,bogus', 'bogus'],
    ['max_read=12', 'max_read=12'],
    ['max_read', 'max_read'],
    ['entry_timeout=-1', 'entry_timeout=-1'],
    ['attr_timeout=abc', 'attr_timeout=abc'],
    ['ro=1', 'ro'],
    ['fsname=a b', 'fsname'],
    ['fsname=a\\,b', 'fsname'],
    ['suid', 'suid'],
    ['read_ahead_kb=-1', 'read_ahead_kb=-1'],
    ['read_ahead_kb=70000', 'read_ahead_kb=70000'],
  ] as const) {
    try {
      parseMountOptions(text);
      t.fail(`${text} was accepted`);
    } catch (error) {
      t.ok(error instanceof MountOptionError && error.message.includes(fragment), `${text}: ${(error as Error).message}`);
    }
  }
  t.end();
});

test('mount options: the fusermount -o string carries what the kernel mount needs', (t) => {
  t.equal(fusermountOptionString(parseMountOptions('ro,allow_other,default_permissions,fsname=c1,max_read=65536,noatime')),
    'ro,nosuid,nodev,fsname=c1,subtype=fsraft,noatime,allow_other,default_permissions,max_read=65536');
  t.end();
});

test('fuse codec: dirents are packed in 8-byte records while they fit the buffer', (t) => {
  const entries = ['a', 'bcdefghij', 'k'].map((name, index) => ({ ino: index + 2, name: Buffer.from(name), typeBits: index === 0 ? S_IFDIR : S_IFREG, nextOffset: index + 3 }));
  const all = packDirents(entries, 4096, false);
  t.equal(all.packed, 3, 'all three fit');
  t.equal(all.bytes.length, 32 + 40 + 32, '24-byte headers plus names, each rounded up to 8 bytes');
  t.equal(all.bytes.readUInt32LE(20), 4, 'DT_DIR for a directory');
  t.equal(all.bytes.readBigUInt64LE(8), 3n, 'the offset of the entry after the first');
  const some = packDirents(entries, 80, false);
  t.equal(some.packed, 2, 'only what fits in 80 bytes');
  const plus = packDirents(entries, 4096, true);
  t.equal(plus.bytes.length, 3 * Size.ENTRY_OUT + 32 + 40 + 32, 'readdirplus records carry a 128-byte entry_out each');
  t.end();
});

test('fuse codec: setattr decodes only the fields marked valid; short arguments are EINVAL', (t) => {
  const bytes = Buffer.alloc(Size.SETATTR_IN);
  bytes.writeUInt32LE(SetattrValid.MODE | SetattrValid.SIZE | SetattrValid.MTIME | SetattrValid.ATIME_NOW, 0);
  bytes.writeBigUInt64LE(12345n, 16);
  bytes.writeBigUInt64LE(1_000_000_000n, 40);
  bytes.writeUInt32LE(999_999_999, 60);
  bytes.writeUInt32LE(0o640, 68);
  t.deepEqual(decodeSetattr(new ArgReader(bytes)), { mode: 0o640, size: 12345, atime: 'now', mtime: { sec: 1_000_000_000, nsec: 999_999_999 } });
  t.throws(() => decodeSetattr(new ArgReader(Buffer.alloc(10))), FuseDecodeError, 'ten bytes are not a setattr_in');
  // Before the epoch the kernel's time64_t is negative in the u64 field.
  bytes.writeUInt32LE(SetattrValid.MTIME, 0);
  bytes.writeBigInt64LE(-2n, 40);
  bytes.writeUInt32LE(500_000_000, 60);
  t.deepEqual(decodeSetattr(new ArgReader(bytes)), { mtime: { sec: -2, nsec: 500_000_000 } }, 'a negative mtime');
  t.end();
});
