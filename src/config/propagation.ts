import { documented } from './documented.js';
import { intRange } from './validators.js';

/** Acknowledged propagation: how long writes wait for the replicas, and how replicas show they are live. */
export const PROPAGATION_SETTINGS = {
  PROPAGATION_WAIT_MS: documented(
    intRange(
      0,
      60_000,
    )({
      default: 1000,
      desc: 'how long RevokeKey, UpdateKey, RotateKey and RevokeUserKeys wait until every live replica has applied them (their responses say which did); 0 = do not wait',
    }),
    '`1000`',
  ),
  REPLICA_HEARTBEAT_MS: documented(
    intRange(
      50,
      600_000,
    )({
      default: 1000,
      desc: 'how often each replica records in `feed_replicas` that it is live and how far it has applied the change feed (also at once whenever its feed advances)',
    }),
    '`1000`',
  ),
  REPLICA_TIMEOUT_MS: documented(
    intRange(
      100,
      3_600_000,
    )({
      default: 5000,
      desc: "a replica whose last heartbeat is older than this (by the database's clock) is no longer waited for",
    }),
    '`5000`',
  ),
};

/** The cross-field rule of this section: a live replica must heartbeat within the timeout. */
export function propagationProblems(raw: { REPLICA_HEARTBEAT_MS: number; REPLICA_TIMEOUT_MS: number }): string[] {
  return raw.REPLICA_HEARTBEAT_MS >= raw.REPLICA_TIMEOUT_MS
    ? [
        `REPLICA_HEARTBEAT_MS (${raw.REPLICA_HEARTBEAT_MS}) must be less than REPLICA_TIMEOUT_MS (${raw.REPLICA_TIMEOUT_MS})`,
      ]
    : [];
}
