/**
 * How far a KeyAdmin write had reached the service's replicas when its response was sent.
 *
 * A replica is one serving process (each worker with WORKERS > 1). It has "applied" a write once its
 * change feed passed the write's position, so its cache no longer holds what the write changed; the
 * replica that made the write counts as confirmed at once (it dropped those keys before answering).
 */
export interface Propagation {
  /** Live replicas that had applied the write, the one that made it included. */
  readonly confirmedReplicas: number;
  /** Replicas whose heartbeat was recent enough to be waited for, the one that made the write included. */
  readonly liveReplicas: number;
  /** Live replicas that had not applied the write when the wait ended, sorted. */
  readonly unconfirmedReplicaIds: readonly string[];
  /** How long the write waited after it committed, in ms. */
  readonly waitedMs: number;
  /**
   * Every live replica confirmed. False also when the replicas' progress could not be read within the
   * wait: nothing is then known of the other replicas, and only this one is counted.
   */
  readonly complete: boolean;
}

/** Waits until the live replicas have applied a write, up to a bound; never fails (the write is committed). */
export interface PropagationWaiter {
  /**
   * Resolves once every live replica has applied every change up to `position` (a feed position), or
   * when the wait bound passes, saying which did not. Without `position`: up to the newest change when
   * the wait starts, for a call that changed nothing but may repeat an earlier, unconfirmed one. An abort
   * of `signal` (nobody waits for the call's answer any more) ends the wait at once; `maxWaitMs`
   * shortens the bound (the caller's deadline is nearer than it).
   */
  waitFor(position?: number, signal?: AbortSignal, maxWaitMs?: number): Promise<Propagation>;
}
