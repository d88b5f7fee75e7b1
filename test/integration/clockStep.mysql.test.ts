import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestKey } from '../helpers/createTestKey.js';
import { proxiedDatabase, type Replica, startReplica, until } from '../helpers/replicaProcess.js';
import type { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf } from '../helpers/testActors.js';
import { TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;
const admin = actorOf('org-clock-step', 'alice');
const fakeWallClock = fileURLToPath(new URL('../helpers/fakeWallClock.ts', import.meta.url));
const HOUR_MS = 3_600_000;
const BOUND_MS = 2000;
/** What a loaded test machine may add to the bound. */
const SLACK_MS = 1500;

describeMysql(`a wall clock stepped back does not extend the staleness bound [mysql]${skipped}`, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let clockDir: string;
  let clockFile: string;
  let b: Replica;
  let r: Replica;
  beforeAll(async () => {
    let proxiedUrl: string;
    ({ database, proxy, proxiedUrl } = await proxiedDatabase());
    clockDir = mkdtempSync(join(tmpdir(), 'apikeys-clock-'));
    clockFile = join(clockDir, 'offset-ms');
    writeFileSync(clockFile, '0');
    b = await startReplica(database.url, { MIGRATE_ON_START: 'true' });
    // R reads the feed through the proxy; its wall clock is the real one plus what clockFile says.
    r = await startReplica(
      proxiedUrl,
      { STALENESS_BOUND_MS: String(BOUND_MS), DATABASE_TIMEOUT_MS: '500', FAKE_WALL_CLOCK_FILE: clockFile },
      { nodeArgs: ['--import', fakeWallClock] },
    );
  }, 60_000);
  afterAll(async () => {
    await r.stop();
    await b.stop();
    await proxy.stop();
    await database.drop();
    rmSync(clockDir, { recursive: true, force: true });
  });

  it('goes unfresh within the bound on the monotonic clock, and never answers valid for a key revoked elsewhere', async () => {
    const key = await createTestKey(b.clients, admin, { name: 'revoked while R is cut off' });
    expect((await r.verify(key.secret)).valid).toBe(true); // cached on R
    await until(async () => (await r.metric('apikeys_change_feed_fresh')) === 1, 10_000, 'R fresh');

    proxy.cut(); // R can no longer read the feed (nor anything else)
    const cutAt = performance.now();
    writeFileSync(clockFile, String(-HOUR_MS)); // and its wall clock steps back an hour
    await b.clients.admin.revokeKey({ actor: admin, keyId: key.key.id, reason: 'while R is cut off' });

    await until(async () => (await r.metric('apikeys_change_feed_fresh')) === 0, BOUND_MS + SLACK_MS, 'R unfresh');
    const unfreshAfterMs = performance.now() - cutAt;
    const answer = await r.verify(key.secret).catch((error: unknown) => error);
    expect(answer).not.toMatchObject({ valid: true });
    // R's wall clock really was an hour behind when it gave up on its cache (pino stamps Date.now()).
    const staleLine = (): string | undefined =>
      /\{[^\n]*beyond the staleness bound[^\n]*\}/.exec(r.process.output())?.[0];
    await until(() => Promise.resolve(staleLine() !== undefined), 5000, 'R logs that it stopped trusting its cache');
    const loggedAt = (JSON.parse(staleLine() ?? '{}') as { time?: number }).time ?? Date.now();
    expect(Date.now() - loggedAt).toBeGreaterThan(HOUR_MS - 60_000);
    process.stdout.write(
      `clock stepped back 1 h: R unfresh ${unfreshAfterMs.toFixed(0)} ms after the cut (bound ${BOUND_MS})\n`,
    );
  });
});
