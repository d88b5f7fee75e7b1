import type { Knex } from 'knex';
import { describe } from 'vitest';

import type { KeyChange } from '../../src/domain/KeyRepository.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../../src/storage/KnexKeyRepository.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../helpers/testDatabase.js';
import { InMemoryKeyRepository } from './InMemoryKeyRepository.js';
import { defineKeyRepositoryContract } from './defineKeyRepositoryContract.js';
import type { ContractTarget } from './keyRepository.contract.js';

function knexTarget(kind: DatabaseKind): ContractTarget {
  let database: TestDatabase | undefined;
  let db: Knex | undefined;
  const opened = (): Knex => {
    if (db === undefined) throw new Error('database not open');
    return db;
  };
  return {
    capabilities: {
      readsDuringTransactions: kind === 'mysql',
      concurrentTransactions: kind === 'mysql',
      cancelsOpenTransactions: kind === 'mysql',
    },
    open: async () => {
      database = await createTestDatabase(kind);
      db = createDatabase(parseDatabaseUrl(database.url), { poolMax: 4, acquireTimeoutMs: 10_000 });
      await migrateDatabase(db);
    },
    fresh: async () => {
      // TRUNCATE also restarts the change ids (AUTO_INCREMENT on MySQL, sqlite_sequence on SQLite).
      for (const table of ['api_keys', 'audit_events', 'key_changes']) await opened()(table).truncate();
      return {
        repository: new KnexKeyRepository(opened()),
        commitChange: async (change: KeyChange) => {
          await opened()('key_changes').insert({
            id: change.id,
            key_id: change.keyId,
            secret_hash: change.secretHash,
            change_time: change.changeTime,
          });
        },
      };
    },
    close: async () => {
      await db?.destroy();
      await database?.drop();
    },
  };
}

function memoryTarget(): ContractTarget {
  return {
    // Reads do not wait for the transaction queue, but transactions run one at a time.
    capabilities: { readsDuringTransactions: true, concurrentTransactions: false, cancelsOpenTransactions: true },
    open: () => Promise.resolve(),
    fresh: () => {
      const repository = new InMemoryKeyRepository();
      return Promise.resolve({ repository, commitChange: (change: KeyChange) => repository.commitChange(change) });
    },
    close: () => Promise.resolve(),
  };
}

describeEachDatabase('KeyRepository contract', (kind) => defineKeyRepositoryContract(knexTarget(kind)));
describe('KeyRepository contract [memory]', () => defineKeyRepositoryContract(memoryTarget()));
