/** What /healthz looks at: whether the process's own loops still make progress. */
export interface LivenessSources {
  /**
   * performance.now() when the database last answered a change-feed query, rows or error (ChangeFeedStats
   * .lastSettledAt); 0 while the feed has not started.
   */
  readonly feedSettledAt: () => number;
  /**
   * Longest a poll may take before the feed counts as stuck: a poll interval, a wait for a connection
   * and two statement deadlines, all bounded (DATABASE_TIMEOUT_MS, DATABASE_QUERY_TIMEOUT_MS).
   */
  readonly feedBoundMs: number;
  /** How long the database pool has been stalled (see PoolStallWatch); 0 when it is not. */
  readonly poolStalledForMs: () => number;
  /** LIVENESS_POOL_EXHAUSTED_MS. */
  readonly poolBoundMs: number;
}

/**
 * Liveness, for `/healthz`: null while the process makes progress, else why it does not, in a sentence an
 * operator can act on. Only what a restart can cure counts: a feed poll that never ends, a pool whose
 * every connection hangs. A database that is down or refusing is not one (polls fail fast, calls fail
 * with UNAVAILABLE, a restart would find it down as well): `/readyz` reports that. Time is monotonic.
 */
export function livenessCheck(sources: LivenessSources): (now?: number) => string | null {
  return (now = performance.now()) => {
    const settledAt = sources.feedSettledAt();
    if (settledAt !== 0 && now - settledAt > sources.feedBoundMs) {
      return `the change feed has not finished a poll for ${Math.round(now - settledAt)} ms (bound ${sources.feedBoundMs} ms)`;
    }
    const stalledMs = sources.poolStalledForMs();
    if (stalledMs > sources.poolBoundMs) {
      return `every database connection has been in use, with callers waiting and none served, for ${Math.round(stalledMs)} ms (bound ${sources.poolBoundMs} ms)`;
    }
    return null;
  };
}
