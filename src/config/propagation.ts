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

/**
 * The cross-field rules of this section: a live replica must heartbeat within the timeout, and a replica
 * that is no longer waited for must have stopped serving its cache by then (its heartbeat and its feed
 * read the same database, so once the one stops the other has failed too, for at most the staleness bound).
 */
export function propagationProblems(raw: {
  REPLICA_HEARTBEAT_MS: number;
  REPLICA_TIMEOUT_MS: number;
  STALENESS_BOUND_MS: number;
}): string[] {
  const problems: string[] = [];
  if (raw.REPLICA_HEARTBEAT_MS >= raw.REPLICA_TIMEOUT_MS) {
    problems.push(
      `REPLICA_HEARTBEAT_MS (${raw.REPLICA_HEARTBEAT_MS}) must be less than REPLICA_TIMEOUT_MS (${raw.REPLICA_TIMEOUT_MS})`,
    );
  }
  const needed = raw.STALENESS_BOUND_MS + raw.REPLICA_HEARTBEAT_MS;
  if (raw.REPLICA_TIMEOUT_MS < needed) {
    problems.push(
      `REPLICA_TIMEOUT_MS (${raw.REPLICA_TIMEOUT_MS}) must be at least STALENESS_BOUND_MS + REPLICA_HEARTBEAT_MS (${needed}), so that a replica no longer waited for has stopped serving its cache; raise REPLICA_TIMEOUT_MS or lower STALENESS_BOUND_MS`,
    );
  }
  return problems;
}
