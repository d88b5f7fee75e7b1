import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy the test controls, placed between the service and MySQL: `cut()` drops every open
 * connection and refuses new ones (the database "goes away"), `restore()` lets traffic through again,
 * `delayMs` adds latency to every chunk from the database. `blackhole()` is a partition: every socket
 * stays open (new ones are accepted too) but nothing gets through in either direction, not even a close,
 * as when packets are dropped without a reset; `heal()` forwards again, and a protocol stream that lost
 * bytes stays as broken as real packet loss would leave it (each side waits for what was discarded).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private open = true;
  private blackholed = false;
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
      this.track(client);
      this.track(upstream);
      client.on('data', (chunk) => {
        if (!this.blackholed) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (this.blackholed) return;
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

  cut(): void {
    this.open = false;
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

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}
