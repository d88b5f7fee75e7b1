/** The most kept back from in-flight calls, for what stops after them. */
const MAX_RESERVE_MS = 2000;

/** How a stop begins: how much of the budget goes to the drain period. */
export interface StopOptions {
  /**
   * SHUTDOWN_DRAIN_MS (0 when skipped): health says NOT_SERVING but new connections and calls are still
   * accepted, so callers that have not noticed yet are answered. Capped at the whole budget.
   */
  readonly drainMs?: number;
  /** Monotonic ms (performance.now()) the stop begins (tests pin it). */
  readonly now?: number;
}

/**
 * How a graceful stop shares SHUTDOWN_TIMEOUT_MS, the one rule every component follows. First the drain
 * period (SHUTDOWN_DRAIN_MS): NOT_SERVING, still accepting. Then the stop proper, the rest of the budget:
 * no new connections; in-flight calls may use all of it except a reserve of min(2 s, ¼ of it), kept for
 * what must happen after them (the final last-used flush, closing the pool); everything that waits on I/O
 * ends by the end of the budget, finished or not.
 */
export class StopDeadline {
  private constructor(
    /** The whole budget, for log lines. */
    readonly timeoutMs: number,
    /** The drain period this stop began with (0: none). */
    readonly drainMs: number,
    /** Monotonic ms by which the whole stop ends. */
    readonly endsAt: number,
    /** Monotonic ms until which new connections and calls are still accepted (the drain period). */
    readonly drainEndsAt: number,
    /** Monotonic ms by which in-flight calls are cancelled. */
    readonly callsEndAt: number,
  ) {}

  /**
   * A budget of `timeoutMs` starting now, on the monotonic clock: neither a test's movable clock nor a step
   * of the system clock can shorten or extend it.
   */
  static after(timeoutMs: number, options: StopOptions = {}): StopDeadline {
    const now = options.now ?? performance.now();
    const drainMs = Math.min(Math.max(0, options.drainMs ?? 0), timeoutMs);
    const reserve = Math.min(MAX_RESERVE_MS, Math.floor((timeoutMs - drainMs) / 4));
    return new StopDeadline(timeoutMs, drainMs, now + timeoutMs, now + drainMs, now + timeoutMs - reserve);
  }

  /** Milliseconds left of the whole budget. */
  remainingMs(): number {
    return Math.max(0, this.endsAt - performance.now());
  }

  /** Milliseconds left of the drain period: until then new connections are still accepted. */
  drainRemainingMs(): number {
    return Math.max(0, this.drainEndsAt - performance.now());
  }

  /** Milliseconds in-flight calls may still take. */
  callsRemainingMs(): number {
    return Math.max(0, this.callsEndAt - performance.now());
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
