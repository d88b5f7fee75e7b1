import type { Knex } from 'knex';

import { isMysql } from '../src/storage/isMysql.js';

/** Keys, their audit trail and the change feed. Portable across MySQL/MariaDB and SQLite. */
export async function up(knex: Knex): Promise<void> {
  const mysql = isMysql(knex);
  await knex.schema.createTable('api_keys', (table) => {
    if (mysql) {
      table.charset('utf8mb4');
      table.collate('utf8mb4_bin');
    }
    table.string('id', 64).primary();
    table.string('organization_id', 64).notNullable();
    table.string('name', 400).notNullable();
    table.string('prefix', 32).notNullable();
    // SHA-256 of the secret; the secret itself is never stored.
    table.binary('secret_hash', 32).notNullable();
    table.unique(['secret_hash'], { indexName: 'api_keys_secret_hash_unique' });
    table.text('scopes').notNullable(); // JSON array, sorted
    table.text('allowed_ips').notNullable(); // JSON array of canonical entries
    table.string('created_by_user_id', 64).notNullable();
    table.string('created_by_role', 32).notNullable();
    // Times are epoch milliseconds: exact, time-zone free and identical on both databases.
    table.bigInteger('create_time').notNullable();
    table.bigInteger('expire_time').notNullable();
    table.bigInteger('update_time').notNullable();
    table.bigInteger('revoke_time').nullable();
    table.string('revoked_by_user_id', 64).nullable();
    table.string('revoke_reason', 2000).nullable();
    table.bigInteger('last_used_time').nullable();
    table.string('last_used_ip', 64).nullable();
    table.string('rotated_from_key_id', 64).nullable();
    table.string('replaced_by_key_id', 64).nullable();
    table.index(['organization_id', 'create_time', 'id'], 'api_keys_org_created');
    table.index(['organization_id', 'created_by_user_id', 'create_time', 'id'], 'api_keys_org_creator_created');
  });
  await knex.schema.createTable('audit_events', (table) => {
    if (mysql) {
      table.charset('utf8mb4');
      table.collate('utf8mb4_bin');
    }
    table.string('id', 64).primary();
    table.string('organization_id', 64).notNullable();
    table.string('key_id', 64).notNullable();
    table.string('action', 32).notNullable();
    table.string('actor_user_id', 64).notNullable();
    table.string('actor_role', 32).notNullable();
    table.string('caller', 200).notNullable();
    table.bigInteger('create_time').notNullable();
    table.string('related_key_id', 64).nullable();
    table.text('changes').notNullable(); // JSON array of {field, oldValue, newValue}
    table.string('reason', 2000).nullable();
    table.index(['organization_id', 'create_time', 'id'], 'audit_events_org_time');
    table.index(['organization_id', 'key_id', 'create_time', 'id'], 'audit_events_org_key_time');
  });
  // The change feed: one row per committed key change, polled by every replica to drop cached entries.
  await knex.schema.createTable('key_changes', (table) => {
    table.bigIncrements('id').primary();
    table.string('key_id', 64).notNullable();
    table.binary('secret_hash', 32).notNullable();
    table.bigInteger('change_time').notNullable();
    table.index(['change_time'], 'key_changes_time');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('key_changes');
  await knex.schema.dropTable('audit_events');
  await knex.schema.dropTable('api_keys');
}
