import type { Knex } from 'knex';

/**
 * Suspension (UpdateKey's `enabled`): a suspended key keeps every other field and is denied
 * DENIAL_REASON_DISABLED until it is resumed. `disable_time` is null while the key is enabled;
 * `disabled_by_user_id` names the Admin to ask.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.bigInteger('disable_time').nullable();
    table.string('disabled_by_user_id', 64).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (table) => {
    table.dropColumn('disable_time');
    table.dropColumn('disabled_by_user_id');
  });
}
