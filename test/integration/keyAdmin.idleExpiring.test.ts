import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { type Actor, KeyOwnerFilter, KeyState, ListKeysRequest } from '../../gen/apikeys/v1/api_keys.js';
import { timestampFromMs } from '../../src/transport/convert.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describeEachDatabase('ListKeys: idle keys (unused_since) and expiring keys (expire_before)', (kind) => {
  const server = useTestServer(kind);
  const admin = (): Actor => actorOf(newOrganizationId('idle'), 'alice');
  const names = async (request: Partial<ListKeysRequest>) =>
    (
      await server.clients.admin.listKeys(
        ListKeysRequest.fromPartial({ owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION, ...request }),
      )
    ).keys
      .map((key) => key.name)
      .sort();
  const use = async (key: TestKey) => {
    expect((await server.clients.verifier.verifyKey({ key: key.secret, clientIp: '', requiredScopes: [] })).valid).toBe(
      true,
    );
    await server.app.lastUsed.flush();
  };

  describe('unused_since', () => {
    it('lists keys last used before the time and keys never used, not keys used since', async () => {
      const actor = admin();
      const never = await createTestKey(server, actor, { name: 'never used' });
      const old = await createTestKey(server, actor, { name: 'used long ago' });
      const recent = await createTestKey(server, actor, { name: 'used recently' });
      await use(old);
      server.clock.advance(30 * DAY);
      const cutoff = server.clock.now();
      server.clock.advance(HOUR);
      await use(recent);
      expect(await names({ actor, unusedSince: timestampFromMs(cutoff) })).toEqual(['never used', 'used long ago']);
      // Combined with a state filter: idle keys that still work.
      await server.clients.admin.revokeKey({ actor, keyId: never.key.id, reason: '' });
      expect(await names({ actor, unusedSince: timestampFromMs(cutoff), states: [KeyState.KEY_STATE_ACTIVE] })).toEqual(
        ['used long ago'],
      );
    });
  });

  describe('expire_before', () => {
    it('lists keys expiring before the time (expired ones too unless the state filter says active)', async () => {
      const actor = admin();
      await createTestKey(server, actor, { name: 'one hour', expiresInHours: 1 });
      await createTestKey(server, actor, { name: 'one week', expiresInHours: 168 });
      await createTestKey(server, actor, { name: 'one year', expiresInHours: 8760 });
      const inTwoWeeks = timestampFromMs(server.clock.now() + 14 * DAY);
      expect(await names({ actor, expireBefore: inTwoWeeks })).toEqual(['one hour', 'one week']);
      server.clock.advance(2 * HOUR);
      expect(await names({ actor, expireBefore: inTwoWeeks, states: [KeyState.KEY_STATE_ACTIVE] })).toEqual([
        'one week',
      ]);
    });

    it('combines with unused_since and pages through every match exactly once', async () => {
      const actor = admin();
      for (let i = 0; i < 5; i++) await createTestKey(server, actor, { name: `soon ${i}`, expiresInHours: 24 });
      await createTestKey(server, actor, { name: 'late', expiresInHours: 8760 });
      const used = await createTestKey(server, actor, { name: 'soon but used', expiresInHours: 24 });
      await use(used);
      const filters = {
        actor,
        unusedSince: timestampFromMs(server.clock.now() - HOUR),
        expireBefore: timestampFromMs(server.clock.now() + 2 * DAY),
      };
      const seen: string[] = [];
      let pageToken = '';
      do {
        const page = await server.clients.admin.listKeys(
          ListKeysRequest.fromPartial({ ...filters, pageSize: 2, pageToken }),
        );
        seen.push(...page.keys.map((key) => key.name));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      expect(seen.sort()).toEqual(['soon 0', 'soon 1', 'soon 2', 'soon 3', 'soon 4']);
    });
  });

  it('refuses a page token reused with other time filters', async () => {
    const actor = admin();
    await createTestKey(server, actor);
    await createTestKey(server, actor);
    const expireBefore = timestampFromMs(server.clock.now() + 400 * DAY);
    const first = await server.clients.admin.listKeys(
      ListKeysRequest.fromPartial({ actor, expireBefore, pageSize: 1 }),
    );
    for (const changed of [
      { expireBefore: timestampFromMs(server.clock.now() + 300 * DAY) },
      { expireBefore, unusedSince: timestampFromMs(server.clock.now()) },
      {},
    ]) {
      const error = await grpcError(
        server.clients.admin.listKeys(
          ListKeysRequest.fromPartial({ actor, ...changed, pageSize: 1, pageToken: first.nextPageToken }),
        ),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^page_token is invalid/);
    }
  });

  it('refuses an invalid timestamp', async () => {
    const error = await grpcError(
      server.clients.admin.listKeys(
        ListKeysRequest.fromPartial({ actor: admin(), unusedSince: { seconds: 0, nanos: -1 } }),
      ),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe('unused_since is not a valid timestamp');
  });
});
