import knex from 'knex';
import { createConnection } from 'mysql2/promise';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { migrationSource } from '../../migrations/index.js';
import { type App, createApp } from '../../src/createApp.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import { loadScopeCatalog } from '../../src/loadScopeCatalog.js';
import { createTestDatabase, TEST_MYSQL_URL } from '../helpers/testDatabase.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

const QUERY_TIMEOUT_MS = 1500;

describeMysql(`MIGRATE_ON_START=true on MySQL [mysql]${skipped}`, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('migrates without the statement deadline: a migration that waits longer than DATABASE_QUERY_TIMEOUT_MS completes', async () => {
    const database = await createTestDatabase('mysql');
    cleanups.push(() => database.drop());
    // The schema before the last migration, which alters api_keys.
    const setup = knex({ client: 'mysql2', connection: database.url, pool: { min: 0, max: 1 } });
    await setup.migrate.up({ migrationSource });
    await setup.destroy();
    // A transaction that read api_keys holds its metadata lock: the ALTER waits for it, as behind any
    // long query on a busy database, for longer than a statement deadline.
    const reader = await createConnection(database.url);
    cleanups.push(() => reader.end());
    await reader.query('START TRANSACTION');
    await reader.query('SELECT COUNT(*) FROM api_keys');
    setTimeout(() => void reader.query('COMMIT'), 2 * QUERY_TIMEOUT_MS);

    const config = loadConfig({
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: 'off',
      DATABASE_URL: database.url,
      MIGRATE_ON_START: 'true',
      DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
      LOG_LEVEL: 'silent',
    });
    const app: App = createApp(config, {
      logger: pino({ level: 'silent' }),
      scopes: loadScopeCatalog(config.scopesFile),
    });
    const started = app.start().then(
      () => null,
      (error: unknown) => error,
    );
    cleanups.push(() => app.stop(1000));
    expect(await started).toBeNull();
    const applied = await app.db('knex_migrations').pluck('name');
    expect(applied).toContain('20261202_001_ordered_change_feed');
  });
});
