import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import knex, { type Knex } from 'knex';

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
  return createMysqlDatabase(TEST_MYSQL_URL, 'apikeys_test_');
}

/** A new, empty schema on a MySQL/MariaDB server, the connection that made it, and how to remove it. */
export interface ScratchMysqlDatabase extends TestDatabase {
  readonly name: string;
  /** A one-connection pool on the server (no database selected), ended by `drop()`. */
  readonly admin: Knex;
}

/**
 * Creates a schema named `prefix` + random hex on the server of `serverUrl` (any database in it is
 * ignored), with the binary collation the migrations expect; for tests and benchmarks alike.
 */
export async function createMysqlDatabase(serverUrl: string, prefix: string): Promise<ScratchMysqlDatabase> {
  const server = new URL(serverUrl);
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
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
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    admin,
    drop: async () => {
      await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.destroy();
    },
  };
}
