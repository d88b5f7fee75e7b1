import { describe, expect, it } from 'vitest';

import {
  DenialReason,
  KeyState,
  type VerifyKeyResponse,
  type WatchKeyChangesResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import { ClientKeyCache } from '../../src/client/ClientKeyCache.js';
import { fromVerifyKeyResponse } from '../../src/client/fromVerifyKeyResponse.js';
import { generateSecret, secretDigest } from '../../src/domain/keyFormat.js';

const HOUR = 3_600_000;

/** A cache on clocks the test moves, connected to a stream that sent one heartbeat (server bound 100 ms). */
function connectedCache() {
  let now = 0;
  const cache = new ClientKeyCache(
    { maxKeys: 10, stalenessBoundMs: 1000 },
    { monotonic: () => now, wall: () => 1_800_000_000_000 + now },
  );
  cache.streamOpened();
  const heartbeat: WatchKeyChangesResponse = {
    event: { $case: 'heartbeat', value: { intervalMs: 50, feedAgeMs: 0, stalenessBoundMs: 100 } },
  };
  cache.apply(heartbeat);
  // Past the quarantine after a new stream (nothing is kept for the server's staleness bound).
  now += 1000;
  cache.apply(heartbeat);
  return {
    cache,
    /** Time passes without a heartbeat. */
    silence: (ms: number) => {
      now += ms;
    },
  };
}

function validResponse(secret: string, version: number): VerifyKeyResponse {
  return {
    valid: true,
    denialReason: DenialReason.DENIAL_REASON_UNSPECIFIED,
    httpStatus: 200,
    message: 'API key is valid and working correctly',
    keyId: 'key_1',
    keyName: 'k',
    keyPrefix: secret.slice(0, 17),
    scopes: ['tickets:read'],
    expireTime: { seconds: Math.floor((1_800_000_000_000 + HOUR) / 1000), nanos: 0 },
    organizationId: 'org',
    authenticateTime: { seconds: 1_800_000_000, nanos: 0 },
    createdByUserId: 'alice',
    metadata: {},
    cacheEntry: {
      secretHash: Buffer.from(secretDigest(secret), 'hex'),
      keyVersion: version,
      allowedIps: [],
      state: KeyState.KEY_STATE_ACTIVE,
      maxAgeMs: 300_000,
      disabledByUserId: '',
    },
  };
}

function changed(secret: string, version: number): WatchKeyChangesResponse {
  return {
    event: {
      $case: 'keysChanged',
      value: { changes: [{ secretHash: Buffer.from(secretDigest(secret), 'hex'), keyVersion: version }] },
    },
  };
}

function store(cache: ClientKeyCache, secret: string, version: number, ticket = cache.ticket()): void {
  const response = validResponse(secret, version);
  cache.store(secret, [], response, fromVerifyKeyResponse(response).key, ticket);
}

describe('ClientKeyCache keeps', () => {
  it('an answer no change overtook, and answers it from memory', () => {
    const { cache } = connectedCache();
    const { secret } = generateSecret('admin');
    store(cache, secret, 1);
    expect(cache.answer(secret, '', [])).toMatchObject({ valid: true });
  });
});

describe('ClientKeyCache does not keep', () => {
  it('an answer older than a change that arrived while it was in flight', () => {
    const { cache } = connectedCache();
    const { secret } = generateSecret('admin');
    cache.apply(changed(secret, 2));
    store(cache, secret, 1);
    expect(cache.answer(secret, '', [])).toBeUndefined();
    expect(cache.stats.discarded).toBe(1);
  });

  it('an answer to a request sent before a reset', () => {
    const { cache } = connectedCache();
    const { secret } = generateSecret('admin');
    const ticket = cache.ticket();
    cache.apply({ event: { $case: 'reset', value: { reason: 'test' } } });
    store(cache, secret, 1, ticket);
    expect(cache.answer(secret, '', [])).toBeUndefined();
  });

  it('anything while the stream is lost, and answers nothing from memory then', () => {
    const { cache } = connectedCache();
    const { secret } = generateSecret('admin');
    store(cache, secret, 1);
    cache.streamLost();
    expect(cache.answer(secret, '', [])).toBeUndefined();
    store(cache, secret, 1);
    expect(cache.size).toBe(0);
  });
});

describe('ClientKeyCache stops answering', () => {
  it('once no heartbeat vouched for the staleness bound', () => {
    const { cache, silence } = connectedCache();
    const { secret } = generateSecret('admin');
    store(cache, secret, 1);
    silence(1000);
    expect(cache.answer(secret, '', [])).toBeDefined();
    silence(1);
    expect(cache.isHealthy()).toBe(false);
    expect(cache.answer(secret, '', [])).toBeUndefined();
  });

  it('for a key changed to a newer version', () => {
    const { cache } = connectedCache();
    const { secret } = generateSecret('admin');
    store(cache, secret, 1);
    cache.apply(changed(secret, 2));
    expect(cache.answer(secret, '', [])).toBeUndefined();
  });

  it('for a scope the server never accepted (it decides INVALID_ARGUMENT)', () => {
    const { cache } = connectedCache();
    const { secret } = generateSecret('admin');
    store(cache, secret, 1);
    expect(cache.answer(secret, '', ['no:such'])).toBeUndefined();
    expect(cache.answer(secret, '', ['tickets:read'])).toMatchObject({ valid: true });
  });
});
