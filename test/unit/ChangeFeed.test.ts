import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { ChangeFeed } from '../../src/domain/ChangeFeed.js';
import type { KeyChange } from '../../src/domain/KeyRepository.js';

/** A feed table: rows appear as the test commits them; a read can fail or hang until released. */
class FakeFeedTable {
  readonly rows = new Map<number, KeyChange>();
  head = 0;
  failing = false;
  hanging: (() => void) | undefined;
  reads = 0;
  /** Positions the next read does not show although they are committed (a torn read view, see below). */
  hiddenOnce = new Set<number>();

  commit(count = 1): void {
    for (let i = 0; i < count; i++) {
      this.head += 1;
      this.rows.set(this.head, change(this.head));
    }
  }

  prune(upTo: number): void {
    for (const position of [...this.rows.keys()]) if (position <= upTo) this.rows.delete(position);
  }

  readChanges(afterPosition: number, limit: number): Promise<KeyChange[]> {
    this.reads++;
    if (this.failing) return Promise.reject(new Error('database unreachable'));
    const hidden = this.hiddenOnce;
    this.hiddenOnce = new Set();
    const rows = [...this.rows.values()]
      .filter((row) => row.position > afterPosition && !hidden.has(row.position))
      .slice(0, limit);
    if (this.hanging === undefined && this.hangNext) {
      this.hangNext = false;
      return new Promise((resolve) => (this.hanging = () => resolve(rows)));
    }
    return Promise.resolve(rows);
  }

  hangNext = false;

  latestChangePosition(): Promise<number> {
    return Promise.resolve(this.head);
  }
}

function change(position: number): KeyChange {
  return { position, keyId: `key${position}`, secretHash: Buffer.from([position]), keyVersion: 1, changeTime: 0 };
}

function feedOver(table: FakeFeedTable, options: { stalenessBoundMs?: number; batchSize?: number } = {}) {
  let now = 1_000;
  const applied: number[] = [];
  const events: string[] = [];
  const reported: number[] = [];
  const feed = new ChangeFeed({
    repository: table,
    monotonic: { now: () => now },
    logger: pino({ level: 'silent' }),
    onChanges: (changes) => applied.push(...changes.map((row) => row.position)),
    onGap: () => events.push('gap'),
    onStale: () => events.push('stale'),
    onFresh: () => events.push('fresh'),
    onApplied: (position) => reported.push(position),
    pollIntervalMs: 1_000_000,
    stalenessBoundMs: options.stalenessBoundMs ?? 1000,
    pollTimeoutMs: 50,
    batchSize: options.batchSize ?? 100,
  });
  return { feed, applied, events, reported, advance: (ms: number) => (now += ms) };
}

describe('ChangeFeed applies every committed change once, in feed order', () => {
  it('starts after the newest change and applies what commits later', async () => {
    const table = new FakeFeedTable();
    table.commit(2);
    const { feed, applied } = feedOver(table);
    await feed.start();
    await feed.pollOnce();
    expect(applied).toEqual([]);
    table.commit(2);
    await feed.pollOnce();
    expect(applied).toEqual([3, 4]);
    expect(feed.stats.position).toBe(4);
    await feed.pollOnce();
    expect(applied).toEqual([3, 4]);
    await feed.stop();
  });

  it('reports the position after each poll that moved it, once its changes were applied', async () => {
    const table = new FakeFeedTable();
    const { feed, applied, reported } = feedOver(table, { batchSize: 2 });
    await feed.start();
    table.commit(3);
    await feed.pollOnce();
    expect(reported).toEqual([2]);
    await feed.pollOnce();
    await feed.pollOnce(); // nothing new: nothing to report
    table.failing = true;
    await feed.pollOnce();
    expect(reported).toEqual([2, 3]);
    expect(applied).toEqual([1, 2, 3]);
  });

  it('reads a backlog in batches and vouches for the cache only once it has read to the end', async () => {
    const table = new FakeFeedTable();
    const { feed, applied, advance } = feedOver(table, { batchSize: 2 });
    await feed.start();
    table.commit(5);
    advance(2000); // past the staleness bound: only a poll that reaches the end makes it fresh again
    expect(feed.isFresh()).toBe(false);
    expect(await feed.pollOnce()).toBe(true);
    expect(feed.isFresh()).toBe(false);
    expect(await feed.pollOnce()).toBe(true);
    expect(feed.isFresh()).toBe(false);
    expect(await feed.pollOnce()).toBe(false);
    expect(feed.isFresh()).toBe(true);
    expect(applied).toEqual([1, 2, 3, 4, 5]);
    await feed.stop();
  });

  it('drops the whole cache when rows it had not read were pruned (a gap), then goes on', async () => {
    const table = new FakeFeedTable();
    const { feed, applied, events } = feedOver(table);
    await feed.start();
    table.commit(4);
    table.prune(2);
    await feed.pollOnce();
    expect(events).toEqual(['gap']);
    expect(applied).toEqual([3, 4]);
    expect(feed.stats).toMatchObject({ gaps: 1, position: 4 });
    table.commit(1);
    await feed.pollOnce();
    expect(events).toEqual(['gap']);
    await feed.stop();
  });

  it('applies a change a read view missed below a later one (MariaDB builds read views without stopping commits), without dropping the cache', async () => {
    // MariaDB's read view copies the set of active transactions with a lock-free walk: it can pass T1 while
    // T1 is active, then find T2 (which took the next position after T1 committed) already committed, so a
    // read shows position 2 without position 1. The next read, sent after that one answered, shows both.
    const table = new FakeFeedTable();
    const { feed, applied, events } = feedOver(table);
    await feed.start();
    table.commit(3);
    table.hiddenOnce = new Set([1]);
    await feed.pollOnce();
    expect(applied).toEqual([1, 2, 3]);
    expect(events).toEqual([]);
    expect(feed.stats).toMatchObject({ gaps: 0, position: 3 });
    await feed.stop();
  });
});

describe('ChangeFeed notices a database that lost rows it had applied (failover, restore)', () => {
  /** The database after a failover to a replica that had not received the last `lost` transactions. */
  function failOver(table: FakeFeedTable, lost: number): void {
    for (let i = 0; i < lost; i++) table.rows.delete(table.head - i);
    table.head -= lost;
  }

  it('starts over from the head, dropping every cached key, when new rows reuse positions it passed', async () => {
    const table = new FakeFeedTable();
    const { feed, applied, events } = feedOver(table);
    await feed.start();
    table.commit(3);
    await feed.pollOnce();
    expect(applied).toEqual([1, 2, 3]);
    failOver(table, 2);
    table.commit(3); // positions 2 and 3 again, for other changes, then 4
    for (const position of [2, 3]) table.rows.set(position, { ...change(position), keyId: 'other', keyVersion: 7 });
    await feed.pollOnce();
    expect(events).toEqual(['gap']);
    expect(feed.stats).toMatchObject({ rewinds: 1, position: 4 });
    table.commit(1);
    await feed.pollOnce();
    expect(applied).toEqual([1, 2, 3, 5]);
    expect(feed.stats.rewinds).toBe(1);
    await feed.stop();
  });

  it('notices at once when the head went back and nothing new was written yet', async () => {
    const table = new FakeFeedTable();
    table.commit(5);
    const { feed, events } = feedOver(table);
    await feed.start(); // anchored at the newest row, 5
    failOver(table, 1);
    await feed.pollOnce();
    expect(events).toEqual(['gap']);
    expect(feed.stats).toMatchObject({ rewinds: 1, position: 4 });
    await feed.stop();
  });
});

describe('ChangeFeed fails closed when it cannot read', () => {
  it('stays fresh within the staleness bound, then reports stale, then fresh again once caught up', async () => {
    const table = new FakeFeedTable();
    const { feed, applied, events, advance } = feedOver(table);
    await feed.start();
    table.failing = true;
    advance(500);
    await feed.pollOnce();
    expect(feed.isFresh()).toBe(true);
    expect(events).toEqual([]);
    advance(600);
    expect(feed.isFresh()).toBe(false); // at once, not only at the next failed poll
    await feed.pollOnce();
    expect(events).toEqual(['stale']);
    table.failing = false;
    table.commit(1);
    await feed.pollOnce();
    expect(applied).toEqual([1]);
    expect(events).toEqual(['stale', 'fresh']);
    expect(feed.isFresh()).toBe(true);
    await feed.stop();
  });

  it('measures freshness from when a poll was sent, so a slow answer does not count as recent', async () => {
    const table = new FakeFeedTable();
    const { feed, advance } = feedOver(table);
    await feed.start();
    advance(900);
    table.hangNext = true;
    const poll = feed.pollOnce();
    advance(900); // the poll answers 900 ms after it was sent, 1800 ms after the last vouching poll
    table.hanging?.();
    await poll;
    expect(feed.isFresh()).toBe(true);
    advance(150); // 1050 ms after the answered poll was SENT: beyond the bound although it answered 150 ms ago
    expect(feed.isFresh()).toBe(false);
    await feed.stop();
  });

  it('gives up on a poll that hangs and sends no second query until the first one settles', async () => {
    const table = new FakeFeedTable();
    const { feed, events, advance } = feedOver(table);
    await feed.start();
    table.hangNext = true;
    await expect(feed.pollOnce()).resolves.toBe(false); // abandoned after pollTimeoutMs (real 50 ms)
    expect(feed.stats.pollTimeouts).toBe(1);
    const readsWhileHung = table.reads;
    advance(2000);
    await feed.pollOnce();
    expect(table.reads).toBe(readsWhileHung);
    expect(events).toEqual(['stale']);
    table.hanging?.();
    await new Promise((resolve) => setImmediate(resolve));
    table.hanging = undefined;
    await feed.pollOnce();
    expect(table.reads).toBe(readsWhileHung + 1);
    expect(events).toEqual(['stale', 'fresh']);
    expect(feed.stats.lastSettledAt).toBeGreaterThan(0);
    await feed.stop();
  });
});

describe('ChangeFeed.nextCompleteRead: "every change visible now is applied"', () => {
  const settled = async (promise: Promise<void>): Promise<boolean> => {
    let done = false;
    void promise.then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    return done;
  };

  it('resolves after the next poll that reads to the end, not after one sent before the call', async () => {
    const table = new FakeFeedTable();
    const { feed } = feedOver(table, { batchSize: 2 });
    await feed.start();
    table.hangNext = true;
    const inFlight = feed.pollOnce(); // sent before the call: it cannot vouch for what commits next
    const read = feed.nextCompleteRead();
    table.commit(3);
    table.hanging?.();
    await inFlight;
    expect(await settled(read)).toBe(false);
    expect(await feed.pollOnce()).toBe(true); // a full batch: more rows wait
    expect(await settled(read)).toBe(false);
    await feed.pollOnce();
    expect(await settled(read)).toBe(true);
    expect(feed.stats.position).toBe(3);
  });

  it('hands callers on to the next poll when a read fails, and answers them when the feed turns stale', async () => {
    const table = new FakeFeedTable();
    const { feed, advance } = feedOver(table, { stalenessBoundMs: 1000 });
    await feed.start();
    const read = feed.nextCompleteRead();
    table.failing = true;
    await feed.pollOnce();
    expect(await settled(read)).toBe(false);
    const later = feed.nextCompleteRead();
    advance(2000);
    await feed.pollOnce();
    expect(await settled(read)).toBe(true);
    expect(await settled(later)).toBe(true);
    expect(feed.isFresh()).toBe(false);
  });

  it('shares one promise among the callers of one poll, and answers them all on stop', async () => {
    const table = new FakeFeedTable();
    const { feed } = feedOver(table);
    await feed.start();
    const first = feed.nextCompleteRead();
    expect(feed.nextCompleteRead()).toBe(first);
    await feed.stop();
    expect(await settled(first)).toBe(true);
  });
});
