import { documented } from './documented.js';
import { intRange } from './validators.js';

/** The verifier's cache, the change feed that keeps it honest, and the coalesced last-used writes. */
export const CACHE_AND_FEED_SETTINGS = {
  CACHE_MAX_KEYS: documented(
    intRange(1, 100_000_000)({ default: 1_000_000, desc: 'most keys the verifier keeps in memory (LRU)' }),
    '`1000000`',
  ),
  CACHE_NEGATIVE_TTL_MS: documented(
    intRange(0, 3_600_000)({ default: 5000, desc: 'how long an unknown (well-formed) key is remembered as unknown' }),
    '`5000`',
  ),
  CHANGE_FEED_POLL_MS: documented(
    intRange(
      10,
      60_000,
    )({
      default: 100,
      desc: 'how often each process reads `key_changes` (bounds the cross-replica revocation delay)',
    }),
    '`100`',
  ),
  CHANGE_FEED_GAP_TIMEOUT_MS: documented(
    intRange(
      100,
      3_600_000,
    )({ default: 10_000, desc: 'how long a missing change id is waited for (a transaction committing late)' }),
    '`10000`',
  ),
  CHANGE_FEED_RETENTION_HOURS: documented(
    intRange(1, 8760)({ default: 24, desc: 'how long `key_changes` rows are kept' }),
    '`24`',
  ),
  STALENESS_BOUND_MS: documented(
    intRange(
      20,
      3_600_000,
    )({
      default: 30_000,
      desc: 'how long cached keys are served while the change feed is unreadable; then verification fails closed',
    }),
    '`30000`',
  ),
  LAST_USED_FLUSH_MS: documented(
    intRange(10, 3_600_000)({ default: 5000, desc: 'how often coalesced last-used data is written' }),
    '`5000`',
  ),
};

/** The cross-field rule of this section: the staleness bound must outlast two polls. */
export function cacheAndFeedProblems(raw: { STALENESS_BOUND_MS: number; CHANGE_FEED_POLL_MS: number }): string[] {
  return raw.STALENESS_BOUND_MS < 2 * raw.CHANGE_FEED_POLL_MS
    ? [
        `STALENESS_BOUND_MS (${raw.STALENESS_BOUND_MS}) must be at least twice CHANGE_FEED_POLL_MS (${raw.CHANGE_FEED_POLL_MS})`,
      ]
    : [];
}
