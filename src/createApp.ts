import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';

import type { Config } from './config/Config.js';
import { type Clock, monotonicClock, systemClock } from './domain/Clock.js';
import { createKeyAdministration } from './domain/admin/createKeyAdministration.js';
import { KeyCache } from './domain/KeyCache.js';
import { KeyVerifier } from './domain/KeyVerifier.js';
import { KnownKeyFilter } from './domain/KnownKeyFilter.js';
import { UnknownKeyGate } from './domain/UnknownKeyGate.js';
import { ChangeFeed } from './domain/ChangeFeed.js';
import { PageTokens } from './domain/pageToken.js';
import { LastUsedRecorder } from './domain/LastUsedRecorder.js';
import { isUsageOutcome, UsageTally } from './domain/UsageTally.js';
import { ReplicaPropagationWaiter } from './domain/ReplicaPropagationWaiter.js';
import type { ScopeCatalog } from './domain/ScopeCatalog.js';
import { boundedStop } from './lifecycle/boundedStop.js';
import { ChangeFeedPruner } from './lifecycle/ChangeFeedPruner.js';
import type { Component } from './lifecycle/Component.js';
import { DatabaseComponent } from './lifecycle/DatabaseComponent.js';
import { LastUsedFlusher } from './lifecycle/LastUsedFlusher.js';
import { UsagePruner } from './lifecycle/UsagePruner.js';
import { Lifecycle } from './lifecycle/Lifecycle.js';
import { newReplicaId } from './lifecycle/newReplicaId.js';
import { PageTokenSecretComponent } from './lifecycle/PageTokenSecretComponent.js';
import { ReplicaHeartbeat } from './lifecycle/ReplicaHeartbeat.js';
import { StopDeadline } from './lifecycle/StopDeadline.js';
import { createMetrics } from './metrics/createMetrics.js';
import { livenessCheck } from './metrics/livenessCheck.js';
import { MetricsHttpServer } from './metrics/MetricsHttpServer.js';
import { type BuiltServer, createServer, serverCredentials } from './transport/server.js';
import { createDatabase } from './storage/createDatabase.js';
import { KnexKeyRepository } from './storage/KnexKeyRepository.js';
import { KnexReplicaRegistry } from './storage/KnexReplicaRegistry.js';
import { PoolStallWatch } from './storage/PoolStallWatch.js';
import type { CallerGuard } from './transport/authenticateBeforeReading.js';
import { CallerAuthenticator } from './transport/CallerAuthenticator.js';
import { LogBudget } from './transport/pipeline/LogBudget.js';
import { GrpcServer } from './transport/GrpcServer.js';
import { type ReloadResult, ReloadingCertificates } from './transport/ReloadingCertificates.js';
import { createKeyAdminService } from './transport/createKeyAdminService.js';
import { createKeyVerifierService } from './transport/createKeyVerifierService.js';
import { createAuthorizationService } from './transport/createAuthorizationService.js';
import { ConfigError } from './config/ConfigError.js';
import { routeRuleScopeProblems } from './config/extAuthz.js';
import type { ServiceOptions } from './transport/pipeline/createCallPipeline.js';
import { createRejectionReporter } from './transport/pipeline/createRejectionReporter.js';
import { TransportLimitEvents } from './transport/TransportLimitEvents.js';
import { Tracing } from './tracing/Tracing.js';

/** How often a write waiting for acknowledgement reads `feed_replicas` (one indexed query per process). */
const PROPAGATION_POLL_MS = 15;

/**
 * Unknown keys waiting for the next feed poll at most (UnknownKeyGate); more are refused UNAVAILABLE.
 * Each holds its call for one poll; the streams limit bounds them per connection already.
 */
const MAX_KEYS_WAITING_FOR_FEED = 10_000;

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

/** A wired, not yet listening service; itself a component of its process. */
export interface App extends Component {
  readonly db: Knex;
  /** OpenTelemetry traces; null when off (no OTLP endpoint configured). */
  readonly tracing: Tracing | null;
  readonly cache: KeyCache;
  readonly verifier: KeyVerifier;
  readonly feed: ChangeFeed;
  /** The filter of every stored key, and the gate it serves (random well-formed keys stay off the database). */
  readonly knownKeys: KnownKeyFilter;
  readonly unknownKeys: UnknownKeyGate;
  /** Drops this process's cached copies of these keys (hex secret digests) and records them as existing. */
  keysChanged(hashes: readonly string[]): void;
  readonly lastUsed: LastUsedRecorder;
  /** This process's id in `feed_replicas` (`host:pid:random`). */
  readonly replicaId: string;
  readonly built: BuiltServer;
  /** This process's metrics (scraped directly, or aggregated by the cluster primary). */
  readonly registry: Registry;
  /** The TLS certificates being served; null in plaintext. */
  readonly certificates: ReloadingCertificates | null;
  /** The bound gRPC port; throws before start. */
  readonly port: number;
  /** Re-reads the TLS files (SIGHUP and a timer call it); null in plaintext. */
  reloadTls(): ReloadResult | null;
  /** Serving, and the cache can be vouched for (/readyz). */
  isReady(): boolean;
  /** Null while the process makes progress, else why not (/healthz; see livenessCheck). */
  liveness(): string | null;
  /**
   * Starts the components in order (metrics port, database: migrate or ping, page-token secret, change feed, replica
   * heartbeat, last-used flusher, feed pruner, TLS reloader, gRPC server: bind and SERVING). Resolves
   * with the bound port.
   */
  start(): Promise<number>;
  /**
   * Graceful stop, in the reverse order, within `timeout` (ms, or a deadline shared with the rest of the
   * process): health NOT_SERVING, still accepting through the deadline's drain period, then let in-flight
   * calls finish, cancel the rest, stop the timers, flush last-used data, stop following the change feed,
   * close the database pool, close the metrics port.
   */
  stop(timeout: number | StopDeadline): Promise<void>;
}

/** Storage and domain: the collaborators the components and the services share. */
function createCollaborators(config: Config, dependencies: AppDependencies) {
  const { logger, scopes } = dependencies;
  const clock = dependencies.clock ?? systemClock;
  const db = createDatabase(config.database, {
    poolMax: config.databasePoolMax,
    acquireTimeoutMs: config.databaseTimeoutMs,
    queryTimeoutMs: config.databaseQueryTimeoutMs,
    logger,
  });
  const tracing = config.tracing === null ? null : new Tracing(config.tracing, logger);
  const repository = new KnexKeyRepository(db, tracing?.tracer);
  const replicas = new KnexReplicaRegistry(db);
  const replicaId = newReplicaId();
  const feed = new ChangeFeed({
    repository,
    monotonic: monotonicClock,
    logger,
    onChanges: (changes) => {
      const cached = changes.map((change) => ({
        hexDigest: change.secretHash.toString('hex'),
        keyVersion: change.keyVersion,
      }));
      for (const change of cached) knownKeys.add(change.hexDigest, change.keyVersion === 1);
      cache.applyChanges(cached);
    },
    onGap: () => {
      knownKeys.invalidate();
      cache.clear();
    },
    onStale: () => cache.distrust(),
    onFresh: () => cache.trust(),
    onApplied: () => heartbeat.applied(),
    pollIntervalMs: config.changeFeedPollMs,
    stalenessBoundMs: config.stalenessBoundMs,
    pollTimeoutMs: config.databaseTimeoutMs,
    batchSize: 1000,
  });
  const heartbeat = new ReplicaHeartbeat({
    registry: replicas,
    replicaId,
    appliedPosition: () => feed.stats.position,
    heartbeatMs: config.replicaHeartbeatMs,
    logger,
  });
  const propagation =
    config.propagationWaitMs === 0
      ? undefined
      : new ReplicaPropagationWaiter({
          registry: replicas,
          selfId: replicaId,
          waitMs: config.propagationWaitMs,
          replicaTimeoutMs: config.replicaTimeoutMs,
          pollMs: PROPAGATION_POLL_MS,
          readTimeoutMs: config.databaseTimeoutMs,
          monotonic: monotonicClock,
        });
  const knownKeys = new KnownKeyFilter({
    repository,
    logger,
    minCapacity: config.knownKeyFilterCapacity,
    pageSize: 10_000,
  });
  const unknownKeys = new UnknownKeyGate({
    filter: knownKeys,
    feed,
    lookupsPerSecond: config.unknownKeyLookupsPerSecond,
    maxWaiting: MAX_KEYS_WAITING_FOR_FEED,
    monotonic: monotonicClock,
  });
  const cache = new KeyCache({
    repository,
    maxKeys: config.cacheMaxKeys,
    negativeTtlMs: config.cacheNegativeTtlMs,
    maxAgeMs: config.cacheMaxAgeMs,
    isFresh: () => feed.isFresh(),
    ...(config.knownKeyFilterCapacity === 0 ? {} : { gate: unknownKeys }),
  });
  /** Drops this process's copies of keys this process or a sibling worker changed, and learns new ones. */
  const keysChanged = (hashes: readonly string[]): void => {
    for (const hash of hashes) knownKeys.add(hash, false);
    cache.invalidate(hashes);
  };
  const usage = new UsageTally();
  const lastUsed = new LastUsedRecorder({
    repository,
    logger,
    flushIntervalMs: config.lastUsedFlushMs,
    batchSize: 500,
    usage,
  });
  const pageTokenSecret = new PageTokenSecretComponent(db, config.pageTokenSecret);
  const admin = createKeyAdministration({
    repository,
    scopes,
    clock,
    defaultLifetimeHours: config.defaultKeyLifetimeHours,
    pageTokens: new PageTokens(() => pageTokenSecret.current()),
    onKeysChanged: async (keys) => {
      const hashes = keys.map((key) => key.secretHash.toString('hex'));
      keysChanged(hashes);
      await dependencies.broadcastInvalidation?.(hashes);
    },
    // Sibling workers learn a new key from their own feed (within a poll), or wait for it: never refused.
    onKeysCreated: (keys) => {
      for (const key of keys) knownKeys.add(key.secretHash.toString('hex'), false);
    },
    ...(propagation === undefined ? {} : { propagation }),
  });
  const verifier = new KeyVerifier({
    cache,
    scopes,
    clock,
    onVerified: (key, now, clientIp) => lastUsed.record(key.id, now, clientIp),
    onDecided: (key, outcome, now) => {
      if (isUsageOutcome(outcome)) usage.add(key.id, now, outcome);
    },
  });
  return {
    clock,
    tracing,
    db,
    repository,
    replicas,
    replicaId,
    heartbeat,
    propagation,
    feed,
    knownKeys,
    unknownKeys,
    keysChanged,
    cache,
    lastUsed,
    pageTokenSecret,
    admin,
    verifier,
  };
}

/** Wires storage, domain and transport from a validated configuration, and assembles the components. */
export function createApp(config: Config, dependencies: AppDependencies): App {
  const { logger } = dependencies;
  const {
    clock,
    tracing,
    db,
    repository,
    replicas,
    replicaId,
    heartbeat,
    propagation,
    feed,
    knownKeys,
    unknownKeys,
    keysChanged,
    cache,
    lastUsed,
    pageTokenSecret,
    admin,
    verifier,
  } = createCollaborators(config, dependencies);
  const authenticator = new CallerAuthenticator({
    tokens: config.authTokens,
    clientCertificates: config.clientCertificates,
    adminClientIds: config.adminClientIds,
    leakReporterClientIds: config.leakReporterClientIds,
    verifierRequiresAuth: config.verifierRequiresAuth,
  });
  const certificates =
    config.tls === null ? null : new ReloadingCertificates(config.tls, logger, clock, config.tlsReloadIntervalMs);
  const registry = new Registry();
  const transportEvents = new TransportLimitEvents();
  const limits = config.transportLimits;
  const observe =
    config.metricsAddress === null
      ? undefined
      : createMetrics(registry, {
          cache,
          verifier,
          feed,
          lastUsed,
          db,
          clock,
          certificates,
          replicas: { registry: replicas, timeoutMs: config.replicaTimeoutMs, waiter: propagation ?? null },
          transportEvents,
          ...(config.knownKeyFilterCapacity === 0 ? {} : { unknownKeys: { filter: knownKeys, gate: unknownKeys } }),
        });
  const failureLogBudget = new LogBudget(config.logFailedCallsPerSecond, (suppressed) =>
    logger.warn(
      { suppressed, perSecond: config.logFailedCallsPerSecond },
      'more failed calls than LOG_FAILED_CALLS_PER_SECOND: not logged one by one (apikeys_rpc_handled_total counts them)',
    ),
  );
  const adminOptions = {
    logger,
    failureLogBudget,
    tracing: tracing ?? undefined,
    authenticate: authenticator.forKeyAdmin(),
    observe,
    defaultDeadlineMs: limits.adminDefaultDeadlineMs,
    onDefaultDeadline: () => transportEvents.record('admin_default_deadline'),
  };
  const leakReporterOptions = { ...adminOptions, authenticate: authenticator.forLeakReporter() };
  const verifierOptions = {
    logger,
    failureLogBudget,
    tracing: tracing ?? undefined,
    authenticate: authenticator.forKeyVerifier(),
    observe,
    defaultDeadlineMs: limits.verifierDefaultDeadlineMs,
    onDefaultDeadline: () => transportEvents.record('verifier_default_deadline'),
  };
  const ruleProblems = routeRuleScopeProblems(config.extAuthz.rules, dependencies.scopes);
  if (ruleProblems.length > 0) throw new ConfigError(`invalid configuration:\n  ${ruleProblems.join('\n  ')}`);
  const built = createServer({
    keyAdmin: createKeyAdminService(admin, clock, adminOptions, leakReporterOptions),
    keyVerifier: createKeyVerifierService(verifier, verifierOptions),
    // Envoy's Check: KeyVerifier's callers, authentication and deadline, the same verifier.
    authorization: createAuthorizationService(
      verifier,
      { ...config.extAuthz, scopes: dependencies.scopes },
      verifierOptions,
    ),
    maxReceiveMessageBytes: config.maxReceiveMessageBytes,
    limits,
    // The same authentication, decided before a request is read; its refusals logged and counted as the
    // pipeline's would be.
    callerGuards: {
      keyAdmin: callerGuard(adminOptions),
      leakReporter: callerGuard(leakReporterOptions),
      keyVerifier: callerGuard(verifierOptions),
      authorization: callerGuard(verifierOptions),
    },
    onDefaultDeadline: (service) =>
      transportEvents.record(service === 'keyAdmin' ? 'admin_default_deadline' : 'verifier_default_deadline'),
  });
  const grpc = new GrpcServer(built, {
    ...config.listenAddress,
    credentials: serverCredentials(certificates, limits.handshakeTimeoutMs),
    logger,
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    onHandshakeTimeout: () => transportEvents.record('handshake_timeout'),
    onSettingsTimeout: () => transportEvents.record('settings_timeout'),
    maxConnections: limits.maxConnections,
    maxConnectionsPerIp: limits.maxConnectionsPerIp,
    onConnectionLimit: (limit) =>
      transportEvents.record(limit === 'connections' ? 'connection_limit' : 'ip_connection_limit'),
  });
  const isReady = (): boolean => grpc.isServing && feed.isFresh();
  const poolWatch = new PoolStallWatch(db);
  const liveness = livenessCheck({
    feedSettledAt: () => feed.stats.lastSettledAt,
    feedBoundMs: config.changeFeedPollMs + config.databaseTimeoutMs + 2 * config.databaseQueryTimeoutMs,
    poolStalledForMs: () => poolWatch.stalledForMs(),
    poolBoundMs: config.livenessPoolExhaustedMs,
  });
  // Started in this order, stopped in the reverse one; a component this configuration lacks is null.
  const lifecycle = new Lifecycle([
    // First to start, last to stop: the spans of the last calls are exported after the server closed.
    tracing,
    config.metricsAddress === null || dependencies.clusterWorker === true
      ? null
      : new MetricsHttpServer(
          config.metricsAddress,
          registryEndpoints(registry, isReady, () => liveness()),
          logger,
        ),
    separateMigration(config, logger),
    new DatabaseComponent(db, {
      logger,
      migrate: config.migrateOnStart && config.database.kind === 'sqlite',
      ping: () => repository.ping(),
    }),
    pageTokenSecret,
    boundedStop(feed),
    // After the feed: keys created from its start on reach the filter through it, older ones by the scan.
    config.knownKeyFilterCapacity === 0 ? null : knownKeys,
    heartbeat,
    new LastUsedFlusher(lastUsed, logger),
    new ChangeFeedPruner(repository, clock, logger, config.changeFeedRetentionHours, replicas),
    new UsagePruner(repository, clock, logger, config.usageRetentionDays),
    certificates,
    grpc,
  ]);

  return {
    db,
    tracing,
    cache,
    verifier,
    feed,
    knownKeys,
    unknownKeys,
    keysChanged,
    lastUsed,
    replicaId,
    built,
    registry,
    certificates,
    get port() {
      return grpc.port;
    },
    reloadTls: () => certificates?.reload() ?? null,
    isReady,
    liveness: () => liveness(),
    async start() {
      await lifecycle.start(config.shutdownTimeoutMs);
      return grpc.port;
    },
    stop: (timeout) => lifecycle.stop(typeof timeout === 'number' ? StopDeadline.after(timeout) : timeout),
  };
}

/** The server interceptor's guard of a service that authenticates its callers; undefined for one that does not. */
function callerGuard(options: ServiceOptions): CallerGuard | undefined {
  const { authenticate } = options;
  return authenticate === undefined ? undefined : { authenticate, onRejected: createRejectionReporter(options) };
}

/**
 * MIGRATE_ON_START on MySQL: the migrations run on a pool of their own, closed once done, without the
 * statement deadline and session limits of the service's pool (a DDL may rightly wait or run for
 * minutes), as `npm run migrate` and a cluster primary run them. SQLite migrates on the service's pool
 * (it has neither, and `sqlite::memory:` is private to its one connection): null.
 */
function separateMigration(config: Config, logger: Logger): DatabaseComponent | null {
  if (!config.migrateOnStart || config.database.kind !== 'mysql') return null;
  const db = createDatabase(config.database, { poolMax: 1, acquireTimeoutMs: config.databaseTimeoutMs, logger });
  return new DatabaseComponent(db, { logger, migrate: true, closeAfterStart: true });
}

/** The metrics endpoints of a single process: its own registry. */
function registryEndpoints(registry: Registry, ready: () => boolean, liveness: () => string | null) {
  return {
    metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    ready,
    liveness,
  };
}
