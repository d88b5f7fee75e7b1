import { Writable } from 'node:stream';

import { pino } from 'pino';

import { type App, createApp } from '../../src/createApp.js';
import type { Config } from '../../src/config/Config.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import type { Clock } from '../../src/domain/Clock.js';
import { loadScopeCatalog } from '../../src/loadScopeCatalog.js';
import { createClients } from './grpcClients.js';
import { createTestDatabase, type DatabaseKind } from './testDatabase.js';

/** A clock tests can move. */
export class TestClock implements Clock {
  private offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** A running server on a fresh database with connected clients and captured logs. */
export interface TestServer {
  readonly app: App;
  readonly config: Config;
  readonly address: string;
  readonly databaseUrl: string;
  readonly clock: TestClock;
  readonly clients: ReturnType<typeof createClients>;
  /** Every log line the server wrote, as text. */
  readonly logs: string[];
  stop(): Promise<void>;
}

/** Starts a real server on 127.0.0.1:0 against a new database of `kind` (migrated). */
export async function startTestServer(kind: DatabaseKind, env: Record<string, string> = {}): Promise<TestServer> {
  const database = await createTestDatabase(kind);
  const config = loadConfig({
    LISTEN_ADDRESS: '127.0.0.1:0',
    DATABASE_URL: database.url,
    MIGRATE_ON_START: 'true',
    LOG_LEVEL: 'debug',
    METRICS_ADDRESS: '127.0.0.1:0',
    // Tests read the log lines of the calls they make fail; the budget has its own (transportLimits).
    LOG_FAILED_CALLS_PER_SECOND: '0',
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const clock = new TestClock();
  const logger = pino({ level: config.logLevel }, sink);
  const app = createApp(config, { logger, scopes: loadScopeCatalog(config.scopesFile), clock });
  const port = await app.start();
  const address = `127.0.0.1:${port}`;
  const clients = createClients(address);
  return {
    app,
    config,
    address,
    databaseUrl: env.DATABASE_URL ?? database.url,
    clock,
    clients,
    logs,
    async stop() {
      clients.close();
      await app.stop(1000);
      await database.drop();
    },
  };
}
