import type { Knex } from 'knex';
import type { Logger } from 'pino';

import { migrateDatabase } from '../storage/createDatabase.js';
import type { Component } from './Component.js';
import type { StopDeadline } from './StopDeadline.js';

/** What DatabaseComponent does at start. */
export interface DatabaseComponentOptions {
  readonly logger: Logger;
  /** Apply pending migrations (MIGRATE_ON_START); otherwise only check that the database answers. */
  readonly migrate: boolean;
  /** Checks connectivity when not migrating (required then). */
  readonly ping?: () => Promise<void>;
  /**
   * Close the pool once started: a cluster primary only migrates, for its workers, and then holds no
   * connection.
   */
  readonly closeAfterStart?: boolean;
}

/** The database pool: migrated (or pinged) at start, closed at stop within the shutdown budget. */
export class DatabaseComponent implements Component {
  private open = true;

  constructor(
    private readonly db: Knex,
    private readonly options: DatabaseComponentOptions,
  ) {}

  async start(): Promise<void> {
    try {
      if (this.options.migrate) {
        const applied = await migrateDatabase(this.db);
        if (applied.length > 0) this.options.logger.info({ migrations: applied }, 'database migrated');
      } else {
        await this.options.ping?.();
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.options.closeAfterStart === true) await this.close();
  }

  async stop(deadline: StopDeadline): Promise<void> {
    await deadline.bound(this.close());
  }

  private async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.db.destroy().catch(() => undefined);
  }
}
