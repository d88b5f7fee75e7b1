import type { Knex } from 'knex';

/**
 * Metadata (ApiKey.metadata): a JSON object of at most 20 short entries (≤ 4 KB, checked by the service).
 * Null for keys created before it, read as no metadata.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.text('metadata').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropColumn('metadata');
  });
}
