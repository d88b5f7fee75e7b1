import type { Knex } from 'knex';

import { isMysql } from './isMysql.js';

/**
 * SQL for "now" in epoch milliseconds by the database's own clock, so times written by one machine and
 * compared by another share one clock. On MySQL/MariaDB it is counted from UTC_TIMESTAMP, not NOW(): a
 * session time zone with daylight saving would make NOW()'s local time ambiguous for an hour a year.
 */
export function databaseNowMs(db: Knex): string {
  return isMysql(db)
    ? "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
    : "(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))";
}
