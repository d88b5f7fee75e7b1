import { Writable } from 'node:stream';

import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { LastUsedRecorder } from '../../src/domain/LastUsedRecorder.js';
import { ChangeFeedPruner } from '../../src/lifecycle/ChangeFeedPruner.js';
import { LastUsedFlusher } from '../../src/lifecycle/LastUsedFlusher.js';
import { StopDeadline } from '../../src/lifecycle/StopDeadline.js';

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino(sink), lines };
}

afterEach(() => vi.useRealTimers());

describe('ChangeFeedPruner', () => {
  it('prunes rows older than the retention every quarter of it (at most hourly), until stopped', () => {
    vi.useFakeTimers();
    const cutoffs: number[] = [];
    const { logger } = capturedLogger();
    const clock = { now: () => 10 * 3_600_000 };
    const pruner = new ChangeFeedPruner(
      { pruneChanges: (before) => (cutoffs.push(before), Promise.resolve(0)) },
      clock,
      logger,
      2,
    );
    pruner.start();
    vi.advanceTimersByTime(30 * 60_000); // a quarter of 2 h
    expect(cutoffs).toEqual([8 * 3_600_000]);
    pruner.stop();
    vi.advanceTimersByTime(3_600_000);
    expect(cutoffs).toHaveLength(1);
  });

  it('logs a failed prune and keeps its schedule', async () => {
    vi.useFakeTimers();
    const { logger, lines } = capturedLogger();
    const pruner = new ChangeFeedPruner(
      { pruneChanges: () => Promise.reject(new Error('locked')) },
      { now: () => 0 },
      logger,
      24,
    );
    pruner.start();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(lines.map((line) => line.msg)).toEqual(['pruning the change feed failed']);
    pruner.stop();
  });
});

describe('LastUsedFlusher', () => {
  const recorderStub = (stop: () => Promise<void>, unwritten: number) =>
    ({ start: () => undefined, stop, unwrittenCount: unwritten }) as unknown as LastUsedRecorder;
  /** The log lines of stopping, within `budgetMs`, a flusher whose final flush is `stop`, leaving `unwritten`. */
  const linesOfStop = async (stop: () => Promise<void>, unwritten: number, budgetMs: number) => {
    const { logger, lines } = capturedLogger();
    await new LastUsedFlusher(recorderStub(stop, unwritten), logger).stop(StopDeadline.after(budgetMs));
    return lines;
  };

  it('says nothing when the final flush wrote everything', async () => {
    expect(await linesOfStop(() => Promise.resolve(), 0, 1000)).toEqual([]);
  });

  it('says how many keys it exits without when the final flush failed', async () => {
    expect(await linesOfStop(() => Promise.resolve(), 3, 1000)).toMatchObject([
      { msg: 'final last-used flush failed; exiting without it', unwrittenKeys: 3, timeoutMs: 1000 },
    ]);
  });

  it('gives up on a final flush that outlasts the budget, and says so', async () => {
    const hanging = () => new Promise<void>(() => undefined);
    expect(await linesOfStop(hanging, 1, 20)).toMatchObject([
      {
        msg: 'shutdown deadline reached before the final last-used flush finished; exiting without it',
        unwrittenKeys: 1,
      },
    ]);
  });
});
