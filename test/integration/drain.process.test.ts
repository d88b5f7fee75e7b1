import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { createTestKey } from '../helpers/createTestKey.js';
import { createClients } from '../helpers/grpcClients.js';
import { checkHealth } from '../helpers/healthClient.js';
import { countOutput, portOf, readyzStatus, tryConnect, waitForOutput } from '../helpers/processShutdown.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';
import { actorOf } from '../helpers/testActors.js';

const admin = actorOf('org-drain', 'alice');
const DRAIN_MS = 4000;
const TIMEOUT_MS = 9000;
const HEALTH_NAMES = ['', 'apikeys.v1.KeyAdmin', 'apikeys.v1.KeyVerifier'];
/** util-linux `script` runs a command on a pseudo-terminal: how a test gets a process a terminal. */
const hasScript = spawnSync('script', ['--version']).status === 0;

/** A process on a fresh SQLite file with the operator port and a drain period. */
function startDraining(environment: Record<string, string> = {}): Promise<ServiceProcess> {
  return startServiceProcess({
    LISTEN_ADDRESS: '127.0.0.1:0',
    DATABASE_URL: `sqlite:${join(mkdtempSync(join(tmpdir(), 'apikeys-drain-')), 'k.db')}`,
    METRICS_ADDRESS: '127.0.0.1:0',
    SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
    SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS),
    ...environment,
  });
}

/**
 * During the drain period: every health name says NOT_SERVING, /readyz 503, and a client that connects
 * for the first time (its own connection) still has VerifyKey and CreateKey answered. Checked to be
 * before the "stopping" line, so all of it happened while the port still accepted.
 */
async function expectDrainingButAnswering(service: ServiceProcess, secret: string, connections = 1): Promise<void> {
  for (const name of HEALTH_NAMES) expect(await checkHealth(service.address, name)).toBe('NOT_SERVING');
  expect(await readyzStatus(service)).toBe(503);
  for (let i = 0; i < connections; i++) {
    const newcomer = createClients(service.address, { ownConnection: true });
    try {
      const answer = await newcomer.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] });
      expect(answer.valid).toBe(true);
      await createTestKey(newcomer, admin, { name: `created during the drain ${i}` });
    } finally {
      newcomer.close();
    }
  }
  expect(service.output()).not.toContain('stopping: no new connections');
}

/** The workers that logged an answered call after the first line containing `marker`. */
function workersAnsweringAfter(output: string, marker: string): number[] {
  const lines = output.slice(output.indexOf(marker)).split('\n');
  const workers = lines
    .filter((line) => line.includes('"msg":"rpc"') && line.includes('"status":"OK"'))
    .map((line) => (JSON.parse(line) as { worker: number }).worker);
  return [...new Set(workers)].sort();
}

describe('a graceful stop with a drain period (SHUTDOWN_DRAIN_MS)', () => {
  let service: ServiceProcess | undefined;
  afterEach(() => {
    if (service !== undefined && service.child.exitCode === null) service.child.kill('SIGKILL');
    service = undefined;
  });

  it('on SIGTERM: NOT_SERVING and /readyz 503 at once, answers calls sent just before and first-time clients through the drain, then refuses, exit 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    service = await startDraining();
    const clients = createClients(service.address);
    const key = await createTestKey(clients, admin);
    const verify = () => clients.verifier.verifyKey({ key: key.secret, clientIp: '', requiredScopes: [] });
    expect((await verify()).valid).toBe(true);
    expect(await readyzStatus(service)).toBe(200);

    const sentBefore = Array.from({ length: 50 }, () => verify());
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    await waitForOutput(service, `draining: health NOT_SERVING, still accepting for ${DRAIN_MS} ms`);
    expect((await Promise.all(sentBefore)).every((answer) => answer.valid)).toBe(true);
    await expectDrainingButAnswering(service, key.secret);
    // The client connected before the signal keeps working through the drain too.
    expect((await verify()).valid).toBe(true);

    await waitForOutput(service, 'stopping: no new connections');
    expect(await tryConnect(portOf(service))).toBe('ECONNREFUSED');
    expect(await service.exited).toBe(0);
    const tookMs = Date.now() - signalledAt;
    expect(tookMs).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(tookMs).toBeLessThan(TIMEOUT_MS);
    expect(service.output()).toContain('"msg":"stopped"');
    clients.close();
  });

  it('drains on SIGINT too when standard input is not a terminal (a supervisor sent it)', async () => {
    service = await startDraining();
    const clients = createClients(service.address);
    const key = await createTestKey(clients, admin);
    clients.close();
    service.child.kill('SIGINT');
    await waitForOutput(service, `draining: health NOT_SERVING, still accepting for ${DRAIN_MS} ms`);
    expect(service.output()).toContain('"signal":"SIGINT"');
    await expectDrainingButAnswering(service, key.secret);
    await waitForOutput(service, 'stopping: no new connections');
    expect(await service.exited).toBe(0);
  });

  it('with WORKERS=2: every worker drains while the primary says 503 on /readyz, then all stop, exit 0', async () => {
    service = await startDraining({ WORKERS: '2', LOG_LEVEL: 'debug' });
    const clients = createClients(service.address);
    const key = await createTestKey(clients, admin);
    clients.close();
    expect(await readyzStatus(service)).toBe(200);
    service.child.kill('SIGTERM');
    const draining = `draining: health NOT_SERVING, still accepting for ${DRAIN_MS} ms`;
    // The primary's line and one from each worker.
    const start = Date.now();
    while (countOutput(service, draining) < 3 && Date.now() - start < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(countOutput(service, draining)).toBe(3);
    // Several first-time connections: node:cluster hands them to the workers in turn, so both answer.
    await expectDrainingButAnswering(service, key.secret, 4);
    expect(workersAnsweringAfter(service.output(), draining)).toEqual([1, 2]);
    expect(await service.exited).toBe(0);
    expect(countOutput(service, 'stopping: no new connections')).toBe(2);
  });

  it.skipIf(!hasScript)('skips the drain on SIGINT when standard input is a terminal (Ctrl-C)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apikeys-drain-'));
    const command = `${process.execPath} --import tsx src/main.ts`;
    const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      env: {
        ...process.env,
        LISTEN_ADDRESS: '127.0.0.1:0',
        DATABASE_URL: `sqlite:${join(dir, 'k.db')}`,
        METRICS_ADDRESS: 'off',
        SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
        SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const start = Date.now();
      while (!output.includes('"address"') && Date.now() - start < 20_000) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const pid = Number(/"pid":(\d+)/.exec(output)?.[1]);
      expect(pid).toBeGreaterThan(0);
      const signalledAt = Date.now();
      process.kill(pid, 'SIGINT');
      expect(await exited).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(DRAIN_MS);
      expect(output).toContain('shutting down: health NOT_SERVING, no drain period');
      expect(output).not.toContain('draining');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
