import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import { createDatabase, migrateDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { KnexReplicaRegistry } from '../../src/storage/KnexReplicaRegistry.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createTestDatabase, type TestDatabase } from '../helpers/testDatabase.js';

describeEachDatabase('KnexReplicaRegistry (feed_replicas)', (kind) => {
  let database: TestDatabase;
  let db: Knex;
  let registry: KnexReplicaRegistry;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createDatabase(parseDatabaseUrl(database.url), { poolMax: 2, acquireTimeoutMs: 10_000 });
    await migrateDatabase(db);
    registry = new KnexReplicaRegistry(db);
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });
  beforeEach(async () => {
    await db('feed_replicas').delete();
    await db('key_feed_head').where('id', 1).update({ position: 0 });
  });

  /** Moves a replica's heartbeat `ms` into the past, as if it had stopped reporting that long ago. */
  const age = (replicaId: string, ms: number) =>
    db('feed_replicas')
      .where('replica_id', replicaId)
      .update({ heartbeat_at: db.raw('heartbeat_at - ?', [ms]) });

  it('shows a registered replica at its position, next to the feed head', async () => {
    await db('key_feed_head').where('id', 1).update({ position: 42 });
    await registry.register('a:1:aaaaaa', 40);
    expect(await registry.snapshot(5000)).toEqual({
      head: 42,
      replicas: [{ replicaId: 'a:1:aaaaaa', appliedPosition: 40 }],
    });
  });

  it('answers the head alone when no replica is live', async () => {
    await db('key_feed_head').where('id', 1).update({ position: 7 });
    expect(await registry.snapshot(5000)).toEqual({ head: 7, replicas: [] });
  });

  it("stamps heartbeats with the database's clock, in epoch milliseconds", async () => {
    await registry.register('a:1:aaaaaa', 0);
    const row = (await db('feed_replicas').first()) as { heartbeat_at: number | string; started_at: number | string };
    // The test database runs on this machine: its clock and ours agree to well within a minute.
    expect(Math.abs(Number(row.heartbeat_at) - Date.now())).toBeLessThan(60_000);
    expect(Number(row.started_at)).toBe(Number(row.heartbeat_at));
  });

  it('records the position and a new heartbeat on every report', async () => {
    await registry.register('a:1:aaaaaa', 1);
    await age('a:1:aaaaaa', 10_000);
    expect((await registry.snapshot(5000)).replicas).toEqual([]);
    await registry.report('a:1:aaaaaa', 5);
    expect((await registry.snapshot(5000)).replicas).toEqual([{ replicaId: 'a:1:aaaaaa', appliedPosition: 5 }]);
  });

  it('puts the row back when a report finds it gone (removed as dead while the process was paused)', async () => {
    await registry.register('a:1:aaaaaa', 1);
    await db('feed_replicas').delete();
    await registry.report('a:1:aaaaaa', 3);
    expect((await registry.snapshot(5000)).replicas).toEqual([{ replicaId: 'a:1:aaaaaa', appliedPosition: 3 }]);
  });

  it('judges liveness by the heartbeat age against the timeout asked for', async () => {
    await registry.register('fresh:1:aaaaaa', 1);
    await registry.register('quiet:2:bbbbbb', 1);
    await age('quiet:2:bbbbbb', 8000);
    const live = async (timeoutMs: number) =>
      (await registry.snapshot(timeoutMs)).replicas.map((replica) => replica.replicaId).sort();
    expect(await live(5000)).toEqual(['fresh:1:aaaaaa']);
    expect(await live(20_000)).toEqual(['fresh:1:aaaaaa', 'quiet:2:bbbbbb']);
  });

  it('deletes its own row on deregister, and only rows past the bound on removeDead', async () => {
    await registry.register('a:1:aaaaaa', 1);
    await registry.register('b:2:bbbbbb', 1);
    await registry.register('dead:3:cccccc', 1);
    await age('dead:3:cccccc', 2 * 3_600_000);
    await registry.deregister('a:1:aaaaaa');
    expect(await registry.removeDead(3_600_000)).toBe(1);
    const rows = await db<{ replica_id: string }>('feed_replicas').select('replica_id');
    expect(rows.map((row) => row.replica_id)).toEqual(['b:2:bbbbbb']);
  });

  it('replaces a row of the same id on register', async () => {
    await registry.register('a:1:aaaaaa', 1);
    await registry.register('a:1:aaaaaa', 9);
    expect((await registry.snapshot(5000)).replicas).toEqual([{ replicaId: 'a:1:aaaaaa', appliedPosition: 9 }]);
  });
});
