/**
 * `npm run bench:verify` — the VerifyKey benchmark (not part of the test suite).
 *
 * Drives, with h2load (Debian package nghttp2-client) and the same load, four servers in separate
 * processes, in one run and in an order that rotates every round: a bare grpc-js handler (bareServer.ts:
 * same grpc-js and server options, raw bytes in and out, a fixed response of VerifyKey's size), the
 * service's no-op (noopServer.ts: the service's createServer, protobuf decoded and encoded), VerifyKey
 * with the default settings (metrics on, LOG_LEVEL=info) and VerifyKey with METRICS_ADDRESS=off. Prints
 * every round and the median of throughput and of server CPU per call (utime+stime from /proc/<pid>/stat
 * ÷ calls answered), the metrics cost, database queries during the warm phase, cache hit rate, heap per
 * cached key over 100,000 keys after GC and RSS with BENCH_RSS_KEYS cached keys (bench/cacheMemory.ts, a
 * process of its own), cold-miss latency with 1,000 vs BENCH_KEYS keys in the table, 1 vs N workers, and
 * the cross-replica revocation delay. A round in which any answer was not a valid one is refused (the
 * bench stops). Every figure is checked against server-side counters.
 *
 * Settings (environment): BENCH_MYSQL_URL (else embedded SQLite), BENCH_KEYS (1000000), BENCH_SECONDS
 * (10), BENCH_CONNECTIONS (8), BENCH_STREAMS (16 per connection), BENCH_WORKERS (cores), BENCH_ROUNDS (8),
 * BENCH_REVOCATIONS (100), BENCH_COLD_SAMPLES (1000), BENCH_WARM_ONLY (1: only the warm comparison and
 * the memory figures; no large table, revocations or workers), BENCH_RSS_KEYS (1000000),
 * BENCH_BEFORE_DIR (a checkout of earlier code: its VerifyKey joins the rounds as a fifth contender),
 * BENCH_CPU_PROF_DIR (the default-settings service writes a V8 CPU profile there).
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
  VerifyKeyResponse,
} from '../gen/apikeys/v1/api_keys.js';
import { generateSecret } from '../src/domain/keyFormat.js';
import { newId } from '../src/domain/admin/newId.js';
import type { ApiKeyRecord } from '../src/domain/types.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';
import { isMysql } from '../src/storage/isMysql.js';
import { type KeyRow, toKeyRow } from '../src/storage/rows.js';

const env = process.env;
const KEYS = Number(env.BENCH_KEYS ?? 1_000_000);
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 8);
const STREAMS = Number(env.BENCH_STREAMS ?? 16);
const WORKERS = Number(env.BENCH_WORKERS ?? availableParallelism());
const REVOCATIONS = Number(env.BENCH_REVOCATIONS ?? 100);
const COLD_SAMPLES = Number(env.BENCH_COLD_SAMPLES ?? 1000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 8); // a multiple of the contenders: each in each position equally often
const WARM_ONLY = env.BENCH_WARM_ONLY === '1';
const RSS_KEYS = Number(env.BENCH_RSS_KEYS ?? 1_000_000);
const BEFORE_DIR = env.BENCH_BEFORE_DIR === '' ? undefined : env.BENCH_BEFORE_DIR;
/** BENCH_CPU_PROF_DIR: the default-settings service writes a V8 CPU profile there when it stops. */
const PROFILE_DIR = env.BENCH_CPU_PROF_DIR === '' ? undefined : env.BENCH_CPU_PROF_DIR;
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

function startChild(
  script: string,
  extraEnv: Record<string, string>,
  pinned = false,
  cwd: string = process.cwd(),
): Promise<Child> {
  const child = fork(script, [], {
    cwd,
    env: {
      ...env,
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: '127.0.0.1:0',
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_MS: '0',
      ...extraEnv,
    },
    execArgv: [
      '--import',
      'tsx',
      ...(script === 'src/main.ts' &&
      PROFILE_DIR !== undefined &&
      cwd === process.cwd() &&
      !('METRICS_ADDRESS' in extraEnv)
        ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
        : []),
    ],
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

const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** CPU time (user + system, µs) the kernel charged to a process: fields 14 and 15 of /proc/<pid>/stat. */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
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

interface CacheMemory {
  keys: number;
  heapBytesPerKey: number;
  arrayBufferBytesPerKey: number;
  rssMb: number;
}

/** Memory of `count` cached, verified keys, measured in a fresh process (bench/cacheMemory.ts). */
function cacheMemory(count: number): CacheMemory {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', 'bench/cacheMemory.ts', String(count)],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as CacheMemory;
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
      metadata: {},
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
  let service = await startChild('src/main.ts', serviceEnv, PIN);
  const coldSmall = await coldMissLatency(
    service.address,
    smallSecrets.slice(0, Math.min(COLD_SAMPLES, SMALL_TABLE)),
    service,
  );
  log(
    `cold miss with ${SMALL_TABLE} keys: p50 ${coldSmall.p50Us.toFixed(0)} µs, p99 ${coldSmall.p99Us.toFixed(0)} µs (${coldSmall.queries} queries; the same client's warm p50 ${coldSmall.warmP50Us.toFixed(0)} µs)`,
  );

  let coldBig: Awaited<ReturnType<typeof coldMissLatency>> | null = null;
  if (!WARM_ONLY) {
    const seedStarted = Date.now();
    const bigSecrets = await seed(db, Math.max(0, KEYS - SMALL_TABLE), COLD_SAMPLES);
    log(`seeded ${KEYS} keys in total (${((Date.now() - seedStarted) / 1000).toFixed(0)} s)`);
    // Seeding writes the table directly, past the change feed: a running service's filter of known keys
    // has not seen these keys and would deny them as unknown. A fresh process loads them at start.
    await service.stop();
    service = await startChild('src/main.ts', serviceEnv, PIN);
    coldBig = await coldMissLatency(service.address, bigSecrets, service);
    log(
      `cold miss with ${KEYS} keys: p50 ${coldBig.p50Us.toFixed(0)} µs, p99 ${coldBig.p99Us.toFixed(0)} µs (${coldBig.queries} queries; the same client's warm p50 ${coldBig.warmP50Us.toFixed(0)} µs)`,
    );
  }

  const request = { key: smallSecrets[0]!, clientIp: '198.51.100.7', requiredScopes: ['tickets:read'] };
  const frameFile = join(dir, 'verify.bin');
  writeFileSync(frameFile, grpcFrame(request));
  // The bare handler answers the bytes the service answers this request with (same size on the wire).
  const probe = verifierClient(service.address);
  const sample = await verify(probe, request.key);
  probe.close();
  if (!sample.valid) throw new Error(`the bench key did not verify: ${sample.message}`);
  const responseHex = Buffer.from(VerifyKeyResponse.encode(sample).finish()).toString('hex');

  type Measured = LoadResult & { valid: number; keyQueries: number; hitRate: number; rssMb: number; cpuUs: number };
  const measure = async (label: string, child: Child, pinned: boolean): Promise<Measured> => {
    h2load(child.address, frameFile, 2, pinned); // warm-up: connections, JIT, cache
    const before = await child.stats();
    const cpuBefore = processCpuUs(child.process.pid!);
    const result = h2load(child.address, frameFile, SECONDS, pinned);
    const cpuAfter = processCpuUs(child.process.pid!);
    const after = await child.stats();
    const valid = sum(after, 'verifier', 'valid') - sum(before, 'verifier', 'valid');
    const keyQueries = sum(after, 'cache', 'databaseQueries') - sum(before, 'cache', 'databaseQueries');
    const hits = sum(after, 'cache', 'hits') - sum(before, 'cache', 'hits');
    const lookups = hits + sum(after, 'cache', 'misses') - sum(before, 'cache', 'misses');
    const rssMb = sum(after, 'memory', 'rss') / 1024 / 1024;
    // Server CPU time per answered call, as the kernel charged it to the server's process (every thread:
    // the event loop, libuv's pool, V8's GC and compiler threads): what a call costs the server,
    // insensitive to time the machine gave to other tenants (which moves req/s by tens of per cent).
    const cpuUs = (cpuAfter - cpuBefore) / Math.max(1, valid);
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
        `${label}: round refused: h2load completed ${result.succeeded}/${result.requests}; the server answered ${valid} valid and ${denied} denied`,
      );
    }
    log(
      `${label.padEnd(30)} ${result.rps.toFixed(0).padStart(7)} req/s  p50 ${(result.p50Us / 1000).toFixed(2)} ms  p99 ${(result.p99Us / 1000).toFixed(2)} ms  cpu ${cpuUs.toFixed(1)} µs/call  valid ${valid}/${result.requests}` +
        (lookups > 0
          ? `  key queries ${keyQueries}  hit rate ${((hits / lookups) * 100).toFixed(2)}%  rss ${rssMb.toFixed(0)} MB`
          : ''),
    );
    return { ...result, valid, keyQueries, hitRate: lookups > 0 ? hits / lookups : NaN, rssMb, cpuUs };
  };

  // All four under identical load, each in its own process; this machine's run-to-run noise is larger
  // than the differences measured, so each figure is the median of the rounds' ratios. The bare handler
  // is the floor; the no-op is the service's own server code without the decision; the fourth process,
  // identical to the service but with METRICS_ADDRESS=off, shows what recording metrics costs.
  const bare = await startChild('bench/bareServer.ts', { BARE_RESPONSE_HEX: responseHex }, PIN);
  const noop = await startChild('bench/noopServer.ts', {}, PIN);
  const withoutMetrics = await startChild('src/main.ts', { ...serviceEnv, METRICS_ADDRESS: 'off' }, PIN);
  // BENCH_BEFORE_DIR: a checkout of the code before a change (npm ci done there), run as a fifth
  // contender with the same settings, so a change's before/after is measured in one run.
  const before = BEFORE_DIR === undefined ? undefined : await startChild('src/main.ts', serviceEnv, PIN, BEFORE_DIR);
  type Name = 'bare' | 'noop' | 'verify' | 'nometrics' | 'before';
  const contenders: readonly [Name, string, Child][] = [
    ['bare', 'bare grpc-js handler', bare],
    ['noop', 'no-op (service server)', noop],
    ['verify', 'VerifyKey (defaults)', service],
    ['nometrics', 'VerifyKey, METRICS_ADDRESS=off', withoutMetrics],
    ...(before === undefined ? [] : [['before', 'VerifyKey before (defaults)', before] as [Name, string, Child]]),
  ];
  // Every process is warmed the same before the first round (JIT, caches, connection pools), so a
  // process started last does not pay its warm-up inside a measured round.
  for (const [, , child] of contenders) h2load(child.address, frameFile, 3, PIN);
  const rounds: Record<Name, Measured>[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // The order rotates every round: a position in the round must not favour one contender.
    const measured: Partial<Record<Name, Measured>> = {};
    for (let i = 0; i < contenders.length; i++) {
      const [name, label, child] = contenders[(round - 1 + i) % contenders.length]!;
      measured[name] = await measure(`${label} #${round}`, child, PIN);
    }
    rounds.push(measured as Record<Name, Measured>);
  }
  await bare.stop();
  await before?.stop();
  await noop.stop();
  await withoutMetrics.stop();
  const median = (values: readonly number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  /** A ratio per round (listed in round order) and its median. */
  const ratio = (of: (r: Record<Name, Measured>) => number): string => {
    const values = rounds.map(of);
    return `${median(values).toFixed(3)} (rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`;
  };
  const medianOf = (name: Name, field: 'rps' | 'cpuUs'): number => median(rounds.map((r) => r[name][field]));
  const warmKeyQueries = rounds.reduce((total, r) => total + r.verify.keyQueries, 0);
  const lastVerify = rounds[rounds.length - 1]!.verify;

  let delays: number[] = [];
  let workersLine = '';
  if (!WARM_ONLY) {
    const replicaB = await startChild('src/main.ts', serviceEnv);
    delays = await revocationDelays(service, replicaB, REVOCATIONS);
    await replicaB.stop();
  }
  await service.stop();
  if (!WARM_ONLY) {
    const serviceN = await startChild('src/main.ts', { ...serviceEnv, WORKERS: String(WORKERS) });
    const verifyN = await measure(`VerifyKey, ${WORKERS} workers`, serviceN, false);
    await serviceN.stop();
    const noopN = await startChild('bench/noopServer.ts', { WORKERS: String(WORKERS) });
    h2load(noopN.address, frameFile, 2);
    const noopNResult = h2load(noopN.address, frameFile, SECONDS);
    await noopN.stop();
    workersLine = `| VerifyKey ${WORKERS} workers / 1 process | ${(verifyN.rps / medianOf('verify', 'rps')).toFixed(2)} (${verifyN.rps.toFixed(0)} req/s; key queries ${verifyN.keyQueries}; no-op ${WORKERS} workers ${noopNResult.rps.toFixed(0)} req/s) | ≥ 1.8 |`;
  }

  const perKey = cacheMemory(100_000);
  const million = cacheMemory(RSS_KEYS);
  await db.destroy();
  await dropDatabase();

  log('');
  log(
    `| figure (median of ${ROUNDS} rounds, order rotating${PIN ? ', servers on CPU 0, h2load on CPU 1' : ''}) | value | target |`,
  );
  log('| --- | --- | --- |');
  log(
    `| server CPU per call, bare / VerifyKey | ${ratio((r) => r.bare.cpuUs / r.verify.cpuUs)}; medians ${medianOf('bare', 'cpuUs').toFixed(1)} / ${medianOf('verify', 'cpuUs').toFixed(1)} µs | ≥ 0.9 |`,
  );
  log(
    `| throughput, VerifyKey / bare | ${ratio((r) => r.verify.rps / r.bare.rps)}; medians ${medianOf('verify', 'rps').toFixed(0)} / ${medianOf('bare', 'rps').toFixed(0)} req/s | ≥ 0.9 |`,
  );
  if (before !== undefined) {
    log(
      `| server CPU per call, before / after (BENCH_BEFORE_DIR=${BEFORE_DIR ?? ''}) | ${ratio((r) => r.before.cpuUs / r.verify.cpuUs)}; medians ${medianOf('before', 'cpuUs').toFixed(1)} / ${medianOf('verify', 'cpuUs').toFixed(1)} µs | |`,
    );
    log(`| server CPU per call, bare / VerifyKey before | ${ratio((r) => r.bare.cpuUs / r.before.cpuUs)} | |`);
    log(`| throughput, after / before | ${ratio((r) => r.verify.rps / r.before.rps)} | |`);
  }
  log(`| server CPU per call, bare / no-op | ${ratio((r) => r.bare.cpuUs / r.noop.cpuUs)} | |`);
  log(`| server CPU per call, no-op / VerifyKey | ${ratio((r) => r.noop.cpuUs / r.verify.cpuUs)} | |`);
  log(`| throughput, VerifyKey / no-op | ${ratio((r) => r.verify.rps / r.noop.rps)} | |`);
  log(
    `| metrics cost: server CPU per call, without / with metrics | ${ratio((r) => r.nometrics.cpuUs / r.verify.cpuUs)}; medians ${medianOf('nometrics', 'cpuUs').toFixed(1)} / ${medianOf('verify', 'cpuUs').toFixed(1)} µs | ≥ 0.97 |`,
  );
  log(
    `| metrics cost: throughput, with / without metrics | ${ratio((r) => r.verify.rps / r.nometrics.rps)} | ≥ 0.97 |`,
  );
  log(
    `| p50 / p99 latency, VerifyKey vs bare (medians) | ${(median(rounds.map((r) => r.verify.p50Us)) / 1000).toFixed(2)} / ${(median(rounds.map((r) => r.verify.p99Us)) / 1000).toFixed(2)} ms vs ${(median(rounds.map((r) => r.bare.p50Us)) / 1000).toFixed(2)} / ${(median(rounds.map((r) => r.bare.p99Us)) / 1000).toFixed(2)} ms | |`,
  );
  log(`| key-lookup queries during the warm phases | ${warmKeyQueries} | 0 |`);
  log(`| cache hit rate, warm phase (last round) | ${(lastVerify.hitRate * 100).toFixed(3)} % | |`);
  if (workersLine !== '') log(workersLine);
  log(
    `| heap per cached key, ${perKey.keys} keys after GC | ${perKey.heapBytesPerKey.toFixed(0)} bytes (+ ${perKey.arrayBufferBytesPerKey.toFixed(0)} bytes of array buffers) | ≤ 512 |`,
  );
  log(
    `| RSS with ${million.keys} cached keys | ${million.rssMb.toFixed(0)} MB (heap ${million.heapBytesPerKey.toFixed(0)} + ${million.arrayBufferBytesPerKey.toFixed(0)} bytes per key) | |`,
  );
  log(`| server RSS after the warm runs (1 process) | ${lastVerify.rssMb.toFixed(0)} MB | |`);
  if (coldBig !== null)
    log(
      `| cold miss p50, ${SMALL_TABLE} vs ${KEYS} keys | ${coldSmall.p50Us.toFixed(0)} µs vs ${coldBig.p50Us.toFixed(0)} µs (${((coldBig.p50Us / coldSmall.p50Us - 1) * 100).toFixed(1)} %) | within 10 % |`,
    );
  if (delays.length > 0)
    log(
      `| cross-replica revocation delay over ${delays.length} | p50 ${percentile(delays, 50).toFixed(0)} ms, p99 ${percentile(delays, 99).toFixed(0)} ms | p99 ≤ 250 ms |`,
    );
}

await main();
