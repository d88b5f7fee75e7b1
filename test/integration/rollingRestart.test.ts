import { afterAll, beforeAll, expect, it } from 'vitest';

import { createVerifierClient } from '../../src/client/createVerifierClient.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createClients } from '../helpers/grpcClients.js';
import { checkHealth } from '../helpers/healthClient.js';
import { metricsAddressOf, portOf, readyzStatus, waitForOutput } from '../helpers/processShutdown.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';
import { TcpBalancer } from '../helpers/TcpBalancer.js';
import { actorOf } from '../helpers/testActors.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../helpers/testDatabase.js';

const admin = actorOf('org-rolling', 'alice');
const VERIFY_OK = 'apikeys_rpc_handled_total{method="/apikeys.v1.KeyVerifier/VerifyKey",code="OK"}';
const DRAIN_MS = 2000;
/** The balancer's readiness probe period: well inside the drain, as docs/deployment.md asks. */
const PROBE_MS = 250;

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (
    !(await Promise.resolve()
      .then(condition)
      .catch(() => false))
  ) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** VerifyKey calls this replica answered OK so far (its own /metrics). */
async function verifiesAnswered(replica: ServiceProcess): Promise<number> {
  const body = await (await fetch(`http://${metricsAddressOf(replica)}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${VERIFY_OK} `));
  return line === undefined ? 0 : Number(line.slice(VERIFY_OK.length + 1));
}

/** The part of the restart that calls issued from now on belong to. */
class Phases {
  current = 'both replicas up';
  readonly names = [this.current];
  enter(next: string): void {
    this.current = next;
    this.names.push(next);
  }
}

/** What one load saw: answered calls per phase, and every failure with the phase it was issued in. */
interface LoadResult {
  readonly answered: ReadonlyMap<string, number>;
  readonly failures: readonly string[];
}

/**
 * Continuous load: `concurrency` loops, each issuing `call` (resolving with whether the key was valid) as
 * soon as its previous one settled, after a short pause so two cores still start processes briskly.
 */
function startLoad(phases: Phases, call: () => Promise<boolean>, concurrency: number) {
  const answered = new Map<string, number>();
  const failures: string[] = [];
  let running = true;
  let paused = false;
  let inFlight = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      if (paused) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const issuedIn = phases.current;
      inFlight += 1;
      try {
        if (await call()) answered.set(issuedIn, (answered.get(issuedIn) ?? 0) + 1);
        else failures.push(`${issuedIn}: the key was denied`);
      } catch (error) {
        failures.push(`${issuedIn}: ${(error as Error).message}`);
      } finally {
        inFlight -= 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const loops = Array.from({ length: concurrency }, () => loop());
  return {
    answeredIn: (phase: string): number => answered.get(phase) ?? 0,
    idle: (): boolean => inFlight === 0,
    /** Holds (true) or resumes (false) issuing calls; calls in flight still complete. */
    hold(value: boolean): void {
      paused = value;
    },
    async stop(): Promise<LoadResult> {
      running = false;
      await Promise.all(loops);
      return { answered, failures };
    },
  };
}

describeEachDatabase('a rolling restart of two replicas', (kind: DatabaseKind) => {
  let database: TestDatabase;
  const replicas: ServiceProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGKILL');
    await database.drop();
  });

  /** One replica on the shared database, on `port` (0: any free one). */
  const startReplica = (port: number): Promise<ServiceProcess> =>
    startServiceProcess({
      LISTEN_ADDRESS: `127.0.0.1:${port}`,
      DATABASE_URL: database.url,
      MIGRATE_ON_START: kind === 'mysql' ? 'true' : 'auto',
      METRICS_ADDRESS: '127.0.0.1:0',
      SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      SHUTDOWN_TIMEOUT_MS: '8000',
    });

  it('fails no call of a round-robin client nor of new connections through a load balancer, and answers calls sent just before each SIGTERM and first-time clients during each drain', async () => {
    replicas.push(await startReplica(0), await startReplica(0));
    const ports = replicas.map(portOf);
    const setup = createClients(replicas[0]!.address);
    const key = await createTestKey(setup, admin);
    setup.close();
    const request = { key: key.secret, clientIp: '', requiredScopes: [] };

    // A caller that knows both addresses: the published client's defaults (round robin, retry of
    // UNAVAILABLE). Its connections to the other replica carry the load while one restarts.
    const roundRobin = createVerifierClient({
      address: `ipv4:127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`,
      deadlineMs: 5000,
    });
    // Callers behind a Kubernetes Service or TCP balancer: one address, a new connection for every call
    // (short-lived callers), plain grpc-js without retries. Only the drain saves these: the balancer keeps
    // sending new connections to a stopping replica until its readiness probe notices.
    const balancer = new TcpBalancer(
      () => ports.map((port, i) => ({ port, ready: async () => (await readyzStatus(replicas[i]!)) === 200 })),
      PROBE_MS,
    );
    const balanced = `127.0.0.1:${await balancer.start()}`;
    const phases = new Phases();
    const roundRobinLoad = startLoad(phases, async () => (await roundRobin.verify({ key: key.secret })).valid, 3);
    const balancedLoad = startLoad(
      phases,
      async () => {
        const fresh = createClients(balanced, { ownConnection: true });
        try {
          return (await fresh.verifier.verifyKey(request, { deadlineMs: 5000 })).valid;
        } finally {
          fresh.close();
        }
      },
      2,
    );
    let results: LoadResult[] = [];
    try {
      for (const replica of replicas) await until(async () => (await verifiesAnswered(replica)) > 0, 'load on both');

      for (const [i, port] of ports.entries()) {
        const name = `replica ${i + 1}`;
        const replica = replicas[i]!;
        const direct = createClients(replica.address);
        expect((await direct.verifier.verifyKey(request)).valid).toBe(true);

        phases.enter(`${name} draining`);
        const sentBefore = Promise.allSettled(Array.from({ length: 20 }, () => direct.verifier.verifyKey(request)));
        replica.child.kill('SIGTERM');
        await waitForOutput(replica, 'draining: health NOT_SERVING');
        const newcomer = createClients(replica.address, { ownConnection: true });
        const firstTime = await newcomer.verifier.verifyKey(request).catch((error: unknown) => error as Error);
        newcomer.close();
        expect(firstTime, `a first-time client of the draining ${name}`).toMatchObject({ valid: true });
        const before = (await sentBefore).map((s) => (s.status === 'fulfilled' ? s.value.valid : String(s.reason)));
        expect(before, `calls sent to ${name} just before its SIGTERM`).toEqual(before.map(() => true));
        direct.close();

        await waitForOutput(replica, 'stopping: no new connections');
        phases.enter(`${name} stopped`);
        expect(await replica.exited).toBe(0);

        const restarted = await startReplica(port);
        replicas[i] = restarted;
        await until(async () => (await checkHealth(restarted.address)) === 'SERVING', `${name} serving again`);
        phases.enter(`${name} back`);
        // As a rollout waits for readiness, this waits until the load reaches the new process again: first
        // the round-robin client's alone (the balanced load is held, so only it can be what the new process
        // counts), since a client still in reconnect backoff when the other replica drains would have no
        // replica left; then the balanced load's too.
        balancedLoad.hold(true);
        await until(() => balancedLoad.idle(), 'the balanced load held');
        const viaBalancer = await verifiesAnswered(restarted);
        await until(
          async () => (await verifiesAnswered(restarted)) > viaBalancer,
          `round robin on the restarted ${name}`,
        );
        balancedLoad.hold(false);
        await until(() => balancedLoad.answeredIn(`${name} back`) > 0, `balanced load while ${name} back`);
      }
    } finally {
      results = await Promise.all([roundRobinLoad.stop(), balancedLoad.stop()]);
      roundRobin.close();
      await balancer.stop();
    }
    const labels = ['round-robin client', 'new connections through the balancer'];
    for (const [n, result] of results.entries()) {
      const label = labels[n]!;
      process.stdout.write(
        `rolling restart [${kind}], ${label}: ${JSON.stringify(Object.fromEntries(result.answered))}\n`,
      );
      expect(result.failures, label).toEqual([]);
      for (const phase of phases.names) {
        expect(result.answered.get(phase) ?? 0, `${label}: calls answered while ${phase}`).toBeGreaterThan(0);
      }
    }
    for (const replica of replicas) expect(await replica.stop()).toBe(0);
  }, 120_000);
});
