import { randomBytes } from 'node:crypto';

import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { loadServiceSecret } from '../../src/storage/loadServiceSecret.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createTestDatabase, type TestDatabase } from '../helpers/testDatabase.js';

describeEachDatabase('loadServiceSecret (service_secrets)', (kind) => {
  let database: TestDatabase;
  let pools: Knex[];
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    // Four pools stand for four replicas starting at once, each with a connection of its own.
    pools = [0, 1, 2, 3].map(() =>
      createDatabase(parseDatabaseUrl(database.url), { poolMax: 2, acquireTimeoutMs: 10_000 }),
    );
    await migrateDatabase(pools[0]!);
  });
  afterAll(async () => {
    await Promise.all(pools.map((db) => db.destroy()));
    await database.drop();
  });
  beforeEach(async () => {
    await pools[0]!('service_secrets').delete();
  });

  it('creates the secret once: replicas starting together all read the one inserted first', async () => {
    const proposed: Buffer[] = [];
    const loaded = await Promise.all(
      pools.flatMap((db) =>
        [0, 1].map(() =>
          loadServiceSecret(db, 'page-token', () => {
            const secret = randomBytes(32);
            proposed.push(secret);
            return secret;
          }),
        ),
      ),
    );
    expect(new Set(loaded.map((secret) => secret.toString('hex'))).size).toBe(1);
    expect(proposed.some((secret) => secret.equals(loaded[0]!))).toBe(true);
    expect(await pools[0]!('service_secrets').count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('keeps an existing secret: a later start reads it unchanged', async () => {
    const first = await loadServiceSecret(pools[0]!, 'page-token', () => Buffer.alloc(32, 1));
    const later = await loadServiceSecret(pools[1]!, 'page-token', () => Buffer.alloc(32, 2));
    expect(later).toEqual(first);
    expect(later).toEqual(Buffer.alloc(32, 1));
  });
});
