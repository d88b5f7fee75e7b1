import type { Propagation } from '../../gen/apikeys/v1/api_keys.js';

/**
 * One line saying how far a write had reached the service's replicas when it returned, or null when the
 * service did not wait (PROPAGATION_WAIT_MS=0, or a server without acknowledged propagation).
 */
export function formatPropagation(propagation: Propagation | undefined): string | null {
  if (propagation === undefined) return null;
  const { confirmedReplicas: confirmed, liveReplicas: live, waitMs } = propagation;
  const plural = live === 1 ? 'replica' : 'replicas';
  if (propagation.complete) return `propagated to ${confirmed}/${live} ${plural} in ${waitMs} ms`;
  const missing = propagation.unconfirmedReplicaIds;
  if (missing.length === 0) {
    return `propagation unknown: the replicas' progress could not be read within ${waitMs} ms (only the replica that answered confirmed)`;
  }
  const who = `${missing.length === 1 ? 'replica' : 'replicas'} ${missing.join(', ')}`;
  return `NOT confirmed by ${who} within ${waitMs} ms (${confirmed}/${live} ${plural} confirmed; the change is committed and reaches them when they next read the change feed)`;
}
