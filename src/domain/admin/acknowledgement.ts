import type { Propagation } from '../Propagation.js';
import type { TransactionOptions } from '../KeyRepository.js';
import type { ApiKeyRecord } from '../types.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** A key as a write left it, and how far the write had reached the replicas when the call returned. */
export interface AcknowledgedKey {
  readonly key: ApiKeyRecord;
  /** Null when the service does not wait (PROPAGATION_WAIT_MS = 0). */
  readonly propagation: Propagation | null;
}

/**
 * The feed position of a use case's last committed change, collected from its transactions: pass
 * `options` to each, then `awaitPropagation` waits for `last`.
 */
export interface CommittedPosition {
  readonly options: TransactionOptions;
  /** The position of the last change committed so far; undefined while none was. */
  readonly last: number | undefined;
}

/** A fresh collector of committed positions, for one call of a use case. */
export function committedPosition(): CommittedPosition {
  let last: number | undefined;
  return {
    options: { onCommitted: (position) => (last = Math.max(last ?? 0, position)) },
    get last() {
      return last;
    },
  };
}

/** Kept back from the caller's deadline for the answer's way back. */
const ANSWER_MARGIN_MS = 100;

/**
 * After a write committed and this process dropped what it changed: waits until every live replica has
 * applied it, up to the configured bound. A call that changed nothing (revoking a revoked key) waits for
 * the newest change instead, so repeating a call whose propagation was incomplete confirms the first.
 * A call nobody waits for any more (`context.signal` aborted) stops waiting, and the wait ends
 * ANSWER_MARGIN_MS before the caller's deadline.
 */
export function awaitPropagation(
  deps: Pick<KeyAdministrationDependencies, 'propagation'>,
  committed: CommittedPosition,
  context: UseCaseContext,
): Promise<Propagation | null> {
  if (deps.propagation === undefined) return Promise.resolve(null);
  const remaining = context.remainingMs?.() ?? Number.POSITIVE_INFINITY;
  return deps.propagation.waitFor(committed.last, context.signal, remaining - ANSWER_MARGIN_MS);
}
