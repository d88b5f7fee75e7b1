/**
 * `npm run bench:propagation` — acknowledged propagation on MariaDB/MySQL (not part of the test suite).
 *
 * For 2 and for 3 replica processes on one fresh database (and, as a baseline, 2 replicas that do not
 * wait: PROPAGATION_WAIT_MS=0), makes BENCH_REVOCATIONS revocations on replica A of keys every replica
 * has cached, and prints:
 * - the acknowledged wait (the response's `propagation.wait_ms`) p50/p99/max and how many were complete;
 * - RevokeKey's latency as the client sees it, p50/p99;
 * - the revocation delay seen by each other replica: from RevokeKey returning on A until VerifyKey on
 *   that replica denies the key (polled back to back), p50/p99/max, and how many denied at the first call.
 *
 * Settings (environment): BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306/), BENCH_REVOCATIONS (200).
 */
import { type ChildProcess, spawn } from 'node:child_process';

import { Client, credentials } from '@grpc/grpc-js';

import { KeyAdminService, KeyVerifierService, Role } from '../gen/apikeys/v1/api_keys.js';
import { promisedClient } from '../src/client/promisedClient.js';
import { createMysqlDatabase } from '../test/helpers/testDatabase.js';
import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../src/storage/createDatabase.js';

const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 200);
const ACTOR = { organizationId: 'org-bench-propagation', userId: 'alice', role: Role.ROLE_ADMIN };

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** One replica process and its clients. */
interface Replica {
  readonly child: ChildProcess;
  readonly admin: ReturnType<typeof promisedClient<typeof KeyAdminService>>;
  readonly verifier: ReturnType<typeof promisedClient<typeof KeyVerifierService>>;
  readonly close: () => void;
}

/** Starts `src/main.ts` with `env` and resolves once it listens. */
function startReplica(env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: 'off',
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const address = /"address":"([^"]+)"/.exec(output)?.[1];
      if (address === undefined) return;
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      const adminChannel = new Client(address, credentials.createInsecure());
      const verifierChannel = new Client(address, credentials.createInsecure());
      resolve({
        child,
        admin: promisedClient(adminChannel, KeyAdminService),
        verifier: promisedClient(verifierChannel, KeyVerifierService),
        close: () => {
          adminChannel.close();
          verifierChannel.close();
        },
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`replica exited with ${String(code)}:\n${output}`)));
  });
}

async function stopReplica(replica: Replica): Promise<void> {
  replica.close();
  const exited = new Promise((resolve) => replica.child.on('exit', resolve));
  replica.child.kill('SIGTERM');
  await exited;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const ms = (value: number): string => `${value.toFixed(1)} ms`;
const summary = (values: readonly number[]): string =>
  `p50 ${ms(percentile(values, 50))}, p99 ${ms(percentile(values, 99))}, max ${ms(Math.max(...values))}`;

/** Polls VerifyKey on `replica` back to back until it denies `secret`; returns the ms and the calls it took. */
async function delayUntilDenied(
  replica: Replica,
  secret: string,
  from: number,
): Promise<{ ms: number; calls: number }> {
  for (let calls = 1; ; calls++) {
    const answer = await replica.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] });
    if (!answer.valid) return { ms: performance.now() - from, calls };
    if (performance.now() - from > 10_000) throw new Error('a revoked key still verifies after 10 s');
  }
}

async function run(label: string, replicaCount: number, waitMs: number, databaseUrl: string): Promise<void> {
  const replicas: Replica[] = [];
  for (let i = 0; i < replicaCount; i++) {
    replicas.push(await startReplica({ DATABASE_URL: databaseUrl, PROPAGATION_WAIT_MS: String(waitMs) }));
  }
  const [writer, ...others] = replicas as [Replica, ...Replica[]];
  const waits: number[] = [];
  const latencies: number[] = [];
  let complete = 0;
  const delays = others.map(() => ({ ms: [] as number[], firstCall: 0 }));
  for (let i = 0; i < REVOCATIONS; i++) {
    const created = await writer.admin.createKey({
      metadata: {},
      actor: ACTOR,
      name: `p${i}`,
      scopes: ['tickets:read'],
      allowedIps: [],
    });
    for (const replica of replicas) {
      const answer = await replica.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
      if (!answer.valid) throw new Error('a new key did not verify');
    }
    // Out of step with the replicas' feed polls (every 100 ms), so every phase is sampled.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 100));
    const sent = performance.now();
    const response = await writer.admin.revokeKey({ actor: ACTOR, keyId: created.key!.id, reason: '' });
    const returned = performance.now();
    latencies.push(returned - sent);
    if (response.propagation !== undefined) {
      waits.push(response.propagation.waitMs);
      if (response.propagation.complete) complete++;
    }
    const seen = await Promise.all(others.map((replica) => delayUntilDenied(replica, created.secret, returned)));
    seen.forEach((result, index) => {
      delays[index]!.ms.push(result.ms);
      if (result.calls === 1) delays[index]!.firstCall++;
    });
  }
  process.stdout.write(
    `\n${label}: ${replicaCount} replicas, PROPAGATION_WAIT_MS=${waitMs}, ${REVOCATIONS} revocations\n`,
  );
  if (waits.length > 0) {
    process.stdout.write(
      `  acknowledged wait (propagation.wait_ms): ${summary(waits)}; complete ${complete}/${REVOCATIONS}\n`,
    );
  } else {
    process.stdout.write('  acknowledged wait: none (the responses carry no propagation)\n');
  }
  process.stdout.write(`  RevokeKey latency at the client:        ${summary(latencies)}\n`);
  delays.forEach((delay, index) => {
    process.stdout.write(
      `  revocation delay on replica ${String.fromCharCode(66 + index)} after RevokeKey returned: ${summary(delay.ms)}; denied at the first call ${delay.firstCall}/${REVOCATIONS}\n`,
    );
  });
  for (const replica of replicas) await stopReplica(replica);
}

async function main(): Promise<void> {
  const server = new URL(MYSQL_URL);
  const scratch = await createMysqlDatabase(MYSQL_URL, 'apikeys_bench_');
  try {
    const db = createDatabase(parseDatabaseUrl(scratch.url), { poolMax: 1, acquireTimeoutMs: 10_000 });
    await migrateDatabase(db);
    await db.destroy();
    process.stdout.write(`database ${scratch.name} on ${server.host}; feed polled every 100 ms (default)\n`);
    await run('acknowledged', 2, 1000, scratch.url);
    await run('acknowledged', 3, 1000, scratch.url);
    await run('baseline, no wait', 2, 0, scratch.url);
  } finally {
    await scratch.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
