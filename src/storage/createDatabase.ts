import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import knex, { type Knex } from 'knex';
import type { Logger } from 'pino';

import { migrationSource } from '../../migrations/index.js';
import { enforceStatementDeadline, type MysqlConnection } from './MysqlConnection.js';
import { applySessionLimits } from './sessionLimits.js';

/** Where the data lives, parsed from DATABASE_URL. */
export type DatabaseTarget =
  | { readonly kind: 'sqlite'; readonly filename: string }
  | {
      readonly kind: 'mysql';
      readonly host: string;
      readonly port: number;
      readonly user: string;
      readonly password: string;
      readonly database: string;
    };

/** Pool and timeout settings. */
export interface DatabaseOptions {
  readonly poolMax: number;
  /** How long a query may wait for a pooled connection, or a new connection to open, before failing (→ UNAVAILABLE). */
  readonly acquireTimeoutMs: number;
  /**
   * MySQL: how long a statement may go unanswered before its connection is dropped (see
   * enforceStatementDeadline), and the session limits derived from it (applySessionLimits). Omitted: no
   * deadline, for migrations, whose DDL on a large table may rightly run for minutes.
   */
  readonly queryTimeoutMs?: number;
  /** Where knex's own warnings go (instead of the console). */
  readonly logger?: Pick<Logger, 'warn' | 'error' | 'debug'>;
}

function knexLog(logger: DatabaseOptions['logger']): Knex.Config['log'] {
  if (logger === undefined) return undefined;
  return {
    warn: (message: unknown) => logger.warn({ knex: message }, 'database warning'),
    error: (message: unknown) => logger.warn({ knex: message }, 'database error'),
    deprecate: (message: unknown) => logger.debug({ knex: message }, 'database deprecation'),
    debug: (message: unknown) => logger.debug({ knex: message }, 'database debug'),
  };
}

/**
 * Parses `mysql://user:pass@host:port/db` or `sqlite:path` (`sqlite::memory:` for a private in-memory
 * database). Throws with a readable message on anything else.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (filename === '') throw new Error('DATABASE_URL: sqlite: needs a file path, e.g. sqlite:./var/keys.db');
    return { kind: 'sqlite', filename };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('DATABASE_URL: expected mysql://user:password@host:port/database or sqlite:./path.db');
  }
  if (parsed.protocol !== 'mysql:') {
    throw new Error(`DATABASE_URL: unsupported scheme "${parsed.protocol}"; use mysql:// or sqlite:`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '')
    throw new Error('DATABASE_URL: mysql:// URL must name a database, e.g. mysql://root@127.0.0.1:3306/apikeys');
  return {
    kind: 'mysql',
    host: parsed.hostname,
    port: parsed.port === '' ? 3306 : Number(parsed.port),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database,
  };
}

/** Creates a knex instance for the target. Does not connect until first used. */
export function createDatabase(target: DatabaseTarget, options: DatabaseOptions): Knex {
  if (target.kind === 'sqlite') {
    if (target.filename !== ':memory:') mkdirSync(dirname(target.filename), { recursive: true });
    return knex({
      client: 'better-sqlite3',
      connection: { filename: target.filename },
      useNullAsDefault: true,
      log: knexLog(options.logger),
      acquireConnectionTimeout: options.acquireTimeoutMs,
      // better-sqlite3 is synchronous: one connection serialises writers, which is what SQLite wants.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (connection: { pragma(sql: string): unknown }, done: (error: Error | null) => void) => {
          connection.pragma('journal_mode = WAL');
          connection.pragma('busy_timeout = 5000');
          connection.pragma('foreign_keys = ON');
          done(null);
        },
      },
    });
  }
  const { queryTimeoutMs } = options;
  return knex({
    client: 'mysql2',
    connection: {
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
      charset: 'utf8mb4',
      connectTimeout: options.acquireTimeoutMs,
      supportBigNumbers: true,
      bigNumberStrings: false,
      // TCP keepalive: a peer that vanished is noticed on idle connections too (the kernel's probes).
      enableKeepAlive: true,
      keepAliveInitialDelay: 10_000,
    },
    acquireConnectionTimeout: options.acquireTimeoutMs,
    pool: {
      min: 0,
      max: options.poolMax,
      ...(queryTimeoutMs === undefined
        ? {}
        : {
            afterCreate: (connection: MysqlConnection, done: (error: Error | null, connection: unknown) => void) => {
              enforceStatementDeadline(connection, queryTimeoutMs);
              applySessionLimits(connection, queryTimeoutMs).then(
                () => done(null, connection),
                (error: unknown) => {
                  // knex does not dispose of a connection whose afterCreate failed: close it here.
                  connection.stream.destroy();
                  done(error as Error, connection);
                },
              );
            },
          }),
    },
    log: knexLog(options.logger),
  });
}

/** Applies every pending migration. */
export async function migrateDatabase(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
