import { documented } from './documented.js';
import { intRange } from './validators.js';

/** The least of SHUTDOWN_TIMEOUT_MS a drain period must leave for the stop after it. */
export const MIN_STOP_AFTER_DRAIN_MS = 1000;

/** How a graceful stop shares its time (the rule itself is src/lifecycle/StopDeadline.ts). */
export const SHUTDOWN_SETTINGS = {
  SHUTDOWN_DRAIN_MS: documented(
    intRange(
      0,
      600_000,
    )({
      default: 5000,
      desc: 'on SIGTERM (and SIGINT, except from a terminal), the first part of `SHUTDOWN_TIMEOUT_MS`: health NOT_SERVING and `/readyz` 503 at once while new connections and calls are still answered, so load balancers and endpoint lists drop the replica before its port closes; `0` = none',
    }),
    '`5000`',
  ),
  SHUTDOWN_TIMEOUT_MS: documented(
    intRange(
      0,
      600_000,
    )({
      default: 15_000,
      desc: 'on SIGTERM/SIGINT, the whole graceful stop, the drain period included; after it the port closes (GOAWAY), in-flight calls finish (cancelled min(2 s, ¼ of the time left after the drain) before the end), then the final last-used flush and the pool close; at least `SHUTDOWN_DRAIN_MS` + 1000 when draining',
    }),
    '`15000`',
  ),
};

/**
 * The cross-field rule of this section: the drain period is part of SHUTDOWN_TIMEOUT_MS, and must leave
 * the stop after it some time (in-flight calls, the final flush, the pool close).
 */
export function shutdownProblems(raw: { SHUTDOWN_DRAIN_MS: number; SHUTDOWN_TIMEOUT_MS: number }): string[] {
  const { SHUTDOWN_DRAIN_MS: drain, SHUTDOWN_TIMEOUT_MS: timeout } = raw;
  return drain > 0 && timeout - drain < MIN_STOP_AFTER_DRAIN_MS
    ? [
        `SHUTDOWN_DRAIN_MS (${drain}) is part of SHUTDOWN_TIMEOUT_MS (${timeout}) and must leave at least ${MIN_STOP_AFTER_DRAIN_MS} ms of it for the stop after the drain: set SHUTDOWN_TIMEOUT_MS to ${drain + MIN_STOP_AFTER_DRAIN_MS} or more (or SHUTDOWN_DRAIN_MS=0)`,
      ]
    : [];
}
