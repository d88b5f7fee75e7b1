import { expect, vi } from 'vitest';

import type { TestServer } from './startTestServer.js';

/**
 * Waits until the change feed has applied every committed change and vouches for the cache again.
 * A test that counts queries or cache hits must not have the feed apply a change in the middle.
 */
export async function settleFeed(server: TestServer): Promise<void> {
  const row = await server.app
    .db('key_feed_head')
    .where('id', 1)
    .first<{ position: number | string } | undefined>('position');
  const head = Number(row?.position ?? 0);
  await vi.waitFor(
    () => {
      expect(server.app.feed.stats.position).toBeGreaterThanOrEqual(head);
      expect(server.app.feed.isFresh()).toBe(true);
    },
    { timeout: 10_000, interval: 10 },
  );
}
