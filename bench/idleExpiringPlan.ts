/**
 * `npm run bench:idle-plan` — the plans MariaDB/MySQL uses for ListKeys' idle-key (`unused_since`) and
 * expiring-key (`expire_before`) filters, on one organization holding 1,000,000 keys (not part of the test
 * suite). Captures the exact statement KnexKeyRepository.listKeys sends (knex `query` event), then prints
 * EXPLAIN and ANALYZE (MariaDB: executed, with the rows actually read) and the time of the first page.
 * Creates and drops its own database. Settings: BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306/),
 * BENCH_PLAN_KEYS (1000000).
 *
 * The table: create times one per millisecond from a week ago, expiry a year after creation except one key
 * in 1,000 that expires within the next 30 days; 99 % of keys used in the last day, 0.5 % last used 100
 * days ago and 0.5 % never used.
 */

import type { Knex } from 'knex';

import { createMysqlDatabase } from '../test/helpers/testDatabase.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../src/storage/KnexKeyRepository.js';
import type { KeyListQuery } from '../src/domain/KeyRepository.js';
import { insertSequenceKeys } from '../test/helpers/insertSequenceKeys.js';

const SERVER_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
const BIG = Number(process.env.BENCH_PLAN_KEYS ?? 1_000_000);
const ORG = 'org-big-000000';
const DAY = 86_400_000;
const log = (line: string): void => console.log(line);

async function captureListing(
  db: Knex,
  query: KeyListQuery,
): Promise<{ sql: string; bindings: unknown[]; ms: number; rows: number }> {
  const sent: { sql: string; bindings?: unknown[] }[] = [];
  const listener = (q: { sql: string; bindings?: unknown[] }): void => void sent.push(q);
  db.on('query', listener);
  const started = performance.now();
  let rows = 0;
  try {
    rows = (await new KnexKeyRepository(db).listKeys(query)).length;
  } finally {
    db.off('query', listener);
  }
  const ms = performance.now() - started;
  const select = sent.find((q) => /^select/i.test(q.sql));
  if (select === undefined) throw new Error('no select sent');
  return { sql: select.sql, bindings: select.bindings ?? [], ms, rows };
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

async function showPlan(db: Knex, title: string, query: KeyListQuery): Promise<void> {
  const first = await captureListing(db, query);
  const again = await captureListing(db, query); // warm buffer pool
  log(`\n-- ${title}`);
  log(`statement: ${first.sql}`);
  log(`bindings: ${JSON.stringify(first.bindings)}`);
  log(`first page (${again.rows} rows): ${first.ms.toFixed(1)} ms cold, ${again.ms.toFixed(1)} ms warm`);
  const [explain] = (await db.raw(`EXPLAIN ${first.sql}`, first.bindings as Knex.RawBinding[])) as [
    Record<string, unknown>[],
  ];
  log('EXPLAIN');
  printRows(explain);
  const [analyze] = (await db.raw(`ANALYZE ${first.sql}`, first.bindings as Knex.RawBinding[])) as [
    Record<string, unknown>[],
  ];
  log('ANALYZE (executed: r_rows = rows actually read)');
  printRows(analyze);
}

async function main(): Promise<void> {
  const scratch = await createMysqlDatabase(SERVER_URL, 'apikeys_bench_idle_');
  const db = createDatabase(parseDatabaseUrl(scratch.url), { poolMax: 2, acquireTimeoutMs: 10_000 });
  try {
    const [[version]] = (await scratch.admin.raw('SELECT VERSION() AS v')) as [[{ v: string }]];
    log(`ListKeys idle and expiring filters, ${new Date().toISOString()}, server ${version.v}`);
    await migrateDatabase(db);
    const now = Date.now();
    const started = performance.now();
    await insertSequenceKeys(db, {
      count: BIG,
      organizationPrefix: 'org-big-',
      perOrganization: BIG + 1,
      users: 5,
      createTime: now - 7 * DAY,
    });
    // Ids end in the sequence number: spread last use and expiry by it.
    await db.raw(
      `UPDATE api_keys SET last_used_time = CASE
         WHEN CAST(RIGHT(id, 8) AS UNSIGNED) MOD 200 = 0 THEN NULL
         WHEN CAST(RIGHT(id, 8) AS UNSIGNED) MOD 200 = 1 THEN ? - 100 * ?
         ELSE ? - (CAST(RIGHT(id, 8) AS UNSIGNED) MOD 1000) * 60000 END`,
      [now, DAY, now],
    );
    await db.raw(
      `UPDATE api_keys SET expire_time = ? + 3600000 + (CAST(RIGHT(id, 8) AS UNSIGNED) DIV 1000 MOD 30) * ?
        WHERE CAST(RIGHT(id, 8) AS UNSIGNED) MOD 1000 = 7`,
      [now, DAY],
    );
    await db.raw('ANALYZE TABLE api_keys');
    log(
      `(${BIG.toLocaleString('en-US')} keys of one organization prepared in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    const base = { organizationId: ORG, states: ['active' as const], now, limit: 51 };
    await showPlan(db, 'idle keys: unused_since = 90 days ago, active, first page of 50', {
      ...base,
      unusedSince: now - 90 * DAY,
    });
    await showPlan(db, 'expiring keys: expire_before = in 7 days, active, first page of 50', {
      ...base,
      expireBefore: now + 7 * DAY,
    });
    await showPlan(db, 'both filters', { ...base, unusedSince: now - 90 * DAY, expireBefore: now + 7 * DAY });
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
