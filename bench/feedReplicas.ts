/**
 * Child process of `bench/feedLoad.ts`: BENCH_REPLICAS change feeds as that many service processes would
 * run them — each a ChangeFeed over its own KnexKeyRepository and its own knex pool (at most 2
 * connections), polling `key_feed` every CHANGE_FEED_POLL_MS with the service's batch size and timeouts.
 * Starts are spread over one interval, as independently started processes would be.
 *
 * IPC: sends `{type:'ready'}` once every feed has started; answers `{type:'mark'}` (start counting) and
 * `{type:'report'}` (what happened since the mark); `{type:'stop'}` stops the feeds and exits.
 */
import pino from 'pino';

import { ChangeFeed } from '../src/domain/ChangeFeed.js';
import { monotonicClock } from '../src/domain/Clock.js';
import type { KeyChange } from '../src/domain/KeyRepository.js';
import { createDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { KnexKeyRepository } from '../src/storage/KnexKeyRepository.js';

/** What the parent asks for. */
type Request = { type: 'mark' } | { type: 'report' } | { type: 'stop' };

/** The answer to `report`. */
export interface ReplicasReport {
  readonly type: 'report';
  readonly polls: number;
  readonly pollErrors: number;
  readonly pollTimeouts: number;
  readonly changesApplied: number;
  /** Poll latencies since the mark (ms, sorted), as the feed saw them: pool acquire + query + decode. */
  readonly latenciesMs: number[];
  /** This process's own CPU since the mark, µs. */
  readonly clientCpuUs: number;
  /** Feeds that could not vouch for their cache at the report (should be 0). */
  readonly stale: number;
}

const replicas = Number(process.env.BENCH_REPLICAS ?? '1');
const pollMs = Number(process.env.CHANGE_FEED_POLL_MS ?? '100');
const databaseUrl = process.env.BENCH_DATABASE_URL ?? '';
const logger = pino({ level: 'warn' });

const target = parseDatabaseUrl(databaseUrl);
let latencies: number[] = [];
const pools = Array.from({ length: replicas }, () => createDatabase(target, { poolMax: 2, acquireTimeoutMs: 5000 }));
const feeds = pools.map((db) => {
  const repository = new KnexKeyRepository(db);
  const timed = {
    latestChangePosition: () => repository.latestChangePosition(),
    readChanges: async (after: number, limit: number): Promise<KeyChange[]> => {
      const started = performance.now();
      const rows = await repository.readChanges(after, limit);
      latencies.push(performance.now() - started);
      return rows;
    },
  };
  return new ChangeFeed({
    repository: timed,
    monotonic: monotonicClock,
    logger,
    onChanges: () => undefined,
    onGap: () => undefined,
    onStale: () => undefined,
    onFresh: () => undefined,
    pollIntervalMs: pollMs,
    stalenessBoundMs: 1000,
    pollTimeoutMs: 5000,
    batchSize: 1000,
  });
});

function totals(): { polls: number; pollErrors: number; pollTimeouts: number; changesApplied: number } {
  const sum = { polls: 0, pollErrors: 0, pollTimeouts: 0, changesApplied: 0 };
  for (const feed of feeds) {
    sum.polls += feed.stats.polls;
    sum.pollErrors += feed.stats.pollErrors;
    sum.pollTimeouts += feed.stats.pollTimeouts;
    sum.changesApplied += feed.stats.changesApplied;
  }
  return sum;
}

let mark = totals();
let markCpu = process.cpuUsage();

async function main(): Promise<void> {
  await Promise.all(
    feeds.map(async (feed, index) => {
      await new Promise((resolve) => setTimeout(resolve, (index * pollMs) / replicas));
      await feed.start();
    }),
  );
  process.send?.({ type: 'ready' });
}

process.on('message', (message: Request) => {
  if (message.type === 'mark') {
    latencies = [];
    mark = totals();
    markCpu = process.cpuUsage();
    process.send?.({ type: 'marked' });
  } else if (message.type === 'report') {
    const now = totals();
    const cpu = process.cpuUsage(markCpu);
    const report: ReplicasReport = {
      type: 'report',
      polls: now.polls - mark.polls,
      pollErrors: now.pollErrors - mark.pollErrors,
      pollTimeouts: now.pollTimeouts - mark.pollTimeouts,
      changesApplied: now.changesApplied - mark.changesApplied,
      latenciesMs: [...latencies].sort((a, b) => a - b),
      clientCpuUs: cpu.user + cpu.system,
      stale: feeds.filter((feed) => !feed.isFresh()).length,
    };
    process.send?.(report);
  } else {
    void Promise.all(feeds.map((feed) => feed.stop()))
      .then(() => Promise.all(pools.map((db) => db.destroy())))
      .then(() => process.exit(0));
  }
});

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
