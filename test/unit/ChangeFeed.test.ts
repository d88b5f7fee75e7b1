import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { ChangeFeed } from '../../src/domain/ChangeFeed.js';
import type { KeyChange } from '../../src/domain/KeyRepository.js';

/** A change table whose rows become visible in an order the test decides (like commits). */
class FakeFeedTable {
  readonly visible = new Map<number, KeyChange>();
  failing = false;
  queries: { afterId: number; missing: number[] }[] = [];

  commit(id: number): void {
    this.visible.set(id, { id, keyId: `key${id}`, secretHash: Buffer.from([id]), changeTime: 0 });
  }

  readChanges(afterId: number, missingIds: readonly number[], limit: number): Promise<KeyChange[]> {
    this.queries.push({ afterId, missing: [...missingIds] });
    if (this.failing) return Promise.reject(new Error('database unreachable'));
    const rows = [...this.visible.values()]
      .filter((row) => row.id > afterId || missingIds.includes(row.id))
      .sort((a, b) => a.id - b.id)
      .slice(0, limit);
    return Promise.resolve(rows);
  }

  latestChangeId(): Promise<number> {
    return Promise.resolve(Math.max(0, ...this.visible.keys()));
  }
}

function feedOver(table: FakeFeedTable, options: { gapTimeoutMs?: number; stalenessBoundMs?: number } = {}) {
  let now = 1_000_000;
  const applied: string[] = [];
  const events: string[] = [];
  const feed = new ChangeFeed({
    repository: table,
    clock: { now: () => now },
    logger: pino({ level: 'silent' }),
    onChanges: (hashes) => applied.push(...hashes),
    onStale: () => events.push('stale'),
    onFresh: () => events.push('fresh'),
    pollIntervalMs: 1_000_000,
    stalenessBoundMs: options.stalenessBoundMs ?? 30_000,
    gapTimeoutMs: options.gapTimeoutMs ?? 10_000,
    batchSize: 100,
  });
  return { feed, applied, events, advance: (ms: number) => (now += ms) };
}

const hex = (id: number): string => Buffer.from([id]).toString('hex');

describe('ChangeFeed applies every committed change exactly once', () => {
  it('applies a change whose id committed after a higher id (out-of-order commit)', async () => {
    const table = new FakeFeedTable();
    const { feed, applied } = feedOver(table);
    await feed.start();
    table.commit(2); // id 1 is assigned but its transaction has not committed yet
    await feed.pollOnce();
    expect(applied).toEqual([hex(2)]);
    expect(feed.stats.openGaps).toBe(1);
    table.commit(1);
    await feed.pollOnce();
    expect(applied).toEqual([hex(2), hex(1)]);
    expect(feed.stats.openGaps).toBe(0);
    await feed.pollOnce();
    expect(applied).toHaveLength(2);
  });

  it('asks for missing ids explicitly instead of re-reading everything above them', async () => {
    const table = new FakeFeedTable();
    const { feed } = feedOver(table);
    await feed.start();
    table.commit(1);
    table.commit(3);
    await feed.pollOnce();
    await feed.pollOnce();
    expect(table.queries.at(-1)).toEqual({ afterId: 3, missing: [2] });
  });

  it('stops waiting for a gap after the gap timeout (a rolled-back insert never commits)', async () => {
    const table = new FakeFeedTable();
    const { feed, advance } = feedOver(table, { gapTimeoutMs: 5000 });
    await feed.start();
    table.commit(2);
    await feed.pollOnce();
    expect(feed.stats.openGaps).toBe(1);
    advance(5000);
    await feed.pollOnce();
    expect(feed.stats.openGaps).toBe(0);
    expect(table.queries.at(-1)?.missing).toEqual([1]);
    await feed.pollOnce();
    expect(table.queries.at(-1)?.missing).toEqual([]);
  });

  it('starts after the newest existing change', async () => {
    const table = new FakeFeedTable();
    table.commit(1);
    table.commit(2);
    const { feed, applied } = feedOver(table);
    await feed.start();
    await feed.pollOnce();
    expect(applied).toEqual([]);
  });
});

describe('ChangeFeed fails closed when it cannot read', () => {
  it('stays fresh within the staleness bound, then reports stale, then fresh again on recovery', async () => {
    const table = new FakeFeedTable();
    const { feed, events, advance, applied } = feedOver(table, { stalenessBoundMs: 30_000 });
    await feed.start();
    table.failing = true;
    advance(10_000);
    await feed.pollOnce();
    expect(feed.isFresh()).toBe(true);
    expect(events).toEqual([]);
    advance(20_001);
    expect(feed.isFresh()).toBe(false);
    await feed.pollOnce();
    expect(events).toEqual(['stale']);
    table.failing = false;
    table.commit(1);
    await feed.pollOnce();
    expect(events).toEqual(['stale', 'fresh']);
    expect(feed.isFresh()).toBe(true);
    expect(applied).toEqual([hex(1)]);
  });
});
