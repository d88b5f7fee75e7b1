import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestKey } from '../helpers/createTestKey.js';
import { createClients } from '../helpers/grpcClients.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf } from '../helpers/testActors.js';

const admin = actorOf('org-metrics', 'alice');

function metricsAddressFrom(logs: string): string {
  const match = /"metricsAddress":"([^"]+)"/.exec(logs);
  if (match?.[1] === undefined) throw new Error('no metrics address logged');
  return match[1];
}

/** Value of one sample line of the exposition, e.g. `apikeys_cache_hits_total`. */
function sample(body: string, series: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no sample ${series} in:\n${body.slice(0, 2000)}`);
  return Number(line.slice(series.length + 1));
}

describe('operator HTTP endpoints of one process', () => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    // Flushes happen only when the test asks, so the pending count it reads is exact.
    server = await startTestServer('sqlite', { LAST_USED_FLUSH_MS: '3600000' });
    base = `http://${metricsAddressFrom(server.logs.join('\n'))}`;
  });
  afterAll(async () => {
    await server.stop();
  });

  it('answers /healthz and /readyz while serving, and 404 with a hint elsewhere', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
    const unknown = await fetch(`${base}/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('/metrics');
  });

  it('exposes RPC counts and sub-millisecond latency buckets by method and status, decisions, cache, feed and pool', async () => {
    const created = await createTestKey(server, admin, { name: 'm' });
    // Applying the create's own change-feed row drops the key from the cache; wait for it so that the
    // counts below are exact (one miss, then four hits) rather than timing-dependent.
    await settleFeed(server);
    for (let i = 0; i < 5; i++) {
      await server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
    }
    await server.clients.verifier.verifyKey({ key: 'nope', clientIp: '', requiredScopes: [] });
    await server.clients.verifier
      .verifyKey({ key: created.secret, clientIp: '', requiredScopes: ['nope:x'] })
      .catch(() => undefined);
    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const body = await response.text();
    const verify = 'method="/apikeys.v1.KeyVerifier/VerifyKey"';
    expect(sample(body, `apikeys_rpc_handled_total{${verify},code="OK"}`)).toBe(6);
    expect(sample(body, `apikeys_rpc_handled_total{${verify},code="INVALID_ARGUMENT"}`)).toBe(1);
    expect(sample(body, `apikeys_rpc_handled_total{method="/apikeys.v1.KeyAdmin/CreateKey",code="OK"}`)).toBe(1);
    expect(sample(body, `apikeys_rpc_duration_seconds_bucket{le="0.000025",${verify}}`)).toBeGreaterThanOrEqual(0);
    expect(sample(body, `apikeys_rpc_duration_seconds_bucket{le="0.001",${verify}}`)).toBeGreaterThan(0);
    expect(sample(body, `apikeys_rpc_duration_seconds_count{${verify}}`)).toBe(7);
    expect(sample(body, 'apikeys_verify_decisions_total{reason="valid"}')).toBe(5);
    expect(sample(body, 'apikeys_verify_decisions_total{reason="malformed"}')).toBe(1);
    expect(sample(body, 'apikeys_cache_hits_total')).toBe(4);
    expect(sample(body, 'apikeys_cache_misses_total')).toBe(1);
    expect(sample(body, 'apikeys_cache_size')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'apikeys_cache_evictions_total')).toBe(0);
    expect(sample(body, 'apikeys_change_feed_fresh')).toBe(1);
    expect(sample(body, 'apikeys_change_feed_lag_seconds')).toBeLessThan(30);
    expect(sample(body, 'apikeys_change_feed_last_success_timestamp_seconds')).toBeGreaterThan(1_700_000_000);
    expect(sample(body, 'apikeys_last_used_pending')).toBe(1);
    expect(sample(body, 'apikeys_usage_decisions_counted_total')).toBe(5);
    expect(sample(body, 'apikeys_usage_pending')).toBe(1);
    await server.app.lastUsed.flush();
    const after = await (await fetch(`${base}/metrics`)).text();
    expect(sample(after, 'apikeys_last_used_flushes_total')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'apikeys_last_used_flush_errors_total')).toBe(0);
    expect(sample(after, 'apikeys_usage_pending')).toBe(0);
    expect(sample(after, 'apikeys_usage_counts_dropped_total')).toBe(0);
    expect(after).toMatch(/apikeys_db_pool_connections\{state="used"\} \d+/);
    expect(after).toMatch(/process_resident_memory_bytes \d+/);
  });

  it('exposes acknowledged waits, the live replicas and how far behind the feed head each one is', async () => {
    const created = await createTestKey(server, admin, { name: 'ack' });
    await server.clients.admin.revokeKey({ actor: admin, keyId: created.key.id, reason: '' });
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(sample(body, 'apikeys_propagation_seconds_count{outcome="complete"}')).toBe(1);
    expect(sample(body, 'apikeys_propagation_seconds_count{outcome="incomplete"}')).toBe(0);
    expect(sample(body, 'apikeys_feed_replicas_live')).toBe(1);
    const lag = sample(body, `apikeys_feed_replica_lag_positions{replica="${server.app.replicaId}"}`);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThanOrEqual(2); // the create and the revoke, if its feed has not polled since
  });
});

describe('operator HTTP endpoints of a cluster (WORKERS=2)', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apikeys-metrics-'));
    service = await startServiceProcess({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: `sqlite:${join(dir, 'keys.db')}`,
      WORKERS: '2',
    });
  }, 60_000);
  afterAll(async () => {
    expect(await service.stop()).toBe(0);
  });

  it('sums the workers’ counters in one exposition', async () => {
    const connections = Array.from({ length: 4 }, () => createClients(service.address, { ownConnection: true }));
    const created = await createTestKey(connections[0]!, admin, { name: 'c' });
    for (const c of connections) await c.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
    for (const c of connections) c.close();
    const base = `http://${metricsAddressFrom(service.output())}`;
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(sample(body, 'apikeys_verify_decisions_total{reason="valid"}')).toBe(4);
    expect(sample(body, 'apikeys_rpc_handled_total{method="/apikeys.v1.KeyVerifier/VerifyKey",code="OK"}')).toBe(4);
    // Each worker is a replica; both read the same table, so the count is not summed.
    expect(sample(body, 'apikeys_feed_replicas_live')).toBe(2);
    expect(body.match(/^apikeys_feed_replica_lag_positions\{/gm)).toHaveLength(2);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});
