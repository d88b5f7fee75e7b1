import type { Knex } from 'knex';

/** The parts of knex's tarn pool the watch reads. */
interface TarnPool {
  readonly max: number;
  numUsed(): number;
  numPendingAcquires(): number;
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

  /** Milliseconds the pool has been stalled as of `now`; 0 when it is not. Call it when asked (a probe). */
  stalledForMs(now: number = performance.now()): number {
    const pool = this.pool();
    if (pool === undefined || pool.numUsed() < pool.max || pool.numPendingAcquires() === 0) {
      this.stalledSince = null;
      return 0;
    }
    this.stalledSince ??= now;
    return now - this.stalledSince;
  }

  private pool(): TarnPool | undefined {
    return (this.db.client as { pool?: TarnPool }).pool;
  }
}
