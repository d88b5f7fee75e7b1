import { makeValidator, str } from 'envalid';

import { type DatabaseTarget, parseDatabaseUrl } from '../storage/createDatabase.js';
import { documented } from './documented.js';
import { intRange } from './validators.js';

const DEFAULT_DATABASE_URL = 'sqlite:./var/keys.db';

const databaseUrl = makeValidator<DatabaseTarget>((input) => parseDatabaseUrl(input));

/** Where keys are stored and how the pool behaves. */
export const DATABASE_SETTINGS = {
  DATABASE_URL: documented(
    databaseUrl({
      default: parseDatabaseUrl(DEFAULT_DATABASE_URL),
      desc: '`mysql://user:password@host:port/database` (MySQL/MariaDB) or `sqlite:path` (embedded)',
    }),
    `\`${DEFAULT_DATABASE_URL}\``,
  ),
  MIGRATE_ON_START: documented(
    str<'auto' | 'true' | 'false'>({
      choices: ['auto', 'true', 'false'],
      default: 'auto',
      desc: '`true`/`false`; `auto` migrates the embedded SQLite database and only checks connectivity for MySQL (run `npm run migrate` there)',
    }),
    '`auto`',
  ),
  DATABASE_POOL_MAX: documented(intRange(1, 1000)({ default: 10, desc: 'MySQL connection pool size' }), '`10`'),
  DATABASE_TIMEOUT_MS: documented(
    intRange(
      100,
      600_000,
    )({ default: 5000, desc: 'connect / pool-acquire timeout; past it a call fails with `UNAVAILABLE`' }),
    '`5000`',
  ),
  DATABASE_QUERY_TIMEOUT_MS: documented(
    intRange(
      1500,
      600_000,
    )({
      default: 5000,
      desc: 'MySQL: longest a statement may go without an answer before its connection is dropped (never reused) and the call fails with `UNAVAILABLE`; row-lock waits end at least 0.5 s before it, and on MariaDB a write transaction idle that long is aborted by the server',
    }),
    '`5000`',
  ),
};

/**
 * The cross-field rule of this section: the pool counts as stuck for /healthz only after longer than a
 * caller may wait for a connection plus one statement may take, or a single slow statement would be
 * reported as a stuck process.
 */
export function databaseProblems(raw: {
  DATABASE_TIMEOUT_MS: number;
  DATABASE_QUERY_TIMEOUT_MS: number;
  LIVENESS_POOL_EXHAUSTED_MS: number;
}): string[] {
  const least = raw.DATABASE_TIMEOUT_MS + raw.DATABASE_QUERY_TIMEOUT_MS;
  return raw.LIVENESS_POOL_EXHAUSTED_MS <= least
    ? [
        `LIVENESS_POOL_EXHAUSTED_MS (${raw.LIVENESS_POOL_EXHAUSTED_MS}) must exceed DATABASE_TIMEOUT_MS + DATABASE_QUERY_TIMEOUT_MS (${least})`,
      ]
    : [];
}

/** The database, password left out, for logs. */
export function displayDatabase(database: DatabaseTarget): string {
  return database.kind === 'sqlite'
    ? `sqlite:${database.filename}`
    : `mysql://${database.user}@${database.host}:${database.port}/${database.database}`;
}

/** MIGRATE_ON_START=auto migrates the embedded SQLite database only. */
export function migratesOnStart(setting: 'auto' | 'true' | 'false', database: DatabaseTarget): boolean {
  return setting === 'true' || (setting === 'auto' && database.kind === 'sqlite');
}
