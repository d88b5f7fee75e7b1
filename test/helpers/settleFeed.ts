import { expect, vi } from 'vitest';

import type { TestServer } from './startTestServer.js';

/**
 * Waits until the change feed has applied every committed change and vouches for the cache again.
 * Creating a key appends to the feed, and applying it drops that key from the cache; a test that counts
 * queries or cache hits must not have that happen in the middle.
 */
export async function settleFeed(server: TestServer): Promise<void> {
  const row = (await server.app.db('key_changes').max({ id: 'id' }).first()) as
    { id: number | string | null } | undefined;
  const head = Number(row?.id ?? 0);
  await vi.waitFor(
    () => {
      expect(server.app.feed.stats.highestSeen).toBeGreaterThanOrEqual(head);
      expect(server.app.feed.isFresh()).toBe(true);
    },
    { timeout: 10_000, interval: 10 },
  );
}
