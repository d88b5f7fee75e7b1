import type { Knex } from 'knex';

import { noUsage, USAGE_OUTCOMES, type UsageEntry, type UsageOutcome } from '../domain/UsageTally.js';
import { fromBigInt } from './rows.js';

/** The `key_usage` column of each outcome. */
const COLUMN: Readonly<Record<UsageOutcome, string>> = {
  valid: 'verified',
  revoked: 'revoked',
  expired: 'expired',
  disabled: 'disabled',
  ip_not_allowed: 'ip_not_allowed',
  insufficient_scope: 'insufficient_scope',
};

/** A `key_usage` row as the drivers return it (BIGINT may come back as a string). */
export type UsageRow = { key_id: string; day: number | string } & Record<string, number | string>;

export function fromUsageRow(row: UsageRow): UsageEntry {
  const counts = noUsage();
  for (const outcome of USAGE_OUTCOMES) counts[outcome] = fromBigInt(row[COLUMN[outcome]] ?? 0);
  return { keyId: row.key_id, day: fromBigInt(row.day), counts };
}

/**
 * Adds `entries` to `key_usage` in one statement: a new key-day is inserted, an existing one gets the
 * counts added (`INSERT … ON DUPLICATE KEY UPDATE n = n + VALUES(n)` on MySQL, `ON CONFLICT … DO UPDATE
 * SET n = n + excluded.n` on SQLite), so flushes of any number of replicas sum exactly. Rows go in
 * (key, day) order, so two replicas' upserts of the same rows lock them in the same order.
 */
export async function addUsage(trx: Knex.Transaction, mysql: boolean, entries: readonly UsageEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const sorted = [...entries].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.day - b.day));
  const rows = sorted.map((entry) => {
    const row: Record<string, string | number> = { key_id: entry.keyId, day: entry.day };
    for (const outcome of USAGE_OUTCOMES) row[COLUMN[outcome]] = entry.counts[outcome];
    return row;
  });
  const sums: Record<string, Knex.Raw> = {};
  for (const outcome of USAGE_OUTCOMES) {
    const column = COLUMN[outcome];
    sums[column] = mysql
      ? trx.raw('?? + VALUES(??)', [`key_usage.${column}`, column])
      : trx.raw('?? + ??', [`key_usage.${column}`, `excluded.${column}`]);
  }
  await trx('key_usage').insert(rows).onConflict(['key_id', 'day']).merge(sums);
}
