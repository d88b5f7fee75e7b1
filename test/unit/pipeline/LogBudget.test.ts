import { describe, expect, it, vi } from 'vitest';

import { LogBudget } from '../../../src/transport/pipeline/LogBudget.js';

describe('LogBudget', () => {
  it('admits perSecond lines a second and reports the rest once, at the end of the second', () => {
    vi.useFakeTimers();
    try {
      let now = 10_000;
      const reports: number[] = [];
      const budget = new LogBudget(
        3,
        (count) => reports.push(count),
        () => now,
      );
      const first = Array.from({ length: 10 }, () => budget.admit());
      expect(first).toEqual([true, true, true, false, false, false, false, false, false, false]);
      expect(reports).toEqual([]);
      now += 1000;
      vi.advanceTimersByTime(1000);
      expect(reports).toEqual([7]);
      // A new second: a fresh budget, nothing reported twice.
      expect([budget.admit(), budget.admit(), budget.admit(), budget.admit()]).toEqual([true, true, true, false]);
      now += 1500;
      expect(budget.admit()).toBe(true);
      expect(reports).toEqual([7, 1]);
      vi.advanceTimersByTime(5000);
      expect(reports).toEqual([7, 1]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('admits every line with a budget of 0', () => {
    const budget = new LogBudget(0, () => expect.fail('nothing is suppressed'));
    expect(Array.from({ length: 1000 }, () => budget.admit()).every(Boolean)).toBe(true);
  });
});
