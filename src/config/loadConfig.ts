import { cleanEnv } from 'envalid';

import { authenticates, authProblems } from './auth.js';
import { cacheAndFeedProblems } from './cacheAndFeed.js';
import type { Config } from './Config.js';
import { ConfigError } from './ConfigError.js';
import { extAuthzConfig } from './extAuthz.js';
import { tracingConfig } from './tracing.js';
import { databaseProblems, displayDatabase, migratesOnStart } from './database.js';
import { acceptedInsecurities } from './insecureSetup.js';
import { metricsAddress } from './metrics.js';
import { propagationProblems } from './propagation.js';
import { SETTINGS } from './settings.js';
import { shutdownProblems } from './shutdown.js';
import { tlsMaterial } from './tls.js';
import { transportLimits } from './transportLimits.js';

/**
 * Reads and validates the environment once. Every invalid variable is reported, not just the first; then
 * the rules across variables (each section's), then the insecure-setup policy.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = cleanEnv(env, SETTINGS, {
    reporter: ({ errors }) => {
      const problems = Object.entries(errors).map(([name, error]) => `  ${name}: ${error.message}`);
      if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
    },
  });
  const problems = [
    ...databaseProblems(raw),
    ...cacheAndFeedProblems(raw),
    ...propagationProblems(raw),
    ...shutdownProblems(raw),
  ];
  const tls = tlsMaterial(raw, problems);
  const clientCertificates = raw.TLS_CLIENT_CA_FILE !== undefined;
  problems.push(...authProblems({ ...raw, mutualTls: clientCertificates }));
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);

  const anyoneAuthenticates = authenticates({ AUTH_TOKENS: raw.AUTH_TOKENS, mutualTls: clientCertificates });
  const insecurities = acceptedInsecurities({
    listenAddress: raw.LISTEN_ADDRESS,
    authenticates: anyoneAuthenticates,
    tokens: raw.AUTH_TOKENS.length > 0,
    tls: tls !== null,
    allowInsecure: raw.ALLOW_INSECURE,
  });
  return Object.freeze({
    listenAddress: raw.LISTEN_ADDRESS,
    metricsAddress: metricsAddress(raw.METRICS_ADDRESS),
    livenessPoolExhaustedMs: raw.LIVENESS_POOL_EXHAUSTED_MS,
    database: raw.DATABASE_URL,
    databaseDisplay: displayDatabase(raw.DATABASE_URL),
    databasePoolMax: raw.DATABASE_POOL_MAX,
    databaseTimeoutMs: raw.DATABASE_TIMEOUT_MS,
    databaseQueryTimeoutMs: raw.DATABASE_QUERY_TIMEOUT_MS,
    migrateOnStart: migratesOnStart(raw.MIGRATE_ON_START, raw.DATABASE_URL),
    logLevel: raw.LOG_LEVEL,
    logFailedCallsPerSecond: raw.LOG_FAILED_CALLS_PER_SECOND,
    defaultKeyLifetimeHours: raw.DEFAULT_KEY_LIFETIME_HOURS,
    pageTokenSecret: raw.PAGE_TOKEN_SECRET ?? null,
    scopesFile: raw.SCOPES_FILE,
    cacheMaxKeys: raw.CACHE_MAX_KEYS,
    cacheNegativeTtlMs: raw.CACHE_NEGATIVE_TTL_MS,
    knownKeyFilterCapacity: raw.KNOWN_KEY_FILTER_CAPACITY,
    unknownKeyLookupsPerSecond: raw.UNKNOWN_KEY_LOOKUPS_PER_SECOND,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: raw.SHUTDOWN_DRAIN_MS,
    maxReceiveMessageBytes: raw.MAX_RECEIVE_MESSAGE_BYTES,
    transportLimits: transportLimits(raw),
    changeFeedPollMs: raw.CHANGE_FEED_POLL_MS,
    cacheMaxAgeMs: raw.CACHE_MAX_AGE_MS,
    changeFeedRetentionHours: raw.CHANGE_FEED_RETENTION_HOURS,
    stalenessBoundMs: raw.STALENESS_BOUND_MS,
    lastUsedFlushMs: raw.LAST_USED_FLUSH_MS,
    usageRetentionDays: raw.USAGE_RETENTION_DAYS,
    propagationWaitMs: raw.PROPAGATION_WAIT_MS,
    replicaHeartbeatMs: raw.REPLICA_HEARTBEAT_MS,
    replicaTimeoutMs: raw.REPLICA_TIMEOUT_MS,
    workers: raw.WORKERS,
    authTokens: raw.AUTH_TOKENS,
    tls,
    tlsReloadIntervalMs: raw.TLS_RELOAD_INTERVAL_MS,
    adminClientIds: raw.ADMIN_CLIENT_IDS,
    leakReporterClientIds: raw.LEAK_REPORTER_CLIENT_IDS,
    verifierRequiresAuth: raw.VERIFIER_REQUIRES_AUTH,
    allowInsecure: raw.ALLOW_INSECURE,
    clientCertificates,
    authenticates: anyoneAuthenticates,
    insecurities,
    extAuthz: extAuthzConfig(raw),
    tracing: tracingConfig(raw),
  });
}
