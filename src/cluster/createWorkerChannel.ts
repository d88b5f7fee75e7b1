import type { Component } from '../lifecycle/Component.js';
import { isPrimaryMessage, type WorkerStats, type WorkerToPrimary } from './messages.js';

/**
 * A worker's side of the cluster IPC. As a component (the last of a worker) its start tells the primary
 * the port this worker listens on.
 */
export interface WorkerChannel extends Component {
  /** Asks every other worker to drop `hashes`; resolves once they all have. */
  broadcastInvalidation(hashes: string[]): Promise<void>;
}

/** Handlers the worker provides. */
export interface WorkerHandlers {
  invalidate(hashes: string[]): void;
  stats(): WorkerStats;
  /** The port the worker listens on, once started. */
  port(): number;
}

/**
 * Connects a cluster worker to its primary over process IPC. It answers the primary from the start:
 * other workers' invalidations must be acknowledged even while this one is still starting.
 */
export function createWorkerChannel(handlers: WorkerHandlers): WorkerChannel {
  const send = (message: WorkerToPrimary): void => {
    process.send?.(message);
  };
  const waiting = new Map<number, () => void>();
  let nextId = 1;
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'invalidate') {
      handlers.invalidate(message.hashes);
      send({ type: 'invalidated', id: message.id });
    } else if (message.type === 'invalidate-done') {
      waiting.get(message.id)?.();
      waiting.delete(message.id);
    } else {
      send({ type: 'stats', id: message.id, stats: handlers.stats() });
    }
  });
  return {
    broadcastInvalidation: (hashes) =>
      new Promise<void>((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        send({ type: 'invalidate', id, hashes });
      }),
    start: () => send({ type: 'listening', port: handlers.port() }),
    // Still answering while the worker drains: other workers' invalidations wait for its acknowledgement.
    stop: () => undefined,
  };
}
