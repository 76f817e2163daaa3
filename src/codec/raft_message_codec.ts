/**
 * The wire format of Raft messages between nodes: compact, fixed-width, big-endian binary.
 *
 * Layout (format version 1). Every message starts with an 18-byte header:
 *   u8 version (= 1) | u8 type | u32 from | u32 to | u64 term
 * then, by type:
 *   1 RequestVote            u64 lastLogIndex | u64 lastLogTerm | u8 flags (bit 0 preVote)
 *   2 RequestVoteResponse    u8 flags (bit 0 voteGranted, bit 1 preVote)
 *   3 AppendEntries          u64 prevLogIndex | u64 prevLogTerm | u64 leaderCommit | u64 round |
 *                            u32 entryCount | entryCount x (u64 index | u64 term | u8 type |
 *                            u32 dataBytes | dataBytes bytes)
 *   4 AppendEntriesResponse  u8 flags (bit 0 success) | u64 matchIndex | u64 conflictIndex |
 *                            u64 round
 *   5 InstallSnapshot        u64 lastIncludedIndex | u64 lastIncludedTerm | u64 totalBytes |
 *                            u64 offset | u8 flags (bit 0 done) | u32 dataBytes | dataBytes bytes
 *   6 InstallSnapshotResponse u64 lastIncludedIndex | u64 bytesStored | u8 flags (bit 0 installed)
 * u64 fields carry integers up to 2^53 - 1. Nothing may follow the last field.
 *
 * Decoding treats its input as hostile (it comes off a socket): every length is checked against
 * the bytes actually present before anything is allocated, so garbage, truncation and absurd
 * counts produce `{ ok: false }` and never an exception or a large allocation. It also checks the
 * few structural facts the core relies on for AppendEntries (indexes contiguous from
 * prevLogIndex + 1, terms non-decreasing from prevLogTerm and at most the message term), so a
 * forged or corrupted message is rejected here instead of tripping an assertion in the core.
 *
 * ALIASING: the `data` of each decoded entry is a subarray view of the input, not a copy (the hot
 * path is an AppendEntries of 64 x 1 KiB entries). The caller must not modify or reuse the input
 * buffer while any decoded entry is alive.
 *
 * Pure: no Node APIs, no Buffer.
 */
import { EntryType } from '../raft/types.js';
import type { AppendEntries, InstallSnapshot, LogEntry, RaftMessage } from '../raft/types.js';
import { assert, unreachable } from '../util/assert.js';
import { limits } from '../util/limits.js';
import { dataViewOf, isU32, isU64, readU64, writeU64 } from '../util/binary.js';
import { asLogIndex, asNodeId, asTerm, type NodeId, type Term } from '../util/types.js';

/** The first byte of every encoded message; bumped when the layout changes incompatibly. */
export const raftMessageFormatVersion = 1;

const typeRequestVote = 1;
const typeRequestVoteResponse = 2;
const typeAppendEntries = 3;
const typeAppendEntriesResponse = 4;
const typeInstallSnapshot = 5;
const typeInstallSnapshotResponse = 6;

const headerBytes = 18;
const requestVoteBodyBytes = 17;
const requestVoteResponseBodyBytes = 1;
const appendEntriesBodyBytes = 36;
const appendEntriesResponseBodyBytes = 25;
const installSnapshotBodyBytes = 37;
const installSnapshotResponseBodyBytes = 17;
/** index, term, type, data length: the smallest an entry can be on the wire. */
const entryHeaderBytes = 21;

const flagPreVote = 0b01;
const flagVoteGranted = 0b01;
const flagResponsePreVote = 0b10;
const flagSuccess = 0b01;
const flagDone = 0b01;
const flagInstalled = 0b01;

/** The result of decoding untrusted bytes: a message, or a short reason it was refused. */
export type DecodeRaftMessageResult =
  | { readonly ok: true; readonly message: RaftMessage }
  | { readonly ok: false; readonly error: string };

/**
 * Encodes `message` into a new buffer of exactly its encoded size, or into the start of `scratch`
 * when it is large enough (the result is then a view of `scratch`, valid until its next use). The message must be
 * well-formed (ids in 1..2^32-1, integers in range, AppendEntries entries contiguous from
 * prevLogIndex + 1, at most limits.messageBytesMax in total); anything else is a bug in the core
 * and fails an assertion here rather than reaching a peer that would reject it forever.
 */
export function encodeRaftMessage(message: RaftMessage, scratch?: Uint8Array): Uint8Array {
  assertHeader(message);
  const size = encodedSize(message);
  // Every byte of the message is written below, so a reused buffer needs no clearing.
  const bytes = scratch !== undefined && scratch.length >= size ? scratch.subarray(0, size) : new Uint8Array(size);
  const view = dataViewOf(bytes);
  view.setUint8(0, raftMessageFormatVersion);
  view.setUint32(2, message.from);
  view.setUint32(6, message.to);
  writeU64(view, 10, message.term);
  let offset = headerBytes;
  switch (message.type) {
    case 'RequestVote':
      assert(isU64(message.lastLogIndex) && isU64(message.lastLogTerm), 'RequestVote: lastLog fields must be u64');
      view.setUint8(1, typeRequestVote);
      writeU64(view, offset, message.lastLogIndex);
      writeU64(view, offset + 8, message.lastLogTerm);
      view.setUint8(offset + 16, message.preVote ? flagPreVote : 0);
      break;
    case 'RequestVoteResponse':
      view.setUint8(1, typeRequestVoteResponse);
      view.setUint8(offset, (message.voteGranted ? flagVoteGranted : 0) | (message.preVote ? flagResponsePreVote : 0));
      break;
    case 'AppendEntries':
      view.setUint8(1, typeAppendEntries);
      writeU64(view, offset, message.prevLogIndex);
      writeU64(view, offset + 8, message.prevLogTerm);
      writeU64(view, offset + 16, message.leaderCommit);
      writeU64(view, offset + 24, message.round);
      view.setUint32(offset + 32, message.entries.length);
      offset += appendEntriesBodyBytes;
      for (const entry of message.entries) {
        writeU64(view, offset, entry.index);
        writeU64(view, offset + 8, entry.term);
        view.setUint8(offset + 16, entry.type);
        view.setUint32(offset + 17, entry.data.length);
        bytes.set(entry.data, offset + entryHeaderBytes);
        offset += entryHeaderBytes + entry.data.length;
      }
      break;
    case 'AppendEntriesResponse':
      assert(
        isU64(message.matchIndex) && isU64(message.conflictIndex) && isU64(message.round),
        'AppendEntriesResponse: matchIndex, conflictIndex and round must be u64',
      );
      view.setUint8(1, typeAppendEntriesResponse);
      view.setUint8(offset, message.success ? flagSuccess : 0);
      writeU64(view, offset + 1, message.matchIndex);
      writeU64(view, offset + 9, message.conflictIndex);
      writeU64(view, offset + 17, message.round);
      break;
    case 'InstallSnapshot':
      view.setUint8(1, typeInstallSnapshot);
      writeU64(view, offset, message.lastIncludedIndex);
      writeU64(view, offset + 8, message.lastIncludedTerm);
      writeU64(view, offset + 16, message.totalBytes);
      writeU64(view, offset + 24, message.offset);
      view.setUint8(offset + 32, message.done ? flagDone : 0);
      view.setUint32(offset + 33, message.data.length);
      bytes.set(message.data, offset + installSnapshotBodyBytes);
      break;
    case 'InstallSnapshotResponse':
      assert(isU64(message.lastIncludedIndex) && isU64(message.bytesStored), 'InstallSnapshotResponse: fields must be u64');
      view.setUint8(1, typeInstallSnapshotResponse);
      writeU64(view, offset, message.lastIncludedIndex);
      writeU64(view, offset + 8, message.bytesStored);
      view.setUint8(offset + 16, message.installed ? flagInstalled : 0);
      break;
    default:
      unreachable(message, 'RaftMessage type');
  }
  return bytes;
}

// Assertion messages on the hot path are constant strings: a template literal would be built on
// every call, which tripled the cost of encoding a heartbeat.
function assertHeader(message: RaftMessage): void {
  assert(isU32(message.from) && message.from > 0, 'RaftMessage: from must be a node id in 1..2^32-1');
  assert(isU32(message.to) && message.to > 0, 'RaftMessage: to must be a node id in 1..2^32-1');
  assert(isU64(message.term), 'RaftMessage: term must be u64');
}

/** The encoded size; for AppendEntries also asserts what the decoder would otherwise refuse. */
function encodedSize(message: RaftMessage): number {
  switch (message.type) {
    case 'RequestVote':
      return headerBytes + requestVoteBodyBytes;
    case 'RequestVoteResponse':
      return headerBytes + requestVoteResponseBodyBytes;
    case 'AppendEntriesResponse':
      return headerBytes + appendEntriesResponseBodyBytes;
    case 'AppendEntries':
      return appendEntriesSize(message);
    case 'InstallSnapshot':
      return installSnapshotSize(message);
    case 'InstallSnapshotResponse':
      return headerBytes + installSnapshotResponseBodyBytes;
    default:
      return unreachable(message, 'RaftMessage type');
  }
}

function appendEntriesSize(message: AppendEntries): number {
  assert(
    isU64(message.prevLogIndex) && isU64(message.prevLogTerm) && isU64(message.leaderCommit) && isU64(message.round),
    'AppendEntries: prevLogIndex, prevLogTerm, leaderCommit and round must be u64',
  );
  let size = headerBytes + appendEntriesBodyBytes;
  let previousTerm = message.prevLogTerm;
  let expectedIndex = message.prevLogIndex + 1;
  for (const entry of message.entries) {
    const problem = entryProblem(entry.index, entry.term, entry.type, expectedIndex, previousTerm, message.term);
    if (problem !== null) assert(false, `AppendEntries: ${problem}`);
    size += entryHeaderBytes + entry.data.length;
    previousTerm = entry.term;
    expectedIndex++;
  }
  assert(size <= limits.messageBytesMax, `AppendEntries: ${size} bytes exceeds limits.messageBytesMax`);
  return size;
}

function installSnapshotSize(message: InstallSnapshot): number {
  const problem = chunkProblem(message.lastIncludedIndex, message.lastIncludedTerm, message.totalBytes, message.offset, message.data.length, message.done, message.term);
  if (problem !== null) assert(false, `InstallSnapshot: ${problem}`);
  assert(message.length === message.data.length, 'InstallSnapshot: data must be filled to length before encoding');
  return headerBytes + installSnapshotBodyBytes + message.data.length;
}

/**
 * Why an InstallSnapshot chunk is malformed, or null: the chunk must lie inside the snapshot,
 * `done` must mark exactly the chunk that ends it, and the snapshot cannot be newer than the
 * sender's term or larger than limits.snapshotBytesMax. A snapshot of totalBytes 0 is a stream
 * generated as it is sent: its length is not known up front, so only `done` marks its end.
 */
function chunkProblem(index: number, term: number, totalBytes: number, offset: number, length: number, done: boolean, messageTerm: number): string | null {
  if (!isU64(index) || !isU64(term) || !isU64(totalBytes) || !isU64(offset)) return 'field exceeds 2^53-1';
  if (index < 1) return 'lastIncludedIndex must be at least 1';
  if (term > messageTerm) return `lastIncludedTerm ${term} above the message term ${messageTerm}`;
  // 0: a stream whose length is learnt at its end; each chunk holds data unless it only says `done`.
  if (totalBytes === 0) return length < 1 && !done ? 'empty chunk before the end of the stream' : null;
  if (totalBytes > limits.snapshotBytesMax) return `snapshot of ${totalBytes} bytes outside 1..${limits.snapshotBytesMax}`;
  if (length < 1 || offset + length > totalBytes) return `chunk [${offset}, ${offset + length}) outside the snapshot of ${totalBytes} bytes`;
  if (done !== (offset + length === totalBytes)) return done ? 'done before the last byte' : 'last chunk not marked done';
  return null;
}

/**
 * Why an entry cannot follow its predecessor in an AppendEntries, or null if it can. Indexes
 * must be contiguous and terms must never decrease along a log (Raft §5.3, Log Matching), and no
 * entry can be newer than the leader's term.
 */
function entryProblem(
  index: number,
  term: number,
  type: number,
  expectedIndex: number,
  previousTerm: number,
  messageTerm: number,
): string | null {
  if (index !== expectedIndex) return `entry index ${index} where ${expectedIndex} was expected`;
  if (term < 0 || term < previousTerm) return `entry ${index} has term ${term} below the previous term ${previousTerm}`;
  if (term > messageTerm) return `entry ${index} has term ${term} above the message term ${messageTerm}`;
  if (type !== EntryType.Command && type !== EntryType.Noop) return `entry ${index} has unknown type ${type}`;
  return null;
}

function refuse(error: string): DecodeRaftMessageResult {
  return { ok: false, error };
}

/**
 * Decodes one message received from the network. Never throws and never allocates more than a
 * small multiple of `bytes.length`; see the module comment for what is checked. Entry data alias
 * `bytes` (see ALIASING above).
 */
export function decodeRaftMessage(bytes: Uint8Array): DecodeRaftMessageResult {
  if (bytes.length > limits.messageBytesMax) return refuse(`message of ${bytes.length} bytes exceeds the limit`);
  if (bytes.length < headerBytes) return refuse(`truncated header: ${bytes.length} of ${headerBytes} bytes`);
  const view = dataViewOf(bytes);
  const version = view.getUint8(0);
  if (version !== raftMessageFormatVersion) return refuse(`unknown format version ${version}`);
  const from = asNodeId(view.getUint32(2));
  const to = asNodeId(view.getUint32(6));
  const term = asTerm(readU64(view, 10));
  if (from === 0 || to === 0) return refuse('node id 0 in from/to');
  if (term < 0) return refuse('term exceeds 2^53-1');
  const type = view.getUint8(1);
  switch (type) {
    case typeRequestVote:
      return decodeRequestVote(view, from, to, term);
    case typeRequestVoteResponse:
      return decodeRequestVoteResponse(view, from, to, term);
    case typeAppendEntries:
      return decodeAppendEntries(bytes, view, from, to, term);
    case typeAppendEntriesResponse:
      return decodeAppendEntriesResponse(view, from, to, term);
    case typeInstallSnapshot:
      return decodeInstallSnapshot(bytes, view, from, to, term);
    case typeInstallSnapshotResponse:
      return decodeInstallSnapshotResponse(view, from, to, term);
    default:
      return refuse(`unknown message type ${type}`);
  }
}

/** Refuses a body whose size is not exactly `bodyBytes` (truncated or with trailing bytes). */
function fixedBodyProblem(view: DataView, name: string, bodyBytes: number): string | null {
  const expected = headerBytes + bodyBytes;
  if (view.byteLength < expected) return `truncated ${name}: ${view.byteLength} of ${expected} bytes`;
  if (view.byteLength > expected) return `${view.byteLength - expected} trailing bytes after ${name}`;
  return null;
}

function decodeRequestVote(view: DataView, from: NodeId, to: NodeId, term: Term): DecodeRaftMessageResult {
  const problem = fixedBodyProblem(view, 'RequestVote', requestVoteBodyBytes);
  if (problem !== null) return refuse(problem);
  const lastLogIndex = readU64(view, headerBytes);
  const lastLogTerm = readU64(view, headerBytes + 8);
  const flags = view.getUint8(headerBytes + 16);
  if (lastLogIndex < 0 || lastLogTerm < 0) return refuse('RequestVote: lastLog field exceeds 2^53-1');
  if ((flags & ~flagPreVote) !== 0) return refuse(`RequestVote: unknown flags ${flags}`);
  const preVote = (flags & flagPreVote) !== 0;
  return { ok: true, message: { type: 'RequestVote', from, to, term, lastLogIndex: asLogIndex(lastLogIndex), lastLogTerm: asTerm(lastLogTerm), preVote } };
}

function decodeRequestVoteResponse(view: DataView, from: NodeId, to: NodeId, term: Term): DecodeRaftMessageResult {
  const problem = fixedBodyProblem(view, 'RequestVoteResponse', requestVoteResponseBodyBytes);
  if (problem !== null) return refuse(problem);
  const flags = view.getUint8(headerBytes);
  if ((flags & ~(flagVoteGranted | flagResponsePreVote)) !== 0) return refuse(`RequestVoteResponse: unknown flags ${flags}`);
  const voteGranted = (flags & flagVoteGranted) !== 0;
  const preVote = (flags & flagResponsePreVote) !== 0;
  return { ok: true, message: { type: 'RequestVoteResponse', from, to, term, voteGranted, preVote } };
}

function decodeAppendEntriesResponse(view: DataView, from: NodeId, to: NodeId, term: Term): DecodeRaftMessageResult {
  const problem = fixedBodyProblem(view, 'AppendEntriesResponse', appendEntriesResponseBodyBytes);
  if (problem !== null) return refuse(problem);
  const flags = view.getUint8(headerBytes);
  const matchIndex = readU64(view, headerBytes + 1);
  const conflictIndex = readU64(view, headerBytes + 9);
  const round = readU64(view, headerBytes + 17);
  if ((flags & ~flagSuccess) !== 0) return refuse(`AppendEntriesResponse: unknown flags ${flags}`);
  if (matchIndex < 0 || conflictIndex < 0 || round < 0) return refuse('AppendEntriesResponse: field exceeds 2^53-1');
  const success = (flags & flagSuccess) !== 0;
  return {
    ok: true,
    message: { type: 'AppendEntriesResponse', from, to, term, success, matchIndex: asLogIndex(matchIndex), conflictIndex: asLogIndex(conflictIndex), round },
  };
}

function decodeInstallSnapshot(bytes: Uint8Array, view: DataView, from: NodeId, to: NodeId, term: Term): DecodeRaftMessageResult {
  const start = headerBytes + installSnapshotBodyBytes;
  if (bytes.length < start) return refuse(`truncated InstallSnapshot: ${bytes.length} of at least ${start} bytes`);
  const lastIncludedIndex = readU64(view, headerBytes);
  const lastIncludedTerm = readU64(view, headerBytes + 8);
  const totalBytes = readU64(view, headerBytes + 16);
  const offset = readU64(view, headerBytes + 24);
  const flags = view.getUint8(headerBytes + 32);
  const dataBytes = view.getUint32(headerBytes + 33);
  if ((flags & ~flagDone) !== 0) return refuse(`InstallSnapshot: unknown flags ${flags}`);
  if (bytes.length !== start + dataBytes) return refuse(`InstallSnapshot: ${bytes.length - start} data bytes where ${dataBytes} were announced`);
  const done = (flags & flagDone) !== 0;
  const problem = chunkProblem(lastIncludedIndex, lastIncludedTerm, totalBytes, offset, dataBytes, done, term);
  if (problem !== null) return refuse(`InstallSnapshot: ${problem}`);
  const data = bytes.subarray(start);
  return {
    ok: true,
    message: { type: 'InstallSnapshot', from, to, term, lastIncludedIndex: asLogIndex(lastIncludedIndex), lastIncludedTerm: asTerm(lastIncludedTerm), totalBytes, offset, length: dataBytes, done, data },
  };
}

function decodeInstallSnapshotResponse(view: DataView, from: NodeId, to: NodeId, term: Term): DecodeRaftMessageResult {
  const problem = fixedBodyProblem(view, 'InstallSnapshotResponse', installSnapshotResponseBodyBytes);
  if (problem !== null) return refuse(problem);
  const lastIncludedIndex = readU64(view, headerBytes);
  const bytesStored = readU64(view, headerBytes + 8);
  const flags = view.getUint8(headerBytes + 16);
  if ((flags & ~flagInstalled) !== 0) return refuse(`InstallSnapshotResponse: unknown flags ${flags}`);
  if (lastIncludedIndex < 0 || bytesStored < 0) return refuse('InstallSnapshotResponse: field exceeds 2^53-1');
  const installed = (flags & flagInstalled) !== 0;
  return { ok: true, message: { type: 'InstallSnapshotResponse', from, to, term, lastIncludedIndex: asLogIndex(lastIncludedIndex), bytesStored, installed } };
}

function decodeAppendEntries(
  bytes: Uint8Array,
  view: DataView,
  from: NodeId,
  to: NodeId,
  term: Term,
): DecodeRaftMessageResult {
  const length = bytes.length;
  let offset = headerBytes;
  if (length < offset + appendEntriesBodyBytes) return refuse(`truncated AppendEntries: ${length} bytes`);
  const prevLogIndex = readU64(view, offset);
  const prevLogTerm = readU64(view, offset + 8);
  const leaderCommit = readU64(view, offset + 16);
  const round = readU64(view, offset + 24);
  const entryCount = view.getUint32(offset + 32);
  offset += appendEntriesBodyBytes;
  if (prevLogIndex < 0 || prevLogTerm < 0 || leaderCommit < 0 || round < 0) {
    return refuse('AppendEntries: field exceeds 2^53-1');
  }
  // A forged count of 4 billion must not allocate a 4-billion-slot array: every entry needs at
  // least entryHeaderBytes, so the bytes present bound the count before anything is allocated.
  if (entryCount > (length - offset) / entryHeaderBytes) {
    return refuse(`AppendEntries: ${entryCount} entries cannot fit in ${length - offset} bytes`);
  }
  const entries: LogEntry[] = new Array<LogEntry>(entryCount);
  let previousTerm = prevLogTerm;
  for (let i = 0; i < entryCount; i++) {
    if (length - offset < entryHeaderBytes) return refuse(`truncated AppendEntries: entry ${i} header`);
    const index = readU64(view, offset);
    const entryTerm = readU64(view, offset + 8);
    const type = view.getUint8(offset + 16);
    const dataBytes = view.getUint32(offset + 17);
    offset += entryHeaderBytes;
    if (dataBytes > length - offset) return refuse(`truncated AppendEntries: entry ${i} data of ${dataBytes} bytes`);
    const problem = entryProblem(index, entryTerm, type, prevLogIndex + 1 + i, previousTerm, term);
    if (problem !== null) return refuse(`AppendEntries: ${problem}`);
    entries[i] = { index: asLogIndex(index), term: asTerm(entryTerm), type: type as EntryType, data: bytes.subarray(offset, offset + dataBytes) };
    offset += dataBytes;
    previousTerm = entryTerm;
  }
  if (offset !== length) return refuse(`${length - offset} trailing bytes after AppendEntries`);
  return {
    ok: true,
    message: { type: 'AppendEntries', from, to, term, prevLogIndex: asLogIndex(prevLogIndex), prevLogTerm: asTerm(prevLogTerm), entries, leaderCommit: asLogIndex(leaderCommit), round },
  };
}
