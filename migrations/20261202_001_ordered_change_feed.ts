import type { Knex } from 'knex';

import { isMysql } from '../src/storage/isMysql.js';

/**
 * The change feed in commit order (docs/architecture.md, "The change feed"): `key_feed` rows carry a
 * gapless position taken from the one-row `key_feed_head` while the writing transaction holds that row's
 * lock until it commits, so positions become visible in ascending order and a rolled-back transaction
 * gives its position back. Keys get a `version`, bumped by every write, that each feed row names so a
 * replica drops only cached copies older than the change.
 *
 * `key_changes` (positions taken at insert, visible at commit, in any order) is dropped: a replica of the
 * previous version still running fails its key writes and its feed polls instead of writing changes no
 * new replica reads, and a replica whose feed fails serves no cached key (it fails closed).
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = isMysql(knex);
  await knex.schema.alterTable('api_keys', (table) => {
    table.bigInteger('version').notNullable().defaultTo(1);
  });
  await knex.schema.createTable('key_feed', (table) => {
    if (mysql) {
      table.charset('utf8mb4');
      table.collate('utf8mb4_bin');
    }
    table.bigInteger('position').primary();
    table.string('key_id', 64).notNullable();
    table.binary('secret_hash', 32).notNullable();
    // The key's version after this change: a cached copy of this version or a later one reflects it.
    table.bigInteger('key_version').notNullable();
    table.bigInteger('change_time').notNullable();
    table.index(['change_time'], 'key_feed_time');
  });
  await knex.schema.createTable('key_feed_head', (table) => {
    table.integer('id').primary();
    table.bigInteger('position').notNullable();
  });
  const row = (await knex('key_changes').max({ id: 'id' }).first()) as { id: number | string | null } | undefined;
  // Positions continue above every id the old feed used, so no replica mistakes an old id for a new change.
  await knex('key_feed_head').insert({ id: 1, position: Number(row?.id ?? 0) });
  await knex.schema.dropTable('key_changes');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('key_changes', (table) => {
    table.bigIncrements('id').primary();
    table.string('key_id', 64).notNullable();
    table.binary('secret_hash', 32).notNullable();
    table.bigInteger('change_time').notNullable();
    table.index(['change_time'], 'key_changes_time');
  });
  await knex.schema.dropTable('key_feed_head');
  await knex.schema.dropTable('key_feed');
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropColumn('version');
  });
}
