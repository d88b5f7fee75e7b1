import type { Knex } from 'knex';
import type { Logger } from 'pino';

import type { Config } from './config.js';
import { type Clock, systemClock } from './domain/Clock.js';
import { KeyAdministration } from './domain/KeyAdministration.js';
import { KeyCache } from './domain/KeyCache.js';
import { KeyVerifier } from './domain/KeyVerifier.js';
import type { ScopeCatalog } from './domain/ScopeCatalog.js';
import { bindServer, type BuiltServer, createServer, setServing } from './server.js';
import { createDatabase, migrateDatabase } from './storage/createDatabase.js';
import { KnexKeyRepository } from './storage/KnexKeyRepository.js';
import { createKeyAdminService } from './transport/createKeyAdminService.js';
import { createKeyVerifierService } from './transport/createKeyVerifierService.js';

/** Everything createApp needs besides configuration. */
export interface AppDependencies {
  readonly logger: Logger;
  readonly scopes: ScopeCatalog;
  readonly clock?: Clock;
}

/** A wired, not yet listening service. */
export interface App {
  readonly db: Knex;
  readonly cache: KeyCache;
  readonly built: BuiltServer;
  /** Migrates when configured, binds, and marks the services SERVING. Resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Graceful stop: health NOT_SERVING, let in-flight calls finish for up to `timeoutMs`, cancel the
   * rest, then close the database pool.
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
  });
  const repository = new KnexKeyRepository(db);
  const cache = new KeyCache({ repository, maxKeys: config.cacheMaxKeys, negativeTtlMs: config.cacheNegativeTtlMs });
  const admin = new KeyAdministration({
    repository,
    scopes,
    clock,
    defaultLifetimeHours: config.defaultKeyLifetimeHours,
    onKeysChanged: (keys) => cache.invalidate(keys.map((key) => key.secretHash.toString('hex'))),
  });
  const verifier = new KeyVerifier({ cache, scopes, clock });
  const built = createServer({
    keyAdmin: createKeyAdminService(admin, clock, logger),
    keyVerifier: createKeyVerifierService(verifier, logger),
    maxReceiveMessageBytes: config.maxReceiveMessageBytes,
  });

  return {
    db,
    cache,
    built,
    async start() {
      if (config.migrateOnStart) {
        const applied = await migrateDatabase(db);
        if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
      } else {
        await repository.ping();
      }
      const port = await bindServer(built.server, config.listenAddress.host, config.listenAddress.port);
      setServing(built.health, true);
      return port;
    },
    async stop(timeoutMs) {
      setServing(built.health, false);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ timeoutMs }, 'shutdown deadline reached; cancelling in-flight calls');
          built.server.forceShutdown();
          resolve();
        }, timeoutMs);
        built.server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await db.destroy();
    },
  };
}
