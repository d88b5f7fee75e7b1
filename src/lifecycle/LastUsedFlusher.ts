import type { Logger } from 'pino';

import type { LastUsedRecorder } from '../domain/LastUsedRecorder.js';
import type { Component } from './Component.js';
import type { StopDeadline } from './StopDeadline.js';

/**
 * The last-used recorder's flush timer, and its final flush at stop: within the shutdown budget, saying
 * how many keys' last-used data (and key-days of usage counts) the process exits without.
 */
export class LastUsedFlusher implements Component {
  constructor(
    private readonly recorder: LastUsedRecorder,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.recorder.start();
  }

  async stop(deadline: StopDeadline): Promise<void> {
    const finished = await deadline.bound(this.recorder.stop());
    if (this.recorder.unwrittenCount > 0 || this.recorder.unwrittenUsageCount > 0) {
      this.logger.error(
        {
          timeoutMs: deadline.timeoutMs,
          unwrittenKeys: this.recorder.unwrittenCount,
          unwrittenUsageKeyDays: this.recorder.unwrittenUsageCount,
        },
        finished
          ? 'final last-used flush failed; exiting without it'
          : 'shutdown deadline reached before the final last-used flush finished; exiting without it',
      );
    }
  }
}
