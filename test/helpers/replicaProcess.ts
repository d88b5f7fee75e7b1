import { createClients } from './grpcClients.js';
import { type ServiceProcess, type ServiceProcessOptions, startServiceProcess } from './startProcess.js';
import { TcpProxy } from './TcpProxy.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

/** A service process (one replica) with clients and a reader of its metrics. */
export interface Replica {
  readonly process: ServiceProcess;
  readonly clients: ReturnType<typeof createClients>;
  /** The value of an unlabelled metric (NaN when absent). */
  metric(name: string): Promise<number>;
  /** Answers VerifyKey for `secret` (any IP, no scopes required). */
  verify(secret: string): ReturnType<ReturnType<typeof createClients>['verifier']['verifyKey']>;
  /** Closes the clients and stops the process (SIGKILL if it is still running after a SIGTERM grace). */
  stop(): Promise<void>;
}

/**
 * Starts a replica on `databaseUrl`. Last-used data is flushed only at shutdown, so the only
 * transactions a replica commits are the key writes a test asks for.
 */
export async function startReplica(
  databaseUrl: string,
  env: Record<string, string> = {},
  options: ServiceProcessOptions = {},
): Promise<Replica> {
  const service = await startServiceProcess(
    {
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: databaseUrl,
      MIGRATE_ON_START: 'false',
      LAST_USED_FLUSH_MS: '600000',
      ...env,
    },
    options,
  );
  const clients = createClients(service.address, { ownConnection: true });
  const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(service.output())?.[1];
  return {
    process: service,
    clients,
    metric: async (name) => {
      const body = await (await fetch(`http://${metricsAddress ?? '?'}/metrics`)).text();
      const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
      return match?.[1] === undefined ? Number.NaN : Number(match[1]);
    },
    verify: (secret) => clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] }),
    stop: async () => {
      clients.close();
      if (service.child.exitCode !== null) return;
      const timer = setTimeout(() => service.child.kill('SIGKILL'), 5000);
      await service.stop();
      clearTimeout(timer);
    },
  };
}

/** A fresh MySQL database and a TCP proxy the test controls in front of it; `proxiedUrl` goes through it. */
export async function proxiedDatabase(): Promise<{ database: TestDatabase; proxy: TcpProxy; proxiedUrl: string }> {
  const database = await createTestDatabase('mysql');
  const target = new URL(database.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
  await proxy.start();
  target.host = `127.0.0.1:${proxy.port}`;
  return { database, proxy, proxiedUrl: target.toString() };
}

/** Resolves once `condition` holds (errors count as false); rejects after `timeoutMs`. Returns the ms it took. */
export async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (!(await condition().catch(() => false))) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

/**
 * A `TcpProxy.holdWhen` rule: the COMMIT of a connection that updated `api_keys` in its transaction (a
 * key write), as MySQL's text protocol sends it (COM_QUERY, 0x03).
 */
export function commitOfKeyWrite(): (chunk: Buffer, connection: number) => boolean {
  const writers = new Set<number>();
  return (chunk, connection) => {
    if (chunk.length < 5 || chunk[4] !== 0x03) return false;
    const statement = chunk.subarray(5).toString('utf8').trimStart().toLowerCase();
    if (/^update\s+`?api_keys`?\s/.test(statement)) writers.add(connection);
    return statement.startsWith('commit') && writers.has(connection);
  };
}
