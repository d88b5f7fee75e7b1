import type { Knex } from 'knex';

/**
 * Usage history (GetKeyUsage): per key and UTC day (days since 1970-01-01), how many verifications
 * succeeded and how many were denied, by the reasons a key that exists can be denied for. Rows are added
 * to by every replica's flush (`count = count + new`), so the columns are sums, never overwritten; rows
 * older than USAGE_RETENTION_DAYS are deleted. No foreign key: keys are never deleted, and a flush
 * should not lock the key row more than its last-used update already does.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('key_usage', (table) => {
    table.string('key_id', 64).notNullable();
    table.integer('day').notNullable();
    for (const column of ['verified', 'revoked', 'expired', 'disabled', 'ip_not_allowed', 'insufficient_scope']) {
      table.bigInteger(column).notNullable().defaultTo(0);
    }
    table.primary(['key_id', 'day']);
    // Retention deletes by day across keys.
    table.index(['day'], 'key_usage_day');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('key_usage');
}
