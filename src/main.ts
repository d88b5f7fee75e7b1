import { pino } from 'pino';

import { ConfigError, loadConfig } from './config.js';
import { createApp } from './createApp.js';
import { loadScopeCatalog } from './loadScopeCatalog.js';

/** Fields that may carry a secret are never written, whatever a log call passes. */
const REDACT = ['secret', 'key', 'request', 'metadata', '*.secret', '*.key', 'authorization', '*.authorization'];

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`api-key-service: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' } });
  const app = createApp(config, { logger, scopes: loadScopeCatalog(config.scopesFile) });
  let port: number;
  try {
    port = await app.start();
  } catch (error) {
    logger.fatal({ err: error, database: config.databaseDisplay }, `cannot start: ${(error as Error).message}`);
    await app.db.destroy().catch(() => undefined);
    process.exit(1);
  }
  logger.info(
    { address: `${config.listenAddress.host}:${port}`, database: config.databaseDisplay },
    'api-key-service listening (KeyAdmin, KeyVerifier, reflection, health)',
  );
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: health NOT_SERVING, draining calls');
    app.stop(config.shutdownTimeoutMs).then(
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

void main();
