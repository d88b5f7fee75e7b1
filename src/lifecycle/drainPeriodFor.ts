/**
 * The drain period of a stop begun by `signal`: SHUTDOWN_DRAIN_MS, except for SIGINT when standard input
 * is a terminal. That is someone pressing Ctrl-C on a process in the foreground, with no load balancer to
 * wait for. A SIGINT from a supervisor (no terminal: `docker stop` with STOPSIGNAL SIGINT, a process
 * manager) drains like SIGTERM, since the supervisor may be taking the replica out of rotation.
 */
export function drainPeriodFor(signal: NodeJS.Signals, configuredMs: number, interactive: boolean): number {
  return signal === 'SIGINT' && interactive ? 0 : configuredMs;
}
