import type { Knex } from 'knex';

/** True when `db` talks to MySQL/MariaDB (as opposed to SQLite). */
export function isMysql(db: Knex): boolean {
  return (db.client as { config: { client: string } }).config.client === 'mysql2';
}
