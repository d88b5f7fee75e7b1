/** How far one replica has applied the change feed, as it last reported. */
export interface ReplicaProgress {
  readonly replicaId: string;
  readonly appliedPosition: number;
}

/** What the live replicas have applied, read in one query. */
export interface ReplicaSnapshot {
  /** The feed position of the newest committed change. */
  readonly head: number;
  /** Every replica whose heartbeat is within the timeout (judged in the database's clock). */
  readonly replicas: readonly ReplicaProgress[];
}

/**
 * The table where every replica records how far it has applied the change feed, with a heartbeat: the
 * database is the one place all replicas meet, so no replica needs to know of another. Times are the
 * database's own clock, so no machine's clock skew decides whether a replica is live. Implemented in
 * `storage/`.
 */
export interface ReplicaRegistry {
  /** Inserts (or replaces) this replica's row: position applied, heartbeat and start time now. */
  register(replicaId: string, appliedPosition: number): Promise<void>;
  /**
   * Records the position applied and a heartbeat now; re-inserts the row when it is gone (removed as
   * dead while this process was paused or cut off).
   */
  report(replicaId: string, appliedPosition: number): Promise<void>;
  /** Deletes this replica's row (a graceful stop: it no longer serves, so nobody waits for it). */
  deregister(replicaId: string): Promise<void>;
  /** The feed head and the replicas whose heartbeat is at most `timeoutMs` old. */
  snapshot(timeoutMs: number): Promise<ReplicaSnapshot>;
  /** Deletes rows whose heartbeat is older than `olderThanMs` (replicas that died without stopping). */
  removeDead(olderThanMs: number): Promise<number>;
}
