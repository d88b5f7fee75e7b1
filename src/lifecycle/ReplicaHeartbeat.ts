import type { Logger } from 'pino';

import type { ReplicaRegistry } from '../domain/ReplicaRegistry.js';
import type { Component } from './Component.js';
import type { StopDeadline } from './StopDeadline.js';

/** Settings of ReplicaHeartbeat. */
export interface ReplicaHeartbeatOptions {
  readonly registry: Pick<ReplicaRegistry, 'register' | 'report' | 'deregister'>;
  readonly replicaId: string;
  /** The change-feed position this process has applied (every change up to it is reflected in its cache). */
  readonly appliedPosition: () => number;
  readonly heartbeatMs: number;
  readonly logger: Logger;
}

/**
 * This replica's row in the replicas' table (docs/architecture.md, "Acknowledged propagation"): inserted
 * at start (after the change feed started, so the position is real), updated as soon as the feed
 * advances (`applied`) and every heartbeat, deleted at a graceful stop so no writer waits for a replica
 * that no longer serves. Reports never overlap: one asked for while another is on its way is sent after
 * it, with the position of that moment. A failed report is logged and the next one tries again.
 */
export class ReplicaHeartbeat implements Component {
  private timer: NodeJS.Timeout | undefined;
  private reporting: Promise<void> | undefined;
  private reportAgain = false;
  private stopped = false;
  private failures = 0;

  constructor(private readonly options: ReplicaHeartbeatOptions) {}

  async start(): Promise<void> {
    const position = this.options.appliedPosition();
    await this.options.registry.register(this.options.replicaId, position);
    this.options.logger.info({ replicaId: this.options.replicaId }, 'replica registered in feed_replicas');
    this.timer = setInterval(() => this.applied(), this.options.heartbeatMs);
    this.timer.unref();
    // The feed may have moved while the row was being inserted (its reports are ignored until now).
    if (this.options.appliedPosition() !== position) this.applied();
  }

  /** Reports the position applied now (the change feed calls it after every poll that moved it). */
  applied(): void {
    if (this.stopped || this.timer === undefined) return;
    if (this.reporting !== undefined) {
      this.reportAgain = true;
      return;
    }
    this.reporting = this.options.registry
      .report(this.options.replicaId, this.options.appliedPosition())
      .then(
        () => (this.failures = 0),
        (error: unknown) => {
          if (this.failures++ % 50 === 0) this.options.logger.warn({ err: error }, 'replica heartbeat failed');
        },
      )
      .then(() => {
        this.reporting = undefined;
        if (this.reportAgain) {
          this.reportAgain = false;
          this.applied();
        }
      });
  }

  async stop(deadline: StopDeadline): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.reporting !== undefined) await deadline.bound(this.reporting);
    const removal = this.options.registry.deregister(this.options.replicaId).catch((error: unknown) => {
      this.options.logger.warn(
        { err: error, replicaId: this.options.replicaId },
        'could not remove this replica from feed_replicas; writers wait for it until its heartbeat times out',
      );
    });
    await deadline.bound(removal);
  }
}
