import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';

import { ChangeFeed } from '../../src/domain/ChangeFeed.js';
import type { KeyChange } from '../../src/domain/KeyRepository.js';
import { livenessCheck } from '../../src/metrics/livenessCheck.js';

function check(feedSettledAt: number, poolStalledForMs = 0) {
  return livenessCheck({
    feedSettledAt: () => feedSettledAt,
    feedBoundMs: 1000,
    poolStalledForMs: () => poolStalledForMs,
    poolBoundMs: 5000,
  });
}

/** A feed over a repository whose reads do what `read` does, polling every 10 ms. */
function feedReading(read: () => Promise<KeyChange[]>, pollTimeoutMs = 1000): ChangeFeed {
  return new ChangeFeed({
    repository: { readChanges: read, latestChangePosition: () => Promise.resolve(0) },
    monotonic: { now: () => performance.now() },
    logger: pino({ level: 'silent' }),
    onChanges: () => undefined,
    onGap: () => undefined,
    onStale: () => undefined,
    onFresh: () => undefined,
    pollIntervalMs: 10,
    stalenessBoundMs: 30_000,
    pollTimeoutMs,
    batchSize: 100,
  });
}

describe('liveness: live while the process makes progress', () => {
  it('is live while the feed has not started, and while its last poll ended within the bound', () => {
    expect(check(0)(50_000)).toBeNull();
    expect(check(10_000)(11_000)).toBeNull();
  });

  it('is live while the pool has been stalled no longer than its bound', () => {
    expect(check(10_000, 5000)(10_500)).toBeNull();
  });

  it('stays live while every poll fails at once (a database that is down is for /readyz)', async () => {
    const feed = feedReading(() => Promise.reject(new Error('connect ECONNREFUSED')));
    const live = livenessCheck({
      feedSettledAt: () => feed.stats.lastSettledAt,
      feedBoundMs: 100,
      poolStalledForMs: () => 0,
      poolBoundMs: 5000,
    });
    await feed.start();
    const verdicts: (string | null)[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      verdicts.push(live());
    }
    await feed.stop();
    expect(feed.stats.pollErrors).toBeGreaterThan(2);
    expect(verdicts).toEqual(Array.from({ length: 10 }, () => null));
  });
});

describe('liveness: not live when a loop of the process is stuck', () => {
  it('names a change feed whose poll has not ended for longer than the bound', () => {
    expect(check(10_000)(11_001)).toBe('the change feed has not finished a poll for 1001 ms (bound 1000 ms)');
  });

  it('names a pool stalled for longer than its bound', () => {
    expect(check(10_000, 5001)(10_500)).toBe(
      'every database connection has been in use, with callers waiting and none served, for 5001 ms (bound 5000 ms)',
    );
  });

  it('reports a real feed whose poll never returns (its own poll timeout out of the way)', async () => {
    const feed = feedReading(() => new Promise<KeyChange[]>(() => undefined), 1_000_000_000);
    const live = livenessCheck({
      feedSettledAt: () => feed.stats.lastSettledAt,
      feedBoundMs: 100,
      poolStalledForMs: () => 0,
      poolBoundMs: 5000,
    });
    await feed.start();
    expect(feed.stats.lastSettledAt).toBeGreaterThan(0);
    await vi.waitFor(() => expect(live()).toMatch(/^the change feed has not finished a poll for \d+ ms/), {
      timeout: 5000,
      interval: 20,
    });
    expect(feed.stats.polls).toBe(1);
  });

  it('reports a feed whose query never returns although each poll gives up on it at the poll timeout', async () => {
    // As in production: the poll timeout (DATABASE_TIMEOUT_MS) is shorter than the liveness bound, so every
    // poll ends on time (abandoned, or refused while the abandoned query is still out) without progress.
    const feed = feedReading(() => new Promise<KeyChange[]>(() => undefined), 20);
    const live = livenessCheck({
      feedSettledAt: () => feed.stats.lastSettledAt,
      feedBoundMs: 200,
      poolStalledForMs: () => 0,
      poolBoundMs: 5000,
    });
    await feed.start();
    await vi.waitFor(() => expect(live()).toMatch(/^the change feed has not finished a poll for \d+ ms/), {
      timeout: 5000,
      interval: 20,
    });
    expect(feed.stats.pollTimeouts).toBe(1);
    expect(feed.stats.pollErrors).toBeGreaterThan(3);
    await feed.stop();
  });
});
