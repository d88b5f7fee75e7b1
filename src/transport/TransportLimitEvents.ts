/** Why a transport limit ended a call or a connection (the `reason` label of the metric). */
export type TransportLimitReason =
  | 'verifier_default_deadline'
  | 'admin_default_deadline'
  /** A connection that did not send the HTTP/2 preface in time (plaintext bytes; HandshakeBoundListener). */
  | 'handshake_timeout'
  /** An HTTP/2 session (plaintext, or TLS after its handshake) whose peer sent no SETTINGS in time. */
  | 'settings_timeout'
  /** A connection closed at once: the process had GRPC_MAX_CONNECTIONS open. */
  | 'connection_limit'
  /** A connection closed at once: its peer address had GRPC_MAX_CONNECTIONS_PER_IP open. */
  | 'ip_connection_limit';

/**
 * Counts what the transport limits ended, by reason, for apikeys_transport_limit_events_total. Only events
 * grpc-js lets us see are counted: the idle timeout, the connection age and the session memory limit are
 * enforced inside grpc-js and Node's http2 without an event (grpc-js only traces them).
 */
export class TransportLimitEvents {
  readonly counts = new Map<TransportLimitReason, number>();

  record(reason: TransportLimitReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  count(reason: TransportLimitReason): number {
    return this.counts.get(reason) ?? 0;
  }
}
