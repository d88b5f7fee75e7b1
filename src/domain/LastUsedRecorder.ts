import type { Logger } from 'pino';

import { canonicalIpOrNull, MAX_CLIENT_IP_LENGTH } from './clientAddress.js';
import type { KeyRepository, LastUsedEntry } from './KeyRepository.js';

/** Settings of LastUsedRecorder. */
export interface LastUsedRecorderOptions {
  readonly repository: Pick<KeyRepository, 'recordLastUsed'>;
  readonly logger: Logger;
  /** Time between flushes. */
  readonly flushIntervalMs: number;
  /** Most keys per database round trip. */
  readonly batchSize: number;
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
 */
export class LastUsedRecorder {
  readonly stats: LastUsedStats = { recorded: 0, flushes: 0, flushErrors: 0, rowsWritten: 0 };
  private pending = new Map<string, LastUsedEntry>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private writing = 0;

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
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.writing = batch.size;
    this.flushing = this.write(batch).finally(() => {
      this.flushing = undefined;
      this.writing = 0;
    });
    await this.flushing;
  }

  private async write(batch: Map<string, LastUsedEntry>): Promise<void> {
    const entries = [...batch.values()].map((entry) => ({ ...entry, ip: canonicalIpOrNull(entry.ip) }));
    try {
      for (let i = 0; i < entries.length; i += this.options.batchSize) {
        const chunk = entries.slice(i, i + this.options.batchSize);
        await this.options.repository.recordLastUsed(chunk);
        this.stats.rowsWritten += chunk.length;
        this.writing -= chunk.length;
      }
      this.stats.flushes++;
    } catch (error) {
      this.stats.flushErrors++;
      this.options.logger.warn({ err: error, keys: batch.size }, 'last-used flush failed; will retry');
      // Put back what was not written, unless a newer observation arrived meanwhile.
      for (const entry of entries) {
        const newer = this.pending.get(entry.keyId);
        if (newer === undefined || newer.time < entry.time) this.pending.set(entry.keyId, entry);
      }
    }
  }
}
