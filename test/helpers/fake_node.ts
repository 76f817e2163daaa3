/**
 * A scripted fake fsraft node on 127.0.0.1 (no Raft): it parses the client protocol and answers
 * each command as a test's script says, so client behaviour (redirects, retries, deadlines) can be
 * tested without a cluster. It listens on a free port the kernel picks.
 */
import net from 'node:net';
import { type ParsedCommand } from '../../src/codec/client_protocol.js';
import { CommandParser } from '../../src/codec/command_parser.js';

/**
 * What a fake node does with one command: reply text, 'close' to drop the connection, 'silent'
 * to keep the connection open and never answer, or a reply sent `delayMs` later.
 */
export type ScriptAction = string | 'close' | 'silent' | { readonly reply: string; readonly delayMs: number };

/** Decides the action for each command, in arrival order over all connections. */
export type Script = (command: ParsedCommand) => ScriptAction;

/** A running fake node. */
export interface FakeNode {
  readonly address: string;
  /** Every command received, as `op name [clientId:sequence]`. */
  readonly received: string[];
  close(): Promise<void>;
}

/** Starts a fake node that follows `script`. */
export async function fakeNode(script: Script): Promise<FakeNode> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = new CommandParser({ contentBytesMax: 1 << 20 });
    socket.on('data', (chunk) => {
      parser.push(chunk);
      for (let parsed = parser.next(); parsed !== undefined; parsed = parser.next()) {
        if (parsed.type === 'error') return void socket.destroy();
        const id = parsed.request === undefined ? '' : ` ${parsed.request.clientId}:${parsed.request.sequence}`;
        received.push(`${parsed.command.op} ${parsed.command.name}${id}`);
        const action = script(parsed);
        if (action === 'close') return void socket.destroy();
        if (action === 'silent') continue;
        if (typeof action === 'string') {
          socket.write(action);
          continue;
        }
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!socket.destroyed) socket.write(action.reply);
        }, action.delayMs);
        timers.add(timer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    received,
    close: () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
