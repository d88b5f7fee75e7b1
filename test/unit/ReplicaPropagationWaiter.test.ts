import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { Propagation } from '../../src/domain/Propagation.js';
import type { ReplicaSnapshot } from '../../src/domain/ReplicaRegistry.js';
import { ReplicaPropagationWaiter } from '../../src/domain/ReplicaPropagationWaiter.js';

/**
 * The replicas' table as a map the test edits; each read answers what it holds when the read is sent,
 * unless the test makes reads fail or hold them until it releases them.
 */
class FakeReplicaTable {
  head = 0;
  readonly applied = new Map<string, number>();
  reads = 0;
  failing = false;
  holding = false;
  private readonly held: (() => void)[] = [];

  snapshot(timeoutMs: number): Promise<ReplicaSnapshot> {
    expect(timeoutMs).toBe(5000);
    this.reads++;
    if (this.failing) return Promise.reject(new Error('database unreachable'));
    const answer: ReplicaSnapshot = {
      head: this.head,
      replicas: [...this.applied].map(([replicaId, appliedPosition]) => ({ replicaId, appliedPosition })),
    };
    if (!this.holding) return Promise.resolve(answer);
    return new Promise((resolve) => this.held.push(() => resolve(answer)));
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

const WAIT_MS = 1000;
const POLL_MS = 15;

function waiterOver(table: FakeReplicaTable) {
  const settled: Propagation[] = [];
  const waiter = new ReplicaPropagationWaiter({
    registry: table,
    selfId: 'self:1:aaaaaa',
    waitMs: WAIT_MS,
    replicaTimeoutMs: 5000,
    pollMs: POLL_MS,
    readTimeoutMs: 200,
    monotonic: { now: () => Date.now() },
  });
  waiter.onSettled((propagation) => settled.push(propagation));
  return { waiter, settled };
}

/** Whether `promise` has settled, after letting pending callbacks run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

describe('ReplicaPropagationWaiter', () => {
  describe('confirms a write once every live replica has applied it', () => {
    it('answers complete on the first read when every other replica is already there', async () => {
      const table = new FakeReplicaTable();
      table.applied.set('b:2:bbbbbb', 7).set('c:3:cccccc', 9);
      const { waiter } = waiterOver(table);
      const propagation = await waiter.waitFor(7);
      expect(propagation).toEqual({
        confirmedReplicas: 3,
        liveReplicas: 3,
        unconfirmedReplicaIds: [],
        waitedMs: 0,
        complete: true,
      });
      expect(table.reads).toBe(1);
    });

    it('counts this replica as confirmed at once, whatever its own row says', async () => {
      const table = new FakeReplicaTable();
      table.applied.set('self:1:aaaaaa', 3).set('b:2:bbbbbb', 7);
      const { waiter } = waiterOver(table);
      expect(await waiter.waitFor(7)).toMatchObject({ confirmedReplicas: 2, liveReplicas: 2, complete: true });
    });

    it('keeps reading until a lagging replica reports the position, and says how long that took', async () => {
      const table = new FakeReplicaTable();
      table.applied.set('b:2:bbbbbb', 7).set('c:3:cccccc', 5);
      const { waiter } = waiterOver(table);
      const waiting = waiter.waitFor(7);
      await vi.advanceTimersByTimeAsync(100);
      expect(await isSettled(waiting)).toBe(false);
      table.applied.set('c:3:cccccc', 8);
      await vi.advanceTimersByTimeAsync(POLL_MS);
      const propagation = await waiting;
      expect(propagation).toMatchObject({ confirmedReplicas: 3, liveReplicas: 3, complete: true });
      expect(propagation.waitedMs).toBeGreaterThanOrEqual(100);
      expect(propagation.waitedMs).toBeLessThanOrEqual(100 + 2 * POLL_MS);
    });

    it('without a position, waits for the head the first read names', async () => {
      const table = new FakeReplicaTable();
      table.head = 12;
      table.applied.set('b:2:bbbbbb', 11);
      const { waiter } = waiterOver(table);
      const waiting = waiter.waitFor();
      await vi.advanceTimersByTimeAsync(50);
      table.head = 20; // later changes are not waited for
      table.applied.set('b:2:bbbbbb', 12);
      await vi.advanceTimersByTimeAsync(POLL_MS);
      expect(await waiting).toMatchObject({ confirmedReplicas: 2, complete: true });
    });

    it('is complete at once for a lone replica', async () => {
      const { waiter } = waiterOver(new FakeReplicaTable());
      expect(await waiter.waitFor(1)).toMatchObject({ confirmedReplicas: 1, liveReplicas: 1, complete: true });
    });
  });

  describe('ends at the wait bound, naming who did not confirm', () => {
    it('reports the live replicas that never reached the position, sorted, after exactly the wait', async () => {
      const table = new FakeReplicaTable();
      table.applied.set('z:9:zzzzzz', 2).set('b:2:bbbbbb', 7).set('c:3:cccccc', 1);
      const { waiter, settled } = waiterOver(table);
      const waiting = waiter.waitFor(7);
      await vi.advanceTimersByTimeAsync(WAIT_MS - 1);
      expect(await isSettled(waiting)).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      const propagation = await waiting;
      expect(propagation).toEqual({
        confirmedReplicas: 2,
        liveReplicas: 4,
        unconfirmedReplicaIds: ['c:3:cccccc', 'z:9:zzzzzz'],
        waitedMs: WAIT_MS,
        complete: false,
      });
      expect(settled).toEqual([propagation]);
      // It stops reading once nobody waits.
      const reads = table.reads;
      await vi.advanceTimersByTimeAsync(1000);
      expect(table.reads).toBe(reads);
    });

    it('is incomplete, counting only itself, when the table cannot be read', async () => {
      const table = new FakeReplicaTable();
      table.failing = true;
      table.applied.set('b:2:bbbbbb', 7);
      const { waiter } = waiterOver(table);
      const waiting = waiter.waitFor(7);
      await vi.advanceTimersByTimeAsync(WAIT_MS);
      expect(await waiting).toEqual({
        confirmedReplicas: 1,
        liveReplicas: 1,
        unconfirmedReplicaIds: [],
        waitedMs: WAIT_MS,
        complete: false,
      });
      expect(table.reads).toBeGreaterThan(10); // it kept trying
    });

    it('returns at the bound even while a read hangs, and sends no second read behind it', async () => {
      const table = new FakeReplicaTable();
      table.holding = true;
      table.applied.set('b:2:bbbbbb', 7);
      const { waiter } = waiterOver(table);
      const waiting = waiter.waitFor(7);
      await vi.advanceTimersByTimeAsync(WAIT_MS);
      expect(await waiting).toMatchObject({ complete: false, confirmedReplicas: 1 });
      expect(table.reads).toBe(1);
      table.release();
    });
  });

  describe('stops waiting when nobody waits for the call any more', () => {
    it('ends the wait when the call is abandoned, with what it knew then', async () => {
      const table = new FakeReplicaTable();
      table.applied.set('b:2:bbbbbb', 0);
      const { waiter } = waiterOver(table);
      const abandoned = new AbortController();
      const waiting = waiter.waitFor(7, abandoned.signal);
      await vi.advanceTimersByTimeAsync(100);
      abandoned.abort();
      expect(await waiting).toEqual({
        confirmedReplicas: 1,
        liveReplicas: 2,
        unconfirmedReplicaIds: ['b:2:bbbbbb'],
        waitedMs: 100,
        complete: false,
      });
    });

    it('does not start waiting for a call already abandoned', async () => {
      const table = new FakeReplicaTable();
      const { waiter } = waiterOver(table);
      expect(await waiter.waitFor(7, AbortSignal.abort())).toMatchObject({ complete: false, waitedMs: 0 });
      expect(table.reads).toBe(0);
    });
  });

  describe('reads the table once for every write waiting', () => {
    it('serves many concurrent writes with one read per poll', async () => {
      const table = new FakeReplicaTable();
      table.applied.set('b:2:bbbbbb', 0);
      const { waiter } = waiterOver(table);
      const waits = Array.from({ length: 20 }, (_, i) => waiter.waitFor(i + 1));
      await vi.advanceTimersByTimeAsync(10 * POLL_MS);
      expect(table.reads).toBeLessThanOrEqual(11);
      table.applied.set('b:2:bbbbbb', 10);
      await vi.advanceTimersByTimeAsync(POLL_MS);
      const early = await Promise.all(waits.slice(0, 10));
      expect(early.every((propagation) => propagation.complete)).toBe(true);
      table.applied.set('b:2:bbbbbb', 20);
      await vi.advanceTimersByTimeAsync(POLL_MS);
      expect((await Promise.all(waits.slice(10))).every((propagation) => propagation.complete)).toBe(true);
    });

    it('does not count a read sent before the call began to wait (it may name an older head)', async () => {
      const table = new FakeReplicaTable();
      table.head = 3;
      table.applied.set('b:2:bbbbbb', 3);
      const { waiter } = waiterOver(table);
      table.holding = true;
      const first = waiter.waitFor(3); // its read is sent now (head 3, b at 3) and held
      await vi.advanceTimersByTimeAsync(5);
      table.head = 9; // a change committed meanwhile
      const second = waiter.waitFor(); // a call that changed nothing: waits for the head as of now
      table.holding = false;
      table.release();
      await vi.advanceTimersByTimeAsync(0);
      expect(await first).toMatchObject({ complete: true });
      await vi.advanceTimersByTimeAsync(5 * POLL_MS);
      expect(await isSettled(second)).toBe(false); // head 9, b still at 3
      table.applied.set('b:2:bbbbbb', 9);
      await vi.advanceTimersByTimeAsync(POLL_MS);
      expect(await second).toMatchObject({ complete: true, confirmedReplicas: 2 });
    });
  });
});
