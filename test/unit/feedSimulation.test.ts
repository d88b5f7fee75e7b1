import { describe, expect, it, vi } from 'vitest';

import { runFeedSimulation, type SimTimers, type SimulationOptions } from '../sim/runFeedSimulation.js';
import type { Violation } from '../sim/SimReplica.js';

/**
 * The change feed's invariant (docs/architecture.md, "The change feed"), checked over thousands of random
 * schedules of three replicas — real ChangeFeed and KeyCache objects on a simulated monotonic clock — over
 * a simulated database whose commits become visible after any delay (ms to ten minutes) or roll back at
 * any point, with feed outages, hung and failed polls, pruning, restarts (also while transactions are
 * open) and verifications at random moments. After every step, for every replica and key, what the
 * replica would serve from memory must be within the staleness bound of its last poll that read the feed
 * to its end, no older than a version visible before that poll was sent, and read at most the maximum age
 * ago (test/sim/SimReplica.ts, `violation`).
 *
 * Replay one schedule, printed event by event:
 * `FEED_SIMULATION_SEED=<n> [FEED_SIMULATION_VARIANT=design|insert-order|gap-timeout] npx vitest run test/unit/feedSimulation.test.ts`
 */

/** ChangeFeed's poll timeout is a setTimeout: during a schedule, timers run on simulated time. */
const timers: SimTimers = {
  install: (fake) => {
    vi.stubGlobal('setTimeout', fake.setTimeout);
    vi.stubGlobal('clearTimeout', fake.clearTimeout);
  },
  restore: () => vi.unstubAllGlobals(),
};

type Variant = Pick<SimulationOptions, 'ordering' | 'feed' | 'checked' | 'restarts'>;

const VARIANTS = {
  /** The design: feed positions taken under the head lock, read by ChangeFeed. */
  design: { ordering: 'head-lock', feed: 'ordered' },
  /** Positions taken at insert without the head lock (auto-increment): visible out of order, burnt by rollbacks. */
  'insert-order': { ordering: 'auto-increment', feed: 'ordered', checked: ['missed-change'] },
  /**
   * The previous feed (8d0eb0f: waits CHANGE_FEED_GAP_TIMEOUT_MS for a missing id, then gives up) over
   * auto-increment ids, without restarts: what it misses it misses through a slow commit.
   */
  'gap-timeout': { ordering: 'auto-increment', feed: 'gap-timeout', checked: ['missed-change'], restarts: false },
} satisfies Record<string, Variant>;

const SCHEDULES = 1500;

/** Runs schedules from seed 1 until one breaks the invariant; returns it, or undefined after `count`. */
async function firstViolation(
  variant: Variant,
  count: number,
): Promise<{ seed: number; violation: Violation } | undefined> {
  for (let seed = 1; seed <= count; seed++) {
    const { violation } = await runFeedSimulation({ ...variant, seed, timers });
    if (violation !== undefined) return { seed, violation };
  }
  return undefined;
}

/** The schedule of one seed, event by event, ending with its violation. */
async function replay(variant: Variant, seed: number): Promise<string> {
  const { log, violation } = await runFeedSimulation({ ...variant, seed, timers, trace: true });
  return [...log, ...(violation === undefined ? ['no violation'] : [])].join('\n');
}

const replayed = process.env.FEED_SIMULATION_SEED;

describe('the change feed over a simulated database', () => {
  it.runIf(replayed !== undefined)('replays FEED_SIMULATION_SEED', async () => {
    const name = (process.env.FEED_SIMULATION_VARIANT ?? 'design') as keyof typeof VARIANTS;
    console.log(await replay(VARIANTS[name], Number(replayed)));
  });

  it(`never lets a replica serve what the invariant forbids, in ${SCHEDULES} random schedules`, async () => {
    const found = await firstViolation(VARIANTS.design, SCHEDULES);
    if (found !== undefined) {
      const schedule = await replay(VARIANTS.design, found.seed);
      expect.fail(`seed ${found.seed}: ${found.violation.text}\nThe schedule:\n${schedule}`);
    }
    // About 20 s of CPU alone: a loaded 2-core CI machine needs more than the suite's 30 s default.
  }, 120_000);

  describe('NEGATIVE CONTROLS: the checker finds the missed change of a design that has one', () => {
    it('positions taken at insert without the head lock (visible out of order): ChangeFeed skips a late commit', async () => {
      const found = await firstViolation(VARIANTS['insert-order'], SCHEDULES);
      expect(found?.violation.kind).toBe('missed-change');
    });

    it('the previous feed (gap timeout) over auto-increment ids: a commit slower than the timeout is never applied', async () => {
      const found = await firstViolation(VARIANTS['gap-timeout'], SCHEDULES);
      expect(found?.violation.kind).toBe('missed-change');
    });
  });
});
