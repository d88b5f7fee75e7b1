import type { Knex } from 'knex';
import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { setTo } from '../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../src/domain/KeyPatch.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../../src/storage/KnexKeyRepository.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';
import { holdTransaction } from './holdTransaction.js';
import { keyRecord } from './storageFixtures.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

/** The statement deadline here: row-lock waits end after 1 s, an idle write transaction after 2 s. */
const QUERY_TIMEOUT_MS = 1500;

async function failureOf(work: Promise<unknown>): Promise<AppError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the work to fail');
}

describeMysql(`the limits of each pooled MySQL session [mysql]${skipped}`, () => {
  let database: TestDatabase;
  let db: Knex;
  let repository: KnexKeyRepository;
  let other: Connection;
  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    db = createDatabase(parseDatabaseUrl(database.url), {
      poolMax: 1,
      acquireTimeoutMs: 10_000,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
    });
    await migrateDatabase(db);
    repository = new KnexKeyRepository(db);
    await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
  });
  beforeEach(async () => {
    other = await createConnection(database.url);
  });
  afterEach(async () => {
    await other.end();
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  const sessionId = async (): Promise<number> =>
    Number(((await db.raw('SELECT CONNECTION_ID() AS id')) as [[{ id: number | string }]])[0][0].id);

  it('ends a row-lock wait with the server’s clean lock wait timeout, before the statement deadline, keeping the connection', async () => {
    const before = await sessionId();
    await other.query('BEGIN');
    await other.query("SELECT id FROM api_keys WHERE id = 'k1' FOR UPDATE");
    const failure = await failureOf(repository.transaction((tx) => tx.lockKey('org-a', 'k1')));
    await other.query('ROLLBACK');
    expect(failure.code).toBe('UNAVAILABLE');
    expect((failure.cause as { code?: string }).code).toBe('ER_LOCK_WAIT_TIMEOUT');
    expect(await sessionId()).toBe(before);
  });

  it('has MariaDB abort a write transaction whose client stopped sending, releasing its row locks', async ({
    skip,
  }) => {
    const [[version]] = await other.query<RowDataPacket[]>('SELECT VERSION() AS v');
    if (!String(version?.v).includes('MariaDB')) skip('idle_write_transaction_timeout is MariaDB only');
    // The client "freezes" inside its transaction: it locked and changed k1, then sends nothing more.
    const frozen = await holdTransaction(repository, async (tx) => {
      const key = await tx.lockKey('org-a', 'k1');
      await tx.updateKey(key!, { ...keyPatch(2), name: setTo('frozen') });
    });
    await other.query('SET SESSION innodb_lock_wait_timeout = 20');
    await other.query('BEGIN');
    const [rows] = await other.query<RowDataPacket[]>("SELECT name FROM api_keys WHERE id = 'k1' FOR UPDATE");
    await other.query('ROLLBACK');
    expect(rows[0]?.name).toBe(keyRecord('k1').name);
    expect((await failureOf(frozen.commit())).code).toBe('UNAVAILABLE');
  });
});
