import type { Logger } from 'pino';

import type { Clock } from '../domain/Clock.js';
import type { KeyRepository } from '../domain/KeyRepository.js';
import type { ReplicaRegistry } from '../domain/ReplicaRegistry.js';
import type { Component } from './Component.js';

const HOUR_MS = 3_600_000;

/** Replicas' rows whose heartbeat is older than this are deleted: their processes died without stopping. */
export const DEAD_REPLICA_AFTER_MS = HOUR_MS;

/**
 * Deletes change-feed rows older than CHANGE_FEED_RETENTION_HOURS, every quarter of the retention and at
 * least hourly, and with them (given `replicas`) the rows of replicas whose heartbeat is older than
 * DEAD_REPLICA_AFTER_MS. A failed prune is logged and tried again next time: old rows only cost space
 * (a dead replica's row is waited for only until REPLICA_TIMEOUT_MS anyway).
 */
export class ChangeFeedPruner implements Component {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repository: Pick<KeyRepository, 'pruneChanges'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly retentionHours: number,
    private readonly replicas?: Pick<ReplicaRegistry, 'removeDead'>,
  ) {}

  start(): void {
    const retentionMs = this.retentionHours * HOUR_MS;
    this.timer = setInterval(
      () => {
        this.repository.pruneChanges(this.clock.now() - retentionMs).catch((error: unknown) => {
          this.logger.warn({ err: error }, 'pruning the change feed failed');
        });
        this.replicas?.removeDead(DEAD_REPLICA_AFTER_MS).catch((error: unknown) => {
          this.logger.warn({ err: error }, 'removing dead replicas from feed_replicas failed');
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
