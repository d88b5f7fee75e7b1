import type { Knex } from 'knex';

/** The parts of knex's tarn pool the watch reads. */
interface TarnPool {
  readonly max: number;
  numUsed(): number;
  on(event: 'acquireRequest' | 'acquireSuccess', listener: () => void): void;
}

/**
 * Tells how long the pool has been stalled: every connection in use, callers waiting, and not one of them
 * handed a connection since. A busy pool hands connections out all the time and is not stalled; one whose
 * connections all hang (a statement that never returns) stays stalled until the process is restarted, or
 * here, until the statement deadline drops them. Time is performance.now(): monotonic.
 */
export class PoolStallWatch {
  private stalledSince: number | null = null;

  constructor(private readonly db: Knex) {
    const pool = this.pool();
    // A caller that starts waiting with every connection in use starts the clock; any hand-out stops it.
    pool?.on('acquireRequest', () => {
      if (pool.numUsed() >= pool.max) this.stalledSince ??= performance.now();
    });
    pool?.on('acquireSuccess', () => (this.stalledSince = null));
  }

  /**
   * Milliseconds the pool has been stalled as of `now`: since a caller found every connection in use,
   * with none handed out since and none free now. 0 when it is not stalled. A caller that gave up waiting
   * (DATABASE_TIMEOUT_MS) does not end the stall: the next one finds the same connections in use.
   */
  stalledForMs(now: number = performance.now()): number {
    const pool = this.pool();
    if (pool === undefined || pool.numUsed() < pool.max) this.stalledSince = null;
    return this.stalledSince === null ? 0 : now - this.stalledSince;
  }

  private pool(): TarnPool | undefined {
    return (this.db.client as { pool?: TarnPool }).pool;
  }
}
