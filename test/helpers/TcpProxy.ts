import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Which client→server chunk starts a hold: the chunk, and the number of the connection that sent it. */
export type HoldPredicate = (chunk: Buffer, connection: number) => boolean;

/** One proxied connection whose client→server bytes are held back. */
interface Held {
  readonly chunks: Buffer[];
  readonly client: Socket;
  readonly upstream: Socket;
}

/**
 * A TCP proxy the test controls, placed between the service and MySQL: `cut()` drops every open
 * connection and refuses new ones (the database "goes away"), `restore()` lets traffic through again,
 * `delayMs` adds latency to every chunk from the database. `blackhole()` is a partition: every socket
 * stays open (new ones are accepted too) but nothing gets through in either direction, not even a close,
 * as when packets are dropped without a reset; `heal()` forwards again, and a protocol stream that lost
 * bytes stays as broken as real packet loss would leave it (each side waits for what was discarded).
 * `holdWhen()` holds back what one connection sends from a chosen chunk on (a COMMIT the server has not
 * received yet), until `release()` or `cutHeld()`.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private open = true;
  private blackholed = false;
  private connections = 0;
  private holdRule: { readonly predicate: HoldPredicate; readonly started: () => void } | undefined;
  private held: Held | undefined;
  /** Server sockets whose answers are dropped (releaseUnanswered). */
  private readonly unanswered = new Set<Socket>();
  delayMs = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      const connection = ++this.connections;
      this.track(client);
      this.track(upstream);
      client.on('data', (chunk) => {
        if (!this.blackholed) this.fromClient(chunk, connection, client, upstream);
      });
      upstream.on('data', (chunk) => {
        if (this.blackholed || this.unanswered.has(upstream)) return;
        if (this.delayMs === 0) client.write(chunk);
        else setTimeout(() => client.write(chunk), this.delayMs);
      });
      const close = (): void => {
        // In a partition the other side never learns of the close (its socket is cleaned up by stop()).
        if (this.blackholed) return;
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close);
      upstream.on('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this.port;
  }

  /**
   * From the first client→server chunk `predicate` accepts, holds back everything that connection sends
   * (the database never receives it) until `release()` or `cutHeld()`; other connections go on. Resolves
   * once a chunk was held.
   */
  holdWhen(predicate: HoldPredicate): Promise<void> {
    return new Promise((started) => {
      this.holdRule = { predicate, started };
    });
  }

  /** Sends what was held, in order, and lets that connection through again. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) for (const chunk of held.chunks) held.upstream.write(chunk);
  }

  /**
   * Sends what was held, but drops every answer of the server on that connection from then on: the server
   * executes the held statements (a held COMMIT commits) and the client never learns of it.
   */
  releaseUnanswered(): void {
    const held = this.held;
    this.held = undefined;
    if (held === undefined) return;
    this.unanswered.add(held.upstream);
    held.upstream.on('close', () => this.unanswered.delete(held.upstream));
    for (const chunk of held.chunks) held.upstream.write(chunk);
  }

  /** Closes the held connection without sending what was held: the server sees its client go away. */
  cutHeld(): void {
    const held = this.held;
    this.held = undefined;
    held?.client.destroy();
    held?.upstream.destroy();
  }

  cut(): void {
    this.open = false;
    this.held = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.open = true;
  }

  /** Silently drops every byte in both directions from now on, keeping every socket open. */
  blackhole(): void {
    this.blackholed = true;
  }

  /** Forwards again (what was dropped stays lost). */
  heal(): void {
    this.blackholed = false;
  }

  async stop(): Promise<void> {
    this.blackholed = false;
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private fromClient(chunk: Buffer, connection: number, client: Socket, upstream: Socket): void {
    if (this.held?.client === client) {
      this.held.chunks.push(chunk);
      return;
    }
    const rule = this.holdRule;
    if (rule !== undefined && this.held === undefined && rule.predicate(chunk, connection)) {
      this.holdRule = undefined;
      this.held = { chunks: [chunk], client, upstream };
      rule.started();
      return;
    }
    upstream.write(chunk);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}
