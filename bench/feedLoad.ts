/**
 * `npm run bench:feed-load` — what the change feed and the maximum age cost the database (not part of the
 * test suite).
 *
 * 1. Feed load: for each count in BENCH_FEED_REPLICAS (after a writer-only baseline), a child process
 *    (`bench/feedReplicas.ts`) runs that many ChangeFeeds, each over its own knex pool as that many
 *    service processes would, polling every CHANGE_FEED_POLL_MS while this process revokes
 *    BENCH_FEED_WRITES keys a second. Reports polls/s, the server's statements/s (`Questions` deltas, minus
 *    the sampler's own), the server process's CPU (/proc/<pid>/stat: % of one core, µs per poll above the
 *    baseline) and the poll latency p50/p99.
 * 2. Maximum age: one KeyCache with CACHE_MAX_AGE_MS = BENCH_MAX_AGE_MS over BENCH_MAX_AGE_KEYS keys, all
 *    verified round-robin; background re-reads per second against the expected keys / (¾ × max age),
 *    scaled to 100,000 keys at the default 300,000 ms, and the database CPU they cost.
 *
 * Needs MariaDB/MySQL on this host (the CPU figures read the server's /proc entry). Creates and drops its
 * own database. Settings (environment): BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306/), BENCH_FEED_SECONDS
 * (20 per measurement), BENCH_FEED_REPLICAS (1,10,50), BENCH_FEED_WRITES (20 revocations/s),
 * CHANGE_FEED_POLL_MS (100), BENCH_MAX_AGE_KEYS (20000), BENCH_MAX_AGE_MS (8000: 3,333 re-reads/s, well
 * within what this 2-core machine serves), BENCH_MAX_AGE_SECONDS (18).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, hostname, loadavg } from 'node:os';

import type { Knex } from 'knex';

import { newId } from '../src/domain/admin/newId.js';
import type { Actor, ApiKeyRecord } from '../src/domain/types.js';
import { createMysqlDatabase } from '../test/helpers/testDatabase.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { type KeyRow, toKeyRow } from '../src/storage/rows.js';
import type { ReplicasReport } from './feedReplicas.js';
import { measureMaxAge } from './maxAgeLoad.js';
import { RevocationWriter } from './revocationWriter.js';
import { type LoadDelta, ServerLoad } from './serverLoad.js';

const env = process.env;
const SERVER_URL = env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
const SECONDS = Number(env.BENCH_FEED_SECONDS ?? 20);
const REPLICA_COUNTS = (env.BENCH_FEED_REPLICAS ?? '1,10,50').split(',').map(Number);
const WRITES_PER_SECOND = Number(env.BENCH_FEED_WRITES ?? 20);
const POLL_MS = Number(env.CHANGE_FEED_POLL_MS ?? 100);
const MAX_AGE_KEYS = Number(env.BENCH_MAX_AGE_KEYS ?? 20_000);
const MAX_AGE_MS = Number(env.BENCH_MAX_AGE_MS ?? 8000);
const MAX_AGE_SECONDS = Number(env.BENCH_MAX_AGE_SECONDS ?? 18);
/** The service's defaults the maximum-age figure is scaled to. */
const DEFAULT_MAX_AGE_MS = 300_000;
const PER_KEYS = 100_000;
/** Time for pools to connect and polls to spread out before a measurement starts. */
const WARMUP_MS = 2000;
const ORG = 'org-feed-load';
const WRITER: Actor = { organizationId: ORG, userId: 'writer', role: 'admin', caller: 'bench' };

const log = (line: string): void => console.log(line);
const fmt = (value: number, digits = 0): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function benchKey(hash: Buffer, now: number): ApiKeyRecord {
  return {
    id: newId('key'),
    organizationId: ORG,
    name: 'feed load key',
    prefix: 'tt_admin_feedload',
    secretHash: hash,
    scopes: ['tickets:read'],
    allowedIps: [],
    metadata: {},
    createdByUserId: 'bench',
    createdByRole: 'admin',
    createTime: now,
    expireTime: now + 8760 * 3_600_000,
    updateTime: now,
    revokeTime: null,
    revokedByUserId: null,
    revokeReason: null,
    disableTime: null,
    disabledByUserId: null,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: null,
    replacedByKeyId: null,
    version: 1,
  };
}

/** Inserts `count` keys with random hashes in multi-row INSERTs (setup, not measured). */
async function seed(db: Knex, count: number): Promise<ApiKeyRecord[]> {
  const now = Date.now();
  const keys = Array.from({ length: count }, () => benchKey(randomBytes(32), now));
  for (let done = 0; done < count; done += 2000) {
    const rows: KeyRow[] = keys.slice(done, done + 2000).map(toKeyRow);
    await db('api_keys').insert(rows);
  }
  return keys;
}

// ---------------------------------------------------------------- the replicas' process

interface Replicas {
  request(type: 'mark'): Promise<unknown>;
  request(type: 'report'): Promise<ReplicasReport>;
  stop(): Promise<void>;
}

async function startReplicas(count: number, databaseUrl: string): Promise<Replicas> {
  const child: ChildProcess = fork(new URL('./feedReplicas.ts', import.meta.url).pathname, [], {
    env: {
      ...env,
      BENCH_REPLICAS: String(count),
      BENCH_DATABASE_URL: databaseUrl,
      CHANGE_FEED_POLL_MS: String(POLL_MS),
    },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const next = (type: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`replicas exited with ${String(code)}`));
      child.once('exit', onExit);
      const onMessage = (message: { type: string }): void => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      child.on('message', onMessage);
    });
  await next('ready');
  return {
    request: ((type: 'mark' | 'report') => {
      const answer = next(type === 'mark' ? 'marked' : 'report');
      child.send({ type });
      return answer;
    }) as Replicas['request'],
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
      process.off('exit', kill);
    },
  };
}

// ---------------------------------------------------------------- one measurement

interface FeedPhase {
  readonly replicas: number;
  readonly server: LoadDelta;
  readonly writerStatements: number;
  readonly revocations: number;
  readonly report: ReplicasReport | undefined;
}

async function measurePhase(
  replicas: number,
  databaseUrl: string,
  load: ServerLoad,
  writer: RevocationWriter,
): Promise<FeedPhase> {
  const child = replicas > 0 ? await startReplicas(replicas, databaseUrl) : undefined;
  try {
    await sleep(WARMUP_MS);
    await child?.request('mark');
    const writerBefore = { statements: writer.statements, revocations: writer.revocations };
    const a = await load.sample();
    await sleep(SECONDS * 1000);
    const b = await load.sample();
    const writerStatements = writer.statements - writerBefore.statements;
    const revocations = writer.revocations - writerBefore.revocations;
    const report = await child?.request('report');
    return { replicas, server: load.delta(a, b), writerStatements, revocations, report };
  } finally {
    await child?.stop();
  }
}

function printPhase(phase: FeedPhase, baseline: FeedPhase | undefined): void {
  const { server, report } = phase;
  const s = server.seconds;
  log(`\n-- ${phase.replicas} replica(s), ${fmt(s, 1)} s`);
  log(
    `   writer: ${fmt(phase.revocations / s, 1)} revocations/s, ${fmt(phase.writerStatements / s)} statements/s (counted client-side)`,
  );
  const polls = report?.polls ?? 0;
  if (report !== undefined) {
    log(
      `   polls: ${fmt(polls)} = ${fmt(polls / s, 1)}/s (${fmt(polls / s / phase.replicas, 2)}/s per replica; ` +
        `1000/${POLL_MS} ms = ${fmt(1000 / POLL_MS, 1)} at most), errors ${report.pollErrors}, timeouts ${report.pollTimeouts}, ` +
        `rows applied ${fmt(report.changesApplied)}, stale feeds at the end ${report.stale}`,
    );
    log(
      `   poll latency: p50 ${fmt(percentile(report.latenciesMs, 50), 2)} ms, p99 ${fmt(percentile(report.latenciesMs, 99), 2)} ms, ` +
        `max ${fmt(report.latenciesMs.at(-1) ?? NaN, 2)} ms (${fmt(report.latenciesMs.length)} polls)`,
    );
    log(`   replicas' Node process CPU: ${fmt(report.clientCpuUs / 1e4 / s, 1)} % of a core`);
  }
  const others = server.questions - phase.writerStatements - polls;
  log(
    `   server statements: ${fmt(server.questions / s)}/s (Questions, the sampler's own subtracted); ` +
      `total minus the writer's ${fmt((server.questions - phase.writerStatements) / s)}/s (feed polls counted: ${fmt(polls / s)}/s), ` +
      `other clients of the server ${fmt(others / s, 1)}/s`,
  );
  log(`   whole machine meanwhile (every process, other helpers' too): ${fmt(server.machineBusyPercent, 1)} % busy`);
  let cpuLine = `   mariadbd CPU: ${fmt(server.cpuPercent, 1)} % of a core (${fmt(server.cpuUs / 1000)} ms CPU)`;
  if (polls > 0) cpuLine += `, ${fmt(server.cpuUs / polls, 1)} µs per poll gross`;
  if (baseline !== undefined && polls > 0) {
    const netUs = server.cpuUs - (baseline.server.cpuUs / baseline.server.seconds) * s;
    cpuLine += `; above the writer-only baseline (${fmt(baseline.server.cpuPercent, 1)} %): ${fmt(netUs / 1e4 / s, 1)} % of a core, ${fmt(netUs / polls, 1)} µs per poll`;
  }
  log(cpuLine);
}

function printSummary(phases: readonly FeedPhase[]): void {
  const baseline = phases.find((phase) => phase.replicas === 0);
  log('\nsummary (per second; CPU in % of one core; "above baseline" = minus the writer-only phase)');
  log(
    'replicas | polls/s | per replica | server statements/s | feed polls | writer | other clients | ' +
      'mariadbd CPU | above baseline | µs/poll | p50 ms | p99 ms',
  );
  for (const phase of phases) {
    const s = phase.server.seconds;
    const polls = phase.report?.polls ?? 0;
    const netUs =
      baseline === undefined || phase === baseline
        ? NaN
        : phase.server.cpuUs - (baseline.server.cpuUs / baseline.server.seconds) * s;
    const latencies = phase.report?.latenciesMs ?? [];
    log(
      [
        phase.replicas,
        fmt(polls / s, 1),
        phase.replicas === 0 ? '-' : fmt(polls / s / phase.replicas, 2),
        fmt(phase.server.questions / s),
        fmt(polls / s),
        fmt(phase.writerStatements / s),
        fmt((phase.server.questions - polls - phase.writerStatements) / s),
        `${fmt(phase.server.cpuPercent, 1)} %`,
        Number.isNaN(netUs) ? '-' : `${fmt(netUs / 1e4 / s, 1)} %`,
        Number.isNaN(netUs) || polls === 0 ? '-' : fmt(netUs / polls, 1),
        latencies.length === 0 ? '-' : fmt(percentile(latencies, 50), 2),
        latencies.length === 0 ? '-' : fmt(percentile(latencies, 99), 2),
      ].join(' | '),
    );
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = performance.now();
  const scratch = await createMysqlDatabase(SERVER_URL, 'apikeys_bench_feed_');
  const admin = scratch.admin;
  const databaseUrl = scratch.url;
  const target = parseDatabaseUrl(databaseUrl);
  const setup = createDatabase(target, { poolMax: 2, acquireTimeoutMs: 10_000 });
  const writerDb = createDatabase(target, { poolMax: 2, acquireTimeoutMs: 10_000 });
  const maxAgeDb = createDatabase(target, { poolMax: 10, acquireTimeoutMs: 10_000 });
  const load = new ServerLoad(admin);
  try {
    const [version] = (await admin.raw('SELECT VERSION() AS version')) as [{ version: string }[]];
    log(
      `feed load benchmark, ${new Date().toISOString()}, host ${hostname()}: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ` +
        `server ${version[0]?.version ?? '?'} (pid ${load.pid}), load average ${loadavg()
          .map((value) => fmt(value, 2))
          .join(' ')}`,
    );
    log(
      `settings: ${SECONDS} s per measurement, replicas ${REPLICA_COUNTS.join(', ')} (after a writer-only baseline), ` +
        `CHANGE_FEED_POLL_MS ${POLL_MS}, ${WRITES_PER_SECOND} revocations/s; max age: ${MAX_AGE_KEYS} keys, ` +
        `CACHE_MAX_AGE_MS ${MAX_AGE_MS}, ${MAX_AGE_SECONDS} s`,
    );
    await migrateDatabase(setup);
    const phases = [0, ...REPLICA_COUNTS];
    const revocable = Math.ceil(WRITES_PER_SECOND * phases.length * (SECONDS + WARMUP_MS / 1000 + 5) * 1.2);
    const seedStarted = performance.now();
    const toRevoke = await seed(setup, revocable);
    const cached = await seed(setup, MAX_AGE_KEYS);
    log(`seeded ${fmt(revocable + MAX_AGE_KEYS)} keys in ${fmt((performance.now() - seedStarted) / 1000, 1)} s`);
    log(`sampler: ${await load.calibrate()} statement(s) of its own per sample, subtracted`);

    const writer = new RevocationWriter(
      writerDb,
      WRITER,
      toRevoke.map((key) => key.id),
      WRITES_PER_SECOND,
    );
    writer.start();
    const results: FeedPhase[] = [];
    for (const replicas of phases) {
      const phase = await measurePhase(replicas, databaseUrl, load, writer);
      results.push(phase);
      printPhase(phase, results[0]);
    }
    await writer.stop();
    printSummary(results);

    log(`\n-- maximum age: ${fmt(MAX_AGE_KEYS)} keys, CACHE_MAX_AGE_MS ${MAX_AGE_MS}, no writes`);
    const maxAge = await measureMaxAge({
      db: maxAgeDb,
      load,
      hashes: cached.map((key) => key.secretHash),
      maxAgeMs: MAX_AGE_MS,
      seconds: MAX_AGE_SECONDS,
      log,
    });
    const expected = MAX_AGE_KEYS / ((0.75 * MAX_AGE_MS) / 1000);
    const scale = (PER_KEYS / MAX_AGE_KEYS) * (MAX_AGE_MS / DEFAULT_MAX_AGE_MS);
    const expectedDefault = PER_KEYS / ((0.75 * DEFAULT_MAX_AGE_MS) / 1000);
    const { server } = maxAge;
    const usPerQuery = server.cpuUs / server.questions;
    log(
      `   ${fmt(maxAge.seconds, 1)} s, ${fmt(maxAge.verificationsPerSecond)} verifications/s (every key every ~100 ms)`,
    );
    log(
      `   background refreshes: ${fmt(maxAge.refreshesPerSecond)}/s measured vs ${fmt(expected)}/s expected ` +
        `(keys / (0.75 × max age)) = ${fmt((100 * maxAge.refreshesPerSecond) / expected, 1)} %; ` +
        `misses (entries that outlived the maximum age) ${fmt(maxAge.missesPerSecond, 1)}/s`,
    );
    log(
      `   key reads by the cache ${fmt(maxAge.cacheQueriesPerSecond)}/s, statements sent by its pool ${fmt(maxAge.clientStatementsPerSecond)}/s, ` +
        `server statements ${fmt(server.questions / server.seconds)}/s`,
    );
    log(
      `   mariadbd CPU: ${fmt(server.cpuPercent, 1)} % of a core, ${fmt(usPerQuery, 1)} µs per statement received; ` +
        `whole machine ${fmt(server.machineBusyPercent, 1)} % busy`,
    );
    log(
      `   scaled to ${fmt(PER_KEYS)} active keys at the default ${fmt(DEFAULT_MAX_AGE_MS)} ms: ` +
        `${fmt(maxAge.refreshesPerSecond * scale)} refreshes/s measured vs ${fmt(expectedDefault)}/s expected ` +
        `(${fmt(maxAge.cacheQueriesPerSecond * scale)} key reads/s in all), costing the database ` +
        `${fmt((maxAge.cacheQueriesPerSecond * scale * usPerQuery) / 1e4, 1)} % of a core`,
    );
    const load1 = loadavg().map((value) => fmt(value, 2));
    log(`\ntotal ${fmt((performance.now() - started) / 1000)} s, load average ${load1.join(' ')}`);
  } finally {
    await Promise.all([setup.destroy(), writerDb.destroy(), maxAgeDb.destroy()]);
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
