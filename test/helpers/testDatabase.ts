import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import knex from 'knex';

/** Which databases the integration suites run against. */
export type DatabaseKind = 'sqlite' | 'mysql';

/** The MySQL/MariaDB server for tests (any database in the URL is ignored: each test file gets its own). */
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? '';

/** The kinds available in this run: SQLite always, MySQL when TEST_MYSQL_URL is set. */
export const DATABASE_KINDS: readonly DatabaseKind[] = TEST_MYSQL_URL === '' ? ['sqlite'] : ['sqlite', 'mysql'];

/** A fresh, empty database and how to remove it. */
export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/** Creates a fresh database: a new SQLite file, or a new schema on the test MySQL server. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'apikeys-test-'));
    return {
      url: `sqlite:${join(dir, 'keys.db')}`,
      drop: () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  }
  const server = new URL(TEST_MYSQL_URL);
  const name = `apikeys_test_${randomBytes(6).toString('hex')}`;
  const admin = knex({
    client: 'mysql2',
    connection: {
      host: server.hostname,
      port: server.port === '' ? 3306 : Number(server.port),
      user: decodeURIComponent(server.username),
      password: decodeURIComponent(server.password),
    },
    pool: { min: 0, max: 1 },
  });
  await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  const url = new URL(TEST_MYSQL_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.destroy();
    },
  };
}
