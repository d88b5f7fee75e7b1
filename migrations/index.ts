import type { Knex } from 'knex';

import * as initial from './20261128_001_initial.js';
import * as orderedChangeFeed from './20261202_001_ordered_change_feed.js';
import * as feedReplicas from './20261202_002_feed_replicas.js';
import * as serviceSecrets from './20261202_003_service_secrets.js';
import * as keySuspension from './20261203_101_key_suspension.js';
import * as keyMetadata from './20261203_102_key_metadata.js';
import * as idleAndExpiring from './20261203_103_idle_and_expiring_indexes.js';
import * as keyUsage from './20261203_104_key_usage.js';

/**
 * Every migration, in order. Listed statically (instead of knex reading a directory) so the same code
 * runs from TypeScript sources under vitest/tsx and from the compiled build.
 */
const MIGRATIONS: ReadonlyArray<readonly [string, Knex.Migration]> = [
  ['20261128_001_initial', initial],
  ['20261202_001_ordered_change_feed', orderedChangeFeed],
  ['20261202_002_feed_replicas', feedReplicas],
  ['20261202_003_service_secrets', serviceSecrets],
  ['20261203_101_key_suspension', keySuspension],
  ['20261203_102_key_metadata', keyMetadata],
  ['20261203_103_idle_and_expiring_indexes', idleAndExpiring],
  ['20261203_104_key_usage', keyUsage],
];

/** A knex migration source over MIGRATIONS. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve(MIGRATIONS.map(([name]) => name)),
  getMigrationName: (name) => name,
  getMigration: (name) => {
    const found = MIGRATIONS.find(([candidate]) => candidate === name);
    if (found === undefined) throw new Error(`unknown migration ${name}`);
    return Promise.resolve(found[1]);
  },
};
