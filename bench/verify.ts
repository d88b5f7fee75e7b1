/**
 * `npm run bench:verify` — the VerifyKey benchmark (not part of the test suite).
 *
 * Drives VerifyKey with h2load (Debian package nghttp2-client) and, in the same run and with the same
 * load, a no-op gRPC handler on the same server code; prints throughput and latency of both and their
 * ratio, database queries during the warm phase, cache hit rate, memory per cached key, cold-miss
 * latency with 1,000 vs BENCH_KEYS keys in the table, 1 vs N workers, and the cross-replica revocation
 * delay. Every figure is checked against server-side counters.
 *
 * Settings (environment): BENCH_MYSQL_URL (else embedded SQLite), BENCH_KEYS (1000000), BENCH_SECONDS
 * (10), BENCH_CONNECTIONS (16), BENCH_STREAMS (8 per connection), BENCH_WORKERS (cores),
 * BENCH_REVOCATIONS (100), BENCH_COLD_SAMPLES (1000).
 */
import { type ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import knex, { type Knex } from 'knex';

import {
  KeyAdminClient,
  KeyVerifierClient,
  Role,
  VerifyKeyRequest,
  type VerifyKeyResponse,
} from '../gen/apikeys/v1/api_keys.js';
import { KeyCache } from '../src/domain/KeyCache.js';
import { generateSecret } from '../src/domain/keyFormat.js';
import { newId } from '../src/domain/admin/newId.js';
import type { ApiKeyRecord } from '../src/domain/types.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { isMysql } from '../src/storage/isMysql.js';
import { type KeyRow, toKeyRow } from '../src/storage/rows.js';

const env = process.env;
const KEYS = Number(env.BENCH_KEYS ?? 1_000_000);
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16);
const STREAMS = Number(env.BENCH_STREAMS ?? 8);
const WORKERS = Number(env.BENCH_WORKERS ?? availableParallelism());
const REVOCATIONS = Number(env.BENCH_REVOCATIONS ?? 100);
const COLD_SAMPLES = Number(env.BENCH_COLD_SAMPLES ?? 1000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 6); // a multiple of 3: each contender in each position equally often
/** Pin the server to CPU 0 and h2load to CPU 1 for the single-process comparison (less noise). */
const PIN = env.BENCH_PIN !== '0' && availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
const SMALL_TABLE = 1000;
const ORG = 'org-bench';
const HOUR = 3_600_000;

type Stats = Record<string, Record<string, number>>[];

// ---------------------------------------------------------------- processes

interface Child {
  readonly process: ChildProcess;
  readonly address: string;
  stats(): Promise<Stats>;
  stop(): Promise<void>;
}

/** Forks a server (the service or the no-op) with an IPC channel and waits for its address. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function startChild(script: string, extraEnv: Record<string, string>, pinned = false): Promise<Child> {
  const child = fork(script, [], {
    env: {
      ...env,
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: '127.0.0.1:0',
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_MS: '0',
      ...extraEnv,
    },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  if (pinned && child.pid !== undefined)
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(child.pid)], { stdio: 'ignore' });
  let nextId = 1;
  let output = '';
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`${script} exited with ${String(code)}: ${output}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"address":"([^"]+)"/.exec(output);
      if (match?.[1] === undefined) return;
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({
        process: child,
        address: match[1],
        stats: () =>
          new Promise((done) => {
            const id = nextId++;
            const listener = (message: { type?: string; id?: number; stats?: Stats }): void => {
              if (message.type === 'stats' && message.id === id) {
                child.off('message', listener);
                done(message.stats ?? []);
              }
            };
            child.on('message', listener);
            child.send({ type: 'stats', id });
          }),
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

function sum(stats: Stats, group: string, field: string): number {
  return stats.reduce((total, s) => total + (s[group]?.[field] ?? 0), 0);
}

// ---------------------------------------------------------------- h2load

interface LoadResult {
  requests: number;
  succeeded: number;
  rps: number;
  p50Us: number;
  p99Us: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** One gRPC message frame: 0 (uncompressed), 4-byte big-endian length, protobuf bytes. */
function grpcFrame(request: VerifyKeyRequest): Buffer {
  const body = Buffer.from(VerifyKeyRequest.encode(request).finish());
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

function h2load(address: string, frameFile: string, seconds: number, pinned = false): LoadResult {
  const logFile = join(tmpdir(), `h2load-${randomBytes(4).toString('hex')}.tsv`);
  const args = [
    '-D', String(seconds), '-c', String(CONNECTIONS), '-m', String(STREAMS), '-t', '1',
    '-d', frameFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    '--log-file', logFile, `http://${address}/apikeys.v1.KeyVerifier/VerifyKey`,
  ]; // prettier-ignore
  const [command, commandArgs] = pinned ? ['taskset', ['-c', '1', 'h2load', ...args]] : ['h2load', args];
  const out = execFileSync(command, commandArgs, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const requests = Number(/requests: (\d+) total/.exec(out)?.[1] ?? NaN);
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? NaN);
  const latencies = readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => Number(line.split('\t')[2]))
    .sort((a, b) => a - b);
  return {
    requests,
    succeeded,
    rps: succeeded / seconds,
    p50Us: percentile(latencies, 50),
    p99Us: percentile(latencies, 99),
  };
}

// ---------------------------------------------------------------- data

function keyRecord(hash: Buffer, prefix: string, now: number): ApiKeyRecord {
  return {
    id: newId('key'),
    organizationId: ORG,
    name: 'bench key',
    prefix,
    secretHash: hash,
    scopes: ['comments:read', 'tickets:read'],
    allowedIps: ['198.51.100.0/24', '2001:db8::/32'],
    metadata: {},
    createdByUserId: 'bench',
    createdByRole: 'admin',
    createTime: now,
    expireTime: now + 8760 * HOUR,
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

/** Inserts `count` keys; the first `withSecrets` get real secrets (returned), the rest random hashes. */
async function seed(db: Knex, count: number, withSecrets: number): Promise<string[]> {
  const secrets: string[] = [];
  const now = Date.now();
  // Seeding is setup, not the system under test: skip per-transaction fsync on SQLite.
  if (!isMysql(db)) await db.raw('PRAGMA synchronous = OFF');
  const batch = isMysql(db) ? 2000 : 500;
  for (let done = 0; done < count; done += batch) {
    const rows: KeyRow[] = [];
    for (let i = done; i < Math.min(count, done + batch); i++) {
      if (i < withSecrets) {
        const generated = generateSecret('admin');
        secrets.push(generated.secret);
        rows.push(toKeyRow(keyRecord(generated.hash, generated.prefix, now)));
      } else {
        rows.push(toKeyRow(keyRecord(randomBytes(32), 'tt_admin_seeded0', now)));
      }
    }
    await db.transaction((trx) => trx('api_keys').insert(rows));
  }
  return secrets;
}

// ---------------------------------------------------------------- client-side probes

function verifierClient(address: string): KeyVerifierClient {
  return new KeyVerifierClient(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

function verify(client: KeyVerifierClient, key: string, clientIp = '198.51.100.7'): Promise<VerifyKeyResponse> {
  return new Promise((resolve, reject) => {
    client.verifyKey({ key, clientIp, requiredScopes: ['tickets:read'] }, (error: ServiceError | null, response) =>
      error === null ? resolve(response) : reject(error),
    );
  });
}

/** Sequential first-time verifies of never-cached keys: each is a cache miss and one indexed query. */
async function coldMissLatency(
  address: string,
  secrets: readonly string[],
  child: Child,
): Promise<{ p50Us: number; p99Us: number; queries: number; warmP50Us: number }> {
  const client = verifierClient(address);
  await verify(client, secrets[0]!); // connect + JIT outside the sample
  const warm: number[] = [];
  for (let i = 0; i < secrets.length; i++) {
    const started = process.hrtime.bigint();
    await verify(client, secrets[0]!);
    warm.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  warm.sort((a, b) => a - b);
  const before = sum(await child.stats(), 'cache', 'databaseQueries');
  const samples: number[] = [];
  for (const secret of secrets.slice(1)) {
    const started = process.hrtime.bigint();
    const answer = await verify(client, secret);
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
    if (!answer.valid) throw new Error(`seeded key did not verify: ${answer.message}`);
  }
  const queries = sum(await child.stats(), 'cache', 'databaseQueries') - before;
  client.close();
  samples.sort((a, b) => a - b);
  return { p50Us: percentile(samples, 50), p99Us: percentile(samples, 99), queries, warmP50Us: percentile(warm, 50) };
}

/** Bytes of heap per cached key, measured on a KeyCache filled from an in-memory repository. */
async function bytesPerCachedKey(count: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return NaN;
  const hashes = Array.from({ length: count }, () => randomBytes(32));
  const now = Date.now();
  const repository = { findByHash: (hash: Buffer) => Promise.resolve(keyRecord(hash, 'tt_admin_P6jVGAam', now)) };
  gc();
  const before = process.memoryUsage().heapUsed;
  const cache = new KeyCache({ repository, maxKeys: count, negativeTtlMs: 1000, maxAgeMs: 300_000 });
  for (const hash of hashes) await cache.get(hash);
  gc();
  const after = process.memoryUsage().heapUsed;
  if (cache.size !== count) throw new Error('cache did not keep every key');
  // The hash buffers are held by the test array too; count what the cache adds on top.
  return (after - before) / count;
}

async function revocationDelays(a: Child, b: Child, count: number): Promise<number[]> {
  const admin = new KeyAdminClient(a.address, credentials.createInsecure());
  const onB = verifierClient(b.address);
  const actor = { organizationId: ORG, userId: 'bench', role: Role.ROLE_ADMIN };
  const call = <T>(method: string, request: object): Promise<T> =>
    new Promise((resolve, reject) => {
      (
        admin as unknown as Record<string, (r: object, m: Metadata, cb: (e: ServiceError | null, v: T) => void) => void>
      )[method]!(request, new Metadata(), (error, value) => (error === null ? resolve(value) : reject(error)));
    });
  const delays: number[] = [];
  for (let i = 0; i < count; i++) {
    const created = await call<{ secret: string; key: { id: string } }>('createKey', {
      actor,
      name: `revocation ${i}`,
      scopes: ['tickets:read'],
      allowedIps: [],
    });
    if (!(await verify(onB, created.secret)).valid) throw new Error('new key did not verify on replica B');
    await call('revokeKey', { actor, keyId: created.key.id, reason: 'bench' });
    const revokedAt = performance.now();
    while ((await verify(onB, created.secret)).valid) {
      if (performance.now() - revokedAt > 10_000) throw new Error('replica B did not see a revocation within 10 s');
    }
    delays.push(performance.now() - revokedAt);
  }
  admin.close();
  onB.close();
  return delays.sort((x, y) => x - y);
}

// ---------------------------------------------------------------- run

async function main(): Promise<void> {
  if (spawnSync('h2load', ['--version']).status !== 0) {
    process.stderr.write('h2load not found: apt-get install nghttp2-client\n');
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'apikeys-bench-'));
  let databaseUrl = `sqlite:${join(dir, 'keys.db')}`;
  let dropDatabase = (): Promise<void> => Promise.resolve();
  if (env.BENCH_MYSQL_URL !== undefined && env.BENCH_MYSQL_URL !== '') {
    const server = new URL(env.BENCH_MYSQL_URL);
    const name = `apikeys_bench_${randomBytes(4).toString('hex')}`;
    const root = knex({
      client: 'mysql2',
      connection: {
        host: server.hostname,
        port: Number(server.port || 3306),
        user: decodeURIComponent(server.username),
        password: decodeURIComponent(server.password),
      },
    });
    await root.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    server.pathname = `/${name}`;
    databaseUrl = server.toString();
    dropDatabase = async () => {
      await root.raw(`DROP DATABASE \`${name}\``);
      await root.destroy();
    };
  }
  const db = createDatabase(parseDatabaseUrl(databaseUrl), { poolMax: 4, acquireTimeoutMs: 10_000 });
  await migrateDatabase(db);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(
    `database: ${databaseUrl.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')}; load: h2load ${SECONDS}s × ${CONNECTIONS} connections × ${STREAMS} streams`,
  );

  const smallSecrets = await seed(db, SMALL_TABLE, SMALL_TABLE);
  const serviceEnv = { DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'false', CACHE_NEGATIVE_TTL_MS: '5000' };
  const service = await startChild('src/main.ts', serviceEnv, PIN);
  const coldSmall = await coldMissLatency(
    service.address,
    smallSecrets.slice(0, Math.min(COLD_SAMPLES, SMALL_TABLE)),
    service,
  );
  log(
    `cold miss with ${SMALL_TABLE} keys: p50 ${coldSmall.p50Us.toFixed(0)} µs, p99 ${coldSmall.p99Us.toFixed(0)} µs (${coldSmall.queries} queries; the same client's warm p50 ${coldSmall.warmP50Us.toFixed(0)} µs)`,
  );

  const seedStarted = Date.now();
  const bigSecrets = await seed(db, Math.max(0, KEYS - SMALL_TABLE), COLD_SAMPLES);
  log(`seeded ${KEYS} keys in total (${((Date.now() - seedStarted) / 1000).toFixed(0)} s)`);
  const coldBig = await coldMissLatency(service.address, bigSecrets, service);
  log(
    `cold miss with ${KEYS} keys: p50 ${coldBig.p50Us.toFixed(0)} µs, p99 ${coldBig.p99Us.toFixed(0)} µs (${coldBig.queries} queries; the same client's warm p50 ${coldBig.warmP50Us.toFixed(0)} µs)`,
  );

  const frameFile = join(dir, 'verify.bin');
  writeFileSync(
    frameFile,
    grpcFrame({ key: smallSecrets[0]!, clientIp: '198.51.100.7', requiredScopes: ['tickets:read'] }),
  );

  const measure = async (
    label: string,
    child: Child,
    pinned: boolean,
  ): Promise<LoadResult & { valid: number; keyQueries: number; hitRate: number; rssMb: number; cpuUs: number }> => {
    h2load(child.address, frameFile, 2, pinned); // warm-up: connections, JIT, cache
    const before = await child.stats();
    const result = h2load(child.address, frameFile, SECONDS, pinned);
    const after = await child.stats();
    const valid = sum(after, 'verifier', 'valid') - sum(before, 'verifier', 'valid');
    const keyQueries = sum(after, 'cache', 'databaseQueries') - sum(before, 'cache', 'databaseQueries');
    const hits = sum(after, 'cache', 'hits') - sum(before, 'cache', 'hits');
    const lookups = hits + sum(after, 'cache', 'misses') - sum(before, 'cache', 'misses');
    const rssMb = sum(after, 'memory', 'rss') / 1024 / 1024;
    // Server CPU time per answered call: what a call costs the server, insensitive to time the machine
    // gave to other tenants (which moves req/s by tens of per cent between rounds).
    const cpuUs =
      (sum(after, 'cpu', 'user') +
        sum(after, 'cpu', 'system') -
        sum(before, 'cpu', 'user') -
        sum(before, 'cpu', 'system')) /
      Math.max(1, valid);
    // h2load stops after the duration with up to connections × streams requests in flight, which the
    // server may still answer; every request h2load completed must have been answered valid, and the
    // server must have answered nothing else (h2load counts a 200 with a non-zero grpc-status as success).
    const denied = Object.keys(after[0]?.verifier ?? {})
      .filter((reason) => reason !== 'valid')
      .reduce((total, reason) => total + sum(after, 'verifier', reason) - sum(before, 'verifier', reason), 0);
    if (
      result.succeeded !== result.requests ||
      valid < result.succeeded ||
      valid > result.requests + CONNECTIONS * STREAMS ||
      denied !== 0
    ) {
      throw new Error(
        `${label}: h2load completed ${result.succeeded}/${result.requests}; the server answered ${valid} valid and ${denied} denied`,
      );
    }
    log(
      `${label.padEnd(26)} ${result.rps.toFixed(0).padStart(7)} req/s  p50 ${(result.p50Us / 1000).toFixed(2)} ms  p99 ${(result.p99Us / 1000).toFixed(2)} ms  cpu ${cpuUs.toFixed(1)} µs/call  valid ${valid}/${result.requests}` +
        (lookups > 0
          ? `  key queries ${keyQueries}  hit rate ${((hits / lookups) * 100).toFixed(2)}%  rss ${rssMb.toFixed(0)} MB`
          : ''),
    );
    return { ...result, valid, keyQueries, hitRate: lookups > 0 ? hits / lookups : NaN, rssMb, cpuUs };
  };

  // Alternate the two under identical load; this machine's run-to-run noise is larger than the
  // difference being measured, so the ratio reported is the median of the rounds' ratios.
  // A third process, identical but with METRICS_ADDRESS=off, shows what recording metrics costs.
  const noop = await startChild('bench/noopServer.ts', {}, PIN);
  const withoutMetrics = await startChild('src/main.ts', { ...serviceEnv, METRICS_ADDRESS: 'off' }, PIN);
  type Measured = Awaited<ReturnType<typeof measure>>;
  const rounds: { noop: Measured; verify: Measured; bare: Measured }[] = [];
  const contenders = [
    ['noop', 'no-op, 1 process', noop],
    ['verify', 'VerifyKey, 1 process', service],
    ['bare', 'VerifyKey, no metrics', withoutMetrics],
  ] as const;
  for (let round = 1; round <= ROUNDS; round++) {
    // The order rotates every round: a position in the round must not favour one contender.
    const measured: Partial<Record<(typeof contenders)[number][0], Measured>> = {};
    for (let i = 0; i < contenders.length; i++) {
      const [name, label, child] = contenders[(round - 1 + i) % contenders.length]!;
      measured[name] = await measure(`${label} #${round}`, child, PIN);
    }
    rounds.push(measured as { noop: Measured; verify: Measured; bare: Measured });
  }
  await noop.stop();
  await withoutMetrics.stop();
  const metricsRatios = rounds.map((r) => r.verify.rps / r.bare.rps).sort((a, b) => a - b);
  const bareRatios = rounds.map((r) => r.bare.rps / r.noop.rps).sort((a, b) => a - b);
  const ratios = rounds.map((r) => r.verify.rps / r.noop.rps).sort((a, b) => a - b);
  const cpuRatios = rounds.map((r) => r.noop.cpuUs / r.verify.cpuUs).sort((a, b) => a - b);
  const cpuMedianRound = rounds.find((r) => r.noop.cpuUs / r.verify.cpuUs === cpuRatios[Math.floor(ROUNDS / 2)])!;
  const medianRound = rounds.find((r) => r.verify.rps / r.noop.rps === ratios[Math.floor(ratios.length / 2)])!;
  const noop1 = medianRound.noop;
  const verify1 = medianRound.verify;
  const warmKeyQueries = rounds.reduce((total, r) => total + r.verify.keyQueries, 0);
  const replicaB = await startChild('src/main.ts', serviceEnv);
  const delays = await revocationDelays(service, replicaB, REVOCATIONS);
  await replicaB.stop();
  await service.stop();

  const serviceN = await startChild('src/main.ts', { ...serviceEnv, WORKERS: String(WORKERS) });
  const verifyN = await measure(`VerifyKey, ${WORKERS} workers`, serviceN, false);
  await serviceN.stop();
  const noopN = await startChild('bench/noopServer.ts', { WORKERS: String(WORKERS) });
  h2load(noopN.address, frameFile, 2);
  const noopNResult = h2load(noopN.address, frameFile, SECONDS);
  log(
    `${`no-op, ${WORKERS} workers`.padEnd(26)} ${noopNResult.rps.toFixed(0).padStart(7)} req/s  p50 ${(noopNResult.p50Us / 1000).toFixed(2)} ms  p99 ${(noopNResult.p99Us / 1000).toFixed(2)} ms  (succeeded ${noopNResult.succeeded}/${noopNResult.requests})`,
  );
  await noopN.stop();

  const perKey = await bytesPerCachedKey(100_000);
  await db.destroy();
  await dropDatabase();

  log('');
  log('| figure | value | target |');
  log('| --- | --- | --- |');
  log(
    `| VerifyKey / no-op throughput, 1 process (median of ${ROUNDS} alternating rounds${PIN ? ', server on CPU 0, h2load on CPU 1' : ''}) | ${(verify1.rps / noop1.rps).toFixed(3)} (${verify1.rps.toFixed(0)} / ${noop1.rps.toFixed(0)} req/s; every round: ${ratios.map((r) => r.toFixed(2)).join(', ')}) | ≥ 0.9 |`,
  );
  log(
    `| server CPU per call, no-op / VerifyKey (median of ${ROUNDS}; the throughput ratio if the server had its core to itself) | ${cpuRatios[Math.floor(ROUNDS / 2)]!.toFixed(3)} (${cpuMedianRound.noop.cpuUs.toFixed(1)} / ${cpuMedianRound.verify.cpuUs.toFixed(1)} µs; every round: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}) | ≥ 0.9 |`,
  );
  log(
    `| p50 / p99 latency, VerifyKey vs no-op | ${(verify1.p50Us / 1000).toFixed(2)} / ${(verify1.p99Us / 1000).toFixed(2)} ms vs ${(noop1.p50Us / 1000).toFixed(2)} / ${(noop1.p99Us / 1000).toFixed(2)} ms | |`,
  );
  log(
    `| key-lookup queries during the warm phases | ${warmKeyQueries} (${WORKERS} workers: ${verifyN.keyQueries}) | 0 |`,
  );
  log(`| cache hit rate, warm phase | ${(verify1.hitRate * 100).toFixed(3)} % | |`);
  log(
    `| VerifyKey ${WORKERS} workers / 1 process | ${(verifyN.rps / verify1.rps).toFixed(2)} (${verifyN.rps.toFixed(0)} req/s; no-op ${WORKERS} workers ${noopNResult.rps.toFixed(0)} req/s) | |`,
  );
  log(
    `| VerifyKey with metrics / without (median of ${ROUNDS}) | ${metricsRatios[Math.floor(ROUNDS / 2)]!.toFixed(3)} (every round: ${metricsRatios.map((r) => r.toFixed(2)).join(', ')}; without metrics / no-op: ${bareRatios[Math.floor(ROUNDS / 2)]!.toFixed(3)}) | no measurable cost |`,
  );
  log(`| heap per cached key | ${perKey.toFixed(0)} bytes | |`);
  log(`| server RSS after the runs (1 process) | ${verify1.rssMb.toFixed(0)} MB | |`);
  log(
    `| cold miss p50, ${SMALL_TABLE} vs ${KEYS} keys | ${coldSmall.p50Us.toFixed(0)} µs vs ${coldBig.p50Us.toFixed(0)} µs (${((coldBig.p50Us / coldSmall.p50Us - 1) * 100).toFixed(1)} %) | within 10 % |`,
  );
  log(
    `| cross-replica revocation delay over ${delays.length} | p50 ${percentile(delays, 50).toFixed(0)} ms, p99 ${percentile(delays, 99).toFixed(0)} ms | p99 ≤ 250 ms |`,
  );
}

await main();
