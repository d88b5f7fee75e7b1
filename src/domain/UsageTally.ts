import type { DenialReason } from './KeyVerifier.js';
import { utcDayOf } from './utcDay.js';

/** The outcomes counted per key and day: success, and the denials of a key that exists. */
export type UsageOutcome = 'valid' | Exclude<DenialReason, 'malformed' | 'not_found'>;

/** Every UsageOutcome, in the order of the `key_usage` columns. */
export const USAGE_OUTCOMES: readonly UsageOutcome[] = [
  'valid',
  'revoked',
  'expired',
  'disabled',
  'ip_not_allowed',
  'insufficient_scope',
];

/** Counts of one key on one UTC day, by outcome. */
export type UsageCounts = Record<UsageOutcome, number>;

/** One key's counts of one day (days since 1970-01-01, UTC): to add to storage, or as read from it. */
export interface UsageEntry {
  readonly keyId: string;
  readonly day: number;
  readonly counts: UsageCounts;
}

/** All zero. */
export function noUsage(): UsageCounts {
  return { valid: 0, revoked: 0, expired: 0, disabled: 0, ip_not_allowed: 0, insufficient_scope: 0 };
}

/** Whether `reason` is counted in usage history (the key was identified). */
export function isUsageOutcome(outcome: 'valid' | DenialReason): outcome is UsageOutcome {
  return outcome !== 'malformed' && outcome !== 'not_found';
}

/**
 * Verification outcomes of identified keys, counted in memory per key and UTC day until LastUsedRecorder
 * takes them for its flush. `add` is O(1) and does no I/O; the counts are exact: an outcome is in the
 * tally, in a flush, or (after an unconfirmed commit) in `stats.dropped`, never in two of them.
 */
export class UsageTally {
  readonly stats = { counted: 0, dropped: 0 };
  private pending = new Map<string, { keyId: string; day: number; counts: UsageCounts }>();

  /** Counts one decision made at `now` (epoch ms) for the key `keyId`. */
  add(keyId: string, now: number, outcome: UsageOutcome): void {
    this.stats.counted++;
    const day = utcDayOf(now);
    const slot = `${day}:${keyId}`;
    let entry = this.pending.get(slot);
    if (entry === undefined) {
      entry = { keyId, day, counts: noUsage() };
      this.pending.set(slot, entry);
    }
    entry.counts[outcome]++;
  }

  /** Key-days with counts not taken yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Hands over everything counted so far and starts again from zero. */
  take(): UsageEntry[] {
    const taken = [...this.pending.values()];
    this.pending = new Map();
    return taken;
  }

  /** Adds back counts whose write is known not to have happened (its transaction rolled back). */
  restore(entries: readonly UsageEntry[]): void {
    for (const entry of entries) {
      for (const outcome of USAGE_OUTCOMES) {
        const n = entry.counts[outcome];
        if (n === 0) continue;
        const slot = `${entry.day}:${entry.keyId}`;
        let target = this.pending.get(slot);
        if (target === undefined) {
          target = { keyId: entry.keyId, day: entry.day, counts: noUsage() };
          this.pending.set(slot, target);
        }
        target.counts[outcome] += n;
      }
    }
  }

  /** Gives up counts whose write may or may not have committed: dropped, never written twice. */
  drop(entries: readonly UsageEntry[]): number {
    let total = 0;
    for (const entry of entries) for (const outcome of USAGE_OUTCOMES) total += entry.counts[outcome];
    this.stats.dropped += total;
    return total;
  }
}
