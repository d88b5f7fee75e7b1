/**
 * `npm run bench:known-keys` — how long a replica takes to load its filter of known keys (what it does
 * after its change feed starts, before unknown keys stop reaching the database), and the filter's memory,
 * on MariaDB/MySQL with 1,000,000 keys (not part of the test suite). Rounds of a full load through
 * KnexKeyRepository.listSecretHashes, as the service runs it (pages of 10,000), each printed with its
 * median. Creates and drops its own database. Settings: BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306/),
 * BENCH_KEYS (1000000), BENCH_ROUNDS (3).
 */
import { pino } from 'pino';

import { KnownKeyFilter } from '../src/domain/KnownKeyFilter.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../src/storage/KnexKeyRepository.js';
import { insertSequenceKeys } from '../test/helpers/insertSequenceKeys.js';
import { createMysqlDatabase } from '../test/helpers/testDatabase.js';

const SERVER_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const log = (line: string): void => console.log(line);

async function main(): Promise<void> {
  const scratch = await createMysqlDatabase(SERVER_URL, 'apikeys_bench_filter_');
  const db = createDatabase(parseDatabaseUrl(scratch.url), { poolMax: 2, acquireTimeoutMs: 10_000 });
  try {
    const [[version]] = (await scratch.admin.raw('SELECT VERSION() AS v')) as [[{ v: string }]];
    log(`filter of known keys, ${new Date().toISOString()}, server ${version.v}, ${KEYS.toLocaleString('en-US')} keys`);
    await migrateDatabase(db);
    const inserting = performance.now();
    await insertSequenceKeys(db, {
      count: KEYS,
      organizationPrefix: 'org-seq-',
      perOrganization: 100,
      users: 5,
      createTime: Date.now() - 86_400_000,
    });
    log(`(inserted in ${((performance.now() - inserting) / 1000).toFixed(1)} s)`);
    const repository = new KnexKeyRepository(db);
    const times: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const heapBefore = process.memoryUsage().heapUsed;
      const filter = new KnownKeyFilter({
        repository,
        logger: pino({ level: 'silent' }),
        minCapacity: KEYS,
        pageSize: 10_000,
      });
      const started = performance.now();
      await filter.start();
      while (!filter.complete) await new Promise((resolve) => setTimeout(resolve, 10));
      const ms = performance.now() - started;
      times.push(ms);
      log(
        `round ${round}: loaded ${filter.stats.keys.toLocaleString('en-US')} keys in ${(ms / 1000).toFixed(2)} s; bit array ${(filter.stats.bytes / 1024 / 1024).toFixed(2)} MiB (${(filter.stats.bytes / filter.stats.keys).toFixed(2)} bytes per key), heap +${((process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024).toFixed(1)} MiB`,
      );
      await filter.stop();
    }
    times.sort((a, b) => a - b);
    log(`median load: ${(times[Math.floor(times.length / 2)]! / 1000).toFixed(2)} s`);
  } finally {
    await db.destroy();
    await scratch.drop();
  }
}

await main();
