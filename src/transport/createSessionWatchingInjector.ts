import net from 'node:net';
import type { ServerHttp2Session } from 'node:http2';

import type { Server, ServerCredentials } from '@grpc/grpc-js';

/** What grpc-js's createConnectionInjector returns (its type is not exported by name). */
export type ConnectionInjector = ReturnType<Server['createConnectionInjector']>;

const UNSUPPORTED =
  'grpc-js no longer keeps its HTTP/2 servers in Server#http2Servers as 1.14 did: the bound on HTTP/2 sessions that never send SETTINGS (HANDSHAKE_TIMEOUT_MS) cannot be installed; update src/transport/createSessionWatchingInjector.ts for this grpc-js version';

/**
 * grpc-js's public `createConnectionInjector`, plus `onSession` told of every HTTP/2 session (plaintext,
 * or TLS once its handshake completed) that a connection injected through it starts.
 *
 * grpc-js exposes neither the http2 server the injector creates nor its sessions. The injector (grpc-js
 * 1.14, build/src/server.js experimentalCreateConnectionInjectorWithChannelzRef) creates one http2 server
 * and stores it as a key of the grpc-js Server's private `http2Servers` Map; it is found here as the one
 * key that creating the injector added. Anything else (no such Map, not exactly one new net.Server) throws,
 * so a grpc-js upgrade that changes this fails the start loudly instead of silently dropping the bound.
 */
export function createSessionWatchingInjector(
  grpcServer: Server,
  credentials: ServerCredentials,
  onSession: (session: ServerHttp2Session) => void,
): ConnectionInjector {
  const servers = (grpcServer as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) throw new Error(UNSUPPORTED);
  const before = new Set<unknown>(servers.keys());
  const injector = grpcServer.createConnectionInjector(credentials);
  const added: unknown[] = [...(servers as Map<unknown, unknown>).keys()].filter((server) => !before.has(server));
  const [http2Server] = added;
  if (added.length !== 1 || !(http2Server instanceof net.Server)) {
    injector.destroy();
    throw new Error(UNSUPPORTED);
  }
  http2Server.on('session', onSession);
  return injector;
}
