import type { Component } from '../lifecycle/Component.js';
import { isSupervisorRequest, type SupervisorReply, type WorkerStats } from './messages.js';

/**
 * Answers a supervisor's SupervisorRequest with every process's counters, when this process was started
 * with an IPC channel (a lone process or a cluster primary; a worker's channel belongs to its primary).
 */
export class SupervisorChannel implements Component {
  constructor(private readonly collect: () => Promise<WorkerStats[]>) {}

  start(): void {
    if (process.send === undefined) return;
    process.on('message', (message: unknown) => {
      if (!isSupervisorRequest(message)) return;
      void this.collect().then((stats) => {
        const reply: SupervisorReply = { type: 'stats', id: message.id, stats };
        process.send?.(reply);
      });
    });
  }

  /** Keeps answering until the process exits: a supervisor may ask while the rest stops. */
  stop(): void {
    return undefined;
  }
}
