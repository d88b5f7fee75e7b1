import type { Knex } from 'knex';

import { isMysql } from '../src/storage/isMysql.js';

/**
 * Secrets every replica of the service must share, one row each (today only `page-token`, the key of the
 * page tokens' HMAC when PAGE_TOKEN_SECRET is not configured). The first process to start inserts the row
 * if it is absent and every process reads it back, so concurrent replicas agree on one value without
 * configuration. Rotation is not supported yet: a row is never changed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('service_secrets', (table) => {
    if (isMysql(knex)) {
      table.charset('utf8mb4');
      table.collate('utf8mb4_bin');
    }
    table.string('name', 64).primary();
    table.binary('secret', 64).notNullable();
    table.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('service_secrets');
}
