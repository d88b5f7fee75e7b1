import net from 'node:net';

import type { Server, ServerCredentials } from '@grpc/grpc-js';

/** Length of the client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
const PREFACE_BYTES = 24;

/** The listener's bound and who is told when it closes a connection. */
export interface HandshakeBound {
  /** A connection that has not sent the HTTP/2 preface (plaintext) within this time is closed. */
  readonly timeoutMs: number;
  readonly onTimeout?: (() => void) | undefined;
  /**
   * An error of the listening socket once it listens, e.g. EMFILE when a connection cannot be accepted
   * because the process is out of file descriptors. Reported, never fatal: Node emits these on the
   * server, and without a handler one would end the process (a flood of connections would crash it).
   */
  readonly onError?: ((error: Error) => void) | undefined;
}

/**
 * The gRPC port, listened on by us and handed to grpc-js through its public `createConnectionInjector`,
 * because grpc-js's own listener has no bound on connections that never start HTTP/2 (the issue 12 probe
 * kept 4,000 such sockets open). Each accepted socket gets a timer: if fewer than the 24 bytes of the
 * HTTP/2 preface arrived by then, it is closed. The preface is the first thing any HTTP/2 client sends, so
 * a real client is never affected; a connection that sent it and then nothing is an idle HTTP/2 session,
 * closed by the idle timeout. With TLS the bytes counted are encrypted ones: there the TLS handshake is
 * bounded by Node's `handshakeTimeout` (see serverCredentials), and a client that completes TLS but never
 * sends the preface is bounded only by the idle timeout (grpc-js exposes neither its TLS sockets nor
 * its HTTP/2 sessions, so the preface inside TLS cannot be watched from outside).
 */
export class HandshakeBoundListener {
  private readonly listener: net.Server;

  constructor(
    grpcServer: Server,
    credentials: ServerCredentials,
    private readonly bound: HandshakeBound,
  ) {
    const injector = grpcServer.createConnectionInjector(credentials);
    this.listener = net.createServer((socket) => {
      const timer = setTimeout(() => {
        if (socket.destroyed || socket.bytesRead >= PREFACE_BYTES) return;
        bound.onTimeout?.();
        socket.destroy();
      }, bound.timeoutMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      injector.injectConnection(socket);
    });
  }

  /** Listens on host:port (a bracketed IPv6 host is accepted); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, bare, () => {
        this.listener.off('error', reject);
        this.listener.on('error', (error) => this.bound.onError?.(error));
        resolve((this.listener.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting connections (open ones are grpc-js's to close: tryShutdown, forceShutdown). */
  close(): void {
    this.listener.close();
  }
}
