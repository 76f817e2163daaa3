/**
 * The commands that change the file tree, applied to the state's records (one call per command,
 * in log order). Deterministic: the outcome depends only on the records and the command, time
 * comes from the entry's stamp, and every scan is in key order.
 *
 * Namespace rules follow POSIX (link(2), rename(2), unlink(2), rmdir(2), mknod(2), symlink(2));
 * the permission checks themselves are the kernel's (the mount runs with default_permissions),
 * while ownership of new nodes, setgid directories and nlink are kept here. README "The tree"
 * lists the semantics command by command.
 *
 * Pure: no Node APIs.
 */
import { assert, unreachable } from '../util/assert.js';
import { ContentOps } from './content_ops.js';
import { parseName, utf8Length, validatePath } from './names.js';
import { AttrOps } from './attr_ops.js';
import { HoldOps } from './hold_ops.js';
import type { RecordTables } from './record_tables.js';
import { rootIno, type Dirent, type Inode } from './records.js';
import {
  courseFileMode, deleted, done, exists, implicitDirMode, invalid, isCount, isDir, isError, isLive, isMode, nameTooLong, notDir, notEmpty, notFound, notPermitted, setgidBit, tooLarge, tooManyLinks,
  type Found, type OpContext, type Place, type TreeCounters, type TreeLimits,
} from './tree_common.js';
import type { FsCommand, FsError, FsNodeKind, FsOwner, FsResult, RenameMode } from './types.js';

/** The namespace and content commands over the state's records. */
export class TreeOps {
  readonly content: ContentOps;
  readonly attrs: AttrOps;
  private readonly holds: HoldOps;

  constructor(
    private readonly records: RecordTables,
    contentOps: ContentOps,
    private readonly counters: TreeCounters,
    private readonly limits: TreeLimits,
  ) {
    this.content = contentOps;
    this.attrs = new AttrOps(records, contentOps, counters, limits, (name, atMs) => this.find(name, atMs));
    this.holds = new HoldOps(records, limits, this);
  }

  /** Applies one command. */
  async execute(command: FsCommand, op: OpContext): Promise<FsResult> {
    // The parser and the log codec refuse invalid names, so this only guards a buggy proposer:
    // answering not_found is deterministic, whereas a throw would stop every replica at once.
    if (validatePath(command.name, true) !== null) return notFound;
    if ((command.op === 'rename' || command.op === 'link') && validatePath(command.to, true) !== null) return notFound;
    switch (command.op) {
      case 'write':
        return this.store(command.name, command.content, command.exptimeSeconds, op);
      case 'cas':
        return this.compareAndStore(command.name, command.version, command.content, command.exptimeSeconds, op);
      case 'delete':
        return this.unlink(command.name, op);
      case 'create':
        return this.create(command.name, command.mode, command.exclusive, command.owner, op);
      case 'mkdir':
        return this.makeNode(command.name, 'dir', command.mode, 0, command.owner, undefined, op);
      case 'mknod':
        return this.makeNode(command.name, command.kind, command.mode, command.rdev, command.owner, undefined, op);
      case 'symlink':
        return this.makeNode(command.name, 'symlink', 0o777, 0, command.owner, command.target, op);
      case 'rmdir':
        return this.rmdir(command.name, op);
      case 'rename':
        return this.rename(command.name, command.to, command.mode ?? 'replace', command.ifVersion, op);
      case 'link':
        return this.link(command.name, command.to, op);
      case 'truncate':
        return this.truncate(command.name, command.size, op);
      case 'writeat':
        return this.writeAt(command.name, command.offset, command.content, op);
      case 'setattr':
        return this.attrs.setattr(command, op);
      case 'fallocate':
        return this.fallocate(command.name, command.offset, command.length, command.punch, command.keepSize, op);
      case 'setxattr':
        return this.attrs.setxattr(command.name, command.attr, command.value, command.mode, op);
      case 'removexattr':
        return this.attrs.removexattr(command.name, command.attr, op);
      case 'hold':
        return this.holds.hold(command.name, command.holder, command.delta, op);
      case 'reap':
        return this.holds.reap(command, op);
      default:
        return unreachable(command, 'command');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  /**
   * Where the last component of `name` is (its directory must exist); a name without components
   * (the root, a bare inode anchor) is `invalid` here, since there is no entry to make or remove.
   */
  placeOf(name: string, atMs: number): Place | FsError {
    const parsed = parseName(name);
    if (parsed.components.length === 0) return invalid;
    const tooLong = this.checkLengths(parsed.anchor, parsed.components);
    if (tooLong !== null) return tooLong;
    let dir = this.records.inode(parsed.anchor ?? rootIno);
    if (dir === undefined || (parsed.anchor !== null && !isLive(dir, atMs))) return notFound;
    const last = parsed.components.length - 1;
    for (let depth = 0; depth < last; depth++) {
      if (dir.kind !== 'dir') return notDir;
      const child = this.liveChild(dir, parsed.components[depth]!, atMs);
      if (child === undefined) return notFound;
      dir = child.node;
    }
    if (dir.kind !== 'dir') return notDir;
    const name_ = parsed.components[last]!;
    const dirent = this.records.dirent(dir.ino, name_);
    const node = dirent === undefined ? undefined : this.records.inode(dirent.ino);
    return { dir, name: name_, dirent, node: node !== undefined && isLive(node, atMs) ? node : undefined };
  }

  /** The live node `name` leads to (the root, an anchored inode, or a path's last entry). */
  find(name: string, atMs: number): Found | FsError {
    const parsed = parseName(name);
    if (parsed.components.length === 0) {
      const node = this.records.inode(parsed.anchor ?? rootIno);
      return node !== undefined && isLive(node, atMs) ? { node, place: undefined } : notFound;
    }
    const place = this.placeOf(name, atMs);
    if (isError(place)) return place;
    return place.node === undefined ? notFound : { node: place.node, place };
  }

  private liveChild(dir: Inode, name: string, atMs: number): { node: Inode; dirent: Dirent } | undefined {
    const dirent = this.records.dirent(dir.ino, name);
    if (dirent === undefined) return undefined;
    const node = this.records.inode(dirent.ino);
    return node !== undefined && isLive(node, atMs) ? { node, dirent } : undefined;
  }

  /** name_too_long for a component over NAME_MAX or a plain path over PATH_MAX, else null. */
  private checkLengths(anchor: number | null, components: readonly string[]): FsError | null {
    let total = 0;
    for (const component of components) {
      const bytes = utf8Length(component);
      if (bytes > this.limits.componentBytesMax) return nameTooLong;
      total += bytes + 1;
    }
    return anchor === null && total > this.limits.pathBytesMax ? nameTooLong : null;
  }

  // -------------------------------------------------------------------------------------------
  // Course commands

  /** Course write: replaces or creates the file, creating missing parents like `mkdir -p`. */
  private async store(name: string, content: Uint8Array, exptimeSeconds: number, op: OpContext): Promise<FsResult> {
    const place = await this.makeParents(name, op);
    if (isError(place)) return place;
    let file = place.node;
    if (file !== undefined && file.kind !== 'file') return file.kind === 'dir' ? isDir : invalid;
    if (file === undefined) {
      file = this.newNode(place, 'file', courseFileMode, 0, undefined, op);
    }
    const expiresAtMs = exptimeSeconds > 0 ? op.stampMs + exptimeSeconds * 1000 : Infinity;
    file = this.content.replace(this.current(file), content, op);
    file = { ...file, version: this.counters.version, mtime: op.now, ctime: op.now };
    file = this.attrs.setExpiry(file, expiresAtMs);
    this.records.putInode(file);
    return { type: 'ok', version: file.version, ino: file.ino };
  }

  private async compareAndStore(name: string, version: number, content: Uint8Array, exptimeSeconds: number, op: OpContext): Promise<FsResult> {
    const place = this.placeOf(name, op.stampMs);
    if (isError(place)) return place.type === 'not_found' && version === 0 ? this.store(name, content, exptimeSeconds, op) : place;
    const node = place.node;
    if (node === undefined) return version === 0 ? this.store(name, content, exptimeSeconds, op) : notFound;
    if (node.kind === 'dir') return isDir;
    if (node.version !== version) return { type: 'version_mismatch', currentVersion: node.version };
    return this.store(name, content, exptimeSeconds, op);
  }

  /**
   * Where the last component of a course name goes, creating missing parent directories. Every
   * refusal is decided before anything is created, so a failed write leaves no directories
   * behind. The new directories take the version the write itself will take (one command, one
   * version), which is counted here.
   */
  private async makeParents(name: string, op: OpContext): Promise<Place | FsError> {
    const parsed = parseName(name);
    if (parsed.components.length === 0) return invalid;
    const tooLong = this.checkLengths(parsed.anchor, parsed.components);
    if (tooLong !== null) return tooLong;
    let dir = this.records.inode(parsed.anchor ?? rootIno);
    if (dir === undefined) return notFound;
    const last = parsed.components.length - 1;
    let depth = 0;
    for (; depth < last; depth++) {
      if (dir.kind !== 'dir') return notDir;
      const child = this.liveChild(dir, parsed.components[depth]!, op.stampMs);
      if (child === undefined) break;
      dir = child.node;
    }
    if (dir.kind !== 'dir') return notDir;
    if (depth === last && this.liveChild(dir, parsed.components[last]!, op.stampMs)?.node.kind === 'dir') return isDir;
    if (!this.hasRoom(dir, parsed.components[depth]!)) return tooLarge;
    this.counters.version += 1;
    for (; depth < last; depth++) {
      const place = await this.clearedPlace(dir, parsed.components[depth]!, op);
      dir = this.newNode(place, 'dir', implicitDirMode, 0, undefined, op);
    }
    return this.clearedPlace(dir, parsed.components[last]!, op);
  }

  /** The place `name` in `dir`, with an expired file there removed first. */
  private async clearedPlace(dir: Inode, name: string, op: OpContext): Promise<Place> {
    const dirent = this.records.dirent(dir.ino, name);
    if (dirent === undefined) return { dir, name, dirent, node: undefined };
    const node = this.records.inode(dirent.ino);
    if (node !== undefined && isLive(node, op.stampMs)) return { dir, name, dirent, node };
    // An expired file still named here: it goes now, as if removed the moment it expired.
    const fresh = await this.removeName({ dir, name, dirent, node: undefined }, node, op, false);
    return { dir: fresh, name, dirent: undefined, node: undefined };
  }

  // -------------------------------------------------------------------------------------------
  // Creating nodes

  private async create(name: string, mode: number, exclusive: boolean, owner: FsOwner | undefined, op: OpContext): Promise<FsResult> {
    if (!isMode(mode)) return invalid;
    const place = this.placeOf(name, op.stampMs);
    if (isError(place)) return place;
    if (place.node !== undefined) {
      if (exclusive) return exists;
      return place.node.kind === 'dir' ? isDir : { type: 'ok', version: place.node.version, ino: place.node.ino };
    }
    if (!this.hasRoom(place.dir, place.name)) return tooLarge;
    const cleared = await this.clearedPlace(place.dir, place.name, op);
    this.counters.version += 1;
    const file = this.newNode(cleared, 'file', mode, 0, owner, op);
    return { type: 'ok', version: file.version, ino: file.ino };
  }

  /** mkdir, mknod and symlink: a new node where nothing is. */
  private async makeNode(
    name: string,
    kind: FsNodeKind,
    mode: number,
    rdev: number,
    owner: FsOwner | undefined,
    target: Uint8Array | undefined,
    op: OpContext,
  ): Promise<FsResult> {
    if (!isMode(mode) || !Number.isSafeInteger(rdev) || rdev < 0) return invalid;
    if (target !== undefined && (target.length === 0 || target.includes(0))) return target.length === 0 ? notFound : invalid;
    if (target !== undefined && target.length > this.limits.symlinkTargetBytesMax) return nameTooLong;
    const place = this.placeOf(name, op.stampMs);
    if (isError(place)) return place;
    if (place.node !== undefined) return exists;
    if (!this.hasRoom(place.dir, place.name)) return tooLarge;
    if (kind === 'dir' && place.dir.nlink >= this.limits.linkCountMax) return tooManyLinks;
    const cleared = await this.clearedPlace(place.dir, place.name, op);
    this.counters.version += 1;
    const node = this.newNode(cleared, kind, mode, kind === 'chr' || kind === 'blk' ? rdev : 0, owner, op, target);
    return { type: 'ok', version: node.version, ino: node.ino };
  }

  /**
   * A new node named `place.name` in `place.dir` (where nothing is), at the current version.
   * Owner: `owner` (root when absent); in a setgid directory the group is the directory's and a
   * new directory is setgid too (as Linux's inode_init_owner does).
   */
  private newNode(place: Place, kind: FsNodeKind, mode: number, rdev: number, owner: FsOwner | undefined, op: OpContext, target?: Uint8Array): Inode {
    const dir = place.dir;
    const inheritGroup = (dir.mode & setgidBit) !== 0;
    const ino = this.counters.nextIno++;
    this.counters.inodes += 1;
    const node: Inode = {
      ino,
      kind,
      mode: kind === 'dir' && inheritGroup ? mode | setgidBit : mode,
      uid: owner?.uid ?? 0,
      gid: inheritGroup ? dir.gid : (owner?.gid ?? 0),
      nlink: kind === 'dir' ? 2 : 1,
      rdev,
      size: target?.length ?? 0,
      version: this.counters.version,
      atime: op.now,
      mtime: op.now,
      ctime: op.now,
      expiresAtMs: Infinity,
      inline: true,
      parent: kind === 'dir' ? dir.ino : 0,
      entries: 0,
      subdirs: 0,
      nextCookie: 1,
      xattrBytes: 0,
      holds: 0,
    };
    if (target !== undefined) this.records.putData(ino, target.slice());
    this.records.putInode(node);
    this.addName(dir, place.name, node, op);
    return node;
  }

  /** Adds the entry `name` -> `node` to `dir` (nothing is there) and updates the directory. */
  private addName(dir: Inode, name: string, node: Inode, op: OpContext): Inode {
    const cookie = dir.nextCookie;
    this.records.putDirent(dir.ino, name, { ino: node.ino, kind: node.kind, cookie });
    this.records.putBacklink(node.ino, dir.ino, name, true);
    const isSubdir = node.kind === 'dir';
    const updated: Inode = {
      ...this.current(dir),
      entries: dir.entries + 1,
      subdirs: dir.subdirs + (isSubdir ? 1 : 0),
      nlink: dir.nlink + (isSubdir ? 1 : 0),
      nextCookie: cookie + 1,
      mtime: op.now,
      ctime: op.now,
    };
    this.records.putInode(updated);
    return updated;
  }

  /** The latest record of `node` (an earlier step of the same command may have changed it). */
  private current(node: Inode): Inode {
    const latest = this.records.inode(node.ino);
    assert(latest !== undefined, `inode ${node.ino} vanished during a command`);
    return latest;
  }

  // -------------------------------------------------------------------------------------------
  // Removing names

  private async unlink(name: string, op: OpContext): Promise<FsResult> {
    const place = this.placeOf(name, op.stampMs);
    if (isError(place)) return place;
    if (place.node === undefined) return notFound;
    if (place.node.kind === 'dir') return isDir;
    await this.removeName(place, place.node, op, true);
    return deleted;
  }

  private async rmdir(name: string, op: OpContext): Promise<FsResult> {
    const place = this.placeOf(name, op.stampMs);
    if (isError(place)) return place;
    const node = place.node;
    if (node === undefined) return notFound;
    if (node.kind !== 'dir') return notDir;
    if (!(await this.emptyDir(node, op))) return notEmpty;
    await this.removeName(place, node, op, true);
    return done;
  }

  /**
   * True when `dir` holds no live entry. Expired files still listed (the leader removes them
   * within about a second) do not count: they are removed here, before the directory goes.
   */
  private async emptyDir(dir: Inode, op: OpContext): Promise<boolean> {
    if (dir.entries === 0) return true;
    // Only expired files can be left; more than a page of them waits for the leader's sweep.
    if (dir.subdirs > 0 || dir.entries > expiredScanMax) return false;
    const entries = await this.records.direntsByName(dir.ino, '', expiredScanMax);
    const nodes = entries.map((entry) => ({ entry, node: this.records.inode(entry.dirent.ino) }));
    if (nodes.some(({ node }) => node !== undefined && isLive(node, op.stampMs))) return false;
    let current = dir;
    for (const { entry, node } of nodes) {
      current = await this.removeName({ dir: current, name: entry.name, dirent: entry.dirent, node: undefined }, node, op, false);
    }
    return true;
  }

  /**
   * Removes the entry of `place` and one link of `node` (the node it names; undefined when the
   * record is already gone). `touch`: the directory's times change (not for expiry, which happens
   * at no command). Returns the directory's new record.
   */
  private async removeName(place: Place, node: Inode | undefined, op: OpContext, touch: boolean): Promise<Inode> {
    const dirent = place.dirent ?? this.records.dirent(place.dir.ino, place.name);
    assert(dirent !== undefined, `removing missing entry ${place.name} of ${place.dir.ino}`);
    this.records.deleteDirent(place.dir.ino, place.name, dirent.cookie);
    this.records.putBacklink(dirent.ino, place.dir.ino, place.name, false);
    const dir = this.current(place.dir);
    const isSubdir = dirent.kind === 'dir';
    const updated: Inode = {
      ...dir,
      entries: dir.entries - 1,
      subdirs: dir.subdirs - (isSubdir ? 1 : 0),
      nlink: dir.nlink - (isSubdir ? 1 : 0),
      ...(touch ? { mtime: op.now, ctime: op.now } : {}),
    };
    this.records.putInode(updated);
    if (node !== undefined) await this.dropLink(this.current(node), op, touch);
    return updated;
  }

  /** One name of `node` is gone: count it, and free the node once it has none and nobody holds it. */
  private async dropLink(node: Inode, op: OpContext, touch: boolean): Promise<void> {
    const nlink = node.kind === 'dir' ? 0 : node.nlink - 1;
    // A node with no names left cannot expire: only its holders see it, until they close it.
    if (nlink === 0 && node.expiresAtMs !== Infinity) this.records.putExpiry(node.expiresAtMs, node.ino, false);
    const updated: Inode = { ...node, nlink, expiresAtMs: nlink === 0 ? Infinity : node.expiresAtMs, ...(touch ? { ctime: op.now } : {}) };
    if (nlink > 0) {
      this.records.putInode(updated);
      return;
    }
    if (updated.holds > 0) {
      // Still open somewhere: it lives on, nameless, until the last holder lets go.
      this.records.putInode(updated);
      this.records.setOrphan(node.ino, true);
      return;
    }
    await this.purge(updated);
  }

  /** Removes every name of an expired node (it is freed with the last one unless held open). */
  async removeAllNames(node: Inode, op: OpContext): Promise<void> {
    for (const name of await this.records.backlinks(node.ino, this.limits.linkCountMax)) {
      const dir = this.records.inode(name.dir);
      const dirent = this.records.dirent(name.dir, name.name);
      if (dir === undefined || dirent === undefined || dirent.ino !== node.ino) continue;
      const current = this.records.inode(node.ino);
      await this.removeName({ dir, name: name.name, dirent, node: undefined }, current, op, false);
    }
  }

  /** Frees a node with no names and no holders: its record, content and extended attributes. */
  async purge(node: Inode): Promise<void> {
    if (node.xattrBytes > 0) {
      for (const attr of await this.records.xattrs(node.ino, Number.MAX_SAFE_INTEGER)) this.records.putXattr(node.ino, attr.name, null);
    }
    if (node.kind === 'symlink' || (node.kind === 'file' && node.inline)) this.records.putData(node.ino, null);
    if (node.kind === 'file' && !node.inline) this.content.remove(node.ino);
    this.records.setOrphan(node.ino, false);
    this.records.deleteInode(node.ino);
    this.counters.inodes -= 1;
  }

  // -------------------------------------------------------------------------------------------
  // Links and renames

  /** link(2): `to` becomes another name of the existing non-directory `name`. */
  private async link(name: string, to: string, op: OpContext): Promise<FsResult> {
    const source = this.find(name, op.stampMs);
    if (isError(source)) return source;
    const node = source.node;
    if (node.kind === 'dir') return notPermitted;
    if (node.nlink >= this.limits.linkCountMax) return tooManyLinks;
    const place = this.placeOf(to, op.stampMs);
    if (isError(place)) return place;
    if (place.node !== undefined) return exists;
    if (!this.hasRoom(place.dir, place.name)) return tooLarge;
    const cleared = await this.clearedPlace(place.dir, place.name, op);
    this.counters.version += 1;
    const linked: Inode = { ...this.current(node), nlink: node.nlink + 1, ctime: op.now, version: this.counters.version };
    this.records.putInode(linked);
    this.addName(cleared.dir, cleared.name, linked, op);
    return { type: 'ok', version: linked.version, ino: linked.ino };
  }

  /** rename(2) (mode 'replace'), RENAME_NOREPLACE, RENAME_EXCHANGE. Keeps the nodes' versions and expiries. */
  private async rename(from: string, to: string, mode: RenameMode, ifVersion: number | undefined, op: OpContext): Promise<FsResult> {
    const source = this.placeOf(from, op.stampMs);
    if (isError(source)) return source;
    const moving = source.node;
    if (moving === undefined) return notFound;
    const destination = this.placeOf(to, op.stampMs);
    if (isError(destination)) return destination;
    const target = destination.node;
    if (ifVersion !== undefined && (target === undefined || target.version !== ifVersion)) {
      return target === undefined ? notFound : { type: 'version_mismatch', currentVersion: target.version };
    }
    // A file carrying user.fsraft.expect replaces its target only if the target still has that
    // version (0: only if there is none): the shell's compare-and-swap is `setfattr; mv`.
    const expected = moving.xattrBytes > 0 ? this.records.xattr(moving.ino, expectAttr) : undefined;
    if (expected !== undefined) {
      const version = Number(utf8Decoder.decode(expected).trim());
      const current = target?.version ?? 0;
      if (!Number.isSafeInteger(version) || version < 0) return invalid;
      if (current !== version) return { type: 'version_mismatch', currentVersion: current };
    }
    // The condition is spent once the rename happens, and only then (a refused rename changes nothing).
    const spendExpect = (): void => {
      if (expected === undefined) return;
      const node = this.current(moving);
      this.records.putXattr(node.ino, expectAttr, null);
      this.records.putInode({ ...node, xattrBytes: node.xattrBytes - utf8Length(expectAttr) - expected.length });
    };
    if (mode === 'exchange') return this.exchange(source, destination, op, spendExpect);
    if (target !== undefined && mode === 'noreplace') return exists;
    if (source.dir.ino === destination.dir.ino && source.name === destination.name) return done;
    // Two names of one node: rename(2) does nothing and succeeds.
    if (target !== undefined && target.ino === moving.ino) return done;
    if (moving.kind === 'dir' && this.isWithin(destination.dir, moving.ino)) return invalid;
    if (target !== undefined) {
      if (moving.kind !== 'dir' && target.kind === 'dir') return isDir;
      if (moving.kind === 'dir' && target.kind !== 'dir') return notDir;
      if (target.kind === 'dir' && !(await this.emptyDir(target, op))) return notEmpty;
    } else {
      if (destination.dir.ino !== source.dir.ino && !this.hasRoom(destination.dir, destination.name)) return tooLarge;
      if (moving.kind === 'dir' && destination.dir.ino !== source.dir.ino && destination.dir.nlink >= this.limits.linkCountMax) return tooManyLinks;
    }
    spendExpect();
    // Out of the old place first (the directory may be the same one), then into the new.
    this.removeEntryOnly(source, moving, op);
    const into = this.current(destination.dir);
    const cleared = target !== undefined ? await this.removeName({ ...destination, dir: into }, target, op, true) : (await this.clearedPlace(into, destination.name, op)).dir;
    const moved: Inode = { ...this.current(moving), ctime: op.now, ...(moving.kind === 'dir' ? { parent: cleared.ino } : {}) };
    this.records.putInode(moved);
    this.addName(cleared, destination.name, moved, op);
    return done;
  }

  /** RENAME_EXCHANGE: the two names swap the nodes they lead to; both must exist. */
  private exchange(first: Place, second: Place, op: OpContext, beforeChange: () => void): FsResult {
    const a = first.node;
    const b = second.node;
    if (a === undefined || b === undefined || first.dirent === undefined || second.dirent === undefined) return notFound;
    if (a.ino === b.ino) return done;
    if (a.kind === 'dir' && this.isWithin(second.dir, a.ino)) return invalid;
    if (b.kind === 'dir' && this.isWithin(first.dir, b.ino)) return invalid;
    beforeChange();
    this.records.putDirent(first.dir.ino, first.name, { ino: b.ino, kind: b.kind, cookie: first.dirent.cookie });
    this.records.putDirent(second.dir.ino, second.name, { ino: a.ino, kind: a.kind, cookie: second.dirent.cookie });
    this.records.putBacklink(a.ino, first.dir.ino, first.name, false);
    this.records.putBacklink(b.ino, second.dir.ino, second.name, false);
    this.records.putBacklink(a.ino, second.dir.ino, second.name, true);
    this.records.putBacklink(b.ino, first.dir.ino, first.name, true);
    if (first.dir.ino !== second.dir.ino) {
      // A directory changing parents moves a link ('..') from one parent to the other.
      const delta = (a.kind === 'dir' ? 1 : 0) - (b.kind === 'dir' ? 1 : 0);
      for (const [dir, change] of [[first.dir, -delta], [second.dir, delta]] as const) {
        const current = this.current(dir);
        this.records.putInode({ ...current, subdirs: current.subdirs + change, nlink: current.nlink + change, mtime: op.now, ctime: op.now });
      }
    } else {
      const current = this.current(first.dir);
      this.records.putInode({ ...current, mtime: op.now, ctime: op.now });
    }
    for (const [node, place] of [[a, second], [b, first]] as const) {
      const current = this.current(node);
      this.records.putInode({ ...current, ctime: op.now, ...(node.kind === 'dir' ? { parent: place.dir.ino } : {}) });
    }
    return done;
  }

  /** Removes only the entry of a node that moves elsewhere (its link count stays). */
  private removeEntryOnly(place: Place, node: Inode, op: OpContext): void {
    const dirent = place.dirent!;
    this.records.deleteDirent(place.dir.ino, place.name, dirent.cookie);
    this.records.putBacklink(node.ino, place.dir.ino, place.name, false);
    const dir = this.current(place.dir);
    const isSubdir = node.kind === 'dir';
    this.records.putInode({
      ...dir,
      entries: dir.entries - 1,
      subdirs: dir.subdirs - (isSubdir ? 1 : 0),
      nlink: dir.nlink - (isSubdir ? 1 : 0),
      mtime: op.now,
      ctime: op.now,
    });
  }

  /** True when `dir` is `ancestor` or below it (walking up the parents). */
  private isWithin(dir: Inode, ancestor: number): boolean {
    let current: Inode | undefined = dir;
    for (let steps = 0; current !== undefined; steps++) {
      if (current.ino === ancestor) return true;
      if (current.ino === rootIno || steps > this.limits.pathBytesMax) return false;
      current = this.records.inode(current.parent);
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // Contents and attributes

  private truncate(name: string, size: number, op: OpContext): FsResult {
    const found = this.findFile(name, op);
    if (isError(found)) return found;
    if (!isCount(size)) return invalid;
    if (size > this.limits.fileBytesMax) return tooLarge;
    this.counters.version += 1;
    const file = this.content.resize(found, size, op);
    const updated: Inode = { ...file, version: this.counters.version, mtime: op.now, ctime: op.now };
    this.records.putInode(updated);
    return { type: 'ok', version: updated.version, ino: updated.ino };
  }

  private writeAt(name: string, offset: number, bytes: Uint8Array, op: OpContext): FsResult {
    const found = this.findFile(name, op);
    if (isError(found)) return found;
    if (offset !== -1 && !isCount(offset)) return invalid;
    const start = offset === -1 ? found.size : offset;
    // Checked before anything is written: an offset near 2^53 must not make a huge file.
    if (start + bytes.length > this.limits.fileBytesMax) return tooLarge;
    this.counters.version += 1;
    const file = this.content.write(found, start, bytes, op);
    const updated: Inode = { ...file, version: this.counters.version, mtime: op.now, ctime: op.now };
    this.records.putInode(updated);
    return { type: 'ok', version: updated.version, ino: updated.ino };
  }

  private fallocate(name: string, offset: number, length: number, punch: boolean, keepSize: boolean, op: OpContext): FsResult {
    const found = this.findFile(name, op);
    if (isError(found)) return found;
    if (!isCount(offset) || !isCount(length) || length === 0) return invalid;
    if (punch && !keepSize) return { type: 'not_supported' };
    if (!punch && offset + length > this.limits.fileBytesMax) return tooLarge;
    this.counters.version += 1;
    const file = punch ? this.content.punch(found, offset, length, op) : this.content.allocate(found, offset, length, keepSize, op);
    const changed = file.size !== found.size || punch;
    const updated: Inode = { ...file, version: this.counters.version, ...(changed ? { mtime: op.now, ctime: op.now } : {}) };
    this.records.putInode(updated);
    return { type: 'ok', version: updated.version, ino: updated.ino };
  }

  private findFile(name: string, op: OpContext): Inode | FsError {
    const found = this.find(name, op.stampMs);
    if (isError(found)) return found;
    const node = found.node;
    if (node.ino === rootIno) return invalid;
    if (node.kind === 'dir') return isDir;
    return node.kind === 'file' ? node : invalid;
  }

  // -------------------------------------------------------------------------------------------

  /** Whether `dir` can take an entry called `name` (replacing one there always can). */
  private hasRoom(dir: Inode, name: string): boolean {
    return dir.entries < this.limits.directoryEntriesMax || this.records.dirent(dir.ino, name) !== undefined;
  }
}

/** The extended attribute that makes a rename conditional (README "Versions and expiry in the mount"). */
export const expectAttr = 'user.fsraft.expect';

const utf8Decoder = new TextDecoder();

/** Expired files the rmdir of a directory holding only such files removes itself, at most. */
const expiredScanMax = 1024;
