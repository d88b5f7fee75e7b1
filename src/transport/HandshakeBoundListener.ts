import type { ServerHttp2Session } from 'node:http2';
import net from 'node:net';

import type { Server, ServerCredentials } from '@grpc/grpc-js';

import { createSessionWatchingInjector } from './createSessionWatchingInjector.js';
import { resetAnsweredStream } from './resetAnsweredStream.js';

/** Length of the client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
const PREFACE_BYTES = 24;

/** The listener's bound and who is told when it closes a connection. */
export interface HandshakeBound {
  /**
   * A connection that has not sent the HTTP/2 preface (plaintext) within this time is closed; so is an
   * HTTP/2 session (plaintext, or TLS after its handshake) whose peer has not sent its SETTINGS within
   * this time of the session's start.
   */
  readonly timeoutMs: number;
  /** Told of each connection closed for not sending the preface (plaintext bytes). */
  readonly onTimeout?: (() => void) | undefined;
  /** Told of each HTTP/2 session closed for not sending its SETTINGS (one already closed is not counted). */
  readonly onSettingsTimeout?: (() => void) | undefined;
  /** Open connections this process accepts at most (0: no limit); one more is closed at once. */
  readonly maxConnections?: number | undefined;
  /** Open connections one peer IP address may have at most (0: no limit); one more is closed at once. */
  readonly maxConnectionsPerIp?: number | undefined;
  /** Told of each connection closed at once by one of the two limits above. */
  readonly onConnectionLimit?: ((limit: 'connections' | 'connections_per_ip') => void) | undefined;
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
 * kept 4,000 such sockets open). Two bounds, both HANDSHAKE_TIMEOUT_MS:
 *
 * - Each accepted socket gets a timer: if fewer than the 24 bytes of the HTTP/2 preface arrived by then,
 *   it is closed. With TLS these bytes are encrypted ones; the TLS handshake itself is bounded by Node's
 *   `handshakeTimeout` (see serverCredentials).
 * - Each HTTP/2 session (in plaintext from the connection's start, with TLS once the handshake completed)
 *   gets a timer: if the peer's SETTINGS (Node's 'remoteSettings' event) have not arrived by then, the
 *   session is destroyed. This closes a client that completes TLS and then sends nothing or only part of
 *   the preface, which the first bound cannot see inside TLS and which was otherwise held until the idle
 *   timeout; in plaintext it closes one that sent the preface but no SETTINGS. The session comes from the
 *   http2 server grpc-js creates for the injector (see createSessionWatchingInjector).
 *
 * Every HTTP/2 client sends the preface and its SETTINGS first, at once, so a real client is never
 * affected; a session that sent them and then nothing is an idle HTTP/2 session, closed by the idle timeout.
 */
export class HandshakeBoundListener {
  private readonly listener: net.Server;
  private open = 0;
  /** Open connections by peer address; only kept when there is a per-IP limit. */
  private readonly openByPeer = new Map<string, number>();

  constructor(
    grpcServer: Server,
    credentials: ServerCredentials,
    private readonly bound: HandshakeBound,
  ) {
    const injector = createSessionWatchingInjector(grpcServer, credentials, (session) => {
      this.awaitSettings(session);
      session.on('stream', resetAnsweredStream);
    });
    this.listener = net.createServer((socket) => {
      if (!this.admit(socket)) return;
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

  /**
   * Counts `socket` among the open connections, or closes it at once when it is one too many, for the
   * process or for its peer address. Without these limits the other bounds still let a client hold one
   * connection per file descriptor: an idle connection lasts GRPC_MAX_CONNECTION_IDLE_MS, and one that
   * opens a refused call now and then is never idle (the issue 12 attack review).
   */
  private admit(socket: net.Socket): boolean {
    const perIp = this.bound.maxConnectionsPerIp ?? 0;
    const total = this.bound.maxConnections ?? 0;
    const peer = socket.remoteAddress ?? '';
    const ofPeer = perIp === 0 ? 0 : (this.openByPeer.get(peer) ?? 0);
    const refused =
      total !== 0 && this.open >= total ? 'connections' : perIp !== 0 && ofPeer >= perIp ? 'connections_per_ip' : null;
    if (refused !== null) {
      this.bound.onConnectionLimit?.(refused);
      socket.destroy();
      return false;
    }
    this.open += 1;
    if (perIp !== 0) this.openByPeer.set(peer, ofPeer + 1);
    socket.once('close', () => {
      this.open -= 1;
      if (perIp === 0) return;
      const left = (this.openByPeer.get(peer) ?? 1) - 1;
      if (left === 0) this.openByPeer.delete(peer);
      else this.openByPeer.set(peer, left);
    });
    return true;
  }

  /** Destroys `session` unless its peer's SETTINGS arrive within the bound. */
  private awaitSettings(session: ServerHttp2Session): void {
    const timer = setTimeout(() => {
      if (session.destroyed || socketClosed(session)) return; // closed already, e.g. by the preface bound
      this.bound.onSettingsTimeout?.();
      session.destroy();
    }, this.bound.timeoutMs);
    timer.unref();
    const settle = (): void => clearTimeout(timer);
    session.once('remoteSettings', settle);
    session.once('close', settle);
  }

  /** Stops accepting connections (open ones are grpc-js's to close: tryShutdown, forceShutdown). */
  close(): void {
    this.listener.close();
  }
}

/**
 * Whether the session's socket is destroyed (the session itself notices a moment later). Node's session
 * socket is a proxy that throws once the socket is unbound from the session: closed too.
 */
function socketClosed(session: ServerHttp2Session): boolean {
  try {
    return session.socket.destroyed;
  } catch {
    return true;
  }
}
