import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { ReplicaRegistry } from '../../src/domain/ReplicaRegistry.js';
import { ChangeFeedPruner, DEAD_REPLICA_AFTER_MS } from '../../src/lifecycle/ChangeFeedPruner.js';
import { newReplicaId } from '../../src/lifecycle/newReplicaId.js';
import { ReplicaHeartbeat } from '../../src/lifecycle/ReplicaHeartbeat.js';
import { StopDeadline } from '../../src/lifecycle/StopDeadline.js';

/** A registry that records every call; reports answer at once unless the test holds them. */
class RecordingRegistry implements Pick<ReplicaRegistry, 'register' | 'report' | 'deregister'> {
  readonly calls: string[] = [];
  hold = false;
  failReports = false;
  hangDeregister = false;
  private readonly held: (() => void)[] = [];

  register(replicaId: string, position: number): Promise<void> {
    this.calls.push(`register ${replicaId} ${position}`);
    return Promise.resolve();
  }

  report(replicaId: string, position: number): Promise<void> {
    this.calls.push(`report ${position}`);
    if (this.failReports) return Promise.reject(new Error('database unreachable'));
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => this.held.push(resolve));
  }

  deregister(replicaId: string): Promise<void> {
    this.calls.push(`deregister ${replicaId}`);
    return this.hangDeregister ? new Promise(() => undefined) : Promise.resolve();
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

function heartbeatOver(registry: RecordingRegistry) {
  let position = 10;
  const heartbeat = new ReplicaHeartbeat({
    registry,
    replicaId: 'host:1:abcdef',
    appliedPosition: () => position,
    heartbeatMs: 1000,
    logger: pino({ level: 'silent' }),
  });
  return { heartbeat, setPosition: (value: number) => (position = value) };
}

afterEach(() => vi.useRealTimers());

describe('ReplicaHeartbeat', () => {
  it('registers at the position applied at start, heartbeats every interval, and leaves at stop', async () => {
    vi.useFakeTimers();
    const registry = new RecordingRegistry();
    const { heartbeat, setPosition } = heartbeatOver(registry);
    await heartbeat.start();
    await vi.advanceTimersByTimeAsync(1000);
    setPosition(12);
    await vi.advanceTimersByTimeAsync(1000);
    await heartbeat.stop(StopDeadline.after(1000));
    await vi.advanceTimersByTimeAsync(5000);
    expect(registry.calls).toEqual(['register host:1:abcdef 10', 'report 10', 'report 12', 'deregister host:1:abcdef']);
  });

  it('reports at once when the feed advances, never two reports at a time, the newest position last', async () => {
    vi.useFakeTimers();
    const registry = new RecordingRegistry();
    const { heartbeat, setPosition } = heartbeatOver(registry);
    await heartbeat.start();
    registry.hold = true;
    setPosition(11);
    heartbeat.applied();
    setPosition(12);
    heartbeat.applied();
    setPosition(13);
    heartbeat.applied();
    expect(registry.calls).toEqual(['register host:1:abcdef 10', 'report 11']);
    registry.hold = false;
    registry.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(registry.calls).toEqual(['register host:1:abcdef 10', 'report 11', 'report 13']);
    await heartbeat.stop(StopDeadline.after(1000));
  });

  it('reports at once when the feed moved while the row was being inserted', async () => {
    vi.useFakeTimers();
    const registry = new RecordingRegistry();
    const { heartbeat, setPosition } = heartbeatOver(registry);
    const register = registry.register.bind(registry);
    registry.register = (replicaId, position) => {
      setPosition(11);
      heartbeat.applied(); // the feed's report, before the component has started: ignored
      return register(replicaId, position);
    };
    await heartbeat.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(registry.calls).toEqual(['register host:1:abcdef 10', 'report 11']);
    await heartbeat.stop(StopDeadline.after(1000));
  });

  it('keeps heartbeating after failed reports', async () => {
    vi.useFakeTimers();
    const registry = new RecordingRegistry();
    const { heartbeat } = heartbeatOver(registry);
    await heartbeat.start();
    registry.failReports = true;
    await vi.advanceTimersByTimeAsync(3000);
    expect(registry.calls.filter((call) => call.startsWith('report'))).toHaveLength(3);
    await heartbeat.stop(StopDeadline.after(1000));
  });

  it('does not hold the stop past the deadline when the database does not answer', async () => {
    const registry = new RecordingRegistry();
    const { heartbeat } = heartbeatOver(registry);
    await heartbeat.start();
    registry.hangDeregister = true;
    const started = performance.now();
    await heartbeat.stop(StopDeadline.after(200));
    expect(performance.now() - started).toBeLessThan(2000);
    heartbeat.applied(); // ignored once stopped
    expect(registry.calls.at(-1)).toBe('deregister host:1:abcdef');
  });
});

describe('newReplicaId', () => {
  it('names the host and the process, and differs at every start', () => {
    expect(newReplicaId('api-7', 4242)).toMatch(/^api-7:4242:[0-9a-f]{6}$/);
    expect(newReplicaId('api-7', 4242)).not.toBe(newReplicaId('api-7', 4242));
  });
});

describe('ChangeFeedPruner and dead replicas', () => {
  it("removes replicas' rows whose heartbeat is older than an hour, on the pruning schedule", async () => {
    vi.useFakeTimers();
    const bounds: number[] = [];
    const pruner = new ChangeFeedPruner(
      { pruneChanges: () => Promise.resolve(0) },
      { now: () => 0 },
      pino({ level: 'silent' }),
      24,
      { removeDead: (olderThanMs) => (bounds.push(olderThanMs), Promise.resolve(0)) },
    );
    pruner.start();
    await vi.advanceTimersByTimeAsync(2 * 3_600_000);
    pruner.stop();
    expect(bounds).toEqual([DEAD_REPLICA_AFTER_MS, DEAD_REPLICA_AFTER_MS]);
  });
});
