import { expect, it, vi } from 'vitest';

import { DenialReason } from '../../gen/apikeys/v1/api_keys.js';
import { hashSecret } from '../../src/domain/keyFormat.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

/**
 * A database that lost its last transactions (a failover to a replica that had not received them, a
 * restore from a backup) hands out positions this replica already passed: without noticing, the replica
 * would never read the changes written there.
 */
describeEachDatabase('change feed after the database lost transactions', (kind) => {
  const server = useTestServer(kind, { CHANGE_FEED_POLL_MS: '20' });

  it('notices its last applied row is gone, drops its cache and applies changes written at reused positions', async () => {
    const actor = actorOf(newOrganizationId('rewind'), 'alice');
    const kept = await createTestKey(server, actor, { name: 'kept' });
    const lost = await createTestKey(server, actor, { name: 'lost' });
    await settleFeed(server);
    const verify = (secret: string) =>
      server.clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] });
    expect((await verify(kept.secret)).valid).toBe(true); // cached
    const db = server.app.db;
    const head = Number(
      (await db('key_feed_head').where('id', 1).first<{ position: number | string }>('position')).position,
    );

    // The "restore": the last transaction (creating `lost`) never happened; then, on the restored database,
    // another replica revokes `kept`, and its change takes the position the lost one had.
    await db.transaction(async (trx) => {
      await trx('key_feed').where('position', head).delete();
      await trx('api_keys').where('id', lost.key.id).delete();
      const now = Date.now();
      await trx('api_keys').where('id', kept.key.id).update({ revoke_time: now, update_time: now, version: 2 });
      await trx('key_feed').where('position', head).delete();
      await trx('key_feed').insert({
        position: head,
        key_id: kept.key.id,
        secret_hash: hashSecret(kept.secret),
        key_version: 2,
        change_time: now,
      });
    });

    await vi.waitFor(
      async () => expect((await verify(kept.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED),
      { timeout: 5000, interval: 20 },
    );
    expect(server.app.feed.stats.rewinds).toBe(1);
  });
});
