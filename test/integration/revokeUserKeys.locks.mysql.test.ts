import knex, { type Knex } from 'knex';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createKeyAdministration, type KeyAdministration } from '../../src/domain/admin/createKeyAdministration.js';
import { REVOKE_BATCH_SIZE } from '../../src/domain/admin/revokeUserKeys.js';
import { systemClock } from '../../src/domain/Clock.js';
import { setTo, UNCHANGED } from '../../src/domain/FieldUpdate.js';
import type { KeyRepository } from '../../src/domain/KeyRepository.js';
import { PageTokens } from '../../src/domain/pageToken.js';
import { ScopeCatalog } from '../../src/domain/ScopeCatalog.js';
import type { Actor } from '../../src/domain/types.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../../src/storage/KnexKeyRepository.js';
import { toKeyRow } from '../../src/storage/rows.js';
import { Gate } from '../helpers/Gate.js';
import { insertSequenceKeys } from '../helpers/insertSequenceKeys.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';
import { ORG_A, ORG_B, userKeysTable } from '../helpers/userKeysTable.js';
import { holdTransaction } from '../storage/holdTransaction.js';
import { keyRecord } from '../storage/storageFixtures.js';

const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;
const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';

/**
 * The lock wait allowed to the writes under test, in seconds (the least MariaDB accepts): a write that
 * needs a row the revocation locked fails with ER_LOCK_WAIT_TIMEOUT after it instead of waiting 50 s.
 */
const LOCK_WAIT_TIMEOUT_S = 1;

function admin(organizationId: string, userId: string): Actor {
  return { organizationId, userId, role: 'admin', caller: 'backend-test' };
}

/** A test's database: the service's pool, and a pool whose sessions give up on a lock wait at once. */
interface Databases {
  readonly service: Knex;
  readonly impatient: Knex;
  close(): Promise<void>;
}

async function openDatabases(): Promise<Databases> {
  const database: TestDatabase = await createTestDatabase('mysql');
  const target = parseDatabaseUrl(database.url);
  const service = createDatabase(target, { poolMax: 4, acquireTimeoutMs: 5000 });
  await migrateDatabase(service);
  if (target.kind !== 'mysql') throw new Error('expected a MySQL database');
  const { host, port, user, password, database: name } = target;
  const impatient = knex({
    client: 'mysql2',
    // As createDatabase connects, plus a session lock wait timeout on every connection.
    connection: { host, port, user, password, database: name, charset: 'utf8mb4', supportBigNumbers: true },
    pool: {
      min: 0,
      max: 8,
      afterCreate: (
        connection: { query(sql: string, callback: (error: Error | null) => void): void },
        done: (error: Error | null, connection: unknown) => void,
      ) =>
        connection.query(`SET SESSION innodb_lock_wait_timeout = ${LOCK_WAIT_TIMEOUT_S}`, (error) =>
          done(error, connection),
        ),
    },
  });
  return {
    service,
    impatient,
    close: async () => {
      await Promise.all([service.destroy(), impatient.destroy()]);
      await database.drop();
    },
  };
}

function administration(repository: KeyRepository): KeyAdministration {
  return createKeyAdministration({
    repository,
    scopes: ScopeCatalog.default(),
    clock: systemClock,
    defaultLifetimeHours: 720,
    pageTokens: new PageTokens(() => Buffer.alloc(32, 7)),
  });
}

/**
 * `repository`, except that every transaction stops after its audit events (for RevokeUserKeys: the batch
 * is locked, updated and audited; only the feed rows and the commit are left) until `gate` opens.
 */
function pausedAfterAudit(repository: KeyRepository, gate: Gate, reached: () => void): KeyRepository {
  const paused = Object.create(repository) as KeyRepository;
  paused.transaction = (work, options) =>
    repository.transaction(
      (tx) =>
        work({
          ...tx,
          insertAuditEvents: async (events) => {
            await tx.insertAuditEvents(events);
            reached();
            await gate.pass();
          },
        }),
      options,
    );
  return paused;
}

/** Waits for every named call; each comes back as "ok" or why it failed (code, message, the driver's cause). */
async function settleAll(calls: Record<string, Promise<unknown>>): Promise<Record<string, string>> {
  const names = Object.keys(calls);
  const settled = await Promise.allSettled(Object.values(calls));
  return Object.fromEntries(
    settled.map((result, index) => {
      const name = names[index] ?? String(index);
      if (result.status === 'fulfilled') return [name, 'ok'];
      const error = result.reason as { code?: string; message?: string; cause?: { message?: string } };
      return [name, `${error.code ?? ''} ${error.message ?? ''} (${error.cause?.message ?? 'no cause'})`];
    }),
  );
}

describeMysql(`RevokeUserKeys on MariaDB [mysql]${skipped}`, () => {
  describe.each([
    { table: 'a table of 10 keys, 6 of them the user’s', extra: 0 },
    { table: 'a table of 100,010 keys', extra: 100_000 },
  ])('on $table', ({ extra }) => {
    let databases: Databases;
    const now = Date.now();
    const keys = userKeysTable(now);
    const keyOf = (organizationId: string, userId: string) =>
      keys.find((key) => key.organizationId === organizationId && key.createdByUserId === userId)!;
    // A database per test: each starts from the table as described, whatever the other tests changed.
    beforeEach(async () => {
      databases = await openDatabases();
      await databases.service('api_keys').insert(keys.map(toKeyRow));
      if (extra > 0) {
        await insertSequenceKeys(databases.service, {
          count: extra,
          organizationPrefix: 'org-seq-',
          perOrganization: 100,
          users: 5,
          createTime: now - 7 * 86_400_000,
        });
      }
      // Statistics as a table in service has them; the optimiser's choice follows from them.
      await databases.service.raw('ANALYZE TABLE api_keys');
      const count = (await databases.service('api_keys').count({ n: '*' }).first()) as { n: number | string };
      expect(Number(count.n)).toBe(keys.length + extra);
    });
    afterEach(async () => {
      await databases.close();
    });

    it('lets other organizations’ and other users’ writes through at once while a batch holds its locks', async () => {
      const gate = new Gate();
      gate.hold();
      let reached = (): void => undefined;
      const locked = new Promise<void>((resolve) => (reached = resolve));
      const revoker = administration(pausedAfterAudit(new KnexKeyRepository(databases.service), gate, reached));
      let revokeSettled = false;
      const revoking = revoker.revokeUserKeys(admin(ORG_A, 'erin'), 'bob', 'left the company').finally(() => {
        revokeSettled = true;
      });
      // bob's keys are locked, updated and audited; the transaction is open (or it failed: say so at once)
      await Promise.race([locked, revoking.then(() => Promise.reject(new Error('the batch did not pause')))]);

      const others = administration(new KnexKeyRepository(databases.impatient));
      const input = { name: 'new key', scopes: ['tickets:read'], allowedIps: [] };
      const rename = {
        name: setTo('renamed'),
        scopes: UNCHANGED,
        allowedIps: UNCHANGED,
        expiresInHours: UNCHANGED,
        enabled: UNCHANGED,
        metadata: UNCHANGED,
      };
      let writes: Record<string, string>;
      let revokeStillOpen: boolean;
      try {
        writes = await settleAll({
          'CreateKey, org-b, dave': others.createKey(admin(ORG_B, 'dave'), input),
          'CreateKey, org-b, bob': others.createKey(admin(ORG_B, 'bob'), input),
          'CreateKey, org-a, alice': others.createKey(admin(ORG_A, 'alice'), input),
          'CreateKey, org-a, carol': others.createKey(admin(ORG_A, 'carol'), input),
          "UpdateKey of alice's key": others.updateKey(admin(ORG_A, 'alice'), {
            keyId: keyOf(ORG_A, 'alice').id,
            edits: () => rename,
          }),
          "RevokeKey of carol's key": others.revokeKey(admin(ORG_A, 'alice'), keyOf(ORG_A, 'carol').id, 'rotated'),
          "RevokeKey of org-b bob's key": others.revokeKey(admin(ORG_B, 'dave'), keyOf(ORG_B, 'bob').id, 'rotated'),
        });
        revokeStillOpen = !revokeSettled;
      } finally {
        gate.release(); // a failed write must not leave the batch (and its locks) open
      }
      expect(writes).toEqual(Object.fromEntries(Object.keys(writes).map((name) => [name, 'ok'])));
      expect(revokeStillOpen).toBe(true); // all of that happened while the batch held its locks

      const revoked = await revoking;
      const bobs = keys.filter((key) => key.organizationId === ORG_A && key.createdByUserId === 'bob');
      expect(revoked.keys.map((key) => key.id).sort()).toEqual(bobs.map((key) => key.id).sort());
      const stored = await databases
        .service('api_keys')
        .whereIn(
          'id',
          keys.map((key) => key.id),
        )
        .select<{ id: string; name: string; revoked_by_user_id: string | null }[]>('id', 'name', 'revoked_by_user_id');
      const byId = new Map(stored.map((row) => [row.id, row]));
      for (const key of bobs) expect(byId.get(key.id)?.revoked_by_user_id).toBe('erin');
      expect(byId.get(keyOf(ORG_A, 'alice').id)).toMatchObject({ name: 'renamed', revoked_by_user_id: null });
      expect(byId.get(keyOf(ORG_A, 'carol').id)?.revoked_by_user_id).toBe('alice');
      expect(byId.get(keyOf(ORG_B, 'bob').id)?.revoked_by_user_id).toBe('dave');
      expect(byId.get(keyOf(ORG_B, 'dave').id)?.revoked_by_user_id).toBeNull();
    });

    it('does not wait for other users’ keys that other transactions hold locked', async () => {
      // Another replica is in the middle of changing the keys of everyone but bob, in both organizations.
      const others = keys.filter((key) => key.createdByUserId !== 'bob' || key.organizationId !== ORG_A);
      const held = await holdTransaction(new KnexKeyRepository(databases.service), async (tx) => {
        for (const key of others) await tx.lockKey(key.organizationId, key.id);
      });
      let outcome: Record<string, string>;
      try {
        const revoker = administration(new KnexKeyRepository(databases.impatient));
        outcome = await settleAll({
          'RevokeUserKeys of bob': revoker.revokeUserKeys(admin(ORG_A, 'erin'), 'bob', 'left the company'),
        });
      } finally {
        await held.commit(); // before afterEach closes the pools, which waits for connections in use
      }
      expect(outcome).toEqual({ 'RevokeUserKeys of bob': 'ok' });
      const active = (await databases
        .service('api_keys')
        .where({ organization_id: ORG_A, created_by_user_id: 'bob' })
        .whereNull('revoke_time')
        .count({ n: '*' })
        .first()) as { n: number | string };
      expect(Number(active.n)).toBe(0);
    });
  });

  describe('with 1,200 keys to revoke', () => {
    let databases: Databases;
    const now = Date.now();
    beforeAll(async () => {
      databases = await openDatabases();
    });
    afterAll(async () => {
      await databases.close();
    });

    it('revokes them in 3 batches of the same few statements, every key revoked and audited', async () => {
      const organizationId = 'org-c';
      const bobs = Array.from({ length: 1200 }, (_, i) =>
        keyRecord(`key_bob_${String(i).padStart(4, '0')}`, {
          organizationId,
          createdByUserId: 'bob',
          createTime: now - 3_600_000 + i,
          updateTime: now - 3_600_000 + i,
          expireTime: now + 86_400_000,
        }),
      );
      const alices = [0, 1].map((i) =>
        keyRecord(`key_alice_${i}`, { organizationId, createTime: now - 1000, expireTime: now + 86_400_000 }),
      );
      await databases.service('api_keys').insert([...bobs, ...alices].map(toKeyRow));

      const statements = new Map<string, { sql: string; bindings: readonly unknown[] }[]>();
      const record = (query: { __knexTxId?: string; sql: string; bindings?: unknown[] }): void => {
        if (query.__knexTxId === undefined) return;
        const list = statements.get(query.__knexTxId) ?? [];
        list.push({ sql: query.sql, bindings: query.bindings ?? [] });
        statements.set(query.__knexTxId, list);
      };
      databases.service.on('query', record);
      const revoked = await administration(new KnexKeyRepository(databases.service)).revokeUserKeys(
        admin(organizationId, 'erin'),
        'bob',
        'left the company',
      );
      databases.service.off('query', record);

      expect(new Set(revoked.keys.map((key) => key.id))).toEqual(new Set(bobs.map((key) => key.id)));
      const batches = [...statements.values()];
      // Each statement with its lists of placeholders (IN lists, multi-row VALUES) folded: the same in every batch.
      const shape = (batch: { sql: string }[]) =>
        batch.map(({ sql }) => sql.replace(/\(\?(, \?)*\)/g, '(…)').replace(/\(…\)(, \(…\))+/g, '(…)'));
      expect(batches).toHaveLength(3);
      expect(shape(batches[1]!)).toEqual(shape(batches[0]!));
      expect(shape(batches[2]!)).toEqual(shape(batches[0]!));
      // A handful of statements per batch, whatever its size: lock, one UPDATE, one audit INSERT, the feed.
      expect(batches[0]!.length).toBeLessThanOrEqual(10);
      const feedRows = batches.map((batch) => {
        const insert = batch.find(({ sql }) => sql.startsWith('insert into `key_feed`'))!;
        return insert.bindings.length / 5; // position, key_id, secret_hash, key_version, change_time
      });
      expect(feedRows).toEqual([REVOKE_BATCH_SIZE, REVOKE_BATCH_SIZE, 1200 - 2 * REVOKE_BATCH_SIZE]);

      const db = databases.service;
      const active = await db('api_keys')
        .where({ organization_id: organizationId })
        .whereNull('revoke_time')
        .pluck<string[]>('id');
      expect(active.sort()).toEqual(alices.map((key) => key.id));
      const revokedRows = (await db('api_keys')
        .where({ organization_id: organizationId, created_by_user_id: 'bob', revoked_by_user_id: 'erin' })
        .where('revoke_reason', 'left the company')
        .count({ n: '*' })
        .first()) as { n: number | string };
      expect(Number(revokedRows.n)).toBe(1200);
      const audited = await db('audit_events')
        .where({ organization_id: organizationId, action: 'key_revoked', actor_user_id: 'erin' })
        .pluck<string[]>('key_id');
      expect(audited).toHaveLength(1200);
      expect(new Set(audited)).toEqual(new Set(bobs.map((key) => key.id)));
      const announced = await db('key_feed').where('key_version', 2).pluck<string[]>('key_id');
      expect(new Set(announced)).toEqual(new Set(bobs.map((key) => key.id)));
    });
  });
});
