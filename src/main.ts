import cluster from 'node:cluster';
import { isatty } from 'node:tty';

import { type Logger, pino } from 'pino';

import { createPrimaryRole } from './cluster/createPrimaryRole.js';
import type { Config } from './config/Config.js';
import { ConfigError } from './config/ConfigError.js';
import { routeRuleScopeProblems } from './config/extAuthz.js';
import { securityWarnings } from './config/insecureSetup.js';
import { loadConfig } from './config/loadConfig.js';
import { createServerRole } from './createServerRole.js';
import type { ScopeCatalog } from './domain/ScopeCatalog.js';
import { drainPeriodFor } from './lifecycle/drainPeriodFor.js';
import type { ProcessRole } from './lifecycle/ProcessRole.js';
import { StopDeadline } from './lifecycle/StopDeadline.js';
import { loadScopeCatalog } from './loadScopeCatalog.js';

/** Fields that may carry a secret are never written, whatever a log call passes. */
const REDACT = ['secret', 'key', 'request', 'metadata', '*.secret', '*.key', 'authorization', '*.authorization'];

/** What SIGHUP does once there is something to reload: re-read the TLS files. */
let onReloadSignal = (): void => undefined;

/**
 * The configuration, and the files it names that only make sense together: the scopes of
 * EXT_AUTHZ_RULES_FILE against the catalog (SCOPES_FILE). A problem is reported as every other
 * configuration problem, on stderr with exit code 2, before any process is forked.
 */
function readConfig(): Config {
  try {
    const config = loadConfig();
    let catalog: ScopeCatalog;
    try {
      catalog = loadScopeCatalog(config.scopesFile);
    } catch (error) {
      throw new ConfigError(`invalid configuration:\n  ${(error as Error).message}`);
    }
    const problems = routeRuleScopeProblems(config.extAuthz.rules, catalog);
    if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`api-key-service: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/**
 * Runs `stop` once on the first SIGTERM/SIGINT, with the drain period that signal gets (drainPeriodFor),
 * then exits 0 (or 1 if stopping failed). Later signals are ignored: the stop already has its deadline.
 */
function onShutdownSignal(logger: Logger, config: Config, stop: (deadline: StopDeadline) => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const drainMs = drainPeriodFor(signal, config.shutdownDrainMs, isatty(0));
    const fields = { signal, drainMs, timeoutMs: config.shutdownTimeoutMs };
    if (drainMs > 0) logger.info(fields, `draining: health NOT_SERVING, still accepting for ${drainMs} ms`);
    else logger.info(fields, 'shutting down: health NOT_SERVING, no drain period');
    stop(StopDeadline.after(config.shutdownTimeoutMs, { drainMs })).then(
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

/** Starts a lone process, a cluster primary or a worker alike: start, then stop on a signal. */
async function run(config: Config, logger: Logger, role: ProcessRole): Promise<void> {
  onReloadSignal = () => role.reload();
  try {
    await role.lifecycle.start(config.shutdownTimeoutMs);
  } catch (error) {
    logger.fatal({ err: error, database: config.databaseDisplay }, `cannot start: ${(error as Error).message}`);
    process.exit(1);
  }
  onShutdownSignal(logger, config, (deadline) => role.lifecycle.stop(deadline));
  const port = await role.listening();
  if (port === null) return;
  logger.info(
    { address: `${config.listenAddress.host}:${port}`, database: config.databaseDisplay, ...role.listeningFields },
    'api-key-service listening (KeyAdmin, KeyVerifier, Envoy ext_authz Check, reflection, health)',
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
  const primary = config.workers > 1 && cluster.isPrimary;
  await run(config, logger, primary ? createPrimaryRole(config, logger) : createServerRole(config, logger));
}

void main();
