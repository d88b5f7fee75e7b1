import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { setTo } from '../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../src/domain/KeyPatch.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../../src/storage/KnexKeyRepository.js';
import { LastUsedRecorder } from '../../src/domain/LastUsedRecorder.js';
import { UsageTally } from '../../src/domain/UsageTally.js';
import { commitOfKeyWrite, proxiedDatabase } from '../helpers/replicaProcess.js';
import type { TcpProxy } from '../helpers/TcpProxy.js';
import { TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';
import { keyRecord } from './storageFixtures.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

describeMysql(`a COMMIT whose answer never comes [mysql]${skipped}`, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let direct: Knex;
  let proxied: Knex;
  beforeAll(async () => {
    const created = await proxiedDatabase();
    database = created.database;
    proxy = created.proxy;
    direct = createDatabase(parseDatabaseUrl(database.url), { poolMax: 1, acquireTimeoutMs: 5000 });
    await migrateDatabase(direct);
    await new KnexKeyRepository(direct).transaction((tx) => tx.insertKey(keyRecord('k1')));
    proxied = createDatabase(parseDatabaseUrl(created.proxiedUrl), {
      poolMax: 2,
      acquireTimeoutMs: 5000,
      queryTimeoutMs: 1500,
    });
  });
  afterAll(async () => {
    await proxied.destroy();
    await direct.destroy();
    await proxy.stop();
    await database.drop();
  });

  it('is not reported as "nothing was changed": the server committed it', async () => {
    const repository = new KnexKeyRepository(proxied);
    // The server receives the COMMIT and commits; its answer is lost, so the statement deadline ends the wait.
    const held = proxy.holdWhen(commitOfKeyWrite());
    void held.then(() => proxy.releaseUnanswered());
    const failure = await repository
      .transaction(async (tx) => {
        const key = await tx.lockKey('org-a', 'k1');
        if (key === null) throw new Error('k1 is missing');
        await tx.updateKey(key, { ...keyPatch(Date.now()), revokeTime: setTo(Date.now()) });
      })
      .then(
        () => null,
        (error: unknown) => error,
      );

    const stored = (await direct('api_keys').where('id', 'k1').first()) as { revoke_time: unknown; version: unknown };
    expect(stored.revoke_time).not.toBeNull();
    expect(Number(stored.version)).toBe(2);
    expect(failure).toBeInstanceOf(AppError);
    const { code, message } = failure as AppError;
    expect(message).not.toMatch(/nothing was changed/);
    expect(message).toMatch(/^the key database did not confirm the commit/);
    // Not UNAVAILABLE, which tells a caller that retrying is safe: a retried CreateKey would make a second key.
    expect(code).toBe('UNKNOWN');
  });

  it('drops the usage counts of a last-used flush whose COMMIT was not confirmed: stored once, never twice', async () => {
    const repository = new KnexKeyRepository(proxied);
    const usage = new UsageTally();
    const recorder = new LastUsedRecorder({
      repository,
      logger: pino({ level: 'silent' }),
      flushIntervalMs: 3_600_000,
      batchSize: 500,
      usage,
    });
    const day = 20_000;
    recorder.record('k1', Date.now(), null);
    for (let i = 0; i < 7; i++) usage.add('k1', day * 86_400_000, 'valid');
    const held = proxy.holdWhen(commitOfKeyWrite());
    void held.then(() => proxy.releaseUnanswered());
    await recorder.flush();
    expect(usage.stats.dropped).toBe(7);
    expect(usage.pendingCount).toBe(0);
    // The next flush writes the last-used time again (idempotent) but not the counts.
    await recorder.flush();
    const rows = (await direct('key_usage').where({ key_id: 'k1', day })) as { verified: number | string }[];
    expect(rows.map((row) => Number(row.verified))).toEqual([7]);
  });
});
