import { DEFAULT_TRANSPORT_LIMITS as D, type TransportLimits } from '../transport/TransportLimits.js';
import { documented } from './documented.js';
import { intRange } from './validators.js';

const DAY_MS = 86_400_000;

/**
 * Limits on connections and calls (issue 12): without them the server advertised 2^32-1 concurrent
 * streams, held streams without a deadline and kept idle connections forever, so anyone who could reach
 * the port could exhaust memory or file descriptors without a credential.
 */
export const TRANSPORT_LIMIT_SETTINGS = {
  GRPC_MAX_CONCURRENT_STREAMS: documented(
    intRange(
      1,
      100_000,
    )({
      default: D.maxConcurrentStreams,
      desc: 'HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection: the most calls one connection may have open at once (more are refused by the HTTP/2 layer); bounds what one connection can pin',
    }),
    `\`${D.maxConcurrentStreams}\``,
  ),
  GRPC_MAX_CONNECTION_IDLE_MS: documented(
    intRange(
      1000,
      DAY_MS,
    )({
      default: D.maxConnectionIdleMs,
      desc: 'a connection with no open call for this long is closed (GOAWAY); frees the file descriptors of clients that connect and do nothing',
    }),
    `\`${D.maxConnectionIdleMs}\``,
  ),
  GRPC_MAX_CONNECTION_AGE_MS: documented(
    intRange(
      1000,
      30 * DAY_MS,
    )({
      default: D.maxConnectionAgeMs,
      desc: 'a connection this old is told to go away (GOAWAY; clients reconnect, possibly to another replica, which also rebalances them after a scale-up)',
    }),
    `\`${D.maxConnectionAgeMs}\``,
  ),
  GRPC_MAX_CONNECTION_AGE_GRACE_MS: documented(
    intRange(
      0,
      DAY_MS,
    )({
      default: D.maxConnectionAgeGraceMs,
      desc: 'after `GRPC_MAX_CONNECTION_AGE_MS`, how long calls still open on that connection may finish before it is closed (they are then cancelled)',
    }),
    `\`${D.maxConnectionAgeGraceMs}\``,
  ),
  GRPC_MAX_SESSION_MEMORY_MB: documented(
    intRange(
      1,
      4096,
    )({
      default: D.maxSessionMemoryMb,
      desc: "memory (MB) one HTTP/2 connection may hold in Node's buffers (unread requests, unsent responses to a slow reader); past it the connection's new calls are refused",
    }),
    `\`${D.maxSessionMemoryMb}\``,
  ),
  GRPC_MAX_CONNECTIONS: documented(
    intRange(
      0,
      10_000_000,
    )({
      default: D.maxConnections,
      desc: 'open connections the process accepts at most (per worker with `WORKERS`); one more is closed at once (`0`: no limit). Keep it below the file-descriptor limit (`ulimit -n`) so that the database and the metrics port always get one',
    }),
    `\`${D.maxConnections}\``,
  ),
  GRPC_MAX_CONNECTIONS_PER_IP: documented(
    intRange(
      0,
      10_000_000,
    )({
      default: D.maxConnectionsPerIp,
      desc: 'open connections one peer IP address may have at most; one more is closed at once (`0`: no limit). Behind a proxy or sidecar every connection comes from its address: raise it, or set `0`, if that proxy keeps more',
    }),
    `\`${D.maxConnectionsPerIp}\``,
  ),
  HANDSHAKE_TIMEOUT_MS: documented(
    intRange(
      100,
      120_000,
    )({
      default: D.handshakeTimeoutMs,
      desc: 'a new connection is closed unless it completes the TLS handshake (with TLS) or sends the HTTP/2 preface (plaintext) within this time, and an HTTP/2 session (plaintext, or TLS once the handshake completed) unless the client SETTINGS frame arrives within this time of its start; frees the file descriptors of sockets that connect and send nothing',
    }),
    `\`${D.handshakeTimeoutMs}\``,
  ),
  VERIFIER_DEFAULT_DEADLINE_MS: documented(
    intRange(
      100,
      600_000,
    )({
      default: D.verifierDefaultDeadlineMs,
      desc: 'server-side deadline of a `KeyVerifier` call that carries none: it then ends with `DEADLINE_EXCEEDED` and its work is cancelled (a caller deadline is used as sent)',
    }),
    `\`${D.verifierDefaultDeadlineMs}\``,
  ),
  ADMIN_DEFAULT_DEADLINE_MS: documented(
    intRange(
      100,
      3_600_000,
    )({
      default: D.adminDefaultDeadlineMs,
      desc: 'server-side deadline of a `KeyAdmin` call (streaming ones included) that carries none: it then ends with `DEADLINE_EXCEEDED` and its work is cancelled',
    }),
    `\`${D.adminDefaultDeadlineMs}\``,
  ),
};

/** The section's values as the transport takes them. */
export function transportLimits(raw: {
  GRPC_MAX_CONCURRENT_STREAMS: number;
  GRPC_MAX_CONNECTION_IDLE_MS: number;
  GRPC_MAX_CONNECTION_AGE_MS: number;
  GRPC_MAX_CONNECTION_AGE_GRACE_MS: number;
  GRPC_MAX_SESSION_MEMORY_MB: number;
  HANDSHAKE_TIMEOUT_MS: number;
  VERIFIER_DEFAULT_DEADLINE_MS: number;
  ADMIN_DEFAULT_DEADLINE_MS: number;
  GRPC_MAX_CONNECTIONS: number;
  GRPC_MAX_CONNECTIONS_PER_IP: number;
}): TransportLimits {
  return Object.freeze({
    maxConcurrentStreams: raw.GRPC_MAX_CONCURRENT_STREAMS,
    maxConnectionIdleMs: raw.GRPC_MAX_CONNECTION_IDLE_MS,
    maxConnectionAgeMs: raw.GRPC_MAX_CONNECTION_AGE_MS,
    maxConnectionAgeGraceMs: raw.GRPC_MAX_CONNECTION_AGE_GRACE_MS,
    maxSessionMemoryMb: raw.GRPC_MAX_SESSION_MEMORY_MB,
    handshakeTimeoutMs: raw.HANDSHAKE_TIMEOUT_MS,
    verifierDefaultDeadlineMs: raw.VERIFIER_DEFAULT_DEADLINE_MS,
    adminDefaultDeadlineMs: raw.ADMIN_DEFAULT_DEADLINE_MS,
    maxConnections: raw.GRPC_MAX_CONNECTIONS,
    maxConnectionsPerIp: raw.GRPC_MAX_CONNECTIONS_PER_IP,
  });
}
