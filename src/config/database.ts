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
};

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
