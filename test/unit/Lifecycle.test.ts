import { describe, expect, it } from 'vitest';

import type { Component } from '../../src/lifecycle/Component.js';
import { Lifecycle } from '../../src/lifecycle/Lifecycle.js';
import { StopDeadline } from '../../src/lifecycle/StopDeadline.js';

/** A component that writes what happens to it into `events`. */
function recorder(name: string, events: string[], failure?: { start?: Error; stop?: Error }): Component {
  return {
    start: async () => {
      await Promise.resolve();
      events.push(`start ${name}`);
      if (failure?.start !== undefined) throw failure.start;
    },
    stop: (deadline) => {
      events.push(`stop ${name} (${deadline.timeoutMs} ms)`);
      if (failure?.stop !== undefined) throw failure.stop;
    },
  };
}

describe('Lifecycle', () => {
  it('starts components in their declared order and stops them in the reverse one, sharing one deadline', async () => {
    const events: string[] = [];
    const lifecycle = new Lifecycle([recorder('a', events), null, recorder('b', events), recorder('c', events)]);
    await lifecycle.start(1000);
    await lifecycle.stop(StopDeadline.after(500));
    expect(events).toEqual(['start a', 'start b', 'start c', 'stop c (500 ms)', 'stop b (500 ms)', 'stop a (500 ms)']);
  });

  it('when a start fails: stops what already started, in reverse, within the rollback budget, and throws', async () => {
    const events: string[] = [];
    const lifecycle = new Lifecycle([
      recorder('a', events),
      recorder('b', events),
      recorder('c', events, { start: new Error('no database') }),
      recorder('d', events),
    ]);
    await expect(lifecycle.start(250)).rejects.toThrow('no database');
    expect(events).toEqual(['start a', 'start b', 'start c', 'stop b (250 ms)', 'stop a (250 ms)']);
  });

  it('asks every component to stop even when one fails to, then throws the first failure', async () => {
    const events: string[] = [];
    const lifecycle = new Lifecycle([
      recorder('a', events),
      recorder('b', events, { stop: new Error('b would not stop') }),
      recorder('c', events),
    ]);
    await lifecycle.start(1000);
    await expect(lifecycle.stop(StopDeadline.after(100))).rejects.toThrow('b would not stop');
    expect(events.slice(3)).toEqual(['stop c (100 ms)', 'stop b (100 ms)', 'stop a (100 ms)']);
  });

  it('stops each component once: a second stop has nothing left to stop', async () => {
    const events: string[] = [];
    const lifecycle = new Lifecycle([recorder('a', events)]);
    await lifecycle.start(1000);
    await lifecycle.stop(StopDeadline.after(100));
    await lifecycle.stop(StopDeadline.after(100));
    expect(events).toEqual(['start a', 'stop a (100 ms)']);
  });
});

describe('StopDeadline (how SHUTDOWN_TIMEOUT_MS is shared)', () => {
  it.each([
    [10_000, 8000],
    [4000, 3000],
    [1000, 750],
    [3, 3],
    [0, 0],
  ])('of %i ms, in-flight calls may use %i ms (a reserve of min(2 s, ¼) for what stops after them)', (total, calls) => {
    const deadline = StopDeadline.after(total, { now: 1_000_000 });
    expect(deadline.endsAt).toBe(1_000_000 + total);
    expect(deadline.drainEndsAt).toBe(1_000_000);
    expect(deadline.callsEndAt).toBe(1_000_000 + calls);
  });

  it.each([
    // [budget, drain period, in-flight calls cancelled at]: the reserve is min(2 s, ¼ of what the drain left)
    [15_000, 5000, 13_000],
    [6000, 5000, 5750],
    [5000, 5000, 5000],
    [3000, 5000, 3000],
  ])('of %i ms with a drain period of %i ms: accepts until then, cancels calls at %i ms', (total, drain, calls) => {
    const deadline = StopDeadline.after(total, { drainMs: drain, now: 1_000_000 });
    expect(deadline.endsAt).toBe(1_000_000 + total);
    expect(deadline.drainMs).toBe(Math.min(drain, total));
    expect(deadline.drainEndsAt).toBe(1_000_000 + Math.min(drain, total));
    expect(deadline.callsEndAt).toBe(1_000_000 + calls);
  });

  it('bounds work that does not settle by the end of the budget, and reports it', async () => {
    const deadline = StopDeadline.after(30);
    const started = Date.now();
    expect(await deadline.bound(new Promise(() => undefined))).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await StopDeadline.after(1000).bound(Promise.reject(new Error('settled, if badly')))).toBe(true);
  });
});
