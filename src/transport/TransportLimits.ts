/**
 * The limits the gRPC server puts on connections and calls, so that nobody (authenticated or not) can hold
 * its memory or file descriptors: set from configuration (src/config/transportLimits.ts, where each one's
 * reason is documented), with safe defaults for tests and embedders.
 */
export interface TransportLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to every connection. */
  readonly maxConcurrentStreams: number;
  /** A connection without an open stream for this long gets GOAWAY. */
  readonly maxConnectionIdleMs: number;
  /** A connection this old gets GOAWAY (clients reconnect, possibly to another replica)... */
  readonly maxConnectionAgeMs: number;
  /** ...and is closed this much later, its calls cancelled if still running. */
  readonly maxConnectionAgeGraceMs: number;
  /** Node's http2 maxSessionMemory (MB): past it a connection's new streams are refused (ENHANCE_YOUR_CALM). */
  readonly maxSessionMemoryMb: number;
  /** A connection must complete TLS (handshakeTimeout) and, in plaintext, send the HTTP/2 preface by then. */
  readonly handshakeTimeoutMs: number;
  /** Server-side deadline of a KeyVerifier call that carries none. */
  readonly verifierDefaultDeadlineMs: number;
  /** Server-side deadline of a KeyAdmin call that carries none. */
  readonly adminDefaultDeadlineMs: number;
  /** Open connections the process accepts at most (0: no limit). */
  readonly maxConnections: number;
  /** Open connections of one peer IP address at most (0: no limit). */
  readonly maxConnectionsPerIp: number;
}

/** The defaults, mirrored by the configuration's. */
export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxConcurrentStreams: 100,
  maxConnectionIdleMs: 300_000,
  maxConnectionAgeMs: 1_800_000,
  maxConnectionAgeGraceMs: 30_000,
  maxSessionMemoryMb: 32,
  handshakeTimeoutMs: 5000,
  verifierDefaultDeadlineMs: 5000,
  adminDefaultDeadlineMs: 30_000,
  maxConnections: 10_000,
  maxConnectionsPerIp: 256,
};
