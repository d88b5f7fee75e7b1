import { createHash } from 'node:crypto';

import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  KeyVerifierService,
  Role,
  UpdateKeyRequest,
  type WatchKeyChangesResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import { generateSecret } from '../../src/domain/keyFormat.js';
import { createVerifierClient, type VerifierClient, type VerifyResult } from '../../src/index.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

/** Short bounds, so the quarantine after a (re)connect and the heartbeats take a few hundred ms. */
const SERVER_ENV = {
  CHANGE_FEED_POLL_MS: '20',
  STALENESS_BOUND_MS: '200',
  WATCH_HEARTBEAT_MS: '50',
  LAST_USED_FLUSH_MS: '50',
};
const WAIT = { timeout: 10_000, interval: 10 };

function sha256(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The answer without the time it was made (which differs between any two calls). */
function decision(result: VerifyResult): Omit<VerifyResult, 'authenticatedAt'> {
  const { authenticatedAt: _ignored, ...rest } = result;
  return rest;
}

/** Verifies until the cache answers it from memory (after the quarantine of a new stream), then once more. */
async function warm(client: VerifierClient, key: string, clientIp = '', requiredScopes: string[] = []) {
  await vi.waitFor(async () => {
    const before = client.cacheStatus()?.hits ?? 0;
    await client.verify({ key, clientIp, requiredScopes });
    expect(client.cacheStatus()?.hits).toBe(before + 1);
  }, WAIT);
}

/** Messages of one raw WatchKeyChanges stream. */
function rawWatch(address: string) {
  const client = new Client(address, credentials.createInsecure());
  const definition = KeyVerifierService.watchKeyChanges;
  const messages: WatchKeyChangesResponse[] = [];
  let ended: ServiceError | undefined;
  const call = client.makeServerStreamRequest(
    definition.path,
    definition.requestSerialize,
    definition.responseDeserialize,
    {},
    new Metadata(),
  );
  call.on('data', (message: WatchKeyChangesResponse) => messages.push(message));
  call.on('error', (error: ServiceError) => (ended = error));
  return {
    messages,
    ended: () => ended,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

describeEachDatabase('WatchKeyChanges', (kind) => {
  const server = useTestServer(kind, {
    ...SERVER_ENV,
    WATCH_MAX_BUFFERED_MESSAGES: '4',
    VERIFIER_DEFAULT_DEADLINE_MS: '300',
  });
  const actor = actorOf(newOrganizationId('watch'), 'alice', Role.ROLE_ADMIN);

  it('opens with a heartbeat that states its interval and the server staleness bound', async () => {
    const watch = rawWatch(server.address);
    try {
      await vi.waitFor(() => expect(watch.messages.length).toBeGreaterThan(0), WAIT);
      expect(watch.messages[0]?.event).toMatchObject({
        $case: 'heartbeat',
        value: { intervalMs: 50, stalenessBoundMs: 200 },
      });
    } finally {
      watch.close();
    }
  });

  it('sends the hash and new version of a key revoked on this replica', async () => {
    const created = await createTestKey(server, actor);
    const watch = rawWatch(server.address);
    try {
      await vi.waitFor(() => expect(watch.messages.length).toBeGreaterThan(0), WAIT);
      await server.clients.admin.revokeKey({ actor, keyId: created.key.id, reason: 'test' });
      await vi.waitFor(() => {
        const changes = watch.messages.flatMap((message) =>
          message.event?.$case === 'keysChanged' ? message.event.value.changes : [],
        );
        expect(changes.map((change) => [change.secretHash.toString('hex'), change.keyVersion])).toContainEqual([
          sha256(created.secret),
          2,
        ]);
      }, WAIT);
    } finally {
      watch.close();
    }
  });

  it('sends the hash and new version of a key suspended and resumed on this replica, as for a revocation', async () => {
    const created = await createTestKey(server, actor);
    const watch = rawWatch(server.address);
    const changes = () =>
      watch.messages.flatMap((message) =>
        message.event?.$case === 'keysChanged'
          ? message.event.value.changes.map((change) => [change.secretHash.toString('hex'), change.keyVersion])
          : [],
      );
    try {
      await vi.waitFor(() => expect(watch.messages.length).toBeGreaterThan(0), WAIT);
      for (const [enabled, version] of [
        [false, 2],
        [true, 3],
      ] as const) {
        await server.clients.admin.updateKey(
          UpdateKeyRequest.fromPartial({ actor, keyId: created.key.id, enabled, updateMask: ['enabled'] }),
        );
        await vi.waitFor(() => expect(changes()).toContainEqual([sha256(created.secret), version]), WAIT);
      }
    } finally {
      watch.close();
    }
  });

  it('keeps a stream without a deadline open past VERIFIER_DEFAULT_DEADLINE_MS once its request arrived', async () => {
    const watch = rawWatch(server.address);
    try {
      await vi.waitFor(() => expect(watch.messages.length).toBeGreaterThan(0), WAIT);
      const heartbeats = () => watch.messages.filter((message) => message.event?.$case === 'heartbeat').length;
      const before = heartbeats();
      await new Promise((resolve) => setTimeout(resolve, 900));
      expect(watch.ended()).toBeUndefined();
      expect(heartbeats()).toBeGreaterThan(before + 5);
    } finally {
      watch.close();
    }
  });

  it('sends a reset to every watcher when the feed meets a gap', async () => {
    const watch = rawWatch(server.address);
    try {
      await vi.waitFor(() => expect(watch.messages.length).toBeGreaterThan(0), WAIT);
      server.app.watchers.reset('test');
      await vi.waitFor(
        () => expect(watch.messages.some((message) => message.event?.$case === 'reset')).toBe(true),
        WAIT,
      );
    } finally {
      watch.close();
    }
  });

  it('disconnects a watcher that does not read with RESOURCE_EXHAUSTED', async () => {
    const client = new Client(server.address, credentials.createInsecure());
    const definition = KeyVerifierService.watchKeyChanges;
    const call = client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      {},
      new Metadata(),
    );
    let ended: ServiceError | undefined;
    call.on('error', (error: ServiceError) => (ended = error));
    call.once('data', () => call.pause());
    try {
      await vi.waitFor(() => expect(call.isPaused()).toBe(true), WAIT);
      const slowBefore = server.app.watchers.stats.disconnects.slow;
      const changes = Array.from({ length: 1000 }, (_unused, i) => ({
        hexDigest: sha256(String(i)),
        keyVersion: 1,
      }));
      await vi.waitFor(() => {
        server.app.watchers.changed(changes);
        expect(server.app.watchers.stats.disconnects.slow).toBeGreaterThan(slowBefore);
      }, WAIT);
      call.resume();
      await vi.waitFor(() => expect(ended?.code).toBe(status.RESOURCE_EXHAUSTED), WAIT);
    } finally {
      call.cancel();
      client.close();
    }
  });

  it('ends every stream with UNAVAILABLE when the watchers stop', async () => {
    const watch = rawWatch(server.address);
    await vi.waitFor(() => expect(server.app.watchers.size).toBeGreaterThan(0), WAIT);
    const shutdownsBefore = server.app.watchers.stats.disconnects.shutdown;
    server.app.watchers.stop();
    try {
      await vi.waitFor(() => expect(watch.ended()).toBeDefined(), WAIT);
      expect(watch.ended()?.code).toBe(status.UNAVAILABLE);
      expect(server.app.watchers.stats.disconnects.shutdown).toBeGreaterThan(shutdownsBefore);
    } finally {
      server.app.watchers.start();
      watch.close();
    }
  });
});

describeEachDatabase('client cache', (kind) => {
  const server = useTestServer(kind, SERVER_ENV);
  const actor = actorOf(newOrganizationId('client-cache'), 'alice', Role.ROLE_ADMIN);
  let cached: VerifierClient;
  let plain: VerifierClient;

  beforeAll(() => {
    cached = createVerifierClient({ address: server.address, cache: { maxKeys: 1000 } });
    plain = createVerifierClient({ address: server.address });
  });
  afterAll(() => {
    cached.close();
    plain.close();
  });

  it('answers a warm key from memory', async () => {
    const created = await createTestKey(server, actor);
    await warm(cached, created.secret);
    const before = server.app.verifier.stats.valid;
    const result = await cached.verify({ key: created.secret });
    expect(result.valid).toBe(true);
    expect(server.app.verifier.stats.valid).toBe(before);
  });

  it('denies a key revoked on this replica as soon as the change arrives', async () => {
    const created = await createTestKey(server, actor);
    await warm(cached, created.secret);
    await server.clients.admin.revokeKey({ actor, keyId: created.key.id, reason: 'test' });
    await vi.waitFor(async () => {
      expect(await cached.verify({ key: created.secret })).toMatchObject({ valid: false, reason: 'revoked' });
    }, WAIT);
  });

  it("denies a key suspended on this replica with the server's reason and message, and accepts it once resumed", async () => {
    const created = await createTestKey(server, actor, { metadata: { team: 'payments' } });
    await warm(cached, created.secret);
    const suspend = (enabled: boolean) =>
      server.clients.admin.updateKey(
        UpdateKeyRequest.fromPartial({ actor, keyId: created.key.id, enabled, updateMask: ['enabled'] }),
      );
    await suspend(false);
    await vi.waitFor(async () => {
      const hits = cached.cacheStatus()?.hits ?? 0;
      const fromCache = await cached.verify({ key: created.secret });
      expect(fromCache).toMatchObject({ valid: false, reason: 'disabled', httpStatus: 401 });
      expect(cached.cacheStatus()?.hits).toBe(hits + 1);
      expect(decision(fromCache)).toEqual(decision(await plain.verify({ key: created.secret })));
    }, WAIT);
    await suspend(true);
    await vi.waitFor(async () => {
      const hits = cached.cacheStatus()?.hits ?? 0;
      expect(await cached.verify({ key: created.secret })).toMatchObject({
        valid: true,
        key: { metadata: { team: 'payments' } },
      });
      expect(cached.cacheStatus()?.hits).toBe(hits + 1);
    }, WAIT);
  });

  it('denies a scope removed by UpdateKey', async () => {
    const created = await createTestKey(server, actor, { scopes: ['tickets:read', 'tickets:write'] });
    await warm(cached, created.secret, '', ['tickets:write']);
    await server.clients.admin.updateKey(
      UpdateKeyRequest.fromPartial({
        actor,
        keyId: created.key.id,
        scopes: ['tickets:read'],
        updateMask: ['scopes'],
      }),
    );
    await vi.waitFor(async () => {
      expect(await cached.verify({ key: created.secret, requiredScopes: ['tickets:write'] })).toMatchObject({
        valid: false,
        reason: 'insufficient_scope',
      });
    }, WAIT);
  });

  describe('gives the answers the server gives', () => {
    const keys: Record<string, TestKey> = {};
    beforeAll(async () => {
      keys['any ip'] = await createTestKey(server, actor, { scopes: ['tickets:read', 'comments:read'] });
      keys['ipv4 range'] = await createTestKey(server, actor, { allowedIps: ['198.51.100.0/24'] });
      keys['ipv6 range'] = await createTestKey(server, actor, { allowedIps: ['2001:db8::/32'] });
      keys['mapped'] = await createTestKey(server, actor, { allowedIps: ['::ffff:203.0.113.7'] });
      keys['revoked'] = await createTestKey(server, actor);
      await server.clients.admin.revokeKey({ actor, keyId: keys['revoked'].key.id, reason: 'table' });
      keys['metadata'] = await createTestKey(server, actor, { metadata: { team: 'payments', tier: 'gold' } });
      keys['disabled'] = await createTestKey(server, actor, {
        allowedIps: ['198.51.100.0/24'],
        metadata: { team: 'payments' },
      });
      await server.clients.admin.updateKey(
        UpdateKeyRequest.fromPartial({
          actor,
          keyId: keys['disabled'].key.id,
          enabled: false,
          updateMask: ['enabled'],
        }),
      );
      await settleFeed(server);
    });
    const unknown = 'tt_admin_' + 'A'.repeat(40);
    const cases: [name: string, key: () => string, clientIp: string, scopes: string[]][] = [
      ['valid', () => keys['any ip']!.secret, '', ['tickets:read']],
      ['two scopes granted', () => keys['any ip']!.secret, '198.51.100.1', ['tickets:read', 'comments:read']],
      ['scope missing', () => keys['any ip']!.secret, '', ['tickets:write']],
      ['ipv4 inside', () => keys['ipv4 range']!.secret, '198.51.100.9', []],
      ['ipv4 outside', () => keys['ipv4 range']!.secret, '198.51.101.9', []],
      ['ipv4 as mapped ipv6', () => keys['ipv4 range']!.secret, '::ffff:198.51.100.9', []],
      ['ip missing', () => keys['ipv4 range']!.secret, '', []],
      ['ip unparsable', () => keys['ipv4 range']!.secret, 'not-an-ip', []],
      ['ipv6 inside', () => keys['ipv6 range']!.secret, '2001:db8:1::5', []],
      ['ipv6 outside', () => keys['ipv6 range']!.secret, '2001:db9::5', []],
      ['mapped entry, ipv4 client', () => keys['mapped']!.secret, '203.0.113.7', []],
      ['mapped entry, mapped client', () => keys['mapped']!.secret, '::ffff:cb00:7107', []],
      ['revoked', () => keys['revoked']!.secret, '', []],
      ['metadata returned', () => keys['metadata']!.secret, '', ['tickets:read']],
      ['disabled', () => keys['disabled']!.secret, '198.51.100.9', ['tickets:read']],
      ['disabled, ip outside', () => keys['disabled']!.secret, '198.51.101.9', []],
      ['disabled, scope missing', () => keys['disabled']!.secret, '', ['tickets:write']],
      ['malformed', () => 'tt_admin_nope', '', []],
      ['not found', () => unknown, '', []],
    ];
    for (const [name, key, clientIp, requiredScopes] of cases) {
      it(name, async () => {
        const request = { key: key(), clientIp, requiredScopes };
        // Until answered from memory: the first answers come from the server (quarantine, cold key).
        await vi.waitFor(async () => {
          const hits = cached.cacheStatus()?.hits ?? 0;
          const fromCache = await cached.verify(request);
          expect(cached.cacheStatus()?.hits).toBe(hits + 1);
          expect(decision(fromCache)).toEqual(decision(await plain.verify(request)));
        }, WAIT);
      });
    }
  });

  it('keeps real keys through a flood of random well-formed keys', async () => {
    const small = createVerifierClient({
      address: server.address,
      cache: { maxKeys: 2, maxUnknownKeys: 10 },
    });
    try {
      const created = await createTestKey(server, actor);
      await warm(small, created.secret);
      for (let i = 0; i < 200; i++) {
        expect(await small.verify({ key: generateSecret('admin').secret })).toMatchObject({ reason: 'not_found' });
      }
      const hits = small.cacheStatus()?.hits ?? 0;
      expect(await small.verify({ key: created.secret })).toMatchObject({ valid: true });
      expect(small.cacheStatus()?.hits).toBe(hits + 1);
    } finally {
      small.close();
    }
  });

  it('reports uses of cached keys, so last_used_time moves', async () => {
    const created = await createTestKey(server, actor);
    await warm(cached, created.secret, '198.51.100.77');
    await vi.waitFor(async () => {
      const { key } = await server.clients.admin.getKey({ actor, keyId: created.key.id });
      expect(key?.lastUsedIp).toBe('198.51.100.77');
      expect(timestampMs(key?.lastUsedTime)).toBeGreaterThan(0);
    }, WAIT);
  });
});

describe('client cache behind a connection that goes silent', () => {
  const server = useTestServer('sqlite', SERVER_ENV);
  const actor = actorOf(newOrganizationId('client-cut'), 'alice', Role.ROLE_ADMIN);
  let proxy: TcpProxy;
  let client: VerifierClient;

  beforeAll(async () => {
    const [host, port] = server.address.split(':');
    proxy = new TcpProxy(host ?? '127.0.0.1', Number(port));
    await proxy.start();
    client = createVerifierClient({
      address: `127.0.0.1:${proxy.port}`,
      deadlineMs: 300,
      cache: { maxKeys: 100, stalenessBoundMs: 300 },
    });
  });
  afterAll(async () => {
    client.close();
    await proxy.stop();
  });

  it('stops answering from memory, fails calls it cannot make, and recovers when the path heals', async () => {
    const created = await createTestKey(server, actor);
    await warm(client, created.secret);
    proxy.blackhole();
    await vi.waitFor(() => expect(client.cacheStatus()?.healthy).toBe(false), WAIT);
    const error = await client.verify({ key: created.secret }).then(
      () => undefined,
      (failure: unknown) => failure as ServiceError,
    );
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    // The connection lost bytes both ways: it is dropped, as keepalive would, and a new one is made.
    proxy.heal();
    proxy.cut();
    proxy.restore();
    await warm(client, created.secret);
    expect(client.cacheStatus()?.healthy).toBe(true);
  });

  it('stops answering from memory within the bound when the proxy cuts the stream, and recovers by itself', async () => {
    const created = await createTestKey(server, actor);
    await warm(client, created.secret);
    const cutAt = performance.now();
    proxy.cut();
    await vi.waitFor(() => expect(client.cacheStatus()?.healthy).toBe(false), WAIT);
    // stalenessBoundMs is 300: the cut (a closed connection) is noticed at once, silence within the bound.
    expect(performance.now() - cutAt).toBeLessThan(300);
    const hits = client.cacheStatus()?.hits ?? 0;
    const error = await client.verify({ key: created.secret }).then(
      () => undefined,
      (failure: unknown) => failure as ServiceError,
    );
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(error?.code);
    expect(client.cacheStatus()?.hits).toBe(hits);
    // The proxy comes back: the client reconnects its stream on its own (backoff ≤ 2 s) and answers again.
    proxy.restore();
    await vi.waitFor(() => expect(client.cacheStatus()?.healthy).toBe(true), WAIT);
    await warm(client, created.secret);
  });
});
