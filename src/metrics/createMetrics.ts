import type { TransportLimitEvents } from '../transport/TransportLimitEvents.js';
import type { Knex } from 'knex';
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { ChangeFeed } from '../domain/ChangeFeed.js';
import { type Clock, monotonicClock } from '../domain/Clock.js';
import type { KeyCache } from '../domain/KeyCache.js';
import type { KeyVerifier } from '../domain/KeyVerifier.js';
import type { KnownKeyFilter } from '../domain/KnownKeyFilter.js';
import type { UnknownKeyGate } from '../domain/UnknownKeyGate.js';
import type { LastUsedRecorder } from '../domain/LastUsedRecorder.js';
import type { Propagation } from '../domain/Propagation.js';
import type { ReplicaRegistry, ReplicaSnapshot } from '../domain/ReplicaRegistry.js';
import type { RpcObserver } from '../transport/pipeline/recordMetrics.js';
import { PlainHistogram } from './PlainHistogram.js';
import type { ReloadingCertificates } from '../transport/ReloadingCertificates.js';

/** What the service exposes; read when Prometheus scrapes, never on the request path. */
export interface MetricsSources {
  readonly cache: KeyCache;
  readonly verifier: KeyVerifier;
  readonly feed: ChangeFeed;
  readonly lastUsed: LastUsedRecorder;
  readonly db: Knex;
  readonly clock: Clock;
  /** TLS certificates being served; null in plaintext. */
  readonly certificates?: ReloadingCertificates | null;
  /** The replicas' table and the waits for it (acknowledged propagation). */
  readonly replicas?: ReplicaMetricsSources;
  /** What the transport limits ended, by reason. */
  readonly transportEvents?: TransportLimitEvents;
  /** The filter of known keys and the gate in front of the database (absent: no such metrics). */
  readonly unknownKeys?: { readonly filter: KnownKeyFilter; readonly gate: UnknownKeyGate };
}

/** Where the replica metrics come from. */
export interface ReplicaMetricsSources {
  readonly registry: Pick<ReplicaRegistry, 'snapshot'>;
  /** REPLICA_TIMEOUT_MS: which rows count as live replicas. */
  readonly timeoutMs: number;
  /** The waits of this process's writes; null when writes do not wait (PROPAGATION_WAIT_MS=0). */
  readonly waiter: { onSettled(listener: (propagation: Propagation) => void): void } | null;
}

/** Acknowledged-wait buckets, 5 ms … 10 s: a replica applies a change within about one feed poll (100 ms). */
export const PROPAGATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10];

/** A scrape reads the replicas' table once for all its gauges, and never waits longer than this for it. */
const REPLICA_SNAPSHOT_TIMEOUT_MS = 2000;

/**
 * Buckets that resolve sub-millisecond verifies (25 µs … 2.5 s): a warm VerifyKey takes tens of
 * microseconds of server time, a cache miss about a millisecond, an admin write a few.
 */
export const RPC_DURATION_BUCKETS = [
  0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Sets a counter to a value maintained elsewhere (the domain keeps plain counters; this only reads them). */
function mirror(counter: Counter, value: number, labels?: Record<string, string>): void {
  if (labels === undefined) {
    counter.reset();
    counter.inc(value);
  } else {
    counter.remove(labels);
    counter.inc(labels, value);
  }
}

type Registers = Registry[];
type Aggregator = 'sum' | 'max' | 'min';

/** A counter whose value a domain object (cache, change feed, last-used recorder) keeps; read at scrape time. */
function mirroredCounter(registers: Registers, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      mirror(this, read());
    },
  });
}

/** A gauge read at scrape time; `aggregator` says how the cluster primary combines workers. */
function gauge(
  registers: Registers,
  name: string,
  help: string,
  read: () => number,
  aggregator: Aggregator = 'sum',
): void {
  new Gauge({
    name,
    help,
    registers,
    aggregator,
    collect() {
      this.set(read());
    },
  });
}

function registerVerifierMetrics(registers: Registers, { verifier, cache }: MetricsSources): void {
  new Counter({
    name: 'apikeys_verify_decisions_total',
    help: 'VerifyKey outcomes, by reason (valid or the denial reason)',
    labelNames: ['reason'],
    registers,
    collect() {
      for (const [reason, value] of Object.entries(verifier.stats)) mirror(this, value, { reason });
    },
  });
  new Counter({
    name: 'apikeys_decisions_total',
    help: 'Key decisions by the service that asked (apikeys.v1.KeyVerifier, envoy.service.auth.v3.Authorization) and reason',
    labelNames: ['service', 'reason'],
    registers,
    collect() {
      for (const [service, counts] of verifier.statsByService)
        for (const [reason, value] of Object.entries(counts)) mirror(this, value, { service, reason });
    },
  });
  const counters: [string, string, () => number][] = [
    ['apikeys_cache_hits_total', 'Verifications answered from the key cache', () => cache.stats.hits],
    [
      'apikeys_cache_negative_hits_total',
      'Unknown keys answered from the negative cache',
      () => cache.stats.negativeHits,
    ],
    ['apikeys_cache_misses_total', 'Lookups that had to ask the database', () => cache.stats.misses],
    ['apikeys_cache_evictions_total', 'Keys evicted from the full cache', () => cache.stats.evictions],
    ['apikeys_cache_database_queries_total', 'Key lookups sent to the database', () => cache.stats.databaseQueries],
    [
      'apikeys_cache_refreshes_total',
      'Cached keys re-read in the background near their maximum age',
      () => cache.stats.refreshes,
    ],
    [
      'apikeys_cache_feed_drops_total',
      'Cached keys dropped because the change feed announced a newer version',
      () => cache.stats.dropped,
    ],
  ];
  for (const [name, help, read] of counters) mirroredCounter(registers, name, help, read);
  gauge(registers, 'apikeys_cache_size', 'Keys held in the cache', () => cache.size);
}

function registerUnknownKeyMetrics(registers: Registers, { unknownKeys }: MetricsSources): void {
  if (unknownKeys === undefined) return;
  const { filter, gate } = unknownKeys;
  new Counter({
    name: 'apikeys_unknown_keys_total',
    help: 'Well-formed keys the filter of known keys did not hold, by what happened: filtered (answered not found without a query, after the next feed poll), budgeted (queried within UNKNOWN_KEY_LOOKUPS_PER_SECOND), refused (UNAVAILABLE: too many waiting)',
    labelNames: ['outcome'],
    registers,
    collect() {
      mirror(this, gate.stats.filtered, { outcome: 'filtered' });
      mirror(this, gate.stats.budgeted, { outcome: 'budgeted' });
      mirror(this, gate.stats.refused, { outcome: 'refused' });
    },
  });
  gauge(registers, 'apikeys_known_key_filter_keys', 'Keys in the filter of known keys', () => filter.stats.keys);
  gauge(registers, 'apikeys_known_key_filter_bytes', 'Memory of the filter of known keys', () => filter.stats.bytes);
  gauge(
    registers,
    'apikeys_known_key_filter_complete',
    '1 when the filter of known keys is loaded and decides; 0 while unknown keys reach the database',
    () => (filter.complete ? 1 : 0),
    'min',
  );
  mirroredCounter(
    registers,
    'apikeys_known_key_filter_loads_total',
    'Full scans that (re)built the filter of known keys',
    () => filter.stats.loads,
  );
}

function registerFeedMetrics(registers: Registers, { feed, clock }: MetricsSources): void {
  const sinceSuccessMs = (): number => monotonicClock.now() - feed.stats.lastSuccessAt;
  const lag = (): number => (Number.isFinite(feed.stats.lastSuccessAt) ? sinceSuccessMs() / 1000 : 0);
  const gauges: [string, string, () => number, Aggregator][] = [
    ['apikeys_change_feed_lag_seconds', 'Time since a poll that read the change feed to its end was sent', lag, 'max'],
    [
      'apikeys_change_feed_last_success_timestamp_seconds',
      'When the change feed was last read to its end',
      () => (Number.isFinite(feed.stats.lastSuccessAt) ? (clock.now() - sinceSuccessMs()) / 1000 : 0),
      'min',
    ],
    [
      'apikeys_change_feed_position',
      'Position of the last change applied from the feed',
      () => feed.stats.position,
      'min',
    ],
    [
      'apikeys_change_feed_fresh',
      '1 while cached keys may be served, 0 while verification fails closed',
      () => (feed.isFresh() ? 1 : 0),
      'min',
    ],
  ];
  for (const [name, help, read, aggregator] of gauges) gauge(registers, name, help, read, aggregator);
  const counters: [string, string, () => number][] = [
    ['apikeys_change_feed_polls_total', 'Change-feed polls', () => feed.stats.polls],
    ['apikeys_change_feed_poll_errors_total', 'Change-feed polls that failed', () => feed.stats.pollErrors],
    ['apikeys_change_feed_changes_total', 'Key changes applied from the feed', () => feed.stats.changesApplied],
    [
      'apikeys_change_feed_poll_timeouts_total',
      'Change-feed polls abandoned at their timeout',
      () => feed.stats.pollTimeouts,
    ],
    [
      'apikeys_change_feed_gaps_total',
      'Times unread feed rows were found pruned (the whole cache was dropped)',
      () => feed.stats.gaps,
    ],
    [
      'apikeys_change_feed_rewinds_total',
      'Times the feed no longer held a row this process had applied (failover, restore): the whole cache was dropped',
      () => feed.stats.rewinds,
    ],
  ];
  for (const [name, help, read] of counters) mirroredCounter(registers, name, help, read);
}

function registerLastUsedMetrics(registers: Registers, { lastUsed }: MetricsSources): void {
  const counters: [string, string, () => number][] = [
    ['apikeys_last_used_flushes_total', 'Successful last-used flushes', () => lastUsed.stats.flushes],
    ['apikeys_last_used_flush_errors_total', 'Failed last-used flushes (retried)', () => lastUsed.stats.flushErrors],
    ['apikeys_last_used_rows_written_total', 'Last-used rows written', () => lastUsed.stats.rowsWritten],
    [
      'apikeys_usage_decisions_counted_total',
      'Verification decisions about existing keys counted for the usage history (GetKeyUsage)',
      () => lastUsed.usageStats.counted,
    ],
    [
      'apikeys_usage_counts_dropped_total',
      'Usage counts given up because their flush was not confirmed (it may have committed; never written twice)',
      () => lastUsed.usageStats.dropped,
    ],
  ];
  for (const [name, help, read] of counters) mirroredCounter(registers, name, help, read);
  gauge(registers, 'apikeys_last_used_pending', 'Keys with unflushed last-used data', () => lastUsed.pendingCount);
  gauge(registers, 'apikeys_usage_pending', 'Key-days with unflushed usage counts', () => lastUsed.unwrittenUsageCount);
}

/** One snapshot of the replicas' table per scrape, shared by its gauges; null when it could not be read. */
function sharedSnapshot(sources: ReplicaMetricsSources): () => Promise<ReplicaSnapshot | null> {
  let latest: { readonly at: number; readonly snapshot: Promise<ReplicaSnapshot | null> } | undefined;
  return () => {
    const now = monotonicClock.now();
    if (latest === undefined || now - latest.at > REPLICA_SNAPSHOT_TIMEOUT_MS) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>(
        (resolve) => (timer = setTimeout(() => resolve(null), REPLICA_SNAPSHOT_TIMEOUT_MS)),
      );
      const read = sources.registry.snapshot(sources.timeoutMs).then(
        (snapshot) => snapshot,
        () => null,
      );
      latest = { at: now, snapshot: Promise.race([read, timeout]).finally(() => clearTimeout(timer)) };
    }
    return latest.snapshot;
  };
}

function registerReplicaMetrics(registers: Registers, sources: ReplicaMetricsSources): void {
  const waited = new Histogram({
    name: 'apikeys_propagation_seconds',
    help: 'How long acknowledged writes (revoke, update, rotate, revoke-user) waited for the live replicas, by outcome',
    labelNames: ['outcome'],
    buckets: PROPAGATION_BUCKETS,
    registers,
  });
  // Both series exist from the start, so a rate of incomplete waits is 0 rather than absent.
  waited.zero({ outcome: 'complete' });
  waited.zero({ outcome: 'incomplete' });
  const complete = waited.labels('complete');
  const incomplete = waited.labels('incomplete');
  sources.waiter?.onSettled((propagation) => {
    (propagation.complete ? complete : incomplete).observe(propagation.waitedMs / 1000);
  });
  const snapshot = sharedSnapshot(sources);
  // Every worker of a cluster reads the same table: the primary keeps one value, not their sum.
  new Gauge({
    name: 'apikeys_feed_replicas_live',
    help: 'Replicas whose heartbeat in feed_replicas is within REPLICA_TIMEOUT_MS (every serving process)',
    registers,
    aggregator: 'max',
    async collect() {
      const read = await snapshot();
      if (read !== null) this.set(read.replicas.length);
    },
  });
  new Gauge({
    name: 'apikeys_feed_replica_lag_positions',
    help: 'Changes a live replica has not applied yet: feed head minus its applied position, by replica id',
    labelNames: ['replica'],
    registers,
    aggregator: 'max',
    async collect() {
      const read = await snapshot();
      if (read === null) return;
      this.reset();
      for (const replica of read.replicas) {
        this.set({ replica: replica.replicaId }, Math.max(0, read.head - replica.appliedPosition));
      }
    },
  });
}

interface PoolCounts {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

function registerPoolMetrics(registers: Registers, { db }: MetricsSources): void {
  new Gauge({
    name: 'apikeys_db_pool_connections',
    help: 'Database pool connections, by state',
    labelNames: ['state'],
    registers,
    collect() {
      const current = (db.client as { pool?: PoolCounts }).pool;
      this.set({ state: 'used' }, current?.numUsed() ?? 0);
      this.set({ state: 'free' }, current?.numFree() ?? 0);
      this.set({ state: 'pending' }, current?.numPendingAcquires() ?? 0);
    },
  });
}

function registerTlsMetrics(registers: Registers, certificates: ReloadingCertificates): void {
  gauge(
    registers,
    'apikeys_tls_certificate_expiry_timestamp_seconds',
    'When the served TLS certificate expires (alert well before it)',
    () => Date.parse(certificates.material.certificate.validTo) / 1000,
    'min',
  );
  new Counter({
    name: 'apikeys_tls_reloads_total',
    help: 'TLS file reloads that changed the served certificate (reloaded) or were refused (rejected)',
    labelNames: ['result'],
    registers,
    collect() {
      mirror(this, certificates.stats.reloads, { result: 'reloaded' });
      mirror(this, certificates.stats.rejected, { result: 'rejected' });
    },
  });
}

/** One method and status: its count, and the duration series of its method. */
interface RpcSeries {
  count: number;
  readonly observeSeconds: (seconds: number) => void;
}

/**
 * RPC counts and latencies, counted per call in plain numbers (a count per method and status, a
 * PlainHistogram series per method) and handed to prom-client when Prometheus scrapes: no label lookup,
 * hashing or allocation per call. Exported for bench/metricsRecording.ts.
 */
export function registerRpcMetrics(registers: Registers): RpcObserver {
  const byMethod = new Map<string, Map<string, RpcSeries>>();
  new Counter({
    name: 'apikeys_rpc_handled_total',
    help: 'RPCs completed, by method and gRPC status code',
    labelNames: ['method', 'code'],
    registers,
    collect() {
      for (const [method, byCode] of byMethod)
        for (const [code, series] of byCode) mirror(this, series.count, { method, code });
    },
  });
  const duration = new PlainHistogram(
    'apikeys_rpc_duration_seconds',
    'Server time per RPC, by method',
    ['method'],
    RPC_DURATION_BUCKETS,
    registers,
  );
  return (method, code, seconds) => {
    let byCode = byMethod.get(method);
    if (byCode === undefined) {
      byCode = new Map();
      byMethod.set(method, byCode);
    }
    let series = byCode.get(code);
    if (series === undefined) {
      series = { count: 0, observeSeconds: duration.series(method) };
      byCode.set(code, series);
    }
    series.count++;
    series.observeSeconds(seconds);
  };
}

/**
 * Registers the service's metrics on `registry`. RPC counts and latencies are recorded through the
 * returned observer (plain numbers per method and status, so recording is a few additions);
 * everything else is read from the domain's counters at scrape time.
 */
export function createMetrics(registry: Registry, sources: MetricsSources): RpcObserver {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const observe = registerRpcMetrics(registers);
  registerVerifierMetrics(registers, sources);
  registerUnknownKeyMetrics(registers, sources);
  registerFeedMetrics(registers, sources);
  registerLastUsedMetrics(registers, sources);
  registerPoolMetrics(registers, sources);
  if (sources.replicas !== undefined) registerReplicaMetrics(registers, sources.replicas);
  if (sources.certificates !== undefined && sources.certificates !== null) {
    registerTlsMetrics(registers, sources.certificates);
  }
  if (sources.transportEvents !== undefined) registerTransportMetrics(registers, sources.transportEvents);
  return observe;
}

/** Calls and connections a transport limit ended (those grpc-js lets us see), by reason. */
function registerTransportMetrics(registers: Registers, events: TransportLimitEvents): void {
  new Counter({
    name: 'apikeys_transport_limit_events_total',
    help: 'Calls and connections ended by a transport limit, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      for (const [reason, count] of events.counts) mirror(this, count, { reason });
    },
  });
}
