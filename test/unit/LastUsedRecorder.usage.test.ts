import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import type { LastUsedEntry } from '../../src/domain/KeyRepository.js';
import { LastUsedRecorder } from '../../src/domain/LastUsedRecorder.js';
import { USAGE_OUTCOMES, UsageTally, type UsageEntry } from '../../src/domain/UsageTally.js';

const DAY = 86_400_000;

/** A table of summed usage rows whose writes can fail before COMMIT, or with the COMMIT unconfirmed. */
class FakeUsageTable {
  readonly sums = new Map<string, number>();
  readonly calls: { lastUsed: number; usage: number }[] = [];
  /** Failures to come, in order: 'rolled back' writes nothing, 'unconfirmed' writes and then fails. */
  failures: ('rolled back' | 'unconfirmed')[] = [];

  recordLastUsed(entries: readonly LastUsedEntry[], usage: readonly UsageEntry[] = []): Promise<void> {
    this.calls.push({ lastUsed: entries.length, usage: usage.length });
    const failure = this.failures.shift();
    if (failure === 'rolled back') {
      return Promise.reject(new AppError('UNAVAILABLE', 'the key database is unavailable; nothing was changed'));
    }
    for (const entry of usage) {
      for (const outcome of USAGE_OUTCOMES) {
        const slot = `${entry.keyId}/${entry.day}/${outcome}`;
        if (entry.counts[outcome] > 0) this.sums.set(slot, (this.sums.get(slot) ?? 0) + entry.counts[outcome]);
      }
    }
    if (failure === 'unconfirmed') {
      return Promise.reject(new AppError('UNKNOWN', 'the key database did not confirm the commit'));
    }
    return Promise.resolve();
  }

  total(): number {
    return [...this.sums.values()].reduce((a, b) => a + b, 0);
  }
}

function over(table: FakeUsageTable, batchSize = 500) {
  const usage = new UsageTally();
  const recorder = new LastUsedRecorder({
    repository: table,
    logger: pino({ level: 'silent' }),
    flushIntervalMs: 3_600_000,
    batchSize,
    usage,
  });
  return { usage, recorder };
}

describe('usage counts flushed with the last-used data', () => {
  it('are kept per key and UTC day, and written in the same call as the last-used times', async () => {
    const table = new FakeUsageTable();
    const { usage, recorder } = over(table);
    recorder.record('k1', 10 * DAY + 5, null);
    usage.add('k1', 10 * DAY + 5, 'valid');
    usage.add('k1', 10 * DAY + 6, 'valid');
    usage.add('k1', 11 * DAY - 1, 'revoked');
    usage.add('k1', 11 * DAY, 'revoked');
    usage.add('k2', 10 * DAY, 'insufficient_scope');
    expect(usage.pendingCount).toBe(3);
    await recorder.flush();
    expect(table.calls).toEqual([{ lastUsed: 1, usage: 3 }]);
    expect(Object.fromEntries(table.sums)).toEqual({
      'k1/10/valid': 2,
      'k1/10/revoked': 1,
      'k1/11/revoked': 1,
      'k2/10/insufficient_scope': 1,
    });
    expect(recorder.unwrittenUsageCount).toBe(0);
  });

  it('are flushed even when no key has last-used data pending', async () => {
    const table = new FakeUsageTable();
    const { usage, recorder } = over(table);
    usage.add('k1', 0, 'disabled');
    await recorder.flush();
    expect(table.total()).toBe(1);
  });

  it('come back for the next flush when the transaction rolled back, added to what was counted meanwhile', async () => {
    const table = new FakeUsageTable();
    const { usage, recorder } = over(table);
    for (let i = 0; i < 5; i++) usage.add('k1', 0, 'valid');
    table.failures = ['rolled back'];
    await recorder.flush();
    expect(table.total()).toBe(0);
    usage.add('k1', 0, 'valid');
    await recorder.flush();
    expect(table.sums.get('k1/0/valid')).toBe(6);
    expect(usage.stats).toEqual({ counted: 6, dropped: 0 });
  });

  it('are dropped and counted, never written twice, when the commit was not confirmed', async () => {
    const table = new FakeUsageTable();
    const { usage, recorder } = over(table);
    recorder.record('k1', 1, null);
    for (let i = 0; i < 5; i++) usage.add('k1', 0, 'valid');
    table.failures = ['unconfirmed'];
    await recorder.flush();
    await recorder.flush();
    // The server did commit: the five are stored once, and the recorder gave them up.
    expect(table.sums.get('k1/0/valid')).toBe(5);
    expect(usage.stats.dropped).toBe(5);
    expect(recorder.usageStats.dropped).toBe(5);
    // Last-used data is idempotent (newest time wins), so it is simply written again.
    expect(table.calls).toEqual([
      { lastUsed: 1, usage: 1 },
      { lastUsed: 1, usage: 0 },
    ]);
  });

  it('of batches written before a failure are not written again; those after it come back', async () => {
    const table = new FakeUsageTable();
    const { usage, recorder } = over(table, 2);
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) usage.add(key, 0, 'valid');
    table.failures = [];
    const failing = table.recordLastUsed.bind(table);
    let call = 0;
    table.recordLastUsed = (entries, entriesUsage) => {
      call++;
      if (call === 2) table.failures.push('unconfirmed');
      return failing(entries, entriesUsage);
    };
    await recorder.flush();
    // Batch 1 written, batch 2 committed but unconfirmed (dropped), batch 3 put back.
    expect(usage.stats.dropped).toBe(2);
    expect(usage.pendingCount).toBe(2);
    await recorder.flush();
    expect(table.total()).toBe(6);
    expect([...table.sums.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((key) => `${key}/0/valid`));
  });
});
