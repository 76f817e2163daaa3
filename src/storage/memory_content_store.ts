/**
 * A ContentStore in memory, for the unit tests and the simulator: sparse contents as 4 KiB blocks
 * (a block of zeros written is stored, a hole is not, as on ext4), with a durable image that
 * `sync` brings up to date and `crash` falls back to, losing or keeping each unsynced change at
 * random, as a real disk may after a power cut.
 */
import type { ContentStore, SeekWhence } from '../fs/stores.js';

const blockBytes = 4096;

interface Content {
  size: number;
  readonly blocks: Map<number, Uint8Array>;
}

function copyOf(content: Content): Content {
  return { size: content.size, blocks: new Map([...content.blocks].map(([index, block]) => [index, block.slice()])) };
}

/** Sparse contents by inode, in memory. */
export class MemoryContentStore implements ContentStore {
  private live = new Map<number, Content>();
  private durable = new Map<number, Content>();
  /** Inodes changed since the last sync (the changes a crash may lose). */
  private readonly unsynced = new Set<number>();

  write(ino: number, offset: number, bytes: Uint8Array): void {
    const content = this.open(ino);
    let at = 0;
    while (at < bytes.length) {
      const position = offset + at;
      const index = Math.floor(position / blockBytes);
      const within = position - index * blockBytes;
      const take = Math.min(blockBytes - within, bytes.length - at);
      let block = content.blocks.get(index);
      if (block === undefined) {
        block = new Uint8Array(blockBytes);
        content.blocks.set(index, block);
      }
      block.set(bytes.subarray(at, at + take), within);
      at += take;
    }
    content.size = Math.max(content.size, offset + bytes.length);
  }

  read(ino: number, offset: number, length: number): Uint8Array {
    const content = this.live.get(ino);
    if (content === undefined) return new Uint8Array(0);
    const end = Math.min(content.size, offset + length);
    if (end <= offset) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    for (let position = offset; position < end; ) {
      const index = Math.floor(position / blockBytes);
      const within = position - index * blockBytes;
      const take = Math.min(blockBytes - within, end - position);
      const block = content.blocks.get(index);
      if (block !== undefined) out.set(block.subarray(within, within + take), position - offset);
      position += take;
    }
    return out;
  }

  truncate(ino: number, size: number): void {
    const content = this.open(ino);
    if (size < content.size) {
      const keepBlocks = Math.ceil(size / blockBytes);
      for (const index of [...content.blocks.keys()]) if (index >= keepBlocks) content.blocks.delete(index);
      const tail = content.blocks.get(keepBlocks - 1);
      if (tail !== undefined && size % blockBytes !== 0) tail.fill(0, size % blockBytes);
    }
    content.size = size;
  }

  punchHole(ino: number, offset: number, length: number): void {
    const content = this.live.get(ino);
    if (content === undefined) return;
    this.unsynced.add(ino);
    const end = Math.min(content.size, offset + length);
    for (let position = offset; position < end; ) {
      const index = Math.floor(position / blockBytes);
      const within = position - index * blockBytes;
      const take = Math.min(blockBytes - within, end - position);
      if (take === blockBytes) content.blocks.delete(index);
      else content.blocks.get(index)?.fill(0, within, within + take);
      position += take;
    }
  }

  allocate(ino: number, offset: number, length: number): void {
    const content = this.open(ino);
    for (let index = Math.floor(offset / blockBytes); index * blockBytes < offset + length; index++) {
      if (!content.blocks.has(index)) content.blocks.set(index, new Uint8Array(blockBytes));
    }
  }

  remove(ino: number): void {
    this.live.delete(ino);
    this.unsynced.add(ino);
  }

  blocks(ino: number): number {
    return (this.live.get(ino)?.blocks.size ?? 0) * (blockBytes / 512);
  }

  seek(ino: number, offset: number, whence: SeekWhence, size: number): number {
    const content = this.live.get(ino);
    for (let position = offset; position < size; position = (Math.floor(position / blockBytes) + 1) * blockBytes) {
      const stored = content?.blocks.has(Math.floor(position / blockBytes)) ?? false;
      if (stored === (whence === 'data')) return position;
    }
    return whence === 'hole' ? size : -1;
  }

  async sync(): Promise<void> {
    for (const ino of this.unsynced) {
      const content = this.live.get(ino);
      if (content === undefined) this.durable.delete(ino);
      else this.durable.set(ino, copyOf(content));
    }
    this.unsynced.clear();
  }

  /**
   * What survives a crash: the durable image, plus each unsynced change kept or lost by the
   * coin `keep` (a seeded draw in the simulator). A kept change is the content as it is now.
   */
  crash(keep: () => boolean): void {
    for (const ino of this.unsynced) {
      if (!keep()) continue;
      const content = this.live.get(ino);
      if (content === undefined) this.durable.delete(ino);
      else this.durable.set(ino, copyOf(content));
    }
    this.unsynced.clear();
    this.live = new Map([...this.durable].map(([ino, content]) => [ino, copyOf(content)]));
  }

  /** Every inode's content as bytes (tests compare replicas). */
  dump(): Map<number, Uint8Array> {
    return new Map([...this.live].map(([ino, content]) => [ino, this.read(ino, 0, content.size)]));
  }

  private open(ino: number): Content {
    this.unsynced.add(ino);
    let content = this.live.get(ino);
    if (content === undefined) {
      content = { size: 0, blocks: new Map() };
      this.live.set(ino, content);
    }
    return content;
  }
}
