import type { Server } from 'node:http';

import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';

import type { Config } from './config.js';
import { type Clock, systemClock } from './domain/Clock.js';
import { createKeyAdministration } from './domain/admin/createKeyAdministration.js';
import { KeyCache } from './domain/KeyCache.js';
import { KeyVerifier } from './domain/KeyVerifier.js';
import { ChangeFeed } from './domain/ChangeFeed.js';
import { LastUsedRecorder } from './domain/LastUsedRecorder.js';
import type { ScopeCatalog } from './domain/ScopeCatalog.js';
import { createMetrics } from './metrics/createMetrics.js';
import { registryEndpoints, startMetricsServer } from './metrics/startMetricsServer.js';
import { bindServer, type BuiltServer, createServer, serverCredentials, setServing } from './transport/server.js';
import { createDatabase, migrateDatabase } from './storage/createDatabase.js';
import { KnexKeyRepository } from './storage/KnexKeyRepository.js';
import { CallerAuthenticator } from './transport/CallerAuthenticator.js';
import { type ReloadResult, ReloadingCertificates } from './transport/ReloadingCertificates.js';
import { createKeyAdminService } from './transport/createKeyAdminService.js';
import { createKeyVerifierService } from './transport/createKeyVerifierService.js';

/** Everything createApp needs besides configuration. */
export interface AppDependencies {
  readonly logger: Logger;
  readonly scopes: ScopeCatalog;
  readonly clock?: Clock;
  /**
   * In a worker of a cluster: tells every other worker of this replica to drop these hashes, resolving
   * once all have, so a change is visible to the next verify whatever worker it lands on.
   */
  readonly broadcastInvalidation?: (hashes: string[]) => Promise<void>;
  /** A cluster worker does not serve the metrics port itself; the primary aggregates its registry. */
  readonly clusterWorker?: boolean;
}

/** A wired, not yet listening service. */
export interface App {
  readonly db: Knex;
  readonly cache: KeyCache;
  readonly verifier: KeyVerifier;
  readonly feed: ChangeFeed;
  readonly lastUsed: LastUsedRecorder;
  readonly built: BuiltServer;
  /** This process's metrics (scraped directly, or aggregated by the cluster primary). */
  readonly registry: Registry;
  /** The TLS certificates being served; null in plaintext. */
  readonly certificates: ReloadingCertificates | null;
  /** Re-reads the TLS files (SIGHUP and a timer call it); null in plaintext. */
  reloadTls(): ReloadResult | null;
  /** Serving, and the cache can be vouched for (/readyz). */
  isReady(): boolean;
  /** Migrates when configured, binds, and marks the services SERVING. Resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Graceful stop: health NOT_SERVING, let in-flight calls finish for up to `timeoutMs`, cancel the
   * rest, stop following the change feed, flush last-used data, then close the database pool.
   */
  stop(timeoutMs: number): Promise<void>;
}

/** Wires storage, domain and transport from a validated configuration. */
export function createApp(config: Config, dependencies: AppDependencies): App {
  const { logger, scopes } = dependencies;
  const clock = dependencies.clock ?? systemClock;
  const db = createDatabase(config.database, {
    poolMax: config.databasePoolMax,
    acquireTimeoutMs: config.databaseTimeoutMs,
    logger,
  });
  const repository = new KnexKeyRepository(db);
  const feed = new ChangeFeed({
    repository,
    clock,
    logger,
    onChanges: (hashes) => cache.invalidate(hashes),
    onStale: () => cache.distrust(),
    onFresh: () => cache.trust(),
    pollIntervalMs: config.changeFeedPollMs,
    stalenessBoundMs: config.stalenessBoundMs,
    gapTimeoutMs: config.changeFeedGapTimeoutMs,
    batchSize: 1000,
  });
  const cache = new KeyCache({
    repository,
    maxKeys: config.cacheMaxKeys,
    negativeTtlMs: config.cacheNegativeTtlMs,
    isFresh: () => feed.isFresh(),
  });
  const lastUsed = new LastUsedRecorder({
    repository,
    logger,
    flushIntervalMs: config.lastUsedFlushMs,
    batchSize: 500,
  });
  const admin = createKeyAdministration({
    repository,
    scopes,
    clock,
    defaultLifetimeHours: config.defaultKeyLifetimeHours,
    onKeysChanged: async (keys) => {
      const hashes = keys.map((key) => key.secretHash.toString('hex'));
      cache.invalidate(hashes);
      await dependencies.broadcastInvalidation?.(hashes);
    },
  });
  const verifier = new KeyVerifier({
    cache,
    scopes,
    clock,
    onVerified: (key, now, clientIp) => lastUsed.record(key.id, now, clientIp),
  });
  let pruneTimer: NodeJS.Timeout | undefined;
  const authenticator = new CallerAuthenticator({
    tokens: config.authTokens,
    clientCertificates: config.tls !== null && config.tls.clientCa !== null,
    adminClientIds: config.adminClientIds,
    verifierRequiresAuth: config.verifierRequiresAuth,
  });
  const certificates = config.tls === null ? null : new ReloadingCertificates(config.tls, logger, clock);
  let tlsReloadTimer: NodeJS.Timeout | undefined;
  const registry = new Registry();
  const observe =
    config.metricsAddress === null
      ? undefined
      : createMetrics(registry, { cache, verifier, feed, lastUsed, db, clock, certificates });
  const built = createServer({
    keyAdmin: createKeyAdminService(admin, clock, { logger, authenticate: authenticator.forKeyAdmin(), observe }),
    keyVerifier: createKeyVerifierService(verifier, { logger, authenticate: authenticator.forKeyVerifier(), observe }),
    maxReceiveMessageBytes: config.maxReceiveMessageBytes,
  });
  let serving = false;
  let metricsServer: Server | undefined;
  const isReady = (): boolean => serving && feed.isFresh();

  return {
    db,
    cache,
    verifier,
    feed,
    lastUsed,
    built,
    registry,
    certificates,
    reloadTls: () => certificates?.reload() ?? null,
    isReady,
    async start() {
      if (config.migrateOnStart) {
        const applied = await migrateDatabase(db);
        if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
      } else {
        await repository.ping();
      }
      await feed.start();
      lastUsed.start();
      const retentionMs = config.changeFeedRetentionHours * 3_600_000;
      pruneTimer = setInterval(
        () => {
          repository.pruneChanges(clock.now() - retentionMs).catch((error: unknown) => {
            logger.warn({ err: error }, 'pruning the change feed failed');
          });
        },
        Math.min(retentionMs / 4, 3_600_000),
      );
      pruneTimer.unref();
      const port = await bindServer(
        built.server,
        config.listenAddress.host,
        config.listenAddress.port,
        serverCredentials(certificates),
      );
      if (certificates !== null && config.tlsReloadIntervalMs > 0) {
        tlsReloadTimer = setInterval(() => certificates.reload(), config.tlsReloadIntervalMs);
        tlsReloadTimer.unref();
      }
      setServing(built.health, true);
      serving = true;
      if (config.metricsAddress !== null && dependencies.clusterWorker !== true) {
        const { host, port: metricsPort } = config.metricsAddress;
        const started = await startMetricsServer(host, metricsPort, registryEndpoints(registry, isReady));
        metricsServer = started.server;
        logger.info({ metricsAddress: `${host}:${started.port}` }, 'metrics, /healthz and /readyz listening');
      }
      return port;
    },
    async stop(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const remaining = (): number => Math.max(0, deadline - Date.now());
      setServing(built.health, false);
      serving = false;
      // In-flight calls may use the budget except a reserve for the final last-used flush.
      const drainMs = timeoutMs - Math.min(2000, Math.floor(timeoutMs / 4));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ timeoutMs: drainMs }, 'shutdown deadline reached; cancelling in-flight calls');
          built.server.forceShutdown();
          resolve();
        }, drainMs);
        built.server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      clearInterval(pruneTimer);
      clearInterval(tlsReloadTimer);
      // A slow or unreachable database must not hold the exit past SHUTDOWN_TIMEOUT_MS.
      const finished = await settlesWithin(Promise.all([feed.stop(), lastUsed.stop()]), remaining());
      if (lastUsed.unwrittenCount > 0) {
        logger.error(
          { timeoutMs, unwrittenKeys: lastUsed.unwrittenCount },
          finished
            ? 'final last-used flush failed; exiting without it'
            : 'shutdown deadline reached before the final last-used flush finished; exiting without it',
        );
      }
      await settlesWithin(db.destroy(), remaining());
      await new Promise((resolve) => (metricsServer === undefined ? resolve(undefined) : metricsServer.close(resolve)));
    },
  };
}

/** Whether `work` settles within `ms` (it is not cancelled either way). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
