import type { Logger } from 'pino';

import type { Clock } from '../domain/Clock.js';
import type { KeyRepository } from '../domain/KeyRepository.js';
import type { Component } from './Component.js';

const HOUR_MS = 3_600_000;

/**
 * Deletes change-feed rows older than CHANGE_FEED_RETENTION_HOURS, every quarter of the retention and at
 * least hourly. A failed prune is logged and tried again next time: old rows only cost space.
 */
export class ChangeFeedPruner implements Component {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repository: Pick<KeyRepository, 'pruneChanges'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly retentionHours: number,
  ) {}

  start(): void {
    const retentionMs = this.retentionHours * HOUR_MS;
    this.timer = setInterval(
      () => {
        this.repository.pruneChanges(this.clock.now() - retentionMs).catch((error: unknown) => {
          this.logger.warn({ err: error }, 'pruning the change feed failed');
        });
      },
      Math.min(retentionMs / 4, HOUR_MS),
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
