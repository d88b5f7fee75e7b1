/**
 * `npm run bench:revoke-plan` — the plan MariaDB/MySQL uses for RevokeUserKeys' locking read, on a table
 * of 10 keys (test/helpers/userKeysTable.ts: the user owns 6) and of 1,000,000 (not part of the test suite).
 *
 * Captures the exact statement KnexKeyRepository.lockActiveKeysOf sends (knex `query` event: SQL and
 * bindings), then prints for it EXPLAIN, ANALYZE (MariaDB: the statement executed, with the rows it
 * actually read, inside a transaction that is rolled back) and the row locks it holds
 * (information_schema.INNODB_TRX), next to the same for the previous statement (no FORCE INDEX, the
 * server's default REPEATABLE READ). Creates and drops its own database. Settings: BENCH_MYSQL_URL
 * (mysql://root@127.0.0.1:3306/), BENCH_PLAN_KEYS (1000000).
 */

import type { Knex } from 'knex';

import { createMysqlDatabase } from '../test/helpers/testDatabase.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../src/storage/KnexKeyRepository.js';
import { toKeyRow } from '../src/storage/rows.js';
import { insertSequenceKeys } from '../test/helpers/insertSequenceKeys.js';
import { ORG_A, userKeysTable } from '../test/helpers/userKeysTable.js';

const SERVER_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
const BIG = Number(process.env.BENCH_PLAN_KEYS ?? 1_000_000);
const ORG = ORG_A;
const USER = 'bob';
const log = (line: string): void => console.log(line);

/** The statement lockActiveKeysOf sends, as knex sent it. */
async function captureLockingRead(db: Knex, now: number): Promise<{ sql: string; bindings: unknown[] }> {
  const sent: { sql: string; bindings?: unknown[] }[] = [];
  const listener = (query: { sql: string; bindings?: unknown[] }): void => void sent.push(query);
  db.on('query', listener);
  try {
    await new KnexKeyRepository(db).transaction((tx) => tx.lockActiveKeysOf(ORG, USER, now, 500));
  } finally {
    db.off('query', listener);
  }
  const locking = sent.find((query) => /for update/i.test(query.sql));
  if (locking === undefined) throw new Error(`no locking read among ${sent.map((q) => q.sql).join('; ')}`);
  return { sql: locking.sql, bindings: locking.bindings ?? [] };
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return value.toString();
  return JSON.stringify(value);
}

function printRows(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return log('   (no rows)');
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((column) => cellText(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((cell) => cell[i]!.length)));
  const line = (values: string[]): string => `   | ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  log(line(columns));
  log(`   |${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const cell of cells) log(line(cell));
}

/** EXPLAIN, ANALYZE and the locks held, for one statement under one isolation level. */
async function showPlan(db: Knex, title: string, sql: string, bindings: unknown[], isolation: string): Promise<void> {
  log(`\n-- ${title} (${isolation})`);
  const [explain] = (await db.raw(`EXPLAIN ${sql}`, bindings as Knex.RawBinding[])) as [Record<string, unknown>[]];
  log('EXPLAIN');
  printRows(explain);
  const trx = await db.transaction({ isolationLevel: isolation as Knex.IsolationLevels });
  try {
    const [analyze] = (await trx.raw(`ANALYZE ${sql}`, bindings as Knex.RawBinding[])) as [Record<string, unknown>[]];
    log('ANALYZE (executed: r_rows = rows actually read)');
    printRows(analyze);
    // INNODB_TRX is a snapshot InnoDB refreshes at most every 100 ms: wait, or read the previous one.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [locks] = (await trx.raw(
      `SELECT trx_isolation_level, trx_rows_locked, trx_lock_structs
         FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()`,
    )) as [Record<string, unknown>[]];
    log('locks held by the transaction after the statement (information_schema.INNODB_TRX)');
    printRows(locks);
  } finally {
    await trx.rollback();
  }
}

async function plansFor(db: Knex, label: string, now: number): Promise<void> {
  const [[count]] = (await db.raw('SELECT COUNT(*) AS n FROM api_keys')) as [[{ n: number }]];
  log(`\n================ ${label}: ${count.n.toLocaleString('en-US')} rows in api_keys`);
  const { sql, bindings } = await captureLockingRead(db, now);
  log(`statement sent by lockActiveKeysOf: ${sql}`);
  log(`bindings: ${JSON.stringify(bindings)}`);
  await showPlan(db, 'current: FORCE INDEX, READ COMMITTED', sql, bindings, 'read committed');
  const previous = sql.replace(/ FORCE INDEX \([^)]*\)/, '');
  await showPlan(db, 'previous: no index hint, the default isolation', previous, bindings, 'repeatable read');
}

async function main(): Promise<void> {
  const scratch = await createMysqlDatabase(SERVER_URL, 'apikeys_bench_plan_');
  const admin = scratch.admin;
  const db = createDatabase(parseDatabaseUrl(scratch.url), { poolMax: 2, acquireTimeoutMs: 10_000 });
  try {
    const [[version]] = (await admin.raw('SELECT VERSION() AS v')) as [[{ v: string }]];
    log(`RevokeUserKeys locking read, ${new Date().toISOString()}, server ${version.v}; user ${USER} of ${ORG}`);
    await migrateDatabase(db);
    const now = Date.now();
    // No ANALYZE TABLE: the statistics of a small table as the service finds it.
    await db('api_keys').insert(userKeysTable(now).map(toKeyRow));
    await plansFor(db, 'small table', now);

    const started = performance.now();
    await insertSequenceKeys(db, {
      count: BIG - 10,
      organizationPrefix: 'org-seq-',
      perOrganization: 100,
      users: 5,
      createTime: now - 7 * 86_400_000,
    });
    await db.raw('ANALYZE TABLE api_keys');
    log(
      `\n(inserted ${(BIG - 10).toLocaleString('en-US')} rows in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    await plansFor(db, 'big table', now);
  } finally {
    await db.destroy();
    await scratch.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
