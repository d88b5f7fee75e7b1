/** The most kept back from draining in-flight calls, for what stops after them. */
const MAX_RESERVE_MS = 2000;

/**
 * How a graceful stop shares SHUTDOWN_TIMEOUT_MS, the one rule every component follows: in-flight calls
 * may use the whole budget except a reserve of min(2 s, ¼ of it), kept for what must happen after them
 * (the final last-used flush, closing the pool); everything that waits on I/O ends by the end of the
 * budget, finished or not.
 */
export class StopDeadline {
  private constructor(
    /** The whole budget, for log lines. */
    readonly timeoutMs: number,
    /** Epoch ms by which the whole stop ends. */
    readonly endsAt: number,
    /** Epoch ms by which in-flight calls are cancelled. */
    readonly drainEndsAt: number,
  ) {}

  /** A budget of `timeoutMs` starting now. Wall-clock time: a test's movable clock must not shorten it. */
  static after(timeoutMs: number, now: number = Date.now()): StopDeadline {
    const reserve = Math.min(MAX_RESERVE_MS, Math.floor(timeoutMs / 4));
    return new StopDeadline(timeoutMs, now + timeoutMs, now + timeoutMs - reserve);
  }

  /** Milliseconds left of the whole budget. */
  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Milliseconds in-flight calls may still take. */
  drainRemainingMs(): number {
    return Math.max(0, this.drainEndsAt - Date.now());
  }

  /**
   * Whether `work` settles (either way) before the budget ends. It is not cancelled: a slow or unreachable
   * database must not hold the exit past SHUTDOWN_TIMEOUT_MS, whatever it is still doing.
   */
  async bound(work: Promise<unknown>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.remainingMs())));
    try {
      return await Promise.race([
        work.then(
          () => true,
          () => true,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
