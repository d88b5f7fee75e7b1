import { availableParallelism } from 'node:os';

import { cleanEnv, makeValidator, str } from 'envalid';

import { type DatabaseTarget, parseDatabaseUrl } from './storage/createDatabase.js';

/** The validated, frozen configuration of one process. */
export interface Config {
  /** host:port the gRPC server listens on; port 0 picks a free port (logged at start). */
  readonly listenAddress: { readonly host: string; readonly port: number };
  /** Where keys are stored. */
  readonly database: DatabaseTarget;
  /** The database, password left out, for logs. */
  readonly databaseDisplay: string;
  readonly databasePoolMax: number;
  readonly databaseTimeoutMs: number;
  /** Apply pending migrations at start (always on for the embedded SQLite default). */
  readonly migrateOnStart: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Lifetime of keys created without expires_in_hours. */
  readonly defaultKeyLifetimeHours: number;
  /** JSON file replacing the default scope catalog; empty = built-in catalog. */
  readonly scopesFile: string;
  /** Most keys the verifier keeps in memory. */
  readonly cacheMaxKeys: number;
  /** How long an unknown key is remembered as unknown. */
  readonly cacheNegativeTtlMs: number;
  /** How long SIGTERM waits for in-flight calls before cancelling them. */
  readonly shutdownTimeoutMs: number;
  /** Largest accepted request message. */
  readonly maxReceiveMessageBytes: number;
  /** How often each process reads the change feed (bounds cross-replica revocation delay). */
  readonly changeFeedPollMs: number;
  /** How long a missing change-feed id is waited for (out-of-order commits). */
  readonly changeFeedGapTimeoutMs: number;
  /** How long change-feed rows are kept. */
  readonly changeFeedRetentionHours: number;
  /** How long cached keys are served while the change feed is unreadable; then verification fails closed. */
  readonly stalenessBoundMs: number;
  /** How often coalesced last-used data is written. */
  readonly lastUsedFlushMs: number;
  /** Worker processes sharing the port (node:cluster); 1 = no cluster. */
  readonly workers: number;
}

/** Documented defaults, in one place. */
export const DEFAULTS = {
  LISTEN_ADDRESS: '127.0.0.1:50051',
  DATABASE_URL: 'sqlite:./var/keys.db',
  DATABASE_POOL_MAX: 10,
  DATABASE_TIMEOUT_MS: 5000,
  MIGRATE_ON_START: 'auto',
  LOG_LEVEL: 'info',
  DEFAULT_KEY_LIFETIME_HOURS: 8760,
  SCOPES_FILE: '',
  CACHE_MAX_KEYS: 1_000_000,
  CACHE_NEGATIVE_TTL_MS: 5000,
  SHUTDOWN_TIMEOUT_MS: 10_000,
  MAX_RECEIVE_MESSAGE_BYTES: 64 * 1024,
  CHANGE_FEED_POLL_MS: 100,
  CHANGE_FEED_GAP_TIMEOUT_MS: 10_000,
  CHANGE_FEED_RETENTION_HOURS: 24,
  STALENESS_BOUND_MS: 30_000,
  LAST_USED_FLUSH_MS: 5000,
  WORKERS: '1',
} as const;

const workerCount = makeValidator<number>((input) => {
  if (input === 'auto') return availableParallelism();
  const value = Number(input);
  if (!/^\d+$/.test(input) || value < 1 || value > 256) throw new Error('expected "auto" or an integer from 1 to 256');
  return value;
});

const hostPort = makeValidator<{ host: string; port: number }>((input) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(input);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) throw new Error('expected host:port, e.g. 127.0.0.1:50051 or [::]:50051');
  return { host: match[1] ?? '', port };
});

const databaseUrl = makeValidator<DatabaseTarget>((input) => parseDatabaseUrl(input));

function intRange(min: number, max: number) {
  return makeValidator<number>((input) => {
    const value = Number(input);
    if (!/^\d+$/.test(input.trim()) || value < min || value > max)
      throw new Error(`expected an integer from ${min} to ${max}`);
    return value;
  });
}

/** Thrown when the environment is invalid; the message lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment once. Every invalid setting is reported, not just the first. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = cleanEnv(
    env,
    {
      LISTEN_ADDRESS: hostPort({ default: { host: '127.0.0.1', port: 50051 } }),
      DATABASE_URL: databaseUrl({ default: parseDatabaseUrl(DEFAULTS.DATABASE_URL) }),
      DATABASE_POOL_MAX: intRange(1, 1000)({ default: DEFAULTS.DATABASE_POOL_MAX }),
      DATABASE_TIMEOUT_MS: intRange(100, 600_000)({ default: DEFAULTS.DATABASE_TIMEOUT_MS }),
      MIGRATE_ON_START: str({ choices: ['auto', 'true', 'false'], default: DEFAULTS.MIGRATE_ON_START }),
      LOG_LEVEL: str({
        choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
        default: DEFAULTS.LOG_LEVEL,
      }),
      DEFAULT_KEY_LIFETIME_HOURS: intRange(1, 8760)({ default: DEFAULTS.DEFAULT_KEY_LIFETIME_HOURS }),
      SCOPES_FILE: str({ default: DEFAULTS.SCOPES_FILE }),
      CACHE_MAX_KEYS: intRange(1, 100_000_000)({ default: DEFAULTS.CACHE_MAX_KEYS }),
      CACHE_NEGATIVE_TTL_MS: intRange(0, 3_600_000)({ default: DEFAULTS.CACHE_NEGATIVE_TTL_MS }),
      SHUTDOWN_TIMEOUT_MS: intRange(0, 600_000)({ default: DEFAULTS.SHUTDOWN_TIMEOUT_MS }),
      MAX_RECEIVE_MESSAGE_BYTES: intRange(1024, 64 * 1024 * 1024)({ default: DEFAULTS.MAX_RECEIVE_MESSAGE_BYTES }),
      CHANGE_FEED_POLL_MS: intRange(10, 60_000)({ default: DEFAULTS.CHANGE_FEED_POLL_MS }),
      CHANGE_FEED_GAP_TIMEOUT_MS: intRange(100, 3_600_000)({ default: DEFAULTS.CHANGE_FEED_GAP_TIMEOUT_MS }),
      CHANGE_FEED_RETENTION_HOURS: intRange(1, 8760)({ default: DEFAULTS.CHANGE_FEED_RETENTION_HOURS }),
      STALENESS_BOUND_MS: intRange(20, 3_600_000)({ default: DEFAULTS.STALENESS_BOUND_MS }),
      LAST_USED_FLUSH_MS: intRange(10, 3_600_000)({ default: DEFAULTS.LAST_USED_FLUSH_MS }),
      WORKERS: workerCount({ default: 1 }),
    },
    {
      reporter: ({ errors }) => {
        const problems = Object.entries(errors).map(([name, error]) => `  ${name}: ${error.message}`);
        if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
      },
    },
  );
  if (raw.STALENESS_BOUND_MS < 2 * raw.CHANGE_FEED_POLL_MS) {
    throw new ConfigError(
      `invalid configuration:\n  STALENESS_BOUND_MS (${raw.STALENESS_BOUND_MS}) must be at least twice CHANGE_FEED_POLL_MS (${raw.CHANGE_FEED_POLL_MS})`,
    );
  }
  const database = raw.DATABASE_URL;
  return Object.freeze({
    listenAddress: raw.LISTEN_ADDRESS,
    database,
    databaseDisplay:
      database.kind === 'sqlite'
        ? `sqlite:${database.filename}`
        : `mysql://${database.user}@${database.host}:${database.port}/${database.database}`,
    databasePoolMax: raw.DATABASE_POOL_MAX,
    databaseTimeoutMs: raw.DATABASE_TIMEOUT_MS,
    migrateOnStart: raw.MIGRATE_ON_START === 'true' || (raw.MIGRATE_ON_START === 'auto' && database.kind === 'sqlite'),
    logLevel: raw.LOG_LEVEL,
    defaultKeyLifetimeHours: raw.DEFAULT_KEY_LIFETIME_HOURS,
    scopesFile: raw.SCOPES_FILE,
    cacheMaxKeys: raw.CACHE_MAX_KEYS,
    cacheNegativeTtlMs: raw.CACHE_NEGATIVE_TTL_MS,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    maxReceiveMessageBytes: raw.MAX_RECEIVE_MESSAGE_BYTES,
    changeFeedPollMs: raw.CHANGE_FEED_POLL_MS,
    changeFeedGapTimeoutMs: raw.CHANGE_FEED_GAP_TIMEOUT_MS,
    changeFeedRetentionHours: raw.CHANGE_FEED_RETENTION_HOURS,
    stalenessBoundMs: raw.STALENESS_BOUND_MS,
    lastUsedFlushMs: raw.LAST_USED_FLUSH_MS,
    workers: raw.WORKERS,
  });
}
