import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';

import type { Config } from '../config/Config.js';
import { DatabaseComponent } from '../lifecycle/DatabaseComponent.js';
import { Lifecycle } from '../lifecycle/Lifecycle.js';
import type { ProcessRole } from '../lifecycle/ProcessRole.js';
import { MetricsHttpServer } from '../metrics/MetricsHttpServer.js';
import { createDatabase } from '../storage/createDatabase.js';
import { ClusterPrimary } from './ClusterPrimary.js';
import { SupervisorChannel } from './SupervisorChannel.js';

/** The cluster primary: migrates once (when configured), forks the workers, relays invalidations. */
export function createPrimaryRole(config: Config, logger: Logger): ProcessRole {
  const primary = new ClusterPrimary(config.workers, { ...process.env, MIGRATE_ON_START: 'false' }, logger);
  return {
    // Started in this order, stopped in the reverse one; a component this configuration lacks is null.
    lifecycle: new Lifecycle([
      config.metricsAddress === null ? null : new MetricsHttpServer(config.metricsAddress, aggregated(primary), logger),
      config.migrateOnStart ? migration(config, logger) : null,
      primary,
      new SupervisorChannel(() => primary.stats()),
    ]),
    reload: () => {
      logger.info('SIGHUP: workers reload the TLS files');
      primary.signalWorkers('SIGHUP');
    },
    listening: () => primary.listening,
    listeningFields: { workers: config.workers },
  };
}

/** The workers' metrics, which prom-client asks each of them for over cluster IPC and sums (or min/max). */
function aggregated(primary: ClusterPrimary) {
  const aggregator = new AggregatorRegistry();
  return {
    metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
    // Each worker's own readiness is its gRPC health; the primary is ready once all of them listened, and
    // no longer from the first moment of a stop (while the workers drain).
    ready: () => primary.ready,
    // Each worker judges its own progress (its feed, its pool) and has no HTTP port to say so; the
    // primary, which runs neither, only answers. A worker that exits is replaced by the primary.
    liveness: () => null,
  };
}

/** Migrates on a pool of its own, closed once done: the primary serves no calls. */
function migration(config: Config, logger: Logger): DatabaseComponent {
  const db = createDatabase(config.database, { poolMax: 1, acquireTimeoutMs: config.databaseTimeoutMs });
  return new DatabaseComponent(db, { logger, migrate: true, closeAfterStart: true });
}
