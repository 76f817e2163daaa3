/**
 * Typed access to the state's records (records.ts) through the layers (state_layers.ts): one
 * method per record kind, so the state machine never builds a key or touches bytes itself.
 *
 * Pure: no Node APIs.
 */
import {
  decodeCount,
  decodeDirent,
  decodeInode,
  decodeLease,
  decodeSession,
  emptyValue,
  encodeCount,
  encodeDirent,
  encodeInode,
  encodeLease,
  encodeSession,
  fromUtf8,
  keyNumber,
  keyPrefix,
  keyText,
  makeKey,
  prefixEnd,
  utf8,
  type Dirent,
  type Inode,
  type Lease,
  type Session,
} from './records.js';
import type { RecordCodec, StateLayers } from './state_layers.js';

const inodeCodec: RecordCodec<Inode> = { encode: encodeInode, decode: (key, bytes) => decodeInode(keyNumber(key, 0), bytes) };
const direntCodec: RecordCodec<Dirent> = { encode: encodeDirent, decode: (key, bytes) => decodeDirent(bytes, describe(key)) };
const bytesCodec: RecordCodec<Uint8Array> = { encode: (value) => value, decode: (_key, bytes) => bytes };
const nameCodec: RecordCodec<string> = { encode: utf8, decode: (key, bytes) => fromUtf8(bytes, describe(key)) };
const countCodec: RecordCodec<number> = { encode: encodeCount, decode: (key, bytes) => decodeCount(bytes, describe(key)) };
const markerCodec: RecordCodec<true> = { encode: () => emptyValue, decode: () => true };
const sessionCodec: RecordCodec<Session> = { encode: encodeSession, decode: (key, bytes) => decodeSession(bytes, describe(key)) };
const leaseCodec: RecordCodec<Lease> = { encode: encodeLease, decode: (key, bytes) => decodeLease(bytes, describe(key)) };

function describe(key: Uint8Array): string {
  return `key ${[...key.subarray(0, 17)].map((byte) => byte.toString(16).padStart(2, '0')).join('')}${key.length > 17 ? '...' : ''}`;
}

/** A directory entry as a range read yields it. */
export interface NamedDirent {
  readonly name: string;
  readonly dirent: Dirent;
}

/** The state's records by kind. */
export class RecordTables {
  constructor(readonly layers: StateLayers) {}

  inode(ino: number): Inode | undefined {
    return this.layers.get(`i${ino}`, () => makeKey(keyPrefix.inode, [ino]), inodeCodec);
  }

  putInode(inode: Inode): void {
    this.layers.put(`i${inode.ino}`, makeKey(keyPrefix.inode, [inode.ino]), inode, inodeCodec);
  }

  deleteInode(ino: number): void {
    this.layers.put(`i${ino}`, makeKey(keyPrefix.inode, [ino]), null, inodeCodec);
  }

  dirent(dir: number, name: string): Dirent | undefined {
    return this.layers.get(`d${dir}/${name}`, () => makeKey(keyPrefix.dirent, [dir], name), direntCodec);
  }

  /** Sets the entry and its readdir cookie index (the caller picked the cookie). */
  putDirent(dir: number, name: string, dirent: Dirent): void {
    this.layers.put(`d${dir}/${name}`, makeKey(keyPrefix.dirent, [dir], name), dirent, direntCodec, `d${dir}`);
    this.layers.put(`k${dir}/${dirent.cookie}`, makeKey(keyPrefix.cookie, [dir, dirent.cookie]), name, nameCodec, `k${dir}`);
  }

  deleteDirent(dir: number, name: string, cookie: number): void {
    this.layers.put(`d${dir}/${name}`, makeKey(keyPrefix.dirent, [dir], name), null, direntCodec, `d${dir}`);
    this.layers.put(`k${dir}/${cookie}`, makeKey(keyPrefix.cookie, [dir, cookie]), null, nameCodec, `k${dir}`);
  }

  /** Up to `limit` entries of `dir` by name, after `afterName` ('' from the first). */
  async direntsByName(dir: number, afterName: string, limit: number): Promise<NamedDirent[]> {
    const start = makeKey(keyPrefix.dirent, [dir], afterName);
    const rows = await this.layers.scan(`d${dir}`, start, afterName !== '', prefixEnd(makeKey(keyPrefix.dirent, [dir])), limit, direntCodec);
    return rows.map((row) => ({ name: keyText(row.key, 1), dirent: row.value }));
  }

  /** Up to `limit` entry names of `dir` with cookies above `afterCookie`, in cookie order. */
  async namesByCookie(dir: number, afterCookie: number, limit: number): Promise<Array<{ readonly cookie: number; readonly name: string }>> {
    const start = makeKey(keyPrefix.cookie, [dir, afterCookie]);
    const rows = await this.layers.scan(`k${dir}`, start, true, prefixEnd(makeKey(keyPrefix.cookie, [dir])), limit, nameCodec);
    return rows.map((row) => ({ cookie: keyNumber(row.key, 1), name: row.value }));
  }

  /** An inline file's content or a symlink's target. */
  data(ino: number): Uint8Array | undefined {
    return this.layers.get(`b${ino}`, () => makeKey(keyPrefix.data, [ino]), bytesCodec);
  }

  putData(ino: number, bytes: Uint8Array | null): void {
    this.layers.put(`b${ino}`, makeKey(keyPrefix.data, [ino]), bytes, bytesCodec);
  }

  xattr(ino: number, name: string): Uint8Array | undefined {
    return this.layers.get(`x${ino}/${name}`, () => makeKey(keyPrefix.xattr, [ino], name), bytesCodec);
  }

  putXattr(ino: number, name: string, value: Uint8Array | null): void {
    this.layers.put(`x${ino}/${name}`, makeKey(keyPrefix.xattr, [ino], name), value, bytesCodec, `x${ino}`);
  }

  /** Every extended attribute of `ino` (at most `limit`), by name. */
  async xattrs(ino: number, limit: number): Promise<Array<{ readonly name: string; readonly value: Uint8Array }>> {
    const start = makeKey(keyPrefix.xattr, [ino]);
    const rows = await this.layers.scan(`x${ino}`, start, false, prefixEnd(start), limit, bytesCodec);
    return rows.map((row) => ({ name: keyText(row.key, 1), value: row.value }));
  }

  /** Records (or with `present` false, forgets) that `ino` expires at `expiresAtMs`. */
  putExpiry(expiresAtMs: number, ino: number, present: boolean): void {
    const at = expiryKeyTime(expiresAtMs);
    this.layers.put(`e${at}/${ino}`, makeKey(keyPrefix.expiry, [at, ino]), present ? true : null, markerCodec, 'e');
  }

  /** Up to `limit` expiry records due at or before `nowMs` (rounded up to whole ms), earliest first. */
  async expiredBy(nowMs: number, limit: number): Promise<Array<{ readonly ino: number; readonly dueMs: number }>> {
    const end = makeKey(keyPrefix.expiry, [expiryKeyTime(nowMs) + 1]);
    const rows = await this.layers.scan('e', Uint8Array.of(keyPrefix.expiry), false, end, limit, markerCodec);
    return rows.map((row) => ({ dueMs: keyNumber(row.key, 0), ino: keyNumber(row.key, 1) }));
  }

  /** Records (or forgets) that the entry `name` of `dir` leads to `ino`. */
  putBacklink(ino: number, dir: number, name: string, present: boolean): void {
    this.layers.put(`p${ino}/${dir}/${name}`, makeKey(keyPrefix.backlink, [ino, dir], name), present ? true : null, markerCodec, `p${ino}`);
  }

  /** Up to `limit` names of `ino`: the directories and entry names that lead to it. */
  async backlinks(ino: number, limit: number): Promise<Array<{ readonly dir: number; readonly name: string }>> {
    const start = makeKey(keyPrefix.backlink, [ino]);
    const rows = await this.layers.scan(`p${ino}`, start, false, prefixEnd(start), limit, markerCodec);
    return rows.map((row) => ({ dir: keyNumber(row.key, 1), name: keyText(row.key, 2) }));
  }

  holdCount(ino: number, holder: number): number {
    return this.layers.get(`h${ino}/${holder}`, () => makeKey(keyPrefix.hold, [ino, holder]), countCodec) ?? 0;
  }

  /** Sets a holder's hold count on a node (0 removes it), with its reverse index. */
  setHold(ino: number, holder: number, count: number): void {
    this.layers.put(`h${ino}/${holder}`, makeKey(keyPrefix.hold, [ino, holder]), count > 0 ? count : null, countCodec, `h${ino}`);
    this.layers.put(`g${holder}/${ino}`, makeKey(keyPrefix.holder, [holder, ino]), count > 0 ? true : null, markerCodec, `g${holder}`);
  }

  /** The nodes `holder` holds open (at most `limit`). */
  async heldBy(holder: number, limit: number): Promise<number[]> {
    const start = makeKey(keyPrefix.holder, [holder]);
    const rows = await this.layers.scan(`g${holder}`, start, false, prefixEnd(start), limit, markerCodec);
    return rows.map((row) => keyNumber(row.key, 1));
  }

  lease(holder: number): Lease | undefined {
    return this.layers.get(`l${holder}`, () => makeKey(keyPrefix.lease, [holder]), leaseCodec);
  }

  putLease(holder: number, lease: Lease | null): void {
    this.layers.put(`l${holder}`, makeKey(keyPrefix.lease, [holder]), lease, leaseCodec, 'l');
  }

  /** Every lease (at most `limit`), by holder. */
  async leases(limit: number): Promise<Array<{ readonly holder: number; readonly lease: Lease }>> {
    const start = Uint8Array.of(keyPrefix.lease);
    const rows = await this.layers.scan('l', start, false, prefixEnd(start), limit, leaseCodec);
    return rows.map((row) => ({ holder: keyNumber(row.key, 0), lease: row.value }));
  }

  setOrphan(ino: number, orphan: boolean): void {
    this.layers.put(`o${ino}`, makeKey(keyPrefix.orphan, [ino]), orphan ? true : null, markerCodec, 'o');
  }

  /** Up to `limit` orphaned nodes (no names, held open), lowest inode first. */
  async orphans(limit: number): Promise<number[]> {
    const start = Uint8Array.of(keyPrefix.orphan);
    const rows = await this.layers.scan('o', start, false, prefixEnd(start), limit, markerCodec);
    return rows.map((row) => keyNumber(row.key, 0));
  }

  putSession(clientId: number, session: Session | null): void {
    this.layers.put(`s${clientId}`, makeKey(keyPrefix.session, [clientId]), session, sessionCodec, 's');
  }

  /** Every stored session (at most `limit`), for loading at start. */
  async sessions(limit: number): Promise<Array<{ readonly clientId: number; readonly session: Session }>> {
    const start = Uint8Array.of(keyPrefix.session);
    const rows = await this.layers.scan('s', start, false, prefixEnd(start), limit, sessionCodec);
    return rows.map((row) => ({ clientId: keyNumber(row.key, 0), session: row.value }));
  }
}

/** The whole ms an expiry is keyed by (keys hold non-negative integers). */
function expiryKeyTime(ms: number): number {
  return Math.min(Math.max(0, Math.ceil(ms)), Number.MAX_SAFE_INTEGER - 1);
}
