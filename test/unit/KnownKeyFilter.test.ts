import { createHash, randomBytes } from 'node:crypto';

import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';

import { FALSE_POSITIVE_RATE, KnownKeyFilter } from '../../src/domain/KnownKeyFilter.js';
import { Gate } from '../helpers/Gate.js';

const digest = (label: string): string => createHash('sha256').update(label).digest('hex');

/** The secret-hash index: sorted hashes, read page by page; a page can be held or fail. */
class FakeHashIndex extends Gate {
  readonly hashes: Buffer[] = [];
  pages = 0;
  failNext = false;

  insert(label: string): string {
    const hex = digest(label);
    this.hashes.push(Buffer.from(hex, 'hex'));
    this.hashes.sort((x, y) => Buffer.compare(x, y));
    return hex;
  }

  async listSecretHashes(after: Buffer | null, limit: number): Promise<Buffer[]> {
    this.pages++;
    await this.pass();
    if (this.failNext) {
      this.failNext = false;
      throw new Error('database unreachable');
    }
    return this.hashes.filter((hash) => after === null || Buffer.compare(hash, after) > 0).slice(0, limit);
  }
}

function filterOver(index: FakeHashIndex, minCapacity = 1000): KnownKeyFilter {
  return new KnownKeyFilter({ repository: index, logger: pino({ level: 'silent' }), minCapacity, pageSize: 3 });
}

describe('KnownKeyFilter', () => {
  it('decides nothing until its scan completes, then knows every stored key and almost no other', async () => {
    const index = new FakeHashIndex();
    const stored = Array.from({ length: 10 }, (_, i) => index.insert(`k${i}`));
    const filter = filterOver(index);
    index.hold();
    await filter.start();
    expect(filter.complete).toBe(false);
    expect(filter.mayExist(digest('nobody'))).toBe(true);
    index.release();
    await vi.waitFor(() => expect(filter.complete).toBe(true));
    for (const hex of stored) expect(filter.mayExist(hex)).toBe(true);
    const strangers = Array.from({ length: 10_000 }, () => randomBytes(32).toString('hex'));
    const falsePositives = strangers.filter((hex) => filter.mayExist(hex)).length;
    expect(falsePositives).toBeLessThanOrEqual(10_000 * FALSE_POSITIVE_RATE * 10);
    expect(filter.stats).toMatchObject({ keys: 10, capacity: 1000, loads: 1 });
    await filter.stop();
  });

  it('keeps a key added while the scan runs, even one the scan had already passed', async () => {
    const index = new FakeHashIndex();
    for (let i = 0; i < 9; i++) index.insert(`k${i}`);
    const filter = filterOver(index);
    index.hold();
    await filter.start();
    // Committed during the scan and reported by the feed, but sorting before the scan's position.
    const late = '00'.repeat(32);
    index.release();
    filter.add(late, true);
    await vi.waitFor(() => expect(filter.complete).toBe(true));
    expect(filter.mayExist(late)).toBe(true);
    await filter.stop();
  });

  it('stops deciding when the feed loses track of changes, until a scan that started afterwards completes', async () => {
    const index = new FakeHashIndex();
    index.insert('k0');
    const filter = filterOver(index);
    await filter.start();
    await vi.waitFor(() => expect(filter.complete).toBe(true));
    index.hold();
    filter.invalidate();
    // A key the feed never reported (its rows were pruned before this process read them).
    const missed = index.insert('missed');
    expect(filter.complete).toBe(false);
    expect(filter.mayExist(missed)).toBe(true);
    filter.invalidate(); // a second loss during the rescan: that scan may have missed keys too
    index.release();
    await vi.waitFor(() => expect(filter.stats.loads).toBe(2));
    expect(filter.complete).toBe(true);
    expect(filter.mayExist(missed)).toBe(true);
    await filter.stop();
  });

  it('retries a failed scan, and rebuilds twice as large once more keys exist than it was sized for', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const index = new FakeHashIndex();
      index.insert('k0');
      const filter = filterOver(index, 4);
      index.failNext = true;
      await filter.start();
      await vi.waitFor(() => expect(filter.stats.loadErrors).toBe(1));
      expect(filter.complete).toBe(false);
      await vi.advanceTimersByTimeAsync(5_000);
      await vi.waitFor(() => expect(filter.complete).toBe(true));
      for (let i = 1; i <= 4; i++) filter.add(index.insert(`k${i}`), true);
      await vi.waitFor(() => expect(filter.stats.loads).toBe(2));
      expect(filter.stats).toMatchObject({ keys: 5, capacity: 10 });
      await filter.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
