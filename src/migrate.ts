import { ConfigError } from './config/ConfigError.js';
import { loadConfig } from './config/loadConfig.js';
import { createDatabase, migrateDatabase } from './storage/createDatabase.js';

/** `npm run migrate`: applies pending migrations to DATABASE_URL and exits. */
async function migrate(): Promise<void> {
  const config = loadConfig();
  const db = createDatabase(config.database, { poolMax: 1, acquireTimeoutMs: config.databaseTimeoutMs });
  try {
    const applied = await migrateDatabase(db);
    process.stdout.write(
      applied.length === 0
        ? `${config.databaseDisplay}: already up to date\n`
        : `${config.databaseDisplay}: applied ${applied.join(', ')}\n`,
    );
  } finally {
    await db.destroy();
  }
}

migrate().catch((error: unknown) => {
  process.stderr.write(
    `api-key-service migrate: ${error instanceof ConfigError ? '' : 'failed: '}${(error as Error).message}\n`,
  );
  process.exit(error instanceof ConfigError ? 2 : 1);
});
