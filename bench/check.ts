/**
 * `npm run bench:check` — Envoy's ext_authz Check against VerifyKey, and the cost of tracing (not part of
 * the test suite).
 *
 * One service process (`src/main.ts`, one worker, embedded SQLite), one warm key. h2load (Debian package
 * nghttp2-client) sends the same load to VerifyKey and to Check with a realistic Envoy CheckRequest (10
 * headers: the pseudo-headers, user-agent, accept, x-request-id, Envoy's timeout header, authorization,
 * x-forwarded-for), in alternating rounds; the server's CPU time (/proc/<pid>/stat) is divided by the
 * calls it answered. Then warm VerifyKey again on three processes side by side: tracing off, on with 1 %
 * sampling, on with 100 %, exporting to an OTLP/HTTP receiver in this process that drops what it gets;
 * they take turns in rotated order. Every round is printed, and each ratio per round.
 *
 * Settings (environment): BENCH_SECONDS (5), BENCH_CONNECTIONS (16), BENCH_STREAMS (8), BENCH_ROUNDS (4).
 */
import { type ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, credentials } from '@grpc/grpc-js';

import {
  CreateKeyRequest,
  KeyAdminService,
  KeyVerifierService,
  Role,
  VerifyKeyRequest,
} from '../gen/apikeys/v1/api_keys.js';
import { AuthorizationService, CheckRequest } from '../gen/envoy/service/auth/v3/external_auth.js';
import { promisedClient } from '../src/client/promisedClient.js';
import { envoyCheckRequest } from '../test/helpers/envoyCheck.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16);
const STREAMS = Number(env.BENCH_STREAMS ?? 8);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 4);
const PIN = env.BENCH_PIN !== '0' && availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const VERIFY_PATH = '/apikeys.v1.KeyVerifier/VerifyKey';
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

interface Service {
  readonly pid: number;
  readonly address: string;
  stop(): Promise<void>;
}

/** Starts the service (one process), pinned to CPU 0 when possible, and waits for its address. */
function startService(extraEnv: Record<string, string>): Promise<Service> {
  const child = fork('src/main.ts', [], {
    env: {
      ...env,
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: 'off',
      LOG_LEVEL: 'info',
      WORKERS: '1',
      SHUTDOWN_DRAIN_MS: '0',
      ...extraEnv,
    },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.add(child);
  if (PIN && child.pid !== undefined)
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(child.pid)], { stdio: 'ignore' });
  let output = '';
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`service exited with ${String(code)}: ${output}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const address = /"address":"([^"]+)"/.exec(output)?.[1];
      if (address === undefined) return;
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({
        pid: child.pid!,
        address,
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => {
              children.delete(child);
              done();
            });
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** CPU time of a process and its threads so far (user + system), µs. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) / TICKS) * 1e6;
}

function frame(bytes: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([header, Buffer.from(bytes)]);
}

interface Run {
  readonly rps: number;
  readonly cpuUsPerCall: number;
  readonly failed: number;
}

/** One h2load run against `path`, with the server's CPU time per answered call. */
function load(service: Service, path: string, frameFile: string, seconds = SECONDS): Run {
  const args = [
    '-D', String(seconds), '-c', String(CONNECTIONS), '-m', String(STREAMS), '-t', '1',
    '-d', frameFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://${service.address}${path}`,
  ]; // prettier-ignore
  const [command, commandArgs] = PIN ? ['taskset', ['-c', '1', 'h2load', ...args]] : ['h2load', args];
  const before = cpuUs(service.pid);
  const out = execFileSync(command, commandArgs, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const spent = cpuUs(service.pid) - before;
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? NaN);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? NaN);
  return { rps: succeeded / seconds, cpuUsPerCall: spent / succeeded, failed };
}

function roundLine(run: Run): string {
  return `${run.rps.toFixed(0)} calls/s, ${run.cpuUsPerCall.toFixed(1)} µs/call${run.failed > 0 ? `, ${run.failed} failed` : ''}`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A key on the service, and the frames that verify it through VerifyKey and Check. */
async function prepare(service: Service, dir: string): Promise<{ verifyFile: string; checkFile: string }> {
  const client = new Client(service.address, credentials.createInsecure());
  const admin = promisedClient(client, KeyAdminService);
  const created = await admin.createKey(
    CreateKeyRequest.fromPartial({
      actor: { organizationId: 'org-bench', userId: 'alice', role: Role.ROLE_ADMIN },
      name: 'bench',
      scopes: ['tickets:read'],
      allowedIps: ['198.51.100.0/24'],
    }),
  );
  const verifyFile = join(dir, 'verify.bin');
  const checkFile = join(dir, 'check.bin');
  const verify = { key: created.secret, clientIp: '198.51.100.7', requiredScopes: ['tickets:read'] };
  writeFileSync(verifyFile, frame(VerifyKeyRequest.encode(verify).finish()));
  const check = envoyCheckRequest({
    sourceAddress: '198.51.100.7',
    headers: { authorization: `Bearer ${created.secret}`, 'x-forwarded-for': '198.51.100.7' },
    contextExtensions: { required_scopes: 'tickets:read' },
  });
  const headerCount = Object.keys(check.attributes?.request?.http?.headers ?? {}).length;
  if (headerCount !== 10) throw new Error(`the Check request should carry 10 headers, has ${headerCount}`);
  writeFileSync(checkFile, frame(CheckRequest.encode(check).finish()));
  // h2load counts any HTTP 200 as a success, a gRPC error or a denial included: both requests must allow.
  const verified = await promisedClient(client, KeyVerifierService).verifyKey(verify);
  const checked = await promisedClient(client, AuthorizationService).check(check);
  client.close();
  if (!verified.valid || checked.httpResponse?.$case !== 'okResponse')
    throw new Error(`the benchmark's requests must be allowed: ${verified.message}, ${JSON.stringify(checked)}`);
  return { verifyFile, checkFile };
}

/** An OTLP/HTTP receiver that accepts and drops spans, counting them. */
async function startSink(): Promise<{ endpoint: string; requests: () => number; close: () => void }> {
  let requests = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      requests++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => server.close(),
  };
}

async function main(): Promise<void> {
  if (spawnSync('h2load', ['--version']).status !== 0) {
    process.stderr.write('h2load not found: apt-get install nghttp2-client\n');
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'apikeys-bench-check-'));
  const database = { DATABASE_URL: `sqlite:${join(dir, 'keys.db')}`, MIGRATE_ON_START: 'true' };
  log(
    `load: h2load ${SECONDS}s × ${CONNECTIONS} connections × ${STREAMS} streams, ${ROUNDS} rounds each; server ${PIN ? 'pinned to CPU 0, h2load to CPU 1' : 'not pinned'}`,
  );

  const service = await startService(database);
  const { verifyFile, checkFile } = await prepare(service, dir);
  load(service, VERIFY_PATH, verifyFile, 2);
  load(service, CHECK_PATH, checkFile, 2);
  const runs = { verify: [] as Run[], check: [] as Run[] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['verify', 'check'] as const) : (['check', 'verify'] as const);
    for (const which of order) {
      const run = load(
        service,
        which === 'verify' ? VERIFY_PATH : CHECK_PATH,
        which === 'verify' ? verifyFile : checkFile,
      );
      runs[which].push(run);
      log(`  round ${round + 1}: ${which === 'verify' ? 'VerifyKey' : 'Check'}: ${roundLine(run)}`);
    }
  }
  await service.stop();
  const summary = (label: string, list: readonly Run[]) => {
    const cpu = median(list.map((run) => run.cpuUsPerCall));
    log(
      `${label}: ${median(list.map((run) => run.rps)).toFixed(0)} calls/s, server CPU ${cpu.toFixed(1)} µs/call (median of ${list.length}; failed ${list.reduce((n, run) => n + run.failed, 0)})`,
    );
    return cpu;
  };
  const verifyCpu = summary('VerifyKey (warm)', runs.verify);
  const checkCpu = summary('Check (warm, 10 headers)', runs.check);
  const perRound = runs.check.map((run, round) => run.cpuUsPerCall / runs.verify[round]!.cpuUsPerCall);
  log(
    `Check / VerifyKey server CPU per call: ${(checkCpu / verifyCpu).toFixed(2)} (goal ≤ 1.30; per round: ${perRound.map((ratio) => ratio.toFixed(2)).join(', ')})`,
  );

  const sink = await startSink();
  const tracings: [string, Record<string, string>][] = [
    ['tracing off', {}],
    ['tracing on, 1 % sampled', { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' }],
    ['tracing on, 100 % sampled', { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_TRACES_SAMPLER: 'always_on' }],
  ]; // prettier-ignore
  // The three processes run side by side (idle but for the one under load) and take turns in rotated
  // order, so that a neighbour's load on a shared machine falls on all three alike.
  const traced = await Promise.all(tracings.map(([, tracingEnv]) => startService({ ...database, ...tracingEnv })));
  for (const service of traced) load(service, VERIFY_PATH, verifyFile, 2);
  const tracedRuns = tracings.map(() => [] as Run[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let turn = 0; turn < tracings.length; turn++) {
      const which = (round + turn) % tracings.length;
      const run = load(traced[which]!, VERIFY_PATH, verifyFile);
      tracedRuns[which]!.push(run);
      log(`  round ${round + 1}: VerifyKey, ${tracings[which]![0]}: ${roundLine(run)}`);
    }
  }
  await Promise.all(traced.map((service) => service.stop()));
  const baseline = summary(`VerifyKey, ${tracings[0]![0]}`, tracedRuns[0]!);
  for (let which = 1; which < tracings.length; which++) {
    const cpu = summary(`VerifyKey, ${tracings[which]![0]}`, tracedRuns[which]!);
    const ratios = tracedRuns[which]!.map((run, round) => run.cpuUsPerCall / tracedRuns[0]![round]!.cpuUsPerCall);
    log(
      `  × ${(cpu / baseline).toFixed(2)} of tracing off (per round: ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})`,
    );
  }
  log(`OTLP export requests received: ${sink.requests()}`);
  sink.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
