import type { Logger } from 'pino';

import { AppError } from './AppError.js';
import { canonicalIpOrNull, MAX_CLIENT_IP_LENGTH } from './clientAddress.js';
import type { KeyRepository, LastUsedEntry } from './KeyRepository.js';
import type { UsageEntry, UsageTally } from './UsageTally.js';

/** Settings of LastUsedRecorder. */
export interface LastUsedRecorderOptions {
  readonly repository: Pick<KeyRepository, 'recordLastUsed'>;
  readonly logger: Logger;
  /** Time between flushes. */
  readonly flushIntervalMs: number;
  /** Most keys (and most key-days of usage) per database round trip. */
  readonly batchSize: number;
  /** Usage counts to write in the same transactions as the last-used data (GetKeyUsage's history). */
  readonly usage?: UsageTally;
}

/** Counters for tests and metrics. */
export interface LastUsedStats {
  recorded: number;
  flushes: number;
  flushErrors: number;
  rowsWritten: number;
}

/**
 * Coalesces "key K was used at T from IP" in memory (one entry per key, newest wins) and writes them in
 * batches, so verification never waits for, or causes, a write per request. A failed flush keeps its
 * entries for the next one. A crash loses at most one interval of last-used data, nothing else.
 *
 * Usage counts (`usage`) go in the same transaction as the last-used times of their batch. They are
 * added to what is stored, so a write must happen once: a batch whose transaction is known rolled back
 * (any failure before COMMIT, or a COMMIT the database refused) gets its counts back for the next flush;
 * a batch whose COMMIT was sent but never confirmed (UNKNOWN: the connection broke or the statement
 * deadline passed) may have committed, so its counts are dropped, logged and counted in
 * `usage.stats.dropped` (`apikeys_usage_counts_dropped_total`) rather than risk counting them twice.
 */
export class LastUsedRecorder {
  readonly stats: LastUsedStats = { recorded: 0, flushes: 0, flushErrors: 0, rowsWritten: 0 };
  private pending = new Map<string, LastUsedEntry>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private writing = 0;
  private writingUsage = 0;

  constructor(private readonly options: LastUsedRecorderOptions) {}

  /**
   * Notes a successful verification. O(1), no I/O. `ip` should be a canonical address (clientAddress)
   * or null; anything else is written as null (checked at flush, off the verify path), so last_used_ip
   * only ever holds a fact, never request text.
   */
  record(keyId: string, time: number, ip: string | null): void {
    this.stats.recorded++;
    const previous = this.pending.get(keyId);
    if (previous === undefined || previous.time <= time) {
      this.pending.set(keyId, { keyId, time, ip: ip !== null && ip.length <= MAX_CLIENT_IP_LENGTH ? ip : null });
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Keys whose last-used data is not in the database yet: pending, or in a flush still running. */
  get unwrittenCount(): number {
    return this.pending.size + this.writing;
  }

  /** Decisions counted for the usage history, and counts given up after an unconfirmed commit. */
  get usageStats(): { readonly counted: number; readonly dropped: number } {
    return this.options.usage?.stats ?? { counted: 0, dropped: 0 };
  }

  /** Key-days whose usage counts are not in the database yet: pending, or in a flush still running. */
  get unwrittenUsageCount(): number {
    return (this.options.usage?.pendingCount ?? 0) + this.writingUsage;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Stops the interval and writes whatever is pending. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes pending entries now (one flush at a time); resolves once they are written or put back. */
  async flush(): Promise<void> {
    // A loop, not an if: another caller waiting on the same flush may have started the next one, which
    // holds entries recorded before this call.
    while (this.flushing !== undefined) await this.flushing;
    if (this.pending.size === 0 && (this.options.usage?.pendingCount ?? 0) === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const usage = this.options.usage?.take() ?? [];
    this.writing = batch.size;
    this.writingUsage = usage.length;
    this.flushing = this.write(batch, usage).finally(() => {
      this.flushing = undefined;
      this.writing = 0;
      this.writingUsage = 0;
    });
    await this.flushing;
  }

  private async write(batch: Map<string, LastUsedEntry>, usage: readonly UsageEntry[]): Promise<void> {
    const entries = [...batch.values()].map((entry) => ({ ...entry, ip: canonicalIpOrNull(entry.ip) }));
    const { batchSize } = this.options;
    let usageFrom = 0;
    try {
      for (let i = 0; i < Math.max(entries.length, usage.length); i += batchSize) {
        const chunk = entries.slice(i, i + batchSize);
        const usageChunk = usage.slice(i, i + batchSize);
        usageFrom = i;
        await (usageChunk.length === 0
          ? this.options.repository.recordLastUsed(chunk)
          : this.options.repository.recordLastUsed(chunk, usageChunk));
        this.stats.rowsWritten += chunk.length;
        this.writing -= chunk.length;
        this.writingUsage -= usageChunk.length;
      }
      this.stats.flushes++;
    } catch (error) {
      this.stats.flushErrors++;
      this.options.logger.warn({ err: error, keys: batch.size }, 'last-used flush failed; will retry');
      this.settleUsage(error, usage.slice(usageFrom), batchSize);
      // Put back what was not written, unless a newer observation arrived meanwhile.
      for (const entry of entries) {
        const newer = this.pending.get(entry.keyId);
        if (newer === undefined || newer.time < entry.time) this.pending.set(entry.keyId, entry);
      }
    }
  }

  /**
   * The usage of the failed batch and of those after it: the failed one is dropped when its commit is
   * unconfirmed, everything else is added back for the next flush.
   */
  private settleUsage(error: unknown, unwritten: readonly UsageEntry[], batchSize: number): void {
    const tally = this.options.usage;
    if (tally === undefined || unwritten.length === 0) return;
    if (error instanceof AppError && error.code === 'UNKNOWN') {
      const dropped = tally.drop(unwritten.slice(0, batchSize));
      this.options.logger.error(
        { droppedCounts: dropped, keyDays: Math.min(batchSize, unwritten.length) },
        'usage flush not confirmed (it may have committed); its counts are dropped rather than risk counting them twice',
      );
      tally.restore(unwritten.slice(batchSize));
    } else {
      tally.restore(unwritten);
    }
  }
}
