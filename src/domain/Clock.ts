/** Source of the current time in epoch milliseconds; injected so tests can move time. */
export interface Clock {
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * Milliseconds since an arbitrary origin that never steps back or jumps with the wall clock
 * (`performance.now()`): every age, timeout and bound is measured with it, so a clock step (NTP, an
 * operator, a VM restore) can neither extend nor shorten one. Same shape as lru-cache's `perf` option.
 */
export interface MonotonicClock {
  now(): number;
}

/** The process's monotonic clock. */
export const monotonicClock: MonotonicClock = { now: () => performance.now() };
