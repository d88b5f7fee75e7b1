import { createHash } from 'node:crypto';

import { afterAll, beforeAll, expect, it, vi } from 'vitest';

import { DenialReason } from '../../gen/apikeys/v1/api_keys.js';
import { FALSE_POSITIVE_RATE } from '../../src/domain/KnownKeyFilter.js';
import { generateSecret } from '../../src/domain/keyFormat.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';

/** The budget under test: lookups a second for keys the filter does not know. */
const BUDGET_PER_SECOND = 5;
/** Distinct random keys, each with a valid checksum, sent 100 at a time. */
const FLOOD = 3000;

async function filterLoaded(server: TestServer): Promise<void> {
  await vi.waitFor(() => expect(server.app.knownKeys.complete).toBe(true), { timeout: 10_000, interval: 10 });
}

describeEachDatabase('well-formed random keys stay off the database', (kind) => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer(kind, { UNKNOWN_KEY_LOOKUPS_PER_SECOND: String(BUDGET_PER_SECOND) });
    // B shares A's database and looks nothing unknown up at once: every such key waits for its feed.
    b = await startTestServer(kind, { DATABASE_URL: a.databaseUrl, UNKNOWN_KEY_LOOKUPS_PER_SECOND: '0' });
    await Promise.all([filterLoaded(a), filterLoaded(b)]);
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  it(`a flood of ${FLOOD} distinct keys nobody issued costs at most the per-second budget in queries`, async () => {
    const queriesBefore = a.app.cache.stats.databaseQueries;
    const started = performance.now();
    for (let sent = 0; sent < FLOOD; sent += 100) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, () =>
          a.clients.verifier.verifyKey({ key: generateSecret('admin').secret, clientIp: '', requiredScopes: [] }),
        ),
      );
      for (const answer of answers) expect(answer.denialReason).toBe(DenialReason.DENIAL_REASON_NOT_FOUND);
    }
    const seconds = (performance.now() - started) / 1000;
    const queries = a.app.cache.stats.databaseQueries - queriesBefore;
    // The bucket starts full (one second's worth), refills at the budget, and false positives still query.
    const bound = BUDGET_PER_SECOND * (1 + seconds) + Math.ceil(FLOOD * FALSE_POSITIVE_RATE * 10);
    process.stdout.write(
      `[${kind}] ${FLOOD} random well-formed keys in ${seconds.toFixed(1)} s: ${queries} queries (bound ${bound.toFixed(0)}); filtered ${a.app.unknownKeys.stats.filtered}, budgeted ${a.app.unknownKeys.stats.budgeted}\n`,
    );
    expect(queries).toBeLessThanOrEqual(bound);
    expect(a.app.unknownKeys.stats.filtered).toBeGreaterThan(0);
  });

  it('a key created on another replica moments ago is valid there at once, however spent the budget', async () => {
    const actor = actorOf(newOrganizationId('flood'), 'alice');
    for (let i = 0; i < 5; i++) {
      const created = await createTestKey(a, actor);
      // B's feed has not polled since (it polls every 100 ms): its filter does not hold the key yet.
      const answer = await b.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
      expect(answer.valid).toBe(true);
    }
    expect(b.app.unknownKeys.stats.waited).toBeGreaterThan(0);
  });

  it('a key created on this replica is known at once: it neither waits nor spends the budget', async () => {
    const actor = actorOf(newOrganizationId('flood'), 'bob');
    const waited = b.app.unknownKeys.stats.waited;
    const created = await createTestKey(b, actor);
    const answer = await b.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
    expect(answer.valid).toBe(true);
    expect(b.app.unknownKeys.stats.waited).toBe(waited);
  });

  it('an unknown key is answered "not found" after one feed poll, without a query', async () => {
    const queriesBefore = b.app.cache.stats.databaseQueries;
    const answer = await b.clients.verifier.verifyKey({
      key: generateSecret('readonly').secret,
      clientIp: '',
      requiredScopes: [],
    });
    expect(answer.denialReason).toBe(DenialReason.DENIAL_REASON_NOT_FOUND);
    expect(b.app.cache.stats.databaseQueries).toBe(queriesBefore);
  });

  it('keys stored before the process started are in the filter (the start scans them)', async () => {
    const actor = actorOf(newOrganizationId('flood'), 'carol');
    const created = await createTestKey(a, actor);
    const c = await startTestServer(kind, { DATABASE_URL: a.databaseUrl, UNKNOWN_KEY_LOOKUPS_PER_SECOND: '0' });
    try {
      await filterLoaded(c);
      expect(c.app.knownKeys.mayExist(createHashHex(created.secret))).toBe(true);
      const answer = await c.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
      expect(answer.valid).toBe(true);
      expect(c.app.unknownKeys.stats.waited).toBe(0);
    } finally {
      await c.stop();
    }
  });
});

function createHashHex(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
