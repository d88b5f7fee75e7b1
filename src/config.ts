import { availableParallelism } from 'node:os';

import { bool, cleanEnv, makeExactValidator, makeValidator, str } from 'envalid';
import ipaddr from 'ipaddr.js';

import { type DatabaseTarget, parseDatabaseUrl } from './storage/createDatabase.js';
import { readPemFile, readTlsMaterial, type TlsMaterial } from './transport/tlsMaterial.js';

export type { TlsMaterial } from './transport/tlsMaterial.js';

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
  /** host:port of the operator HTTP endpoints (/metrics, /healthz, /readyz); null = off. */
  readonly metricsAddress: { readonly host: string; readonly port: number } | null;
  /** Service tokens callers may present as `authorization: Bearer <token>`: only their SHA-256 is known. */
  readonly authTokens: readonly ServiceTokenHash[];
  /** Server certificate and key, and the client CA for mutual TLS; null = plaintext. */
  readonly tls: TlsMaterial | null;
  /** How often the TLS files are re-read (also on SIGHUP); 0 = only on SIGHUP. */
  readonly tlsReloadIntervalMs: number;
  /** Caller identities (certificate identities and/or token names) allowed to call KeyAdmin. */
  readonly adminClientIds: readonly string[];
  /** Whether KeyVerifier also requires an authenticated caller (any identity). */
  readonly verifierRequiresAuth: boolean;
  /** Insecure setups the operator accepted by name for a non-loopback address. */
  readonly allowInsecure: readonly InsecureMode[];
  /** What is insecure about this configuration (allowed: on loopback, or opted into); main warns about each. */
  readonly insecurities: readonly InsecureMode[];
}

/** A configured service token: the caller identity it stands for and the SHA-256 digest of the token. */
export interface ServiceTokenHash {
  readonly name: string;
  /** 32 bytes. The token itself is never configured. */
  readonly sha256: Buffer;
}

/**
 * Insecure setups, each refused on a non-loopback address unless named in ALLOW_INSECURE; the text says
 * what is exposed (it ends the start-up warning and the refusal).
 */
export const INSECURE_MODES = {
  'unauthenticated-keyadmin':
    'KeyAdmin answers unauthenticated callers (neither AUTH_TOKENS nor TLS_CLIENT_CA_FILE is set), and it trusts the actor a caller states',
  'plaintext-tokens':
    'service tokens travel in plaintext (AUTH_TOKENS is set but TLS_CERT_FILE/TLS_KEY_FILE are not), readable by anyone on the network path',
} as const;

/** The name of one insecure setup. */
export type InsecureMode = keyof typeof INSECURE_MODES;

/** Documented defaults, in one place. */
export const DEFAULTS = {
  LISTEN_ADDRESS: '127.0.0.1:50051',
  METRICS_ADDRESS: '127.0.0.1:9464',
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
  AUTH_TOKENS: '',
  TLS_CERT_FILE: '',
  TLS_KEY_FILE: '',
  TLS_CLIENT_CA_FILE: '',
  TLS_RELOAD_INTERVAL_MS: 60_000,
  ADMIN_CLIENT_IDS: '',
  VERIFIER_REQUIRES_AUTH: false,
  ALLOW_INSECURE: '',
} as const;

/** A token name: it is a caller identity in logs, audit events and ADMIN_CLIENT_IDS. */
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** Splits a comma-separated list, trimming entries; an empty string is an empty list. */
function commaList(input: string): string[] {
  return input.trim() === '' ? [] : input.split(',').map((entry) => entry.trim());
}

/**
 * `name=sha256hex,…`. Error messages never repeat a hash value: an operator who pasted the token itself
 * instead of its hash must not find it in a log.
 */
const serviceTokens = makeValidator<ServiceTokenHash[]>((input) => {
  const problems: string[] = [];
  const tokens: ServiceTokenHash[] = [];
  commaList(input).forEach((entry, index) => {
    const separator = entry.indexOf('=');
    const name = separator < 0 ? '' : entry.slice(0, separator).trim();
    const hash = separator < 0 ? '' : entry.slice(separator + 1).trim();
    if (separator < 0 || !TOKEN_NAME.test(name)) {
      problems.push(
        `entry ${index + 1} must be name=sha256hex with a name of letters, digits and . _ : @ / - (at most 100 characters)`,
      );
    } else if (!SHA256_HEX.test(hash)) {
      problems.push(
        `the hash of "${name}" must be 64 hex digits (got ${hash.length} characters): configure the SHA-256 of the token, never the token itself`,
      );
    } else if (tokens.some((token) => token.name === name)) {
      problems.push(`"${name}" is configured twice`);
    } else {
      const sha256 = Buffer.from(hash, 'hex');
      const twin = tokens.find((token) => token.sha256.equals(sha256));
      if (twin !== undefined) problems.push(`"${name}" and "${twin.name}" have the same hash: one token, two names`);
      else tokens.push({ name, sha256 });
    }
  });
  if (problems.length > 0) throw new Error(problems.join('; '));
  return tokens;
});

/** Comma-separated caller identities: SPIFFE ids, DNS names, CNs (spaces allowed inside), token names. */
const clientIds = makeValidator<string[]>((input) => {
  const ids = commaList(input);
  if (ids.some((id) => id === '')) throw new Error('empty entry (two commas in a row, or a trailing comma)');
  // eslint-disable-next-line no-control-regex
  if (ids.some((id) => /[\x00-\x1f\x7f]/.test(id))) throw new Error('control characters are not allowed');
  // The audit trail stores the caller in 200 characters.
  if (ids.some((id) => id.length > 200)) throw new Error('an identity may have at most 200 characters');
  return [...new Set(ids)];
});

/** A PEM file read at start. */
interface PemFile {
  readonly path: string;
  readonly pem: Buffer;
}

/**
 * A path to a PEM file holding a certificate or a private key, read and parsed at start; empty = none.
 * Messages name the file, never its contents.
 */
function pemFile(holds: 'certificate' | 'private key') {
  return makeExactValidator<PemFile | undefined>((path) => {
    if (path === '') return undefined;
    const pem = readPemFile(path, holds);
    return { path, pem };
  });
}

const insecureModes = makeValidator<InsecureMode[]>((input) => {
  const names = commaList(input);
  const unknown = names.filter((name) => !(name in INSECURE_MODES));
  if (unknown.length > 0) {
    throw new Error(
      `unknown ${unknown.map((name) => `"${name}"`).join(', ')}; expected a comma-separated list of ${Object.keys(INSECURE_MODES).join(', ')}`,
    );
  }
  return [...new Set(names)] as InsecureMode[];
});

/** Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (!ipaddr.isValid(bare)) return false;
  return ipaddr.process(bare).range() === 'loopback';
}

const workerCount = makeValidator<number>((input) => {
  if (input === 'auto') return availableParallelism();
  const value = Number(input);
  if (!/^\d+$/.test(input) || value < 1 || value > 256) throw new Error('expected "auto" or an integer from 1 to 256');
  return value;
});

function parseHostPort(input: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(input);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) throw new Error('expected host:port, e.g. 127.0.0.1:50051 or [::]:50051');
  return { host: match[1] ?? '', port };
}

const hostPort = makeValidator<{ host: string; port: number }>(parseHostPort);

// envalid rejects a parser result of null, so "off" is carried as a literal and mapped below.
const hostPortOrOff = makeValidator<{ host: string; port: number } | 'off'>((input) =>
  input === 'off' ? 'off' : parseHostPort(input),
);

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
      METRICS_ADDRESS: hostPortOrOff({ default: { host: '127.0.0.1', port: 9464 } }),
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
      AUTH_TOKENS: serviceTokens({ default: [] }),
      TLS_CERT_FILE: pemFile('certificate')({ default: undefined }),
      TLS_KEY_FILE: pemFile('private key')({ default: undefined }),
      TLS_CLIENT_CA_FILE: pemFile('certificate')({ default: undefined }),
      TLS_RELOAD_INTERVAL_MS: intRange(0, 86_400_000)({ default: DEFAULTS.TLS_RELOAD_INTERVAL_MS }),
      ADMIN_CLIENT_IDS: clientIds({ default: [] }),
      VERIFIER_REQUIRES_AUTH: bool({ default: DEFAULTS.VERIFIER_REQUIRES_AUTH }),
      ALLOW_INSECURE: insecureModes({ default: [] }),
    },
    {
      reporter: ({ errors }) => {
        const problems = Object.entries(errors).map(([name, error]) => `  ${name}: ${error.message}`);
        if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
      },
    },
  );
  const problems: string[] = [];
  if (raw.STALENESS_BOUND_MS < 2 * raw.CHANGE_FEED_POLL_MS) {
    problems.push(
      `STALENESS_BOUND_MS (${raw.STALENESS_BOUND_MS}) must be at least twice CHANGE_FEED_POLL_MS (${raw.CHANGE_FEED_POLL_MS})`,
    );
  }
  const tls = tlsMaterial(raw.TLS_CERT_FILE, raw.TLS_KEY_FILE, raw.TLS_CLIENT_CA_FILE, problems);
  const mutualTls = raw.TLS_CLIENT_CA_FILE !== undefined;
  const authenticates = raw.AUTH_TOKENS.length > 0 || mutualTls;
  if (!authenticates && raw.ADMIN_CLIENT_IDS.length > 0) {
    problems.push(
      'ADMIN_CLIENT_IDS: has no effect without AUTH_TOKENS or TLS_CLIENT_CA_FILE (no caller is authenticated)',
    );
  }
  if (!authenticates && raw.VERIFIER_REQUIRES_AUTH) {
    problems.push('VERIFIER_REQUIRES_AUTH: no caller could authenticate; set AUTH_TOKENS or TLS_CLIENT_CA_FILE too');
  }
  if (authenticates && !mutualTls) {
    // Without client certificates every allowed identity must be a token name: anything else is a typo.
    const names = new Set(raw.AUTH_TOKENS.map((token) => token.name));
    const unknown = raw.ADMIN_CLIENT_IDS.filter((id) => !names.has(id));
    if (unknown.length > 0) {
      problems.push(
        `ADMIN_CLIENT_IDS: ${unknown.map((id) => `"${id}"`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not the name of a token in AUTH_TOKENS (and TLS_CLIENT_CA_FILE is not set)`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);

  const insecurities: InsecureMode[] = [];
  if (!authenticates) insecurities.push('unauthenticated-keyadmin');
  if (raw.AUTH_TOKENS.length > 0 && tls === null) insecurities.push('plaintext-tokens');
  const { host, port } = raw.LISTEN_ADDRESS;
  const refused = isLoopbackHost(host) ? [] : insecurities.filter((mode) => !raw.ALLOW_INSECURE.includes(mode));
  if (refused.length > 0) {
    throw new ConfigError(
      `refusing to start on ${host}:${port}, which is not a loopback address: ${refused.map((mode) => INSECURE_MODES[mode]).join('; ')}. ` +
        'Configure caller authentication and TLS (README, section "Security"), listen on 127.0.0.1, ' +
        `or accept the risk by name with ALLOW_INSECURE=${refused.join(',')}`,
    );
  }
  const database = raw.DATABASE_URL;
  return Object.freeze({
    listenAddress: raw.LISTEN_ADDRESS,
    metricsAddress: raw.METRICS_ADDRESS === 'off' ? null : raw.METRICS_ADDRESS,
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
    authTokens: raw.AUTH_TOKENS,
    tls,
    tlsReloadIntervalMs: raw.TLS_RELOAD_INTERVAL_MS,
    adminClientIds: raw.ADMIN_CLIENT_IDS,
    verifierRequiresAuth: raw.VERIFIER_REQUIRES_AUTH,
    allowInsecure: raw.ALLOW_INSECURE,
    insecurities,
  });
}

/** Cross-field TLS checks: both or none of cert and key, a client CA only with them, a key matching the certificate. */
function tlsMaterial(
  certFile: PemFile | undefined,
  keyFile: PemFile | undefined,
  caFile: PemFile | undefined,
  problems: string[],
): TlsMaterial | null {
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined)
      problems.push('TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE (mutual TLS is TLS)');
    return null;
  }
  if (certFile === undefined || keyFile === undefined) {
    problems.push(
      certFile === undefined
        ? 'TLS_CERT_FILE: required with TLS_KEY_FILE'
        : 'TLS_KEY_FILE: required with TLS_CERT_FILE',
    );
    return null;
  }
  try {
    return readTlsMaterial({ cert: certFile.path, key: keyFile.path, clientCa: caFile?.path ?? null });
  } catch (error) {
    problems.push((error as Error).message);
    return null;
  }
}
