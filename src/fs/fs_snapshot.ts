/**
 * Snapshots of the file-server state (Raft §7): a capture taken in O(nodes) that shares file
 * chunks with the live state (chunks are immutable; a file's chunk list is copied on its next
 * change), encoded lazily in pieces so a caller can write it out while the state moves on, and a
 * bounds-checked decoder that turns any bad input into FsSnapshotCorruptError.
 *
 * Layout (little-endian), a byte stream however it was cut into pieces:
 *   8 bytes  magic "FSRAFTSN"
 *   u32      formatVersion (= 1)
 *   f64      version counter, f64 last stamp (may be -Infinity), f64 next inode number
 *   tree     the nodes in preorder, root first; each node:
 *              u8 kind (1 file, 2 dir), f64 inode, u32 nameBytes + UTF-8 name ('' for the root),
 *              f64 version, f64 mode, f64 uid, f64 gid, f64 atimeMs, f64 mtimeMs, f64 ctimeMs, then
 *              dir:  u32 child count (the children follow, each with its subtree)
 *              file: f64 size, f64 expiresAtMs (Infinity for never), then ceil(size / chunk) chunks
 *                    of u32 length + bytes
 *   u32      session count, then per session (least recently used first): f64 clientId,
 *            f64 lastSequence, u8 result code, and f64 for results that carry a version
 *   4 bytes  end marker "END."
 * Integrity against bit rot is the storage's job (its checksum); this decoder guarantees that no
 * input, however corrupt, builds a state that breaks an invariant or throws anything else.
 */
import { assert } from '../util/assert.js';
import { chunkBytes, FileContent } from './file_content.js';
import { validateName } from './names.js';
import { modeMax, ownerIdMax, rootInode, type DirNode, type FileNode, type NodeAttributes, type Session, type StateImage, type TreeNode } from './tree_nodes.js';
import type { FsResult } from './types.js';

/** An immutable capture of a FileServerState, taken in O(nodes) without copying file contents. */
export interface FsSnapshotCapture {
  /** The serialized state, produced lazily in pieces of about pieceBytesMax bytes (at most that,
   *  except a single chunk reference may be emitted whole), so a caller can write it out between
   *  other work while the live state keeps changing. */
  encode(pieceBytesMax: number): Iterable<Uint8Array>;
}

/** Bytes that are not a valid snapshot; the message says what is wrong. code 'FS_SNAPSHOT_CORRUPT'. */
export class FsSnapshotCorruptError extends Error {
  readonly code = 'FS_SNAPSHOT_CORRUPT';

  constructor(message: string) {
    super(message);
    this.name = 'FsSnapshotCorruptError';
  }
}

/** The snapshot layout version; decoding refuses any other. */
export const fsSnapshotFormatVersion = 1;

const magic = new TextEncoder().encode('FSRAFTSN');
const endMarker = new TextEncoder().encode('END.');
const kindFile = 1;
const kindDir = 2;
/** Result codes of remembered session answers; those marked carry one f64 after the code. */
const resultCodes: Readonly<Record<FsResult['type'], number>> = {
  ok: 1,
  deleted: 2,
  done: 3,
  version_mismatch: 4,
  stale_request: 5,
  not_found: 6,
  exists: 7,
  not_dir: 8,
  is_dir: 9,
  not_empty: 10,
  invalid: 11,
  too_large: 12,
};
const resultTypes = new Map<number, FsResult['type']>(Object.entries(resultCodes).map(([type, code]) => [code, type as FsResult['type']]));

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One node as captured: its attributes at capture time and, for a file, its chunk list then. */
type CapturedNode =
  | (NodeAttributes & { readonly kind: 'dir'; readonly inode: number; readonly name: string; readonly childCount: number })
  | (NodeAttributes & {
      readonly kind: 'file';
      readonly inode: number;
      readonly name: string;
      readonly size: number;
      readonly expiresAtMs: number;
      readonly chunks: readonly Uint8Array[];
    });

/** Captures `image` in O(nodes): attributes are copied, file chunks shared (see FileContent.share). */
export function captureSnapshot(image: StateImage): FsSnapshotCapture {
  const nodes: CapturedNode[] = [];
  // Iterative preorder: a tree made deep by renames must not overflow the stack.
  const stack: TreeNode[] = [image.root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    // Plain literals with every field named rather than spreads of a copied attributes object:
    // half the allocations, and this loop runs on the event loop for every node of the tree.
    const { version, mode, uid, gid, atimeMs, mtimeMs, ctimeMs, inode, name } = node;
    if (node.kind === 'dir') {
      nodes.push({ kind: 'dir', version, mode, uid, gid, atimeMs, mtimeMs, ctimeMs, inode, name, childCount: node.children.size });
      // Reversed so children pop in map order (one at a time: a spread of a huge directory could
      // pass the engine's argument limit).
      const children = [...node.children.values()];
      for (let index = children.length - 1; index >= 0; index--) stack.push(children[index]!);
    } else {
      const content = node.content;
      nodes.push({ kind: 'file', version, mode, uid, gid, atimeMs, mtimeMs, ctimeMs, inode, name, size: content.size, expiresAtMs: node.expiresAtMs, chunks: content.share() });
    }
  }
  const sessions = [...image.sessions];
  const header = { version: image.version, stampMs: image.stampMs, nextInode: image.nextInode };
  return {
    encode: (pieceBytesMax: number) => encodeCapture(header, nodes, sessions, pieceBytesMax),
  };
}

function* encodeCapture(
  header: { readonly version: number; readonly stampMs: number; readonly nextInode: number },
  nodes: readonly CapturedNode[],
  sessions: ReadonlyArray<readonly [number, Session]>,
  pieceBytesMax: number,
): Generator<Uint8Array> {
  assert(Number.isSafeInteger(pieceBytesMax) && pieceBytesMax >= 1, `pieceBytesMax ${pieceBytesMax} must be a positive integer`);
  const out = new PieceWriter(pieceBytesMax);
  out.bytes(magic);
  out.u32(fsSnapshotFormatVersion);
  for (const value of [header.version, header.stampMs, header.nextInode]) out.f64(value);
  // Fields are written with plain calls and finished pieces handed out once per node: a generator
  // per field cost several times the encoding itself, all of it on the event loop.
  for (const node of nodes) {
    out.u8(node.kind === 'file' ? kindFile : kindDir);
    out.f64(node.inode);
    out.lengthPrefixed(encoder.encode(node.name));
    for (const value of [node.version, node.mode, node.uid, node.gid, node.atimeMs, node.mtimeMs, node.ctimeMs]) out.f64(value);
    if (node.kind === 'dir') {
      out.u32(node.childCount);
    } else {
      out.f64(node.size);
      out.f64(node.expiresAtMs);
      for (const chunk of node.chunks) {
        out.u32(chunk.length);
        out.chunk(chunk);
        // Per chunk too: a 1 GiB file must not be copied into pieces all at once.
        yield* out.take();
      }
    }
    yield* out.take();
  }
  out.u32(sessions.length);
  for (const [clientId, session] of sessions) {
    out.f64(clientId);
    out.f64(session.lastSequence);
    const result = session.lastResult;
    out.u8(resultCodes[result.type]);
    if (result.type === 'ok') out.f64(result.version);
    if (result.type === 'version_mismatch') out.f64(result.currentVersion);
    yield* out.take();
  }
  out.bytes(endMarker);
  out.flush();
  yield* out.take();
}

/**
 * Fills pieces of at most pieceBytesMax bytes; a chunk that does not fit goes out whole, uncopied.
 * Finished pieces wait in `ready` until take(); the encoder takes them after every node and every
 * file chunk, so they hold about one piece beyond the current one.
 */
class PieceWriter {
  private piece: Uint8Array;
  private used = 0;
  private ready: Uint8Array[] = [];
  private readonly scratchBytes = new Uint8Array(8);
  private readonly scratch = new DataView(this.scratchBytes.buffer);

  constructor(private readonly pieceBytesMax: number) {
    this.piece = new Uint8Array(pieceBytesMax);
  }

  u8(value: number): void {
    this.scratch.setUint8(0, value);
    this.bytes(this.scratchBytes.subarray(0, 1));
  }

  u32(value: number): void {
    this.scratch.setUint32(0, value, true);
    this.bytes(this.scratchBytes.subarray(0, 4));
  }

  f64(value: number): void {
    this.scratch.setFloat64(0, value, true);
    this.bytes(this.scratchBytes.subarray(0, 8));
  }

  lengthPrefixed(value: Uint8Array): void {
    this.u32(value.length);
    this.bytes(value);
  }

  /** Copies `value` in, splitting it across pieces as they fill. */
  bytes(value: Uint8Array): void {
    let offset = 0;
    while (offset < value.length) {
      const length = Math.min(value.length - offset, this.pieceBytesMax - this.used);
      this.piece.set(value.subarray(offset, offset + length), this.used);
      this.used += length;
      offset += length;
      if (this.used === this.pieceBytesMax) this.flush();
    }
  }

  /** A file chunk: copied if it fits the current piece, else emitted whole as its own piece. */
  chunk(chunk: Uint8Array): void {
    if (chunk.length <= this.pieceBytesMax - this.used) {
      this.bytes(chunk);
      return;
    }
    this.flush();
    if (chunk.length > 0) this.ready.push(chunk);
  }

  /** Ends the current piece (if it holds anything). */
  flush(): void {
    if (this.used === 0) return;
    this.ready.push(this.piece.subarray(0, this.used));
    // A new buffer each time: the caller may hold a taken piece while we go on.
    this.piece = new Uint8Array(this.pieceBytesMax);
    this.used = 0;
  }

  /** The finished pieces so far, handed over once. */
  take(): Uint8Array[] {
    const pieces = this.ready;
    this.ready = [];
    return pieces;
  }
}

/** A directory being filled during decoding, and how many children it still expects. */
interface OpenDir {
  readonly dir: DirNode;
  remaining: number;
}

/** Decodes a snapshot into the parts of a state. Throws only FsSnapshotCorruptError. */
export function decodeSnapshot(bytes: Uint8Array): StateImage {
  try {
    return decodeOrThrow(new SnapshotReader(bytes));
  } catch (error) {
    if (error instanceof FsSnapshotCorruptError) throw error;
    // A decoder bug must still not escape as anything but the documented error.
    throw new FsSnapshotCorruptError(`snapshot could not be decoded: ${(error as Error).message}`);
  }
}

function decodeOrThrow(reader: SnapshotReader): StateImage {
  const head = reader.take(magic.length, 'magic');
  if (!head.every((byte, index) => byte === magic[index])) corrupt('not an fsraft snapshot (bad magic)');
  const formatVersion = reader.u32('format version');
  if (formatVersion !== fsSnapshotFormatVersion) corrupt(`unknown snapshot format ${formatVersion}`);
  const version = reader.count('version counter');
  const stampMs = reader.f64('last stamp');
  if (Number.isNaN(stampMs) || stampMs === Infinity) corrupt(`last stamp ${stampMs} is not a time`);
  const nextInode = reader.count('next inode');
  const context = { version, nextInode, inodes: new Set<number>() };
  const root = decodeNode(reader, context);
  if (root.kind !== 'dir' || root.inode !== rootInode || root.name !== '') corrupt('the first node is not the root directory');
  decodeChildren(reader, root, context);
  const sessions = decodeSessions(reader, version);
  const end = reader.take(endMarker.length, 'end marker');
  if (!end.every((byte, index) => byte === endMarker[index])) corrupt('bad end marker');
  if (!reader.atEnd()) corrupt('trailing bytes after the end marker');
  return { root: root.node, version, stampMs, nextInode, sessions };
}

interface DecodeContext {
  readonly version: number;
  readonly nextInode: number;
  readonly inodes: Set<number>;
}

/** Reads the subtree under `root` iteratively (a deep tree must not overflow the stack). */
function decodeChildren(reader: SnapshotReader, root: DecodedDir, context: DecodeContext): void {
  const open: OpenDir[] = [{ dir: root.node, remaining: root.childCount }];
  while (open.length > 0) {
    const top = open[open.length - 1]!;
    if (top.remaining === 0) {
      open.pop();
      continue;
    }
    top.remaining -= 1;
    const child = decodeNode(reader, context);
    if (child.name === '') corrupt(`node ${child.inode} below the root has no name`);
    if (top.dir.children.has(child.name)) corrupt(`two entries named '${child.name}' in one directory`);
    top.dir.children.set(child.name, child.node);
    child.node.parent = top.dir;
    if (child.kind === 'dir') open.push({ dir: child.node, remaining: child.childCount });
  }
}

type DecodedDir = { readonly kind: 'dir'; readonly inode: number; readonly name: string; readonly node: DirNode; readonly childCount: number };
type DecodedNode = DecodedDir | { readonly kind: 'file'; readonly inode: number; readonly name: string; readonly node: FileNode };

function decodeNode(reader: SnapshotReader, context: DecodeContext): DecodedNode {
  const kind = reader.u8('node kind');
  if (kind !== kindFile && kind !== kindDir) corrupt(`unknown node kind ${kind}`);
  const inode = reader.count('inode');
  if (inode < rootInode || inode >= context.nextInode) corrupt(`inode ${inode} outside 1..${context.nextInode - 1}`);
  if (context.inodes.has(inode)) corrupt(`inode ${inode} appears twice`);
  context.inodes.add(inode);
  const name = reader.utf8('node name');
  // The root's name is ''; every other is one valid path component.
  if (name !== '' && (name.includes('/') || validateName(name) !== null)) corrupt(`node name '${name.slice(0, 40)}' is not one valid path component`);
  const attributes = decodeAttributes(reader, context.version);
  if (kind === kindDir) {
    const childCount = reader.u32('child count');
    const node: DirNode = { kind: 'dir', inode, name, parent: undefined, children: new Map(), ...attributes };
    return { kind: 'dir', inode, name, node, childCount };
  }
  const size = reader.count('file size');
  const expiresAtMs = reader.f64('expiry');
  if (Number.isNaN(expiresAtMs)) corrupt('file expiry is NaN');
  // The chunk count follows from the size, so a corrupt size cannot make us loop far past the input.
  const chunkCount = Math.ceil(size / chunkBytes);
  if (chunkCount > reader.remaining / 4) corrupt(`file size ${size} needs more chunks than the snapshot holds`);
  const chunks: Uint8Array[] = [];
  for (let index = 0; index < chunkCount; index++) {
    const length = reader.u32('chunk length');
    // Copied: a view would pin the whole snapshot buffer for as long as any chunk of it lives.
    chunks.push(reader.take(length, 'chunk').slice());
  }
  const content = FileContent.fromChunks(chunks, size);
  if (content === undefined) corrupt(`file ${inode}: chunks do not add up to its size ${size}`);
  const node: FileNode = { kind: 'file', inode, name, parent: undefined, content, expiresAtMs, expiry: undefined, ...attributes };
  return { kind: 'file', inode, name, node };
}

function decodeAttributes(reader: SnapshotReader, versionMax: number): NodeAttributes {
  const version = reader.count('node version');
  if (version > versionMax) corrupt(`node version ${version} above the counter ${versionMax}`);
  const mode = reader.count('mode');
  if (mode > modeMax) corrupt(`mode ${mode} beyond 7777 octal`);
  const uid = reader.count('uid');
  const gid = reader.count('gid');
  if (uid > ownerIdMax || gid > ownerIdMax) corrupt('uid or gid beyond 32 bits');
  const atimeMs = reader.count('atime');
  const mtimeMs = reader.count('mtime');
  const ctimeMs = reader.count('ctime');
  return { version, mode, uid, gid, atimeMs, mtimeMs, ctimeMs };
}

function decodeSessions(reader: SnapshotReader, versionMax: number): Map<number, Session> {
  const count = reader.u32('session count');
  const sessions = new Map<number, Session>();
  for (let index = 0; index < count; index++) {
    const clientId = reader.count('session client id');
    if (clientId === 0 || sessions.has(clientId)) corrupt(`session client id ${clientId} is 0 or repeated`);
    const lastSequence = reader.count('session sequence');
    const type = resultTypes.get(reader.u8('session result'));
    if (type === undefined) corrupt('unknown session result code');
    let lastResult: FsResult;
    if (type === 'ok' || type === 'version_mismatch') {
      const value = reader.count('session result version');
      if (value > versionMax) corrupt(`session result version ${value} above the counter`);
      lastResult = type === 'ok' ? { type, version: value } : { type, currentVersion: value };
    } else {
      lastResult = { type };
    }
    sessions.set(clientId, { lastSequence, lastResult });
  }
  return sessions;
}

function corrupt(message: string): never {
  throw new FsSnapshotCorruptError(message);
}

/** A bounds-checked cursor that throws FsSnapshotCorruptError naming the field it could not read. */
class SnapshotReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  atEnd(): boolean {
    return this.offset === this.data.length;
  }

  take(length: number, what: string): Uint8Array {
    if (length > this.remaining) corrupt(`truncated at ${what} (offset ${this.offset})`);
    const bytes = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  u8(what: string): number {
    return this.take(1, what)[0]!;
  }

  u32(what: string): number {
    this.take(4, what);
    return this.view.getUint32(this.offset - 4, true);
  }

  f64(what: string): number {
    this.take(8, what);
    return this.view.getFloat64(this.offset - 8, true);
  }

  /** A non-negative safe integer. */
  count(what: string): number {
    const value = this.f64(what);
    if (!Number.isSafeInteger(value) || value < 0) corrupt(`${what} ${value} is not a non-negative integer`);
    return value;
  }

  utf8(what: string): string {
    const raw = this.take(this.u32(`${what} length`), what);
    try {
      return decoder.decode(raw);
    } catch {
      return corrupt(`${what} is not valid UTF-8`);
    }
  }
}
