/**
 * `npm run bench:content-store` (`node dist/scripts/bench_content_store.js`): where should a node
 * keep file contents? Measures, on this machine's disk, the stores a node's state machine could use
 * beside its LevelDB of metadata, each in a fresh directory under one temp dir that is removed at
 * the end (also on error and Ctrl-C):
 *
 *   A   contents in the LevelDB as 64 KiB chunks keyed 'c' + inode (u64 BE) + chunk index (u64 BE),
 *       one unsynced batch per command (chunk puts + the inode's metadata put); a write that covers
 *       part of a chunk reads, modifies and rewrites it.
 *   B   one sparse file per inode at content/<inode bits 16-23>/<bits 8-15>/<inode, 16 hex>, written
 *       with positional writes, plus the metadata put in the LevelDB per command.
 *   B'  B with small files inline in their metadata record (one put); only the small-file phases,
 *       since its big files are B's.
 *
 * Phases, each applied one command at a time as the state machine would (await each, no sync):
 *   1. write BENCH_CONTENT_MIB (2048) as BENCH_CONTENT_FILES (32) files with 1 MiB writes (random
 *      bytes made once and reused, with a header of inode and offset stamped on every 64 KiB so no
 *      two chunks are alike and compression gains nothing);
 *   2. overwrite BENCH_CONTENT_OVERWRITES (20,000) random 4 KiB-aligned 4 KiB ranges of those files;
 *   3. create BENCH_CONTENT_SMALL_FILES (20,000) files of BENCH_CONTENT_SMALL_KIB (4) KiB;
 *   4. read everything back once, sequentially (4a the big files, 4b the small ones), after
 *      dropping the kernel's page cache (as root; BENCH_CONTENT_DROP_CACHES=0 keeps it);
 *   5. truncate each big file to 0, then delete it.
 * After each phase: one `sync -f` (syncfs) of the directory, timed as the phase's flush; the
 * directory's size (du); a wait until LevelDB's background compactions have stopped writing; the size
 * again; then a forced compaction of the whole key range (LevelDB CompactRange) and the size again.
 * Disk bytes are the process's own (/proc/self/io write_bytes less cancelled_write_bytes: LevelDB's
 * compaction threads run in this process) and the device's sectors written (whole machine,
 * including the file system's journal). Each store runs in a child process, so its max RSS is its
 * own.
 *
 * For B, the cost of making phase 1 (and 3) durable file by file is measured against the phase's one
 * syncfs: the same writes again into new scratch files, then an fsync of each touched file and
 * directory plus one synced LevelDB write (BENCH_CONTENT_SYNC_COMPARE=0 skips this).
 *
 * Other settings: BENCH_CONTENT_STORES (A,B,B'), BENCH_CONTENT_SEED (1), BENCH_CONTENT_WRITE_KIB
 * (1024), BENCH_CONTENT_CHUNK_KIB (64). A quick run:
 *   BENCH_CONTENT_MIB=64 BENCH_CONTENT_OVERWRITES=1000 BENCH_CONTENT_SMALL_FILES=1000 npm run bench:content-store
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';

const kib = 1024;
const mib = 1024 * 1024;
const overwriteBytes = 4 * kib;
const metadataBytes = 48;
const smallInodeBase = 100_000;
const scratchBigInodeBase = 1_000_000;
const scratchSmallInodeBase = 2_000_000;
const keyPrefixInode = 0x69; // 'i'
const keyPrefixChunk = 0x63; // 'c'
const settlePollMs = 250;
const settleQuietPolls = 4;
const settleSecondsMax = 300;
const resultPrefix = 'RESULT ';

/** The stores compared: A chunks in LevelDB, B a file per inode, B' B with small files inline. */
type StoreName = 'A' | 'B' | "B'";
const storeNames: readonly StoreName[] = ['A', 'B', "B'"];

/** The benchmark's sizes, from the environment (see the header). */
interface Settings {
  readonly bigMiB: number;
  readonly files: number;
  readonly writeBytes: number;
  readonly chunkBytes: number;
  readonly overwrites: number;
  readonly smallFiles: number;
  readonly smallBytes: number;
  readonly stores: readonly StoreName[];
  readonly dropCaches: boolean;
  readonly syncCompare: boolean;
  readonly seed: number;
}

function envInteger(name: string, fallback: number, minimum: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < minimum) throw new Error(`${name} must be an integer >= ${minimum}, got ${raw}`);
  return value;
}

function readSettings(): Settings {
  const settings: Settings = {
    bigMiB: envInteger('BENCH_CONTENT_MIB', 2048, 1),
    files: envInteger('BENCH_CONTENT_FILES', 32, 1),
    writeBytes: envInteger('BENCH_CONTENT_WRITE_KIB', 1024, 4) * kib,
    chunkBytes: envInteger('BENCH_CONTENT_CHUNK_KIB', 64, 4) * kib,
    overwrites: envInteger('BENCH_CONTENT_OVERWRITES', 20_000, 0),
    smallFiles: envInteger('BENCH_CONTENT_SMALL_FILES', 20_000, 0),
    smallBytes: envInteger('BENCH_CONTENT_SMALL_KIB', 4, 1) * kib,
    stores: (process.env['BENCH_CONTENT_STORES'] ?? storeNames.join(',')).split(',').map(parseStore),
    dropCaches: process.env['BENCH_CONTENT_DROP_CACHES'] !== '0',
    syncCompare: process.env['BENCH_CONTENT_SYNC_COMPARE'] !== '0',
    seed: envInteger('BENCH_CONTENT_SEED', 1, 0),
  };
  const fileBytes = (settings.bigMiB * mib) / settings.files;
  if (!Number.isInteger(fileBytes / settings.writeBytes)) throw new Error('BENCH_CONTENT_MIB must split into BENCH_CONTENT_FILES files of whole writes');
  if (settings.writeBytes % settings.chunkBytes !== 0) throw new Error('the write size must be a multiple of the chunk size');
  if (settings.smallBytes > settings.writeBytes || settings.smallBytes > settings.chunkBytes) throw new Error('small files must fit in one write and one chunk');
  if (settings.smallFiles >= scratchBigInodeBase - smallInodeBase) throw new Error('too many small files for the inode plan');
  return settings;
}

function parseStore(name: string): StoreName {
  const store = storeNames.find((candidate) => candidate === name.trim());
  if (store === undefined) throw new Error(`unknown store ${name} (want ${storeNames.join(', ')})`);
  return store;
}

function bigFileBytes(settings: Settings): number {
  return (settings.bigMiB * mib) / settings.files;
}

// ---------------------------------------------------------------------------------------------
// Measuring: /proc counters, du, syncfs, page cache
// ---------------------------------------------------------------------------------------------

/** The process's I/O counters from /proc/self/io, all threads together. */
interface ProcessIo {
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly cancelledWriteBytes: number;
}

function processIo(): ProcessIo {
  const text = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { readBytes: field('read_bytes'), writeBytes: field('write_bytes'), cancelledWriteBytes: field('cancelled_write_bytes') };
}

/** Bytes written that were not cancelled (a file truncated or deleted before its pages went out). */
function netWritten(before: ProcessIo, after: ProcessIo): number {
  return after.writeBytes - before.writeBytes - (after.cancelledWriteBytes - before.cancelledWriteBytes);
}

/** The /sys stat file of the block device holding `directory`, if there is one. */
function deviceStatFile(directory: string): string | null {
  const dev = statSync(directory).dev;
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  const file = `/sys/dev/block/${major}:${minor}/stat`;
  try {
    readFileSync(file, 'utf8');
    return file;
  } catch {
    return null;
  }
}

/** Bytes the whole device has written since boot (field 7 of its stat file: 512-byte sectors). */
function deviceWrittenBytes(statFile: string | null): number {
  if (statFile === null) return NaN;
  const sectors = readFileSync(statFile, 'utf8').trim().split(/\s+/)[6];
  return Number(sectors) * 512;
}

/**
 * Disk usage of `directory` in bytes, as `du -s` counts it (allocated blocks, so holes count
 * nothing), but a file that LevelDB deletes during the walk counts as gone instead of failing it.
 */
function du(directory: string): number {
  let total = 0;
  const pending = [directory];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const stat = lstatSync(next, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    total += stat.blocks * 512;
    if (!stat.isDirectory()) continue;
    try {
      for (const name of readdirSync(next)) pending.push(path.join(next, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return total;
}

/** One syncfs(2) of the file system holding `directory`, through coreutils' `sync -f`. */
function syncfs(directory: string): void {
  execFileSync('sync', ['-f', directory]);
}

/** Empties the kernel's page cache (needs root); false when it cannot. */
function dropPageCache(): boolean {
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

function procStatusKib(field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? NaN);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until the process has written nothing for a second (LevelDB's background compactions are
 * its only writers between phases); returns the seconds waited.
 */
async function waitForQuietDisk(): Promise<number> {
  const startedMs = performance.now();
  let last = processIo().writeBytes;
  let quiet = 0;
  while (quiet < settleQuietPolls && performance.now() - startedMs < settleSecondsMax * 1000) {
    await sleep(settlePollMs);
    const now = processIo().writeBytes;
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return (performance.now() - startedMs) / 1000 - (settleQuietPolls * settlePollMs) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Keys, records, data
// ---------------------------------------------------------------------------------------------

type Database = Level<Uint8Array, Uint8Array>;
/** classic-level's calls that the `level` package's types leave out. */
interface ClassicLevelExtras {
  compactRange(start: Uint8Array, end: Uint8Array): Promise<void>;
}
type BatchOperation = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

function inodeKey(inode: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = keyPrefixInode;
  new DataView(key.buffer).setBigUint64(1, BigInt(inode));
  return key;
}

function chunkKey(inode: number, index: number): Uint8Array {
  const key = new Uint8Array(17);
  key[0] = keyPrefixChunk;
  const view = new DataView(key.buffer);
  view.setBigUint64(1, BigInt(inode));
  view.setBigUint64(9, BigInt(index));
  return key;
}

/** The inode record stand-in: size and a version, padded to a typical record's length; inline data after it. */
function inodeRecord(size: number, version: number, inline?: Uint8Array): Uint8Array {
  const record = new Uint8Array(metadataBytes + (inline?.length ?? 0));
  const view = new DataView(record.buffer);
  view.setBigUint64(0, BigInt(size));
  view.setBigUint64(8, BigInt(version));
  record.fill(0x5a, 16, metadataBytes);
  if (inline !== undefined) record.set(inline, metadataBytes);
  return record;
}

/** Stamps (inode, file offset, tag) on the first 20 bytes of every `stride` bytes of `data`. */
function stamp(data: Uint8Array, inode: number, fileOffset: number, stride: number, tag: number): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at + 20 <= data.length; at += stride) {
    view.setBigUint64(at, BigInt(inode));
    view.setBigUint64(at + 8, BigInt(fileOffset + at));
    view.setUint32(at + 16, tag);
  }
}

/** A small seeded PRNG (mulberry32), so every store overwrites the same ranges. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * What was read back, cheaply: the first 32 bytes at every 64 KiB of every file, with the file's
 * inode and offset, plus the byte count. Every store writes the same bytes, so the digests agree
 * when each store returns what was written.
 */
class ReadDigest {
  private readonly hash: Hash = createHash('sha256');
  /** Bytes read. */
  bytes = 0;

  constructor(private readonly sampleStride: number) {}

  /** Adds `data`, read at `fileOffset` of `inode`. */
  add(inode: number, fileOffset: number, data: Uint8Array): void {
    const first = Math.ceil(fileOffset / this.sampleStride) * this.sampleStride;
    for (let at = first; at < fileOffset + data.length; at += this.sampleStride) {
      const header = new DataView(new ArrayBuffer(16));
      header.setBigUint64(0, BigInt(inode));
      header.setBigUint64(8, BigInt(at));
      this.hash.update(new Uint8Array(header.buffer));
      this.hash.update(data.subarray(at - fileOffset, at - fileOffset + 32));
    }
    this.bytes += data.length;
  }

  /** The digest's first 16 hex digits. */
  hex(): string {
    return this.hash.digest('hex').slice(0, 16);
  }
}

// ---------------------------------------------------------------------------------------------
// The stores
// ---------------------------------------------------------------------------------------------

/** What the phases ask of a store; each call is one applied command. */
interface ContentStore {
  /** Writes `data` at `offset` of a big file (created on first write). */
  writeAt(inode: number, offset: number, data: Uint8Array): Promise<void>;
  /** Creates a small file holding `data`. */
  create(inode: number, data: Uint8Array): Promise<void>;
  /** Reads the whole file into `digest`, in order. */
  read(inode: number, digest: ReadDigest): Promise<void>;
  /** Truncates a file to 0 bytes. */
  truncateToZero(inode: number): Promise<void>;
  /** Deletes an (empty) file. */
  remove(inode: number): Promise<void>;
  close(): Promise<void>;
}

/** Store A: contents as chunks in the LevelDB, next to the inode records. */
class ChunkStore implements ContentStore {
  /** File sizes, as the state machine would know them from its inode records. */
  private readonly sizes = new Map<number, number>();
  private version = 0;

  constructor(
    private readonly db: Database,
    private readonly chunkBytes: number,
  ) {}

  async writeAt(inode: number, offset: number, data: Uint8Array): Promise<void> {
    const sizeBefore = this.sizes.get(inode) ?? 0;
    const operations: BatchOperation[] = [];
    for (let done = 0; done < data.length; ) {
      const fileOffset = offset + done;
      const index = Math.floor(fileOffset / this.chunkBytes);
      const within = fileOffset - index * this.chunkBytes;
      const take = Math.min(this.chunkBytes - within, data.length - done);
      const piece = data.subarray(done, done + take);
      const chunkStart = index * this.chunkBytes;
      let value = piece;
      // A partial chunk that holds bytes already is read, patched and rewritten whole.
      if (within !== 0 || take !== this.chunkBytes) {
        const old = chunkStart < sizeBefore ? await this.db.get(chunkKey(inode, index)) : undefined;
        value = new Uint8Array(Math.max(old?.length ?? 0, within + take));
        if (old !== undefined) value.set(old);
        value.set(piece, within);
      }
      operations.push({ type: 'put', key: chunkKey(inode, index), value });
      done += take;
    }
    const sizeAfter = Math.max(sizeBefore, offset + data.length);
    this.sizes.set(inode, sizeAfter);
    operations.push({ type: 'put', key: inodeKey(inode), value: inodeRecord(sizeAfter, ++this.version) });
    await this.db.batch(operations);
  }

  async create(inode: number, data: Uint8Array): Promise<void> {
    await this.writeAt(inode, 0, data);
  }

  async read(inode: number, digest: ReadDigest): Promise<void> {
    if ((await this.db.get(inodeKey(inode))) === undefined) throw new Error(`A: no inode ${inode}`);
    const iterator = this.db.iterator({ gte: chunkKey(inode, 0), lt: chunkKey(inode + 1, 0), highWaterMarkBytes: mib + 16 * 32 });
    try {
      for (;;) {
        const entries = await iterator.nextv(16);
        if (entries.length === 0) break;
        for (const [key, value] of entries) {
          const index = Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(9));
          digest.add(inode, index * this.chunkBytes, value);
        }
      }
    } finally {
      await iterator.close();
    }
  }

  async truncateToZero(inode: number): Promise<void> {
    const chunks = Math.ceil((this.sizes.get(inode) ?? 0) / this.chunkBytes);
    const operations: BatchOperation[] = [];
    for (let index = 0; index < chunks; index++) operations.push({ type: 'del', key: chunkKey(inode, index) });
    operations.push({ type: 'put', key: inodeKey(inode), value: inodeRecord(0, ++this.version) });
    this.sizes.set(inode, 0);
    await this.db.batch(operations);
  }

  async remove(inode: number): Promise<void> {
    this.sizes.delete(inode);
    await this.db.del(inodeKey(inode));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Store B (and B'): one sparse file per inode under content/, inode records in the LevelDB. */
class FileStore implements ContentStore {
  /** Open handles of the big files, as a node's bounded fd cache would hold them. */
  private readonly handles = new Map<number, FileHandle>();
  private readonly directories = new Set<string>();
  private readonly sizes = new Map<number, number>();
  private readonly inline = new Set<number>();
  private readonly readBuffer: Uint8Array;
  private version = 0;

  constructor(
    private readonly db: Database,
    private readonly contentDir: string,
    /** Files created at most this long live in their inode record (B'); 0 for none (B). */
    private readonly inlineBytesMax: number,
    readBytes: number,
  ) {
    this.readBuffer = new Uint8Array(readBytes);
  }

  /** content/<bits 16-23>/<bits 8-15>/<inode>: 256 consecutive inodes share a directory. */
  pathOf(inode: number): string {
    const hex = (value: number): string => (value & 0xff).toString(16).padStart(2, '0');
    return path.join(this.contentDir, hex(inode >> 16), hex(inode >> 8), inode.toString(16).padStart(16, '0'));
  }

  private async ensureDirectory(file: string): Promise<void> {
    const directory = path.dirname(file);
    if (this.directories.has(directory)) return;
    await mkdir(directory, { recursive: true });
    this.directories.add(directory);
  }

  /** The directories made so far (for an fsync of each). */
  madeDirectories(): string[] {
    return [...this.directories];
  }

  private async handle(inode: number): Promise<FileHandle> {
    let handle = this.handles.get(inode);
    if (handle === undefined) {
      const file = this.pathOf(inode);
      await this.ensureDirectory(file);
      handle = await open(file, this.sizes.has(inode) ? 'r+' : 'w+');
      this.handles.set(inode, handle);
    }
    return handle;
  }

  async writeAt(inode: number, offset: number, data: Uint8Array): Promise<void> {
    const handle = await this.handle(inode);
    await handle.write(data, 0, data.length, offset);
    const sizeAfter = Math.max(this.sizes.get(inode) ?? 0, offset + data.length);
    this.sizes.set(inode, sizeAfter);
    await this.db.put(inodeKey(inode), inodeRecord(sizeAfter, ++this.version));
  }

  async create(inode: number, data: Uint8Array): Promise<void> {
    this.sizes.set(inode, data.length);
    if (data.length <= this.inlineBytesMax) {
      this.inline.add(inode);
      await this.db.put(inodeKey(inode), inodeRecord(data.length, ++this.version, data));
      return;
    }
    const file = this.pathOf(inode);
    await this.ensureDirectory(file);
    const handle = await open(file, 'wx');
    try {
      await handle.write(data, 0, data.length, 0);
    } finally {
      await handle.close();
    }
    await this.db.put(inodeKey(inode), inodeRecord(data.length, ++this.version));
  }

  async read(inode: number, digest: ReadDigest): Promise<void> {
    const record = await this.db.get(inodeKey(inode));
    if (record === undefined) throw new Error(`B: no inode ${inode}`);
    if (this.inline.has(inode)) {
      digest.add(inode, 0, record.subarray(metadataBytes));
      return;
    }
    const size = Number(new DataView(record.buffer, record.byteOffset, record.byteLength).getBigUint64(0));
    const cached = this.handles.get(inode);
    const handle = cached ?? (await open(this.pathOf(inode), 'r'));
    try {
      for (let offset = 0; offset < size; ) {
        const { bytesRead } = await handle.read(this.readBuffer, 0, Math.min(this.readBuffer.length, size - offset), offset);
        if (bytesRead === 0) throw new Error(`B: inode ${inode} ends at ${offset} of ${size}`);
        digest.add(inode, offset, this.readBuffer.subarray(0, bytesRead));
        offset += bytesRead;
      }
    } finally {
      if (cached === undefined) await handle.close();
    }
  }

  async truncateToZero(inode: number): Promise<void> {
    await (await this.handle(inode)).truncate(0);
    this.sizes.set(inode, 0);
    await this.db.put(inodeKey(inode), inodeRecord(0, ++this.version));
  }

  async remove(inode: number): Promise<void> {
    await this.handles.get(inode)?.close();
    this.handles.delete(inode);
    if (!this.inline.delete(inode)) await unlink(this.pathOf(inode));
    this.sizes.delete(inode);
    await this.db.del(inodeKey(inode));
  }

  /** fsync(2) of each given file (through its open handle, or opened for it) and directory. */
  async fsyncEach(inodes: readonly number[], directories: readonly string[]): Promise<void> {
    for (const inode of inodes) {
      const cached = this.handles.get(inode);
      const handle = cached ?? (await open(this.pathOf(inode), 'r'));
      await handle.sync();
      if (cached === undefined) await handle.close();
    }
    for (const directory of directories) {
      const handle = await open(directory, 'r');
      await handle.sync();
      await handle.close();
    }
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close();
    this.handles.clear();
    await this.db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One store's run (child process)
// ---------------------------------------------------------------------------------------------

/** The figures of one phase of one store. */
interface PhaseResult {
  readonly phase: string;
  readonly operations: number;
  /** Bytes the phase wrote, read or freed, as the user sees them. */
  readonly logicalBytes: number;
  readonly logicalKind: 'written' | 'read' | 'freed';
  /** Bytes of file contents that exist after the phase. */
  readonly liveBytes: number;
  readonly applySeconds: number;
  readonly flushSeconds: number;
  /** Process bytes written during the phase and its flush, less cancelled ones. */
  readonly processWrittenBytes: number;
  readonly processReadBytes: number;
  readonly deviceWrittenBytes: number;
  /** Device bytes written while LevelDB's background compactions finished (synced at the end). */
  readonly settleDeviceWrittenBytes: number;
  readonly compactDeviceWrittenBytes: number;
  readonly duBytes: number;
  readonly duDatabaseBytes: number;
  readonly settleSeconds: number;
  readonly settleWrittenBytes: number;
  readonly duSettledBytes: number;
  readonly compactSeconds: number;
  readonly compactWrittenBytes: number;
  readonly duCompactedBytes: number;
  readonly rssBytes: number;
  /** Anonymous memory only: RSS also counts the pages of LevelDB's memory-mapped table files. */
  readonly rssAnonBytes: number;
  readonly pageCacheDropped: boolean;
}

/** B's durability cost: an fsync per touched file and directory against the phase's one syncfs. */
interface SyncComparison {
  readonly afterPhase: string;
  readonly files: number;
  readonly directories: number;
  readonly dirtyBytes: number;
  readonly syncfsSeconds: number;
  readonly fsyncEachSeconds: number;
  readonly residualSyncfsSeconds: number;
}

/** What a child process reports to the parent. */
interface StoreResult {
  readonly store: StoreName;
  readonly phases: PhaseResult[];
  readonly syncComparisons: SyncComparison[];
  readonly digestBig: string;
  readonly digestSmall: string;
  readonly maxRssBytes: number;
  /** The largest anonymous RSS seen at a phase's end (max RSS also counts mapped table files). */
  readonly maxRssAnonBytes: number;
  readonly totalSeconds: number;
}

/** A phase to run and how to count it. */
interface PhaseSpec {
  readonly phase: string;
  readonly operations: number;
  readonly logicalBytes: number;
  readonly logicalKind: PhaseResult['logicalKind'];
  readonly liveBytesAfter: number;
  readonly dropCaches: boolean;
  readonly run: () => Promise<void>;
}

/** The state shared by one store's phases. */
interface StoreContext {
  readonly settings: Settings;
  readonly name: StoreName;
  readonly dir: string;
  readonly dbDir: string;
  readonly db: Database;
  readonly store: ContentStore;
  /** The random bytes made once; never changed (small files and overwrites copy from it). */
  readonly base: Uint8Array;
  /** A copy of `base` that each big write stamps in place and hands to the store. */
  readonly bigBuffer: Uint8Array;
  readonly deviceStat: string | null;
  readonly log: (line: string) => void;
  /** What phases 4a and 4b read back. */
  readonly digests: { readonly big: ReadDigest; readonly small: ReadDigest };
}

async function measurePhase(context: StoreContext, spec: PhaseSpec): Promise<PhaseResult> {
  const pageCacheDropped = spec.dropCaches && dropPageCache();
  const io0 = processIo();
  const device0 = deviceWrittenBytes(context.deviceStat);
  const started = performance.now();
  await spec.run();
  const applied = performance.now();
  syncfs(context.dir);
  const flushed = performance.now();
  const io1 = processIo();
  const device1 = deviceWrittenBytes(context.deviceStat);
  const duBytes = du(context.dir);
  const duDatabaseBytes = du(context.dbDir);
  const settleSeconds = await waitForQuietDisk();
  syncfs(context.dir);
  const io2 = processIo();
  const device2 = deviceWrittenBytes(context.deviceStat);
  const duSettledBytes = du(context.dir);
  const compactStarted = performance.now();
  await (context.db as unknown as ClassicLevelExtras).compactRange(new Uint8Array([0]), new Uint8Array(18).fill(0xff));
  syncfs(context.dir);
  const compacted = performance.now();
  const io3 = processIo();
  const device3 = deviceWrittenBytes(context.deviceStat);
  const result: PhaseResult = {
    phase: spec.phase,
    operations: spec.operations,
    logicalBytes: spec.logicalBytes,
    logicalKind: spec.logicalKind,
    liveBytes: spec.liveBytesAfter,
    applySeconds: (applied - started) / 1000,
    flushSeconds: (flushed - applied) / 1000,
    processWrittenBytes: netWritten(io0, io1),
    processReadBytes: io1.readBytes - io0.readBytes,
    deviceWrittenBytes: device1 - device0,
    settleDeviceWrittenBytes: device2 - device1,
    compactDeviceWrittenBytes: device3 - device2,
    duBytes,
    duDatabaseBytes,
    settleSeconds,
    settleWrittenBytes: netWritten(io1, io2),
    duSettledBytes,
    compactSeconds: (compacted - compactStarted) / 1000,
    compactWrittenBytes: netWritten(io2, io3),
    duCompactedBytes: du(context.dir),
    rssBytes: procStatusKib('VmRSS') * kib,
    rssAnonBytes: procStatusKib('RssAnon') * kib,
    pageCacheDropped,
  };
  context.log(
    `${context.name} ${spec.phase}: ${result.applySeconds.toFixed(2)} s + flush ${result.flushSeconds.toFixed(2)} s, ` +
      `wrote ${mibText(result.processWrittenBytes)} MiB (device ${mibText(result.deviceWrittenBytes)}), du ${mibText(duBytes)} -> ${mibText(result.duCompactedBytes)} MiB compacted`,
  );
  return result;
}

/** The write for phase 1 at (inode, offset): the shared random bytes, stamped. */
function bigWrite(context: StoreContext, inode: number, offset: number): Uint8Array {
  stamp(context.bigBuffer, inode, offset, context.settings.chunkBytes, 1);
  return context.bigBuffer;
}

function smallFileData(context: StoreContext, index: number, inode: number): Uint8Array {
  const { smallBytes, writeBytes } = context.settings;
  const start = (index * smallBytes) % (writeBytes - smallBytes + 1);
  const data = context.base.slice(start, start + smallBytes);
  stamp(data, inode, 0, context.settings.chunkBytes, 3);
  return data;
}

async function writeBigFiles(context: StoreContext, firstInode: number): Promise<void> {
  const { files, writeBytes } = context.settings;
  const fileBytes = bigFileBytes(context.settings);
  for (let file = 0; file < files; file++) {
    for (let offset = 0; offset < fileBytes; offset += writeBytes) {
      await context.store.writeAt(firstInode + file, offset, bigWrite(context, firstInode + file, offset));
    }
  }
}

async function overwriteRanges(context: StoreContext): Promise<void> {
  const { files, overwrites, writeBytes, seed } = context.settings;
  const pages = bigFileBytes(context.settings) / overwriteBytes;
  const random = seededRandom(seed);
  for (let k = 0; k < overwrites; k++) {
    const inode = 1 + (random() % files);
    const offset = (random() % pages) * overwriteBytes;
    const start = (k * overwriteBytes) % writeBytes;
    const data = context.base.slice(start, start + overwriteBytes);
    stamp(data, inode, offset, overwriteBytes, 2 + k);
    await context.store.writeAt(inode, offset, data);
  }
}

async function createSmallFiles(context: StoreContext, firstInode: number): Promise<void> {
  for (let index = 0; index < context.settings.smallFiles; index++) {
    await context.store.create(firstInode + index, smallFileData(context, index, firstInode + index));
  }
}

async function deleteFiles(context: StoreContext, inodes: readonly number[], truncateFirst: boolean): Promise<void> {
  for (const inode of inodes) {
    if (truncateFirst) await context.store.truncateToZero(inode);
    await context.store.remove(inode);
  }
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => first + k);
}

/**
 * Makes `count` new files the way `write` does, then times an fsync of each file and directory
 * they touched plus one synced LevelDB write, then one syncfs for whatever remained; deletes them.
 */
async function compareSync(
  context: StoreContext,
  afterPhase: string,
  syncfsSeconds: number,
  inodes: readonly number[],
  write: () => Promise<void>,
  dirtyBytes: number,
): Promise<SyncComparison> {
  const store = context.store as FileStore;
  const directoriesBefore = new Set(store.madeDirectories());
  await write();
  const touchedDirectories = store.madeDirectories().filter((directory) => !directoriesBefore.has(directory));
  // A new file is durable once its directory entry is, and so on up to the content directory.
  const ancestors = new Set(touchedDirectories.flatMap((directory) => [path.dirname(directory), path.dirname(path.dirname(directory))]));
  const directories = [...new Set([...touchedDirectories, ...inodes.map((inode) => path.dirname(store.pathOf(inode))), ...ancestors])];
  const started = performance.now();
  await store.fsyncEach(inodes, directories);
  await context.db.put(inodeKey(0), inodeRecord(0, 0), { sync: true });
  const fsynced = performance.now();
  syncfs(context.dir);
  const residual = performance.now();
  await deleteFiles(context, inodes, false);
  syncfs(context.dir);
  const comparison: SyncComparison = {
    afterPhase,
    files: inodes.length,
    directories: directories.length,
    dirtyBytes,
    syncfsSeconds,
    fsyncEachSeconds: (fsynced - started) / 1000,
    residualSyncfsSeconds: (residual - fsynced) / 1000,
  };
  context.log(
    `${context.name} durability after ${afterPhase}: syncfs ${syncfsSeconds.toFixed(2)} s; ` +
      `fsync of ${inodes.length} files + ${directories.length} dirs + LevelDB ${comparison.fsyncEachSeconds.toFixed(2)} s`,
  );
  return comparison;
}

/** The phases of one store, in order. */
function phasePlan(context: StoreContext, big: readonly number[], small: readonly number[]): PhaseSpec[] {
  const { settings } = context;
  const bigBytes = settings.bigMiB * mib;
  const smallBytes = settings.smallFiles * settings.smallBytes;
  const { digests } = context;
  const bigPhases = context.name !== "B'";
  const plan: PhaseSpec[] = [];
  const add = (spec: PhaseSpec, include: boolean): void => {
    if (include) plan.push(spec);
  };
  const liveBig = bigPhases ? bigBytes : 0;
  add({ phase: '1 write big', operations: bigBytes / settings.writeBytes, logicalBytes: bigBytes, logicalKind: 'written', liveBytesAfter: bigBytes, dropCaches: false, run: () => writeBigFiles(context, 1) }, bigPhases);
  add({ phase: '2 overwrite 4K', operations: settings.overwrites, logicalBytes: settings.overwrites * overwriteBytes, logicalKind: 'written', liveBytesAfter: bigBytes, dropCaches: false, run: () => overwriteRanges(context) }, bigPhases);
  add({ phase: '3 create small', operations: settings.smallFiles, logicalBytes: smallBytes, logicalKind: 'written', liveBytesAfter: liveBig + smallBytes, dropCaches: false, run: () => createSmallFiles(context, smallInodeBase) }, true);
  add({ phase: '4a read big', operations: big.length, logicalBytes: bigBytes, logicalKind: 'read', liveBytesAfter: liveBig + smallBytes, dropCaches: settings.dropCaches, run: () => readAll(context, big, digests.big) }, bigPhases);
  add({ phase: '4b read small', operations: small.length, logicalBytes: smallBytes, logicalKind: 'read', liveBytesAfter: liveBig + smallBytes, dropCaches: settings.dropCaches, run: () => readAll(context, small, digests.small) }, true);
  add({ phase: '5 trunc+del big', operations: big.length, logicalBytes: bigBytes, logicalKind: 'freed', liveBytesAfter: smallBytes, dropCaches: false, run: () => deleteFiles(context, big, true) }, bigPhases);
  return plan;
}

async function readAll(context: StoreContext, inodes: readonly number[], digest: ReadDigest): Promise<void> {
  for (const inode of inodes) await context.store.read(inode, digest);
}

/** Runs every phase of one store in `dir`; prints its StoreResult as one line. */
async function runStore(name: StoreName, dir: string, basePath: string): Promise<StoreResult> {
  const settings = readSettings();
  const startedMs = performance.now();
  const dbDir = path.join(dir, 'db');
  const contentDir = path.join(dir, 'content');
  await mkdir(contentDir, { recursive: true });
  const db: Database = new Level<Uint8Array, Uint8Array>(dbDir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const store: ContentStore =
    name === 'A' ? new ChunkStore(db, settings.chunkBytes) : new FileStore(db, contentDir, name === "B'" ? settings.smallBytes : 0, settings.writeBytes);
  const context: StoreContext = {
    settings,
    name,
    dir,
    dbDir,
    db,
    store,
    base: new Uint8Array(readFileSync(basePath)),
    bigBuffer: new Uint8Array(readFileSync(basePath)),
    deviceStat: deviceStatFile(dir),
    log: (line) => process.stderr.write(`  ${line}\n`),
    digests: { big: new ReadDigest(settings.chunkBytes), small: new ReadDigest(settings.chunkBytes) },
  };
  closeOnSignal(store);
  // What the previous store's removal left to write out would otherwise count in this one's phase 1.
  syncfs(dir);
  const big = name === "B'" ? [] : range(1, settings.files);
  const small = range(smallInodeBase, settings.smallFiles);
  const phases: PhaseResult[] = [];
  const syncComparisons: SyncComparison[] = [];
  for (const spec of phasePlan(context, big, small)) {
    const result = await measurePhase(context, spec);
    phases.push(result);
    if (name !== 'B' || !settings.syncCompare) continue;
    if (spec.phase.startsWith('1')) {
      const scratch = range(scratchBigInodeBase, settings.files);
      syncComparisons.push(await compareSync(context, spec.phase, result.flushSeconds, scratch, () => writeBigFiles(context, scratchBigInodeBase), spec.logicalBytes));
    } else if (spec.phase.startsWith('3')) {
      const scratch = range(scratchSmallInodeBase, settings.smallFiles);
      syncComparisons.push(await compareSync(context, spec.phase, result.flushSeconds, scratch, () => createSmallFiles(context, scratchSmallInodeBase), spec.logicalBytes));
    }
  }
  await store.close();
  return {
    store: name,
    phases,
    syncComparisons,
    digestBig: big.length === 0 ? '' : context.digests.big.hex(),
    digestSmall: context.digests.small.hex(),
    maxRssBytes: procStatusKib('VmHWM') * kib,
    maxRssAnonBytes: Math.max(...phases.map((phase) => phase.rssAnonBytes)),
    totalSeconds: (performance.now() - startedMs) / 1000,
  };
}

/** Set once a signal asked this process to stop: the failures that follow are expected. */
let stopping = false;

/** Ctrl-C or a TERM from the parent: close the LevelDB (best effort) and exit; the parent removes the files. */
function closeOnSignal(store: ContentStore): void {
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void store
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// ---------------------------------------------------------------------------------------------
// The parent: one child per store, then the tables
// ---------------------------------------------------------------------------------------------

function mibText(bytes: number): string {
  const value = bytes / mib;
  return Number.isFinite(value) ? (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1)) : 'n/a';
}

function ratioText(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '-';
}

/** Prints rows as an aligned table, the first column left-aligned and the rest right-aligned. */
function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  out(line(header));
  out(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) out(line(row));
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function ampText(written: number, device: number, logical: number): string {
  return `${ratioText(written / logical)} / ${ratioText(device / logical)}`;
}

function printStoreTables(result: StoreResult): void {
  out(
    `\nstore ${result.store}: ${result.totalSeconds.toFixed(0)} s, max RSS ${mibText(result.maxRssBytes)} MiB ` +
      `(anonymous at most ${mibText(result.maxRssAnonBytes)} MiB at a phase's end; the rest is mapped file pages)`,
  );
  printTable(
    ['phase', 'ops', 'logical MiB', 'apply s', '+flush s', 'MiB/s', 'MiB/s w/ flush', 'ops/s w/ flush', 'disk read MiB', 'RSS (anon) MiB'],
    result.phases.map((phase) => {
      const seconds = phase.applySeconds + phase.flushSeconds;
      return [
        phase.phase + (phase.pageCacheDropped ? ' (cold)' : ''),
        String(phase.operations),
        `${mibText(phase.logicalBytes)} ${phase.logicalKind}`,
        phase.applySeconds.toFixed(2),
        phase.flushSeconds.toFixed(2),
        mibText(phase.logicalBytes / phase.applySeconds),
        mibText(phase.logicalBytes / seconds),
        (phase.operations / seconds).toFixed(0),
        mibText(phase.processReadBytes),
        `${mibText(phase.rssBytes)} (${mibText(phase.rssAnonBytes)})`,
      ];
    }),
  );
  out('');
  printTable(
    ['phase', 'W MiB proc / dev', 'bg W MiB proc / dev', 'W amp proc / dev', 'du MiB (db)', 'du settled', 'compact s', 'compact W proc / dev', 'du compacted', 'live MiB'],
    result.phases.map((phase) => [
      phase.phase,
      `${mibText(phase.processWrittenBytes)} / ${mibText(phase.deviceWrittenBytes)}`,
      `${mibText(phase.settleWrittenBytes)} / ${mibText(phase.settleDeviceWrittenBytes)}`,
      phase.logicalKind === 'written'
        ? ampText(phase.processWrittenBytes + phase.settleWrittenBytes, phase.deviceWrittenBytes + phase.settleDeviceWrittenBytes, phase.logicalBytes)
        : '-',
      `${mibText(phase.duBytes)} (${mibText(phase.duDatabaseBytes)})`,
      mibText(phase.duSettledBytes),
      phase.compactSeconds.toFixed(1),
      `${mibText(phase.compactWrittenBytes)} / ${mibText(phase.compactDeviceWrittenBytes)}`,
      mibText(phase.duCompactedBytes),
      mibText(phase.liveBytes),
    ]),
  );
  for (const sync of result.syncComparisons) {
    out(
      `durability after ${sync.afterPhase} (${mibText(sync.dirtyBytes)} MiB in ${sync.files} new files): one syncfs ${sync.syncfsSeconds.toFixed(2)} s; ` +
        `fsync of each file + ${sync.directories} directories + one synced LevelDB write ${sync.fsyncEachSeconds.toFixed(2)} s ` +
        `(syncfs after it: ${sync.residualSyncfsSeconds.toFixed(2)} s)`,
    );
  }
}

function sum(phases: readonly PhaseResult[], pick: (phase: PhaseResult) => number): number {
  return phases.reduce((total, phase) => total + pick(phase), 0);
}

function printSummary(results: readonly StoreResult[]): void {
  out('\nsummary: W amp = bytes written to disk (this process / the device) / logical bytes written, phases and their');
  out('background compactions, then also with the forced compactions; space amp = du / live content bytes');
  printTable(
    ['store', 'logical W MiB', 'W MiB proc / dev', 'W amp proc / dev', 'W amp + forced', 'space amp after 3 (settled / compacted)', 'space amp after 5 (settled / compacted)', 'max RSS (anon) MiB', 'total s'],
    results.map((result) => {
      const logical = sum(result.phases, (phase) => (phase.logicalKind === 'written' ? phase.logicalBytes : 0));
      const written = sum(result.phases, (phase) => phase.processWrittenBytes + phase.settleWrittenBytes);
      const device = sum(result.phases, (phase) => phase.deviceWrittenBytes + phase.settleDeviceWrittenBytes);
      const forced = sum(result.phases, (phase) => phase.compactWrittenBytes);
      const forcedDevice = sum(result.phases, (phase) => phase.compactDeviceWrittenBytes);
      const space = (prefix: string): string => {
        const phase = result.phases.find((candidate) => candidate.phase.startsWith(prefix));
        if (phase === undefined) return '-';
        return `${ratioText(phase.duSettledBytes / phase.liveBytes)} / ${ratioText(phase.duCompactedBytes / phase.liveBytes)}`;
      };
      return [
        result.store,
        mibText(logical),
        `${mibText(written)} / ${mibText(device)}`,
        ampText(written, device, logical),
        ampText(written + forced, device + forcedDevice, logical),
        space('3'),
        space('5'),
        `${mibText(result.maxRssBytes)} (${mibText(result.maxRssAnonBytes)})`,
        result.totalSeconds.toFixed(0),
      ];
    }),
  );
  const phaseNames = [...new Set(results.flatMap((result) => result.phases.map((phase) => phase.phase)))];
  out('\nper phase: MiB/s including the flush (ops/s); for writes, W amp proc / dev (phase + background compaction)');
  printTable(
    ['phase', ...results.map((result) => result.store)],
    phaseNames.map((name) => [
      name,
      ...results.map((result) => {
        const phase = result.phases.find((candidate) => candidate.phase === name);
        if (phase === undefined) return '-';
        const seconds = phase.applySeconds + phase.flushSeconds;
        const amp =
          phase.logicalKind === 'written'
            ? `; ${ampText(phase.processWrittenBytes + phase.settleWrittenBytes, phase.deviceWrittenBytes + phase.settleDeviceWrittenBytes, phase.logicalBytes)}`
            : '';
        return `${mibText(phase.logicalBytes / seconds)} (${(phase.operations / seconds).toFixed(0)}/s)${amp}`;
      }),
    ]),
  );
  const bigDigests = new Set(results.filter((result) => result.digestBig !== '').map((result) => result.digestBig));
  const smallDigests = new Set(results.map((result) => result.digestSmall));
  out(`\ncontents read back agree across stores: big files ${bigDigests.size <= 1 ? 'yes' : 'NO'}, small files ${smallDigests.size <= 1 ? 'yes' : 'NO'}`);
  out(
    'note: the device counts the whole machine (and the file system journal); on kernels whose page cache uses large folios,\n' +
      'write_bytes counts a whole folio when a small write dirties it, so "proc" overstates small overwrites of cached files.',
  );
}

/** Runs one store in a child process; resolves with its result, rejects if it fails. */
function runChild(name: StoreName, dir: string, basePath: string, onChild: (child: ChildProcess | null) => void): Promise<StoreResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--store', name, dir, basePath], { stdio: ['ignore', 'pipe', 'inherit'] });
    onChild(child);
    let result: StoreResult | null = null;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith(resultPrefix)) result = JSON.parse(line.slice(resultPrefix.length)) as StoreResult;
      else out(line);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      onChild(null);
      if (code === 0 && result !== null) resolve(result);
      else reject(new Error(`store ${name} failed (exit ${code ?? signal})`));
    });
  });
}

function describeMachine(root: string): string {
  const cpus = os.cpus();
  const fsType = execFileSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', root], { encoding: 'utf8' }).trim().replace(/\s+/, ' on ');
  return `${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${fsType} at ${root}`;
}

async function runParent(): Promise<void> {
  const settings = readSettings();
  const root = mkdtempSync(path.join(os.tmpdir(), 'fsraft-bench-content-'));
  const removeRoot = (): void => rmSync(root, { recursive: true, force: true });
  process.on('exit', removeRoot);
  let current: ChildProcess | null = null;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    if (current?.pid === undefined) process.exit(130);
    current.kill(signal);
    setTimeout(() => current?.kill('SIGKILL'), 10_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const basePath = path.join(root, 'random.bin');
  writeFileSync(basePath, randomBytes(settings.writeBytes));
  out(`content store benchmark: ${describeMachine(root)}`);
  out(
    `${settings.files} files x ${mibText(bigFileBytes(settings))} MiB (${settings.bigMiB} MiB) in ${settings.writeBytes / kib} KiB writes, ` +
      `${settings.overwrites} overwrites of 4 KiB, ${settings.smallFiles} files of ${settings.smallBytes / kib} KiB, chunks of ${settings.chunkBytes / kib} KiB; stores ${settings.stores.join(', ')}`,
  );
  const results: StoreResult[] = [];
  for (const name of settings.stores) {
    const dir = path.join(root, `store-${name === "B'" ? 'B-inline' : name}`);
    out(`\n== store ${name} in ${dir}`);
    try {
      const result = await runChild(name, dir, basePath, (child) => {
        current = child;
      });
      results.push(result);
      printStoreTables(result);
    } catch (error) {
      if (!interrupted) throw error;
    } finally {
      rmSync(dir, { recursive: true, force: true });
      syncfs(root);
    }
    if (interrupted) {
      out('interrupted; temp files removed');
      process.exit(130);
    }
  }
  printSummary(results);
  out(`\nthis process: max RSS ${mibText(procStatusKib('VmHWM') * kib)} MiB; temp dir ${root} removed`);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--store') {
    const [name, dir, basePath] = process.argv.slice(3);
    if (name === undefined || dir === undefined || basePath === undefined) throw new Error('usage: --store NAME DIR RANDOM_FILE');
    const result = await runStore(parseStore(name), dir, basePath);
    process.stdout.write(`${resultPrefix}${JSON.stringify(result)}\n`);
    return;
  }
  await runParent();
}

main().catch((error: unknown) => {
  if (stopping) process.exit(130);
  process.stderr.write(`bench_content_store: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
