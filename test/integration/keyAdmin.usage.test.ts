import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { DenialReason, type GetKeyUsageResponse, Role, type Actor } from '../../gen/apikeys/v1/api_keys.js';
import { formatUtcDay, utcDayOf } from '../../src/domain/utcDay.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createAuthorizationClient, envoyCheckRequest } from '../helpers/envoyCheck.js';
import { grpcError } from '../helpers/grpcClients.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

// Every flush is called by the test: nothing is written behind its back.
const NO_TIMER = { LAST_USED_FLUSH_MS: '3600000' };

const admin = () => actorOf(newOrganizationId('usage'), 'alice', Role.ROLE_ADMIN);

/** The day of the server's clock, as GetKeyUsage writes it. */
const today = (server: TestServer) => formatUtcDay(utcDayOf(server.clock.now()));

describeEachDatabase('GetKeyUsage', (kind) => {
  const server = useTestServer(kind, NO_TIMER);

  const verify = (created: TestKey, requiredScopes: string[] = [], clientIp = '203.0.113.7') =>
    server.clients.verifier.verifyKey({ key: created.secret, clientIp, requiredScopes });
  const usageOf = (actor: Actor, keyId: string, startDay = '', endDay = ''): Promise<GetKeyUsageResponse> =>
    server.clients.admin.getKeyUsage({ actor, keyId, startDay, endDay });
  const lastDayOf = async (actor: Actor, created: TestKey) => {
    const usage = await usageOf(actor, created.key.id);
    return usage.days.at(-1);
  };

  describe('counts every decision about an identified key, by UTC day and reason', () => {
    it('successes, missing scopes and refused IPs of one key', async () => {
      const actor = admin();
      const created = await createTestKey(server, actor, { allowedIps: ['203.0.113.0/24'] });
      for (let i = 0; i < 3; i++) expect((await verify(created, ['tickets:read'])).valid).toBe(true);
      await verify(created, ['tickets:write']);
      await verify(created, ['tickets:write', 'tickets:read']);
      await verify(created, [], '198.51.100.1');
      // Nothing is written per request: the counts appear with the flush.
      expect((await lastDayOf(actor, created))?.verified).toBe(0);
      await server.app.lastUsed.flush();
      expect(await lastDayOf(actor, created)).toEqual({
        day: today(server),
        verified: 3,
        denied: 3,
        denials: [
          { reason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED, count: 1 },
          { reason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE, count: 2 },
        ],
      });
    });

    it('denials of revoked and suspended keys', async () => {
      const actor = admin();
      const revoked = await createTestKey(server, actor);
      const suspended = await createTestKey(server, actor);
      await server.clients.admin.revokeKey({ actor, keyId: revoked.key.id, reason: 'test' });
      await server.clients.admin.updateKey({
        actor,
        keyId: suspended.key.id,
        name: '',
        scopes: [],
        allowedIps: [],
        expiresInHours: 0,
        metadata: {},
        enabled: false,
        updateMask: ['enabled'],
      });
      await verify(revoked);
      await verify(revoked);
      await verify(suspended);
      await server.app.lastUsed.flush();
      expect((await lastDayOf(actor, revoked))?.denials).toEqual([
        { reason: DenialReason.DENIAL_REASON_REVOKED, count: 2 },
      ]);
      expect(await lastDayOf(actor, suspended)).toMatchObject({
        verified: 0,
        denied: 1,
        denials: [{ reason: DenialReason.DENIAL_REASON_DISABLED, count: 1 }],
      });
    });

    it("Envoy's Check, which shares the decision path", async () => {
      const envoy = createAuthorizationClient(server.address);
      try {
        const actor = admin();
        const created = await createTestKey(server, actor);
        const headers = { authorization: `Bearer ${created.secret}` };
        await envoy.check(envoyCheckRequest({ headers, contextExtensions: { required_scopes: 'tickets:read' } }));
        await envoy.check(envoyCheckRequest({ headers, contextExtensions: { required_scopes: 'tickets:write' } }));
        await server.app.lastUsed.flush();
        expect(await lastDayOf(actor, created)).toMatchObject({
          verified: 1,
          denials: [{ reason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE, count: 1 }],
        });
      } finally {
        envoy.close();
      }
    });

    it('not malformed or unknown keys, which name no key', async () => {
      const before = server.app.lastUsed.usageStats.counted;
      await server.clients.verifier.verifyKey({ key: 'not a key', clientIp: '', requiredScopes: [] });
      const created = await createTestKey(server, admin());
      const unknown = created.secret.slice(0, -8) + 'AAAAAAAA';
      await server.clients.verifier.verifyKey({ key: unknown, clientIp: '', requiredScopes: [] });
      expect(server.app.lastUsed.usageStats.counted).toBe(before);
    });

    it('expired keys, on the day of the decision', async () => {
      const actor = admin();
      const created = await createTestKey(server, actor, { expiresInHours: 1 });
      server.clock.advance(2 * 3_600_000);
      await verify(created);
      await server.app.lastUsed.flush();
      const usage = await usageOf(actor, created.key.id, '', today(server));
      expect(usage.days.at(-1)?.denials).toEqual([{ reason: DenialReason.DENIAL_REASON_EXPIRED, count: 1 }]);
    });
  });

  describe('returns daily buckets', () => {
    it('the last 30 days ending today by default, oldest first, zero days included', async () => {
      const actor = admin();
      const created = await createTestKey(server, actor);
      const usage = await usageOf(actor, created.key.id);
      expect(usage.keyId).toBe(created.key.id);
      expect(usage.days).toHaveLength(30);
      expect(usage.endDay).toBe(today(server));
      expect(usage.startDay).toBe(formatUtcDay(utcDayOf(server.clock.now()) - 29));
      expect(usage.days[0]).toEqual({ day: usage.startDay, verified: 0, denied: 0, denials: [] });
      expect(usage.days.map((day) => day.day)).toEqual(
        Array.from({ length: 30 }, (_, i) => formatUtcDay(utcDayOf(server.clock.now()) - 29 + i)),
      );
    });

    it('exactly the days asked for, one day or 366, reading stored rows on their days', async () => {
      const actor = admin();
      const created = await createTestKey(server, actor);
      await server.app
        .db('key_usage')
        .insert({ key_id: created.key.id, day: utcDayOf(Date.UTC(2026, 1, 28)), verified: 5 });
      const one = await usageOf(actor, created.key.id, '2026-02-28', '2026-02-28');
      expect(one.days).toEqual([{ day: '2026-02-28', verified: 5, denied: 0, denials: [] }]);
      const year = await usageOf(actor, created.key.id, '2025-12-01', '2026-12-01');
      expect(year.days).toHaveLength(366);
      expect(year.days.filter((day) => day.verified > 0).map((day) => day.day)).toEqual(['2026-02-28']);
    });
  });

  describe('is organization-scoped', () => {
    it("answers NOT_FOUND for another organization's key, as for a key that does not exist", async () => {
      const created = await createTestKey(server, admin());
      const stranger = admin();
      const foreign = await grpcError(usageOf(stranger, created.key.id));
      const missing = await grpcError(usageOf(stranger, 'key_missing'));
      expect(foreign.code).toBe(status.NOT_FOUND);
      expect(missing.code).toBe(status.NOT_FOUND);
      expect(foreign.details).toBe(`API key "${created.key.id}" not found in your organization`);
    });

    it('lets a Read-Only Admin read it, and refuses a Member', async () => {
      const actor = admin();
      const created = await createTestKey(server, actor);
      const readOnly = actorOf(actor.organizationId, 'ro', Role.ROLE_READ_ONLY_ADMIN);
      expect((await usageOf(readOnly, created.key.id)).days).toHaveLength(30);
      const member = await grpcError(usageOf(actorOf(actor.organizationId, 'm', Role.ROLE_MEMBER), created.key.id));
      expect(member.code).toBe(status.PERMISSION_DENIED);
    });
  });

  describe('refuses bad input with INVALID_ARGUMENT', () => {
    const cases: [string, { keyId?: string; startDay?: string; endDay?: string }, string][] = [
      [
        'a reversed range',
        { startDay: '2026-12-02', endDay: '2026-12-01' },
        'start_day (2026-12-02) must not be after end_day (2026-12-01)',
      ],
      [
        'a range of 367 days',
        { startDay: '2025-12-01', endDay: '2026-12-02' },
        'a usage range covers at most 366 days, got 367',
      ],
      [
        'a date that does not exist',
        { startDay: '2026-02-30' },
        'start_day must be a UTC date written YYYY-MM-DD (e.g. 2026-12-03), got "2026-02-30"',
      ],
      [
        'another date format',
        { endDay: '03/12/2026' },
        'end_day must be a UTC date written YYYY-MM-DD (e.g. 2026-12-03), got "03/12/2026"',
      ],
      [
        'a timestamp',
        { endDay: '2026-12-03T00:00:00Z' },
        'end_day must be a UTC date written YYYY-MM-DD (e.g. 2026-12-03), got "2026-12-03T00:00:00Z"',
      ],
      ['no key id', { keyId: '' }, 'key_id is required'],
      [
        'a key id with a space',
        { keyId: 'key 1' },
        'key_id must be 1–64 characters of letters, digits, ".", "_" or "-"',
      ],
    ];
    for (const [name, input, message] of cases) {
      it(name, async () => {
        const error = await grpcError(
          usageOf(admin(), input.keyId ?? 'key_any', input.startDay ?? '', input.endDay ?? ''),
        );
        expect([error.code, error.details]).toEqual([status.INVALID_ARGUMENT, message]);
      });
    }
  });
});

describeEachDatabase('usage history across replicas', (kind) => {
  const first = useTestServer(kind, NO_TIMER);
  let second: TestServer;
  beforeAll(async () => {
    second = await startTestServer(kind, { ...NO_TIMER, DATABASE_URL: first.databaseUrl });
  });
  afterAll(async () => {
    await second.stop();
  });

  it('adds up the counts of two replicas exactly, whatever order and overlap their flushes have', async () => {
    const actor = admin();
    const created = await createTestKey(first, actor, { scopes: ['tickets:read'] });
    const verifyOn = (server: TestServer, scopes: string[]) =>
      server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: scopes });
    // The second replica learns the key from the change feed; until then it is unknown there (not counted).
    await settleFeed(second);
    let expected = 0;
    for (let round = 0; round < 5; round++) {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) calls.push(verifyOn(first, ['tickets:read']), verifyOn(second, ['tickets:read']));
      calls.push(verifyOn(second, ['tickets:write']));
      await Promise.all(calls);
      expected += 40;
      // On MariaDB both replicas flush at the same time: their upserts of the same row must add, not
      // overwrite. Two pools on one SQLite file in one process would wait for each other's file lock
      // with the event loop blocked (busy_timeout), so there they take turns, as two processes would.
      if (kind === 'mysql') await Promise.all([first.app.lastUsed.flush(), second.app.lastUsed.flush()]);
      else for (const server of [second, first]) await server.app.lastUsed.flush();
    }
    const day = (
      await first.clients.admin.getKeyUsage({ actor, keyId: created.key.id, startDay: '', endDay: '' })
    ).days.at(-1);
    expect(day).toMatchObject({
      verified: expected,
      denied: 5,
      denials: [{ reason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE, count: 5 }],
    });
    expect(first.app.lastUsed.usageStats.dropped + second.app.lastUsed.usageStats.dropped).toBe(0);
  });

  it('deletes days older than USAGE_RETENTION_DAYS, keeping the newer ones', async () => {
    const actor = admin();
    const created = await createTestKey(first, actor);
    const todayNumber = utcDayOf(Date.now());
    await first.app.db('key_usage').insert([
      { key_id: created.key.id, day: todayNumber - 11, verified: 1 },
      { key_id: created.key.id, day: todayNumber - 10, verified: 2 },
      { key_id: created.key.id, day: todayNumber - 9, verified: 3 },
    ]);
    // A replica with a 10-day retention prunes when it starts: days before today − 10 go.
    const pruning = await startTestServer(kind, {
      ...NO_TIMER,
      DATABASE_URL: first.databaseUrl,
      USAGE_RETENTION_DAYS: '10',
    });
    try {
      await vi.waitFor(
        async () => {
          const days = (await first.app.db('key_usage').where('key_id', created.key.id).orderBy('day')) as {
            day: number | string;
          }[];
          expect(days.map((row) => Number(row.day))).toEqual([todayNumber - 10, todayNumber - 9]);
        },
        { timeout: 5000 },
      );
    } finally {
      await pruning.stop();
    }
    const usage = await first.clients.admin.getKeyUsage({
      actor,
      keyId: created.key.id,
      startDay: formatUtcDay(todayNumber - 11),
      endDay: formatUtcDay(todayNumber - 9),
    });
    expect(usage.days.map((day) => day.verified)).toEqual([0, 2, 3]);
  });
});
