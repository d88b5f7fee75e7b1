import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One replica behind the balancer. */
export interface BalancerBackend {
  readonly port: number;
  /** The readiness probe (e.g. `/readyz` is 200); a rejection counts as not ready. */
  ready(): Promise<boolean>;
}

/**
 * A layer-4 load balancer in front of replicas, as kube-proxy or a cloud TCP balancer is: each new
 * connection goes to the next backend that its readiness probe (every `probeMs`) last found ready. It
 * learns of a replica's shutdown only from that probe, so a replica that closes its port before the
 * probe notices has connections sent to it refused (the balancer then drops the caller's connection).
 */
export class TcpBalancer {
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<Socket>();
  private ready: boolean[] = [];
  private next = 0;
  /** Connections the balancer could not forward (the backend refused them). */
  refused = 0;

  constructor(
    private readonly backends: () => readonly BalancerBackend[],
    private readonly probeMs: number,
  ) {}

  /** Probes once, then listens on a free port of 127.0.0.1 and returns it. */
  async start(): Promise<number> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.probeMs);
    this.server = createServer((client) => this.forward(client));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async probe(): Promise<void> {
    this.ready = await Promise.all(this.backends().map((backend) => backend.ready().catch(() => false)));
  }

  private forward(client: Socket): void {
    this.track(client);
    const backends = this.backends();
    const candidates = backends.map((_, i) => (this.next + i) % backends.length).filter((i) => this.ready[i]);
    const chosen = candidates[0];
    if (chosen === undefined) {
      client.destroy();
      return;
    }
    this.next = chosen + 1;
    const upstream = createConnection({ host: '127.0.0.1', port: backends[chosen]!.port });
    this.track(upstream);
    let connected = false;
    upstream.once('connect', () => (connected = true));
    upstream.once('error', () => {
      if (!connected) this.refused++;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', close);
      socket.on('error', close);
    }
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}
