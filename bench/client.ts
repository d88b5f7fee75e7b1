/**
 * `npm run bench:client` — the client cache benchmark (not part of the test suite).
 *
 * Starts the service (a child process; SQLite in a temporary directory, or two replicas A and B on
 * BENCH_MYSQL_URL), creates BENCH_KEYS keys and, in this one process (one core):
 * - warm `verify()` through the client cache and through VerifyKey (the same keys, the same run):
 *   sequential calls/s and p50/p99 latency of each, and calls/s with BENCH_CONCURRENCY calls in flight;
 * - memory per cached key (heap growth over BENCH_KEYS keys, after GC);
 * - revocation delay to the client: from RevokeKey returning (on A) to the client (attached to B)
 *   denying the key, over BENCH_REVOCATIONS keys, p50/p99. With SQLite A and B are one process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, credentials } from '@grpc/grpc-js';

import { CreateKeyRequest, KeyAdminService, Role } from '../gen/apikeys/v1/api_keys.js';
import { promisedClient } from '../src/client/promisedClient.js';
import { createVerifierClient, type VerifierClient } from '../src/index.js';

const env = process.env;
const KEYS = Number(env.BENCH_KEYS ?? 2000);
const SECONDS = Number(env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 32);
const REVOCATIONS = Number(env.BENCH_REVOCATIONS ?? 100);
const MYSQL = env.BENCH_MYSQL_URL ?? '';
const actor = { organizationId: 'org-bench-client', userId: 'bench', role: Role.ROLE_ADMIN };
const children = new Set<ChildProcess>();

function startService(extra: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: 'off',
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_MS: '0',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const address = /"address":"([^"]+)"/.exec(output)?.[1];
      if (address !== undefined) resolve(address);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`service exited with ${code}: ${output}`)));
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Sequential calls for `seconds`: calls/s and per-call latency (µs). */
async function sequential(client: VerifierClient, secrets: readonly string[], seconds: number) {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let i = 0;
  const started = performance.now();
  while (performance.now() < end) {
    const key = secrets[i++ % secrets.length] ?? '';
    // As a server's request loop would, let I/O (the watch stream's heartbeats) run now and then.
    if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    const t0 = process.hrtime.bigint();
    const result = await client.verify({ key, requiredScopes: ['tickets:read'] });
    latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (!result.valid) throw new Error(`a warm key was refused: ${result.message}`);
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { callsPerSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** `concurrency` loops at once for `seconds`: calls/s. */
async function concurrent(client: VerifierClient, secrets: readonly string[], seconds: number, concurrency: number) {
  let calls = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_unused, worker) => {
      let i = worker;
      while (performance.now() < end) {
        await client.verify({ key: secrets[i++ % secrets.length] ?? '', requiredScopes: ['tickets:read'] });
        if (++calls % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  return calls / ((performance.now() - started) / 1000);
}

async function waitUntil(condition: () => Promise<boolean>, what: string): Promise<void> {
  const end = performance.now() + 30_000;
  while (!(await condition())) {
    if (performance.now() > end) throw new Error(`${what}: not within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function main(): Promise<void> {
  const database = MYSQL === '' ? `sqlite:${join(mkdtempSync(join(tmpdir(), 'bench-client-')), 'keys.db')}` : MYSQL;
  const addressA = await startService({ DATABASE_URL: database, MIGRATE_ON_START: 'true' });
  const addressB = MYSQL === '' ? addressA : await startService({ DATABASE_URL: database });
  const adminChannel = new Client(addressA, credentials.createInsecure());
  const admin = promisedClient(adminChannel, KeyAdminService);
  const created: { id: string; secret: string }[] = [];
  for (let i = 0; i < KEYS + REVOCATIONS; i++) {
    const response = await admin.createKey(
      CreateKeyRequest.fromPartial({ actor, name: `bench ${i}`, scopes: ['tickets:read'] }),
    );
    created.push({ id: response.key?.id ?? '', secret: response.secret });
  }
  const secrets = created.slice(0, KEYS).map((key) => key.secret);
  const plain = createVerifierClient({ address: addressB });
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const cached = createVerifierClient({ address: addressB, cache: { maxKeys: KEYS + REVOCATIONS } });
  // Warm: every key answered from memory once.
  for (const key of secrets) {
    await waitUntil(async () => {
      const hits = cached.cacheStatus()?.hits ?? 0;
      await cached.verify({ key, requiredScopes: ['tickets:read'] });
      return cached.cacheStatus()?.hits === hits + 1;
    }, 'warm');
  }
  global.gc?.();
  const bytesPerKey = (process.memoryUsage().heapUsed - heapBefore) / KEYS;
  for (const key of secrets.slice(0, 100)) await plain.verify({ key, requiredScopes: ['tickets:read'] });

  const viaServer = await sequential(plain, secrets, SECONDS);
  const viaCache = await sequential(cached, secrets, SECONDS);
  const viaServerConcurrent = await concurrent(plain, secrets, SECONDS, CONCURRENCY);
  const viaCacheConcurrent = await concurrent(cached, secrets, SECONDS, CONCURRENCY);
  const status = cached.cacheStatus();

  const delays: number[] = [];
  for (const key of created.slice(KEYS)) {
    await waitUntil(async () => {
      const hits = cached.cacheStatus()?.hits ?? 0;
      await cached.verify({ key: key.secret });
      return cached.cacheStatus()?.hits === hits + 1;
    }, 'warm revocation key');
    await admin.revokeKey({ actor, keyId: key.id, reason: 'bench' });
    const returned = performance.now();
    await waitUntil(async () => !(await cached.verify({ key: key.secret })).valid, 'revocation reached the client');
    delays.push(performance.now() - returned);
  }
  delays.sort((a, b) => a - b);

  const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
  process.stdout.write(
    `${JSON.stringify(
      {
        setup: {
          database: MYSQL === '' ? 'sqlite (one replica)' : 'mysql (revoke on A, client on B)',
          keys: KEYS,
          seconds: SECONDS,
          concurrency: CONCURRENCY,
          node: process.version,
        },
        warmVerify: {
          viaCache: {
            callsPerSecond: Math.round(viaCache.callsPerSecond),
            p50Us: round(viaCache.p50),
            p99Us: round(viaCache.p99),
          },
          viaVerifyKey: {
            callsPerSecond: Math.round(viaServer.callsPerSecond),
            p50Us: round(viaServer.p50),
            p99Us: round(viaServer.p99),
          },
          sequentialSpeedup: round(viaCache.callsPerSecond / viaServer.callsPerSecond),
          concurrentCallsPerSecond: {
            viaCache: Math.round(viaCacheConcurrent),
            viaVerifyKey: Math.round(viaServerConcurrent),
          },
          concurrentSpeedup: round(viaCacheConcurrent / viaServerConcurrent),
        },
        cache: { bytesPerKey: Math.round(bytesPerKey), hits: status?.hits, misses: status?.misses, size: status?.size },
        revocationDelayMs: {
          samples: delays.length,
          p50: round(percentile(delays, 50)),
          p99: round(percentile(delays, 99)),
          max: round(delays.at(-1) ?? Number.NaN),
        },
      },
      null,
      2,
    )}\n`,
  );
  cached.close();
  plain.close();
  adminChannel.close();
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGTERM');
}
