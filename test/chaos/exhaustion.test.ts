/**
 * Resource exhaustion by callers without a credential (issue 12): each attack the adversarial probe ran
 * against an earlier `main`, run here against the service as its own process (`src/main.ts`, TLS, service
 * tokens, `VERIFIER_REQUIRES_AUTH=true`), each with a stated bound on what it may cost and a legitimate
 * caller that must be served while it lasts. Memory is read in the service right after full garbage
 * collections (memoryProbe.ts); database lookups from its own /metrics.
 *
 * The bounds are on what the service holds, with safety margins for a loaded 2-core machine; the figures
 * each attack reached are printed. None is a speed assertion: every wait is a safety limit, beyond which
 * the service is holding what it should have let go.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CreateKeyRequest, DenialReason, RevokeKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { generateSecret } from '../../src/domain/keyFormat.js';
import { bearer, createCredentialedClients, createTestCertificates, tlsCredentials } from '../helpers/certificates.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../helpers/testDatabase.js';
import { type ProbedService, startProbedService } from './probedService.js';

const MIB = 1024 * 1024;
const TOKEN = 'exhaustion-suite-token-0123456789abcdef';
const AUTH = bearer(TOKEN);
const HANDSHAKE_TIMEOUT_MS = 2000;
const IDLE_MS = 3000;

/** 100,000 unauthenticated streams, as the probe opened them: 4 connections, 10 bytes of a request each. */
const STREAM_FLOOD = 100_000;
const STREAM_CONNECTIONS = 4;
/** Streams each attacking connection keeps requested at once: four times what the server admits. */
const STREAM_WINDOW = 400;
/** What the service's memory (RSS after full GCs) may grow by while the stream flood lasts. */
const STREAM_FLOOD_GROWTH_BOUND_MIB = 64;
/** Heap in use after the attack may exceed the baseline by this, once the attacker is gone. */
const RELEASED_BOUND_MIB = 8;
const RELEASE_SAFETY_MS = 15_000;

const SILENT_SOCKETS = 1000;
const IDLE_SESSIONS = 300;
/** A safety limit for a connection to be closed by a bound of a few seconds; observed times are printed. */
const CLOSE_SAFETY_MS = 15_000;

const ALLOWLISTED_KEYS = 100;
/** Distinct 62 KB client_ip values sent for each allowlisted key, as the probe did (62 in its run). */
const HUGE_CLIENT_IPS_PER_KEY = 20;
/** Distinct valid addresses for each key: beyond the 64 decisions one key remembers. */
const ADDRESSES_PER_KEY = 200;
/** Heap per allowlisted key, after every client_ip above and full GCs. */
const HEAP_PER_ALLOWLISTED_KEY_BOUND_BYTES = 16 * 1024;

const RANDOM_KEY_FLOOD = 20_000;
/** UNKNOWN_KEY_LOOKUPS_PER_SECOND: its default. */
const LOOKUPS_PER_SECOND = 20;

const VERIFY = '/apikeys.v1.KeyVerifier/VerifyKey';

function tokenSettings(): Record<string, string> {
  return {
    AUTH_TOKENS: `gateway=${createHash('sha256').update(TOKEN).digest('hex')}`,
    ADMIN_CLIENT_IDS: 'gateway',
    VERIFIER_REQUIRES_AUTH: 'true',
  };
}

const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

function portOfAddress(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

async function until(condition: () => Promise<boolean> | boolean, what: string, safetyMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > safetyMs) throw new Error(`not within ${safetyMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return performance.now() - started;
}

/**
 * Opens `total` streams over `connections` TLS sessions without credentials, each sending 10 bytes of a
 * request and never ending its side; keeps `window` requested per session (nghttp2 holds those beyond the
 * server's limit until one of its streams closes). Resolves with how the streams ended.
 */
async function unauthenticatedStreams(
  port: number,
  ca: Buffer,
  total: number,
  connections: number,
  window: number,
): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  const count = (outcome: string): void => void outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  let started = 0;
  const attackOne = (): Promise<void> =>
    new Promise((done) => {
      const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost' });
      session.on('error', () => undefined);
      let open = 0;
      const next = (): void => {
        while (open < window && started < total) {
          started += 1;
          open += 1;
          let grpcStatus = 'no status';
          const stream = session.request(
            { ':method': 'POST', ':path': VERIFY, 'content-type': 'application/grpc', te: 'trailers' },
            { endStream: false },
          );
          const statusOf = (headers: http2.IncomingHttpHeaders): void => {
            grpcStatus = `grpc-status ${String(headers['grpc-status'])}`;
          };
          stream.on('response', statusOf);
          stream.on('trailers', statusOf);
          stream.on('error', () => undefined);
          stream.on('close', () => {
            open -= 1;
            count(grpcStatus);
            if (started < total) next();
            else if (open === 0) {
              session.destroy();
              done();
            }
          });
          stream.write(Buffer.from([0, 0, 0, 0, 20, 10, 3, 1, 2, 3]));
        }
      };
      session.once('connect', next);
      session.once('close', () => done());
    });
  await Promise.all(Array.from({ length: connections }, attackOne));
  return outcomes;
}

/** Resolves with the time until the server closed `socket`. */
function closedAfter(socket: net.Socket, since: number): Promise<number> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(performance.now() - since));
  });
}

describe('resource exhaustion by callers without a credential [sqlite]', () => {
  const certificates = createTestCertificates();
  const ca = readFileSync(certificates.ca.cert);
  let database: TestDatabase;
  let service: ProbedService;
  let legit: ReturnType<typeof createCredentialedClients>;
  let secret: string;
  const actor = actorOf(newOrganizationId('exhaustion'), 'alice');

  /** One call of the legitimate caller: its key is valid. */
  const legitVerified = async (): Promise<boolean> =>
    (await legit.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] }, { metadata: AUTH })).valid;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    service = await startProbedService({
      DATABASE_URL: database.url,
      MIGRATE_ON_START: 'true',
      TLS_CERT_FILE: certificates.server.cert,
      TLS_KEY_FILE: certificates.server.key,
      HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
      GRPC_MAX_CONNECTION_IDLE_MS: String(IDLE_MS),
      // Every attacker here is one address (loopback): without this the per-IP limit (256) would close
      // most of their connections at once, and the bounds under test would never be reached.
      GRPC_MAX_CONNECTIONS_PER_IP: '0',
      ...tokenSettings(),
    });
    legit = createCredentialedClients(service.address, tlsCredentials(certificates.ca));
    const created = await legit.admin.createKey(
      CreateKeyRequest.fromPartial({ actor, name: 'legitimate', scopes: ['tickets:read'] }),
      { metadata: AUTH },
    );
    secret = created.secret;
    expect(await legitVerified()).toBe(true);
  });
  afterAll(async () => {
    legit.close();
    const code = await service.stop();
    await database.drop();
    certificates.remove();
    expect(code).toBe(0);
  });

  it(`${STREAM_FLOOD} unauthenticated streams are each refused and reset, memory stays within ${STREAM_FLOOD_GROWTH_BOUND_MIB} MiB and is released, a caller with a token is served meanwhile`, async () => {
    const before = await service.memory();
    let peakRss = before.rss;
    const sampling = new AbortController();
    const sampler = (async () => {
      while (!sampling.signal.aborted) {
        peakRss = Math.max(peakRss, (await service.memory()).rss);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    const started = performance.now();
    const attack = unauthenticatedStreams(
      portOfAddress(service.address),
      ca,
      STREAM_FLOOD,
      STREAM_CONNECTIONS,
      STREAM_WINDOW,
    );
    const servedDuringAttack: boolean[] = [];
    const attacked = new AbortController();
    void attack.finally(() => attacked.abort());
    while (!attacked.signal.aborted) {
      servedDuringAttack.push(await legitVerified());
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const outcomes = await attack;
    const seconds = (performance.now() - started) / 1000;
    sampling.abort();
    await sampler;
    const releasedAfterMs = await until(
      async () => (await service.memory()).heapUsed <= before.heapUsed + RELEASED_BOUND_MIB * MIB,
      `heap back within ${RELEASED_BOUND_MIB} MiB of ${mib(before.heapUsed)}`,
      RELEASE_SAFETY_MS,
    );
    process.stdout.write(
      `stream flood: ${STREAM_FLOOD} streams in ${seconds.toFixed(1)} s ${JSON.stringify(Object.fromEntries(outcomes))}; RSS ${mib(before.rss)} -> peak ${mib(peakRss)} (+${mib(peakRss - before.rss)}); heap back within ${RELEASED_BOUND_MIB} MiB after ${releasedAfterMs.toFixed(0)} ms; legitimate calls during it: ${servedDuringAttack.length}\n`,
    );
    expect(Object.fromEntries(outcomes)).toEqual({ [`grpc-status ${status.UNAUTHENTICATED}`]: STREAM_FLOOD });
    expect(peakRss - before.rss).toBeLessThanOrEqual(STREAM_FLOOD_GROWTH_BOUND_MIB * MIB);
    expect(servedDuringAttack.length).toBeGreaterThan(0);
    expect(servedDuringAttack.every(Boolean)).toBe(true);
  });

  it(`${SILENT_SOCKETS} sockets that never start TLS are closed within the handshake bound, releasing their descriptors; a caller is served meanwhile`, async () => {
    const descriptorsBefore = service.openDescriptors();
    const since = performance.now();
    const sockets = Array.from({ length: SILENT_SOCKETS }, () =>
      net.connect(portOfAddress(service.address), '127.0.0.1'),
    );
    const closed = Promise.all(sockets.map((socket) => closedAfter(socket, since)));
    await until(() => sockets.every((socket) => !socket.connecting), 'every socket connected', CLOSE_SAFETY_MS);
    expect(await legitVerified()).toBe(true);
    let safety: NodeJS.Timeout | undefined;
    const times = await Promise.race([
      closed,
      new Promise<never>((_, reject) => {
        safety = setTimeout(() => reject(new Error('sockets still open at the safety limit')), CLOSE_SAFETY_MS);
      }),
    ]).finally(() => clearTimeout(safety));
    await until(() => service.openDescriptors() <= descriptorsBefore + 5, 'descriptors released', CLOSE_SAFETY_MS);
    process.stdout.write(
      `silent sockets: ${SILENT_SOCKETS} closed, the last after ${Math.max(...times).toFixed(0)} ms (HANDSHAKE_TIMEOUT_MS ${HANDSHAKE_TIMEOUT_MS}); descriptors ${descriptorsBefore} -> ${service.openDescriptors()}\n`,
    );
    expect(Math.min(...times)).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS * 0.9);
    expect(await legitVerified()).toBe(true);
    expect(
      await service.metric('apikeys_transport_limit_events_total{reason="handshake_timeout"}'),
    ).toBeGreaterThanOrEqual(SILENT_SOCKETS);
  });

  it(`${IDLE_SESSIONS} TLS sessions that make no call are closed by the idle timeout; a busy caller's connection is not`, async () => {
    const descriptorsBefore = service.openDescriptors();
    const since = performance.now();
    const sessions = Array.from({ length: IDLE_SESSIONS }, () => {
      const session = http2.connect(`https://127.0.0.1:${portOfAddress(service.address)}`, {
        ca,
        servername: 'localhost',
      });
      session.on('error', () => undefined);
      return session;
    });
    const closedTimes = sessions.map(
      (session) =>
        new Promise<number>((resolve) => {
          const closed = (): void => resolve(performance.now() - since);
          session.once('goaway', closed);
          session.once('close', closed);
        }),
    );
    // The legitimate caller keeps calling on its own connection throughout: never idle, never closed.
    const calling = new AbortController();
    const served: boolean[] = [];
    const caller = (async () => {
      while (!calling.signal.aborted) {
        served.push(await legitVerified());
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    let safety: NodeJS.Timeout | undefined;
    const times = await Promise.race([
      Promise.all(closedTimes),
      new Promise<never>((_, reject) => {
        safety = setTimeout(() => reject(new Error('idle sessions still open at the safety limit')), CLOSE_SAFETY_MS);
      }),
    ]).finally(() => clearTimeout(safety));
    calling.abort();
    await caller;
    for (const session of sessions) session.destroy();
    await until(() => service.openDescriptors() <= descriptorsBefore + 5, 'descriptors released', CLOSE_SAFETY_MS);
    process.stdout.write(
      `idle TLS sessions: ${IDLE_SESSIONS} closed after ${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)} ms (GRPC_MAX_CONNECTION_IDLE_MS ${IDLE_MS}); legitimate calls meanwhile: ${served.length}\n`,
    );
    expect(Math.min(...times)).toBeGreaterThanOrEqual(IDLE_MS * 0.9);
    expect(served.length).toBeGreaterThan(0);
    expect(served.every(Boolean)).toBe(true);
  });

  it(`heap per allowlisted key stays under ${HEAP_PER_ALLOWLISTED_KEY_BOUND_BYTES} bytes whatever client_ip values arrive`, async () => {
    const keys: string[] = [];
    for (let i = 0; i < ALLOWLISTED_KEYS; i++) {
      const created = await legit.admin.createKey(
        CreateKeyRequest.fromPartial({
          actor,
          name: `allowlisted ${i}`,
          scopes: ['tickets:read'],
          allowedIps: ['203.0.113.0/24', '2001:db8::/32'],
        }),
        { metadata: AUTH },
      );
      keys.push(created.secret);
    }
    const verify = (key: string, clientIp: string) =>
      legit.verifier.verifyKey({ key, clientIp, requiredScopes: [] }, { metadata: AUTH });
    // Warm: every key cached, its memo in use, so the baseline holds the keys themselves.
    for (const key of keys) expect((await verify(key, '203.0.113.7')).valid).toBe(true);
    const before = await service.memory();
    const huge = (n: number): string => `${n}:${randomBytes(31_000).toString('hex')}`;
    const outcomes = new Map<string, number>();
    const note = (outcome: string): void => void outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    for (const key of keys) {
      await Promise.all(
        Array.from({ length: HUGE_CLIENT_IPS_PER_KEY }, (_, n) =>
          verify(key, huge(n)).then(
            (answer) => note(answer.valid ? 'valid' : `denied ${DenialReason[answer.denialReason]}`),
            (error: unknown) => note(String(status[(error as { code: number }).code])),
          ),
        ),
      );
      // Distinct valid addresses, half inside the allowlist, each in a spelling of its own.
      await Promise.all(
        Array.from({ length: ADDRESSES_PER_KEY }, (_, n) =>
          verify(key, n % 2 === 0 ? `2001:0db8:0000::${n.toString(16)}` : `198.51.100.${n % 256}`).then((answer) =>
            note(answer.valid ? 'address valid' : `address denied ${DenialReason[answer.denialReason]}`),
          ),
        ),
      );
    }
    const after = await service.memory();
    const perKey = (after.heapUsed - before.heapUsed) / ALLOWLISTED_KEYS;
    process.stdout.write(
      `client_ip: ${ALLOWLISTED_KEYS} allowlisted keys × (${HUGE_CLIENT_IPS_PER_KEY} × 62 KB + ${ADDRESSES_PER_KEY} distinct addresses) ${JSON.stringify(Object.fromEntries(outcomes))}; heap ${mib(before.heapUsed)} -> ${mib(after.heapUsed)}: ${perKey.toFixed(0)} bytes per key\n`,
    );
    expect(outcomes.get('valid')).toBeUndefined();
    expect(outcomes.get('address valid')).toBe((ALLOWLISTED_KEYS * ADDRESSES_PER_KEY) / 2);
    expect(perKey).toBeLessThanOrEqual(HEAP_PER_ALLOWLISTED_KEY_BOUND_BYTES);
  });

  it('answers correctly afterwards: creates, verifies and revokes a key, and logged no error', async () => {
    const created = await legit.admin.createKey(
      CreateKeyRequest.fromPartial({ actor, name: 'afterwards', scopes: ['tickets:read'] }),
      { metadata: AUTH },
    );
    const verify = () =>
      legit.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] }, { metadata: AUTH });
    expect((await verify()).valid).toBe(true);
    await legit.admin.revokeKey(RevokeKeyRequest.fromPartial({ actor, keyId: created.key!.id, reason: 'done' }), {
      metadata: AUTH,
    });
    expect((await verify()).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
    const unauthenticated = await grpcError(
      legit.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] }),
    );
    expect(unauthenticated.code).toBe(status.UNAUTHENTICATED);
    expect(service.problems().filter((line) => !/"level":40/.test(line))).toEqual([]);
    expect(service.child.exitCode).toBeNull();
  });
});

describeEachDatabase('a flood of random well-formed keys', (kind: DatabaseKind) => {
  let database: TestDatabase;
  let service: ProbedService;
  let clients: ReturnType<typeof createCredentialedClients>;
  const certificates = createTestCertificates();

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    service = await startProbedService({
      DATABASE_URL: database.url,
      MIGRATE_ON_START: 'true',
      TLS_CERT_FILE: certificates.server.cert,
      TLS_KEY_FILE: certificates.server.key,
      ...tokenSettings(),
    });
    clients = createCredentialedClients(service.address, tlsCredentials(certificates.ca));
    await until(
      async () => (await service.metric('apikeys_known_key_filter_complete')) === 1,
      'the filter of known keys loaded',
      30_000,
    );
  });
  afterAll(async () => {
    clients.close();
    await service.stop();
    await database.drop();
    certificates.remove();
  });

  it(`${RANDOM_KEY_FLOOD} distinct random keys with valid checksums cost at most ${LOOKUPS_PER_SECOND} database lookups a second`, async () => {
    const queries = 'apikeys_cache_database_queries_total';
    const before = await service.metric(queries);
    const started = performance.now();
    const denials = new Map<string, number>();
    for (let sent = 0; sent < RANDOM_KEY_FLOOD; sent += 200) {
      const answers = await Promise.all(
        Array.from({ length: 200 }, () =>
          clients.verifier.verifyKey(
            { key: generateSecret(sent % 400 === 0 ? 'admin' : 'readonly').secret, clientIp: '', requiredScopes: [] },
            { metadata: AUTH },
          ),
        ),
      );
      for (const answer of answers) {
        const reason = DenialReason[answer.denialReason];
        denials.set(reason, (denials.get(reason) ?? 0) + 1);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const lookups = (await service.metric(queries)) - before;
    // The budget starts full (one second's worth) and refills at its rate; the filter's false positives
    // (1 in 10,000) still look up, allowed ten times over.
    const bound = LOOKUPS_PER_SECOND * (1 + seconds) + 20;
    process.stdout.write(
      `[${kind}] random keys: ${RANDOM_KEY_FLOOD} in ${seconds.toFixed(1)} s ${JSON.stringify(Object.fromEntries(denials))}: ${lookups} database lookups (bound ${bound.toFixed(0)})\n`,
    );
    expect(Object.fromEntries(denials)).toEqual({ DENIAL_REASON_NOT_FOUND: RANDOM_KEY_FLOOD });
    expect(lookups).toBeLessThanOrEqual(bound);
  });
});
