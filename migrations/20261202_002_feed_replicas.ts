import type { Knex } from 'knex';

import { isMysql } from '../src/storage/isMysql.js';

/**
 * Acknowledged propagation (docs/architecture.md, "Acknowledged propagation"): one row per serving
 * process, with the change-feed position it has applied and a heartbeat, both in the database's clock
 * (epoch ms), so a write can wait until every live replica has applied it. A replica inserts its row at
 * start, updates it as its feed advances and at every heartbeat, and deletes it when it stops; rows of
 * replicas that died are deleted once their heartbeat is an hour old.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('feed_replicas', (table) => {
    if (isMysql(knex)) {
      table.charset('utf8mb4');
      table.collate('utf8mb4_bin');
    }
    // host:pid:random, new at every start of a process.
    table.string('replica_id', 160).primary();
    table.bigInteger('applied_position').notNullable();
    table.bigInteger('heartbeat_at').notNullable();
    table.bigInteger('started_at').notNullable();
    // Writers read the live rows by it; the pruner deletes dead ones by it.
    table.index(['heartbeat_at'], 'feed_replicas_heartbeat');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('feed_replicas');
}
