import type { ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { Component } from '../lifecycle/Component.js';
import type { StopDeadline } from '../lifecycle/StopDeadline.js';
import { HandshakeBoundListener } from './HandshakeBoundListener.js';
import { type BuiltServer, setServing } from './server.js';

/** Where GrpcServer listens. */
export interface GrpcServerOptions {
  readonly host: string;
  /** 0 picks a free port (see `port`). */
  readonly port: number;
  readonly credentials: ServerCredentials;
  readonly logger: Logger;
  /** HANDSHAKE_TIMEOUT_MS: see HandshakeBoundListener. */
  readonly handshakeTimeoutMs: number;
  /** Told of each connection closed for not sending the HTTP/2 preface in time (a metric). */
  readonly onHandshakeTimeout?: (() => void) | undefined;
  /** Told of each HTTP/2 session closed for not sending its SETTINGS in time, e.g. after TLS (a metric). */
  readonly onSettingsTimeout?: (() => void) | undefined;
  /** GRPC_MAX_CONNECTIONS, GRPC_MAX_CONNECTIONS_PER_IP (0: none): see HandshakeBoundListener. */
  readonly maxConnections?: number | undefined;
  readonly maxConnectionsPerIp?: number | undefined;
  /** Told of each connection closed at once by one of them (a metric). */
  readonly onConnectionLimit?: ((limit: 'connections' | 'connections_per_ip') => void) | undefined;
}

/**
 * The gRPC server as a component: start binds and marks every service SERVING. Stop marks them
 * NOT_SERVING at once, but keeps accepting new connections and calls for the drain period
 * (StopDeadline.drainEndsAt), so a caller, load balancer or endpoint list that has not noticed yet is
 * still answered rather than refused; then ends the health Watch streams (HealthWatches) and stops
 * accepting (the port closes, then `tryShutdown`: every connection gets an HTTP/2 GOAWAY, so clients move
 * to another replica), lets in-flight calls finish while the budget allows (StopDeadline.callsEndAt), and
 * cancels the rest.
 */
export class GrpcServer implements Component {
  private boundPort: number | undefined;
  private serving = false;
  private listener: HandshakeBoundListener | undefined;

  constructor(
    private readonly built: BuiltServer,
    private readonly options: GrpcServerOptions,
  ) {}

  /** The bound port (the real one when 0 was configured); throws before start. */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('the gRPC server is not listening yet');
    return this.boundPort;
  }

  /** Between a successful start and the beginning of stop. */
  get isServing(): boolean {
    return this.serving;
  }

  async start(): Promise<void> {
    const { host, port, credentials, handshakeTimeoutMs, onHandshakeTimeout, onSettingsTimeout } = this.options;
    this.listener = new HandshakeBoundListener(this.built.server, credentials, {
      timeoutMs: handshakeTimeoutMs,
      onTimeout: onHandshakeTimeout,
      onSettingsTimeout,
      maxConnections: this.options.maxConnections,
      maxConnectionsPerIp: this.options.maxConnectionsPerIp,
      onConnectionLimit: this.options.onConnectionLimit,
      onError: (error) => this.options.logger.warn({ err: error }, 'gRPC listener error; still listening'),
    });
    this.boundPort = await this.listener.listen(host, port);
    setServing(this.built.health, true);
    this.serving = true;
  }

  async stop(deadline: StopDeadline): Promise<void> {
    setServing(this.built.health, false);
    this.serving = false;
    await new Promise((resolve) => setTimeout(resolve, deadline.drainRemainingMs()));
    this.options.logger.info('stopping: no new connections');
    this.built.healthWatches.endAll();
    this.listener?.close();
    const callsMs = deadline.callsRemainingMs();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.logger.warn({ timeoutMs: callsMs }, 'shutdown deadline reached; cancelling in-flight calls');
        this.built.server.forceShutdown();
        resolve();
      }, callsMs);
      this.built.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
