import cluster from 'node:cluster';

import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';

import { createWorkerChannel, type WorkerChannel } from './cluster/createWorkerChannel.js';
import type { WorkerStats } from './cluster/messages.js';
import { SupervisorChannel } from './cluster/SupervisorChannel.js';
import type { Config } from './config/Config.js';
import { type App, createApp } from './createApp.js';
import { Lifecycle } from './lifecycle/Lifecycle.js';
import type { ProcessRole } from './lifecycle/ProcessRole.js';
import { loadScopeCatalog } from './loadScopeCatalog.js';

/**
 * A process that serves: alone, or as one worker of a cluster (then it talks to its primary, which
 * aggregates its metrics and reports the listening address).
 */
export function createServerRole(config: Config, logger: Logger): ProcessRole {
  let channel: WorkerChannel | null = null;
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
      invalidate: (hashes) => app.keysChanged(hashes),
      stats: () => statsOf(app),
      port: () => app.port,
    });
  }
  const supervisor = channel === null ? new SupervisorChannel(() => Promise.resolve([statsOf(app)])) : null;
  return {
    lifecycle: new Lifecycle([app, channel, supervisor]),
    reload: () => {
      if (app.reloadTls() === null) logger.info('SIGHUP: plaintext, no TLS files to reload');
    },
    listening: () => Promise.resolve(channel === null ? app.port : null),
    listeningFields: {},
  };
}

/** This process's counters, for the benchmark and tests. */
function statsOf(app: App): WorkerStats {
  return {
    cache: { ...app.cache.stats, size: app.cache.size },
    verifier: { ...app.verifier.stats },
    feed: { ...app.feed.stats },
    lastUsed: { ...app.lastUsed.stats },
    memory: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed },
    cpu: { ...process.cpuUsage() },
  };
}
