import type { Logger } from 'pino';

import type { Clock } from '../domain/Clock.js';
import type { KeyRepository } from '../domain/KeyRepository.js';
import { utcDayOf } from '../domain/utcDay.js';
import type { Component } from './Component.js';

const HOUR_MS = 3_600_000;

/**
 * Deletes usage history older than USAGE_RETENTION_DAYS (the days before today − retention, UTC) once at
 * start and then hourly. Every replica prunes; the delete is idempotent. A failed prune is logged and
 * tried again next hour: old rows only cost space.
 */
export class UsagePruner implements Component {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repository: Pick<KeyRepository, 'pruneUsage'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly retentionDays: number,
  ) {}

  start(): void {
    void this.prune();
    this.timer = setInterval(() => void this.prune(), HOUR_MS);
    this.timer.unref();
  }

  /** Deletes the rows past retention now; resolves with how many (0 after a logged failure). */
  async prune(): Promise<number> {
    try {
      return await this.repository.pruneUsage(utcDayOf(this.clock.now()) - this.retentionDays);
    } catch (error) {
      this.logger.warn({ err: error }, 'pruning the usage history failed');
      return 0;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
