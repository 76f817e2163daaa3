/**
 * The raw TCP client protocol (../shared/protocol.md) on a node's client address. Commands may be
 * pipelined or split across packets; replies go back in command order. Followers answer
 * `ERR_REDIRECT <leader client address>` and close. A malformed command gets `ERR_CMD_ERR` and the
 * connection is closed; nothing a client sends can disturb another client or the node.
 */
import net from 'node:net';
import type { DeadlineClock } from '../clock/clock.js';
import { isLocalCommand, isQueryCommand, queryOf, type ClientCommand, type ClientLocalCommand, type DiskStat, type ParsedCommand } from '../codec/client_protocol.js';
import { CommandParser } from '../codec/command_parser.js';
import { formatReply, replyForQuery, replyForResult } from '../codec/reply_format.js';
import { ByteBudget } from '../util/byte_budget.js';
import { limits } from '../util/limits.js';
import type { NodeId } from '../util/types.js';
import { parseHostPort } from '../util/host_port.js';
import { NoSpaceError, NotLeaderError } from './node_errors.js';
import type { RaftNode } from './raft_node.js';

/** What the client handler needs to know beyond the node itself. */
export interface ClientServerOptions {
  readonly node: RaftNode;
  /** `host:port` to listen on. */
  readonly address: string;
  /** Every member's client address, for redirects. */
  readonly clientAddresses: ReadonlyMap<NodeId, string>;
  readonly contentBytesMax: number;
  /** How long a node that knows no leader waits for one before answering ERR_INTERNAL. */
  readonly leaderWaitMs: number;
  /**
   * A connection holding part of a command with no new byte for this long is closed with
   * ERR_CMD_ERR: otherwise thousands of clients that stop halfway through a 1 MiB write would
   * pin a gigabyte of half-received content.
   */
  readonly partialCommandTimeoutMs: number;
  /** Overrides the bound on the bytes all connections hold for commands still arriving (see ClientServer). */
  readonly receiveBytesMax?: number;
  /** This node's disk, for `statfs` (answered by every node about itself). */
  readonly diskStat?: () => Omit<DiskStat, 'inodes'>;
  readonly log: (line: string) => void;
  /** The node's clock: the stall timers run on it. */
  readonly clock: DeadlineClock;
}

/** One reply slot, filled when its command completes; replies leave in slot order. */
interface Slot {
  reply: Uint8Array | undefined;
  closeAfter: boolean;
}

/** Replies to a command, and whether the connection must close after it. */
interface Answer {
  readonly reply: Uint8Array;
  readonly closeAfter: boolean;
}

/** Listens for protocol clients and serves each connection with a ClientConnection. */
export class ClientServer {
  private readonly server: net.Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly stopRoomListener: () => void;
  /**
   * The bytes all connections hold for commands still arriving (CommandParser.heldBytes): partial
   * commands, mostly, each up to contentBytesMax. While it is full, a connection holding part of
   * a command is not read (see hasRoom). Its stall timer keeps running (see onStall), so
   * connections that hold their part and send nothing more are closed and free the budget; one
   * that completes commands in single reads is never held. Without it, 4,096 connections each
   * sending most of a 1 MiB write would pin 4 GiB.
   */
  private readonly received: ByteBudget;

  constructor(private readonly options: ClientServerOptions) {
    this.received = new ByteBudget(options.receiveBytesMax ?? Math.max(limits.clientReceiveBytesMax, 4 * options.contentBytesMax));
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (error) => options.log(`client listener error: ${error.message}`));
    // Connections stop reading while the node holds too many unanswered bytes, or they hold too
    // many unparsed ones (see hasRoom); both budgets say when there is room again.
    const resumeAll = (): void => {
      for (const connection of this.connections) connection.resumeIfRoom();
    };
    const stopNodeListener = options.node.onRoom(resumeAll);
    const stopReceivedListener = this.received.onRoom(resumeAll);
    this.stopRoomListener = () => {
      stopNodeListener();
      stopReceivedListener();
    };
  }

  /** Binds the client address; rejects with a clear message if it is taken. */
  listen(): Promise<void> {
    const hostPort = parseHostPort(this.options.address);
    if (hostPort === null) return Promise.reject(new Error(`bad client address ${this.options.address}`));
    return new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        reject(new Error(`cannot listen for clients on ${this.options.address}: ${error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message}`));
      };
      this.server.once('error', onError);
      this.server.listen(hostPort.port, hostPort.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** Stops accepting, closes every connection, and resolves when the listener is closed. */
  close(): Promise<void> {
    this.stopRoomListener();
    for (const connection of this.connections) connection.destroy();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= limits.clientConnectionsMax) {
      socket.end(formatReply({ type: 'internal_error' }));
      return;
    }
    const connection = new ClientConnection(socket, this.options, this.received, () => this.connections.delete(connection));
    this.connections.add(connection);
  }
}

/** One client's connection: parse, run in order-preserving fashion, reply in order. */
class ClientConnection {
  private readonly parser: CommandParser;
  private readonly slots: Slot[] = [];
  /** No more commands are read once a reply that closes the connection is queued. */
  private closing = false;
  /** Settles when every command so far has completed: reads wait for it (see `run`). */
  private allDone: Promise<void> = Promise.resolve();
  /** Settles when every read so far has completed: mutations wait for it. */
  private readsDone: Promise<void> = Promise.resolve();
  /** Armed while the parser holds part of a command; see partialCommandTimeoutMs. */
  private cancelStallTimer: (() => void) | undefined;
  /** The bytes last counted in `received` for this connection's commands still arriving. */
  private heldBytes = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ClientServerOptions,
    /** Shared by all connections (see ClientServer.received). */
    private readonly received: ByteBudget,
    private readonly onClose: () => void,
  ) {
    this.parser = new CommandParser({ contentBytesMax: options.contentBytesMax });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => this.resumeIfRoom());
    socket.on('close', () => {
      this.closing = true;
      this.cancelStallTimer?.();
      this.account();
      onClose();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.parser.push(chunk);
    this.drain();
    this.watchStall();
  }

  /** (Re)arms the stall timer while part of a command is buffered, and disarms it otherwise. */
  private watchStall(): void {
    this.cancelStallTimer?.();
    this.cancelStallTimer = undefined;
    if (this.closing || !this.parser.holdsPartialCommand) return;
    this.cancelStallTimer = this.options.clock.after(this.options.partialCommandTimeoutMs, () => this.onStall());
  }

  private onStall(): void {
    // Buffered bytes may be whole commands held back by back-pressure; only a partial one stalls.
    // A connection waiting for the receive budget still stalls: else holders of partial commands
    // could keep the budget full for ever.
    if (this.closing || (this.socket.isPaused() && !this.waitingForBudget()) || !this.parser.holdsPartialCommand) return;
    this.closeWithCommandError(`no progress on a partial command for ${this.options.partialCommandTimeoutMs} ms`);
  }

  /** Logs why, answers ERR_CMD_ERR after every earlier reply, then closes (protocol.md). */
  private closeWithCommandError(reason: string): void {
    this.options.log(`client ${this.socket.remoteAddress}:${this.socket.remotePort}: ${reason}; closing`);
    this.closing = true;
    // Its part of a command no longer counts, and a socket paused for back-pressure is read again
    // (and what arrives dropped, see onData), so the client's close is seen and the connection ends.
    this.account();
    this.socket.resume();
    this.slots.push({ reply: formatReply({ type: 'command_error' }), closeAfter: true });
    this.writeReplies();
  }

  /** Starts every complete command, up to the pipelining limit. */
  private drain(): void {
    while (!this.closing && this.hasRoom()) {
      const parsed = this.parser.next();
      if (parsed === undefined) break;
      if (parsed.type === 'error') {
        this.closeWithCommandError(parsed.reason);
        return;
      }
      this.start(parsed);
    }
    this.account();
    // Back-pressure: a client that pipelines without reading its replies stops being read.
    if (!this.hasRoom()) this.socket.pause();
  }

  /** Counts this connection's bytes of commands still arriving in the shared budget. */
  private account(): void {
    const now = this.closing ? 0 : this.parser.heldBytes;
    this.received.change(now - this.heldBytes);
    this.heldBytes = now;
  }

  /** Not read while the connections together hold too much of commands still arriving and this one holds some. */
  private waitingForBudget(): boolean {
    return this.received.full && this.heldBytes > 0;
  }

  /**
   * Room for more commands: not waiting for the receive budget, few enough unanswered, few
   * enough reply bytes not yet taken by the client (else a client that sends `read big` in a loop
   * and never reads would make the node buffer replies without limit), and a node not full of
   * unanswered commands (RaftNode.acceptingCommands: clients pipelining large writes faster than
   * they commit wait in their TCP windows).
   */
  private hasRoom(): boolean {
    return (
      !this.waitingForBudget() &&
      this.slots.length < limits.pipelinedCommandsMax &&
      this.socket.writableLength < limits.replyBufferBytesMax &&
      this.options.node.acceptingCommands
    );
  }

  /** Resolves once the replies not yet taken by the client are under replyBufferBytesMax. */
  private replyRoom(): Promise<void> {
    if (this.socket.writableLength < limits.replyBufferBytesMax || this.socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  resumeIfRoom(): void {
    if (this.closing || !this.socket.isPaused() || !this.hasRoom()) return;
    this.socket.resume();
    this.drain();
    this.watchStall();
  }

  private start(parsed: ParsedCommand): void {
    const command = parsed.command;
    const slot: Slot = { reply: undefined, closeAfter: false };
    this.slots.push(slot);
    const done = this.run(parsed).then((answer) => {
      slot.reply = answer.reply;
      slot.closeAfter = answer.closeAfter;
      if (answer.closeAfter) this.closing = true;
      this.writeReplies();
    });
    this.allDone = Promise.all([this.allDone, done]).then(() => undefined);
    if (isQueryCommand(command)) this.readsDone = Promise.all([this.readsDone, done]).then(() => undefined);
  }

  /**
   * Runs one command in the connection's order. Mutations are proposed at once, in order, so the
   * log keeps their order; a read waits for every earlier command, and a mutation for every
   * earlier read, so that a pipelined `write x; read x` reads its own write and a pipelined
   * `read x; write x` does not see the later write.
   */
  private async run(parsed: ParsedCommand): Promise<Answer> {
    const command = parsed.command;
    const isQuery = isQueryCommand(command) || isLocalCommand(command);
    await (isQuery ? this.allDone : this.readsDone);
    // Only reads have large replies; each waits until the client has taken most of the last ones.
    if (isQuery) await this.replyRoom();
    try {
      return await this.execute(parsed);
    } catch (error) {
      return this.answerError(error);
    }
  }

  private async execute(parsed: ParsedCommand): Promise<Answer> {
    const { command, request } = parsed;
    const node = this.options.node;
    if (isLocalCommand(command)) return { reply: this.answerLocal(command), closeAfter: false };
    if (node.role !== 'leader') {
      const leaderId = node.leaderId !== 0 ? node.leaderId : await node.waitForLeader(this.options.leaderWaitMs);
      if (leaderId !== node.id) return this.redirect(leaderId);
    }
    if (isQueryCommand(command)) {
      const result = await node.query(queryOf(command, this.options.contentBytesMax, limits.listEntriesMax));
      const word = command.op === 'readlink' ? 'LINK' : 'XATTR';
      return { reply: replyForQuery(result, { asAttr: command.op === 'attr', word }), closeAfter: false };
    }
    const applied = await node.submit(command, request);
    return { reply: replyForResult(applied.result, parsed.form ?? 'ok', applied.stat), closeAfter: false };
  }

  /** statfs and digest: this node's own disk and state, leader or not. */
  private answerLocal(command: ClientLocalCommand): Uint8Array {
    const node = this.options.node;
    if (command.op === 'digest') return formatReply({ type: 'digest', ...node.digest });
    const disk = this.options.diskStat?.() ?? { totalBytes: 0, freeBytes: 0, inodes: 0 };
    return formatReply({ type: 'statfs', disk: { ...disk, inodes: node.inodeCount } });
  }

  private answerError(error: unknown): Answer {
    if (error instanceof NotLeaderError && error.leaderId !== this.options.node.id) return this.redirect(error.leaderId);
    if (error instanceof NoSpaceError) return { reply: formatReply({ type: 'no_space' }), closeAfter: false };
    return { reply: formatReply({ type: 'internal_error' }), closeAfter: false };
  }

  private redirect(leaderId: NodeId): Answer {
    const address = this.options.clientAddresses.get(leaderId);
    const hostPort = address === undefined ? null : parseHostPort(address);
    if (leaderId === 0 || hostPort === null) return { reply: formatReply({ type: 'internal_error' }), closeAfter: false };
    return { reply: formatReply({ type: 'redirect', host: hostPort.host, port: hostPort.port }), closeAfter: true };
  }

  /** Writes every reply at the head of the queue that is ready, in order. */
  private writeReplies(): void {
    while (this.slots.length > 0) {
      const head = this.slots[0];
      if (head === undefined || head.reply === undefined) break;
      this.slots.shift();
      if (this.socket.destroyed) continue;
      this.socket.write(head.reply);
      if (head.closeAfter) {
        this.slots.length = 0;
        this.socket.end();
        return;
      }
    }
    this.resumeIfRoom();
  }
}
