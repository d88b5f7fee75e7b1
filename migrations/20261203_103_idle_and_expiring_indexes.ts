import type { Knex } from 'knex';

/**
 * ListKeys' `unused_since` and `expire_before` filters (idle keys, keys about to expire): each is a range
 * on one column within an organization, read through its own index instead of every key of the
 * organization (docs/performance.md, "Idle and expiring keys", has the MariaDB plans with 1,000,000 keys).
 * `last_used_time IS NULL OR last_used_time < T` is one range of the index: NULL sorts first.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.index(['organization_id', 'last_used_time'], 'api_keys_org_last_used');
    table.index(['organization_id', 'expire_time'], 'api_keys_org_expire');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropIndex(['organization_id', 'last_used_time'], 'api_keys_org_last_used');
    table.dropIndex(['organization_id', 'expire_time'], 'api_keys_org_expire');
  });
}
