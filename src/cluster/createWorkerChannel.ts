import { isPrimaryMessage, type WorkerStats, type WorkerToPrimary } from './messages.js';

/** A worker's side of the cluster IPC. */
export interface WorkerChannel {
  /** Asks every other worker to drop `hashes`; resolves once they all have. */
  broadcastInvalidation(hashes: string[]): Promise<void>;
  /** Tells the primary the port this worker listens on. */
  announceListening(port: number): void;
}

/** Handlers the worker provides. */
export interface WorkerHandlers {
  invalidate(hashes: string[]): void;
  stats(): WorkerStats;
}

/** Connects a cluster worker to its primary over process IPC. */
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
    announceListening: (port) => send({ type: 'listening', port }),
  };
}
