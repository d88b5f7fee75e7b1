import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { setTo } from '../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../src/domain/KeyPatch.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../../src/storage/KnexKeyRepository.js';
import { createTestDatabase, type TestDatabase } from '../helpers/testDatabase.js';
import { keyRecord } from './storageFixtures.js';

/**
 * Two pools on one SQLite file, as two worker processes (WORKERS > 1) have: SQLite's one-connection
 * pool no longer serialises their transactions, the file's lock does.
 */
describe('two processes writing one SQLite file [sqlite]', () => {
  let database: TestDatabase;
  let first: Knex;
  let second: Knex;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    const target = parseDatabaseUrl(database.url);
    first = createDatabase(target, { poolMax: 1, acquireTimeoutMs: 5000 });
    second = createDatabase(target, { poolMax: 1, acquireTimeoutMs: 5000 });
    await migrateDatabase(first);
    await new KnexKeyRepository(first).transaction((tx) => tx.insertKey(keyRecord('k1')));
  });
  afterAll(async () => {
    await first.destroy();
    await second.destroy();
    await database.drop();
  });

  it('fails the write that lost the race with UNAVAILABLE (nothing was written, retry), not INTERNAL', async () => {
    let read = (): void => undefined;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    let proceed = (): void => undefined;
    const mayWrite = new Promise<void>((resolve) => (proceed = resolve));
    const revoke = (tx: Parameters<Parameters<KnexKeyRepository['transaction']>[0]>[0], now: number) =>
      tx.lockKey('org-a', 'k1').then(async (key) => {
        if (key === null) throw new Error('k1 is missing');
        read();
        await mayWrite;
        await tx.updateKey(key, { ...keyPatch(now), revokeTime: setTo(now) });
      });
    const loser = new KnexKeyRepository(first)
      .transaction((tx) => revoke(tx, 1))
      .then(
        () => null,
        (error: unknown) => error,
      );
    await hasRead;
    // The other process writes the same key meanwhile and commits: the first one's snapshot is stale.
    await new KnexKeyRepository(second).transaction(async (tx) => {
      const key = await tx.lockKey('org-a', 'k1');
      if (key !== null) await tx.updateKey(key, { ...keyPatch(2), name: setTo('renamed') });
    });
    proceed();
    const failure = await loser;
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('UNAVAILABLE');
    const stored = (await first('api_keys').where('id', 'k1').first()) as { version: number; revoke_time: unknown };
    expect(stored).toMatchObject({ version: 2, revoke_time: null });
  });
});
