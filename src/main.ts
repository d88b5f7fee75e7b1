import cluster from 'node:cluster';

import { type Logger, pino } from 'pino';
import { AggregatorRegistry } from 'prom-client';

import { runPrimary } from './cluster/runPrimary.js';
import { createWorkerChannel, type WorkerChannel } from './cluster/createWorkerChannel.js';
import type { WorkerStats } from './cluster/messages.js';
import { type Config, ConfigError, INSECURE_MODES, isLoopbackHost, loadConfig } from './config.js';
import { createApp } from './createApp.js';
import { loadScopeCatalog } from './loadScopeCatalog.js';
import { startMetricsServer } from './metrics/startMetricsServer.js';
import { createDatabase, migrateDatabase } from './storage/createDatabase.js';

/** Fields that may carry a secret are never written, whatever a log call passes. */
const REDACT = ['secret', 'key', 'request', 'metadata', '*.secret', '*.key', 'authorization', '*.authorization'];

/** What SIGHUP does once there is something to reload: re-read the TLS files. */
let onReloadSignal = (): void => undefined;

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`api-key-service: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/**
 * What an operator must know about this configuration's security: each accepted insecurity (on loopback,
 * or opted into with ALLOW_INSECURE) and a KeyAdmin nobody may call.
 */
function securityWarnings(config: Config): string[] {
  const { host, port } = config.listenAddress;
  const loopback = isLoopbackHost(host);
  const warnings = config.insecurities.map((mode) =>
    loopback
      ? `INSECURE: ${INSECURE_MODES[mode]}. Tolerated only because ${host}:${port} is reachable from this machine alone; configure caller authentication before listening elsewhere (README, section "Security")`
      : `INSECURE: ${INSECURE_MODES[mode]}. Accepted on ${host}:${port} because ALLOW_INSECURE names ${mode}`,
  );
  const authenticates = config.authTokens.length > 0 || (config.tls !== null && config.tls.clientCa !== null);
  if (authenticates && config.adminClientIds.length === 0) {
    warnings.push('ADMIN_CLIENT_IDS is empty: every KeyAdmin call will be refused with PERMISSION_DENIED');
  }
  return warnings;
}

/** Runs `stop` once on the first SIGTERM/SIGINT, then exits 0 (or 1 if stopping failed). */
function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: health NOT_SERVING, draining calls');
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * When started with an IPC channel (child_process.fork, as the benchmark does), answers
 * `{ type: 'stats', id }` with every process's counters.
 */
function answerSupervisor(collect: () => Promise<WorkerStats[]>): void {
  if (process.send === undefined) return;
  process.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null || (message as { type?: unknown }).type !== 'stats') return;
    const id = (message as { id?: unknown }).id;
    void collect().then((stats) => process.send?.({ type: 'stats', id, stats }));
  });
}

/** The cluster primary: migrate once, fork the workers, relay invalidations. */
async function runClusterPrimary(config: Config, logger: Logger): Promise<void> {
  if (config.migrateOnStart) {
    const db = createDatabase(config.database, { poolMax: 1, acquireTimeoutMs: config.databaseTimeoutMs });
    try {
      const applied = await migrateDatabase(db);
      if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    } catch (error) {
      logger.fatal({ err: error, database: config.databaseDisplay }, `cannot start: ${(error as Error).message}`);
      process.exit(1);
    } finally {
      await db.destroy();
    }
  }
  const primary = runPrimary(config.workers, { ...process.env, MIGRATE_ON_START: 'false' }, logger);
  onShutdownSignal(logger, () => primary.stop());
  onReloadSignal = () => {
    logger.info('SIGHUP: workers reload the TLS files');
    primary.signalWorkers('SIGHUP');
  };
  answerSupervisor(() => primary.stats());
  const port = await primary.listening;
  if (config.metricsAddress !== null) {
    // prom-client asks every worker for its registry over cluster IPC and sums (or min/max) the series.
    const aggregator = new AggregatorRegistry();
    const { host, port: metricsPort } = config.metricsAddress;
    const started = await startMetricsServer(host, metricsPort, {
      metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
      ready: () => true,
    });
    logger.info({ metricsAddress: `${host}:${started.port}` }, 'metrics, /healthz and /readyz listening');
  }
  logger.info(
    { address: `${config.listenAddress.host}:${port}`, database: config.databaseDisplay, workers: config.workers },
    'api-key-service listening (KeyAdmin, KeyVerifier, reflection, health)',
  );
}

/** A single process, or one worker of a cluster. */
async function runServer(config: Config, logger: Logger): Promise<void> {
  let channel: WorkerChannel | undefined;
  const stats = (): WorkerStats => ({
    cache: { ...app.cache.stats, size: app.cache.size },
    verifier: { ...app.verifier.stats },
    feed: { ...app.feed.stats },
    lastUsed: { ...app.lastUsed.stats },
    memory: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed },
    cpu: { ...process.cpuUsage() },
  });
  const app = createApp(config, {
    logger,
    scopes: loadScopeCatalog(config.scopesFile),
    broadcastInvalidation: (hashes) => channel?.broadcastInvalidation(hashes) ?? Promise.resolve(),
    clusterWorker: cluster.isWorker,
  });
  if (cluster.isWorker) {
    AggregatorRegistry.setRegistries([app.registry]);
    new AggregatorRegistry(); // answers the primary's metric requests
    channel = createWorkerChannel({
      invalidate: (hashes) => app.cache.invalidate(hashes),
      stats,
    });
  }
  onReloadSignal = () => {
    if (app.reloadTls() === null) logger.info('SIGHUP: plaintext, no TLS files to reload');
  };
  let port: number;
  try {
    port = await app.start();
  } catch (error) {
    logger.fatal({ err: error, database: config.databaseDisplay }, `cannot start: ${(error as Error).message}`);
    await app.db.destroy().catch(() => undefined);
    process.exit(1);
  }
  onShutdownSignal(logger, () => app.stop(config.shutdownTimeoutMs));
  if (channel !== undefined) {
    channel.announceListening(port);
    return;
  }
  answerSupervisor(() => Promise.resolve([stats()]));
  logger.info(
    { address: `${config.listenAddress.host}:${port}`, database: config.databaseDisplay },
    'api-key-service listening (KeyAdmin, KeyVerifier, reflection, health)',
  );
}

async function main(): Promise<void> {
  // Installed first: the default action of SIGHUP would end the process. Until the service is wired there
  // is nothing to reload (the configuration about to be read holds the files' current contents).
  process.on('SIGHUP', () => onReloadSignal());
  const config = readConfig();
  const logger = pino({
    level: config.logLevel,
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(cluster.isWorker ? { base: { pid: process.pid, worker: cluster.worker?.id } } : {}),
  });
  if (cluster.isPrimary) {
    for (const warning of securityWarnings(config)) logger.warn({ insecure: config.insecurities }, warning);
  }
  if (config.workers > 1 && cluster.isPrimary) await runClusterPrimary(config, logger);
  else await runServer(config, logger);
}

void main();
