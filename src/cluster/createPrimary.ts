import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';

import type { Component } from '../lifecycle/Component.js';
import { isWorkerMessage, type PrimaryToWorker, type WorkerStats } from './messages.js';

/** How long the primary waits for workers to acknowledge an invalidation before giving up on them. */
const ACK_TIMEOUT_MS = 2000;

/** Handle on a cluster; as a component, start forks the workers and stop ends them. */
export interface Primary extends Component {
  /** Resolves with the port once every worker listens. */
  readonly listening: Promise<number>;
  /** Whether every worker has listened (some may since have been replaced). */
  readonly allListened: boolean;
  /** Counters of every live worker. */
  stats(): Promise<WorkerStats[]>;
  /** Sends `signal` to every live worker (SIGHUP: reload TLS files); a starting one gets it once it listens. */
  signalWorkers(signal: NodeJS.Signals): void;
  /** Forks the workers; resolves at once (`listening` says when they serve). */
  start(): void;
  /**
   * SIGTERM to every worker; resolves when all exited. Not bounded by the primary: each worker stops
   * within its own SHUTDOWN_TIMEOUT_MS, and exiting before them would cut their final flush short.
   */
  stop(): Promise<void>;
}

/**
 * A primary that, once started, forks `workers` processes sharing the listening port (round-robin
 * scheduling) and relays cache invalidations between them: a worker's invalidation is acknowledged only
 * after every other live worker applied it. A worker that dies unexpectedly is replaced (its replacement starts with an empty
 * cache, so it cannot be stale).
 */
export function createPrimary(workers: number, env: NodeJS.ProcessEnv, logger: Logger): Primary {
  let stopping = false;
  let allListened = false;
  let requestId = 1;
  const statsWaiting = new Map<number, { pending: Set<number>; results: WorkerStats[]; done: () => void }>();
  let resolveListening: (port: number) => void = () => undefined;
  const listening = new Promise<number>((resolve) => (resolveListening = resolve));
  const listeningWorkers = new Set<number>();
  /** Signals for workers still starting, delivered once they listen (their handlers exist by then). */
  const deferredSignals = new Map<number, NodeJS.Signals>();

  const live = (): Worker[] =>
    Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
  const send = (worker: Worker, message: PrimaryToWorker): void => {
    worker.send(message);
  };

  const relayInvalidation = (origin: Worker, id: number, hashes: string[]): void => {
    const others = live().filter((worker) => worker.id !== origin.id);
    const pending = new Set(others.map((worker) => worker.id));
    const finish = (): void => {
      clearTimeout(timer);
      cluster.off('message', onAck);
      if (origin.isConnected()) send(origin, { type: 'invalidate-done', id });
    };
    const relayId = requestId++;
    const onAck = (worker: Worker, message: unknown): void => {
      if (isWorkerMessage(message) && message.type === 'invalidated' && message.id === relayId) {
        pending.delete(worker.id);
        if (pending.size === 0) finish();
      }
    };
    const timer = setTimeout(() => {
      logger.warn({ workers: [...pending] }, 'workers did not acknowledge an invalidation in time');
      finish();
    }, ACK_TIMEOUT_MS);
    if (pending.size === 0) {
      finish();
      return;
    }
    cluster.on('message', onAck);
    for (const worker of others) send(worker, { type: 'invalidate', id: relayId, hashes });
  };

  const start = (): void => {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.on('message', (worker, message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.type === 'invalidate') relayInvalidation(worker, message.id, message.hashes);
      else if (message.type === 'listening') {
        listeningWorkers.add(worker.id);
        const deferred = deferredSignals.get(worker.id);
        if (deferred !== undefined) {
          deferredSignals.delete(worker.id);
          worker.process.kill(deferred);
        }
        if (listeningWorkers.size >= workers) {
          allListened = true;
          resolveListening(message.port);
        }
      } else if (message.type === 'stats') {
        const waiting = statsWaiting.get(message.id);
        if (waiting !== undefined) {
          waiting.results.push(message.stats);
          waiting.pending.delete(worker.id);
          if (waiting.pending.size === 0) waiting.done();
        }
      }
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      logger.error({ worker: worker.id, code, signal }, 'worker died; starting a replacement');
      cluster.fork(env);
    });
    for (let i = 0; i < workers; i++) cluster.fork(env);
  };

  return {
    listening,
    get allListened() {
      return allListened;
    },
    start,
    stats: () =>
      new Promise((resolve) => {
        const id = requestId++;
        const targets = live();
        const results: WorkerStats[] = [];
        const done = (): void => {
          statsWaiting.delete(id);
          resolve(results);
        };
        statsWaiting.set(id, { pending: new Set(targets.map((w) => w.id)), results, done });
        if (targets.length === 0) done();
        for (const worker of targets) send(worker, { type: 'stats', id });
      }),
    signalWorkers: (signal) => {
      // A worker still starting has not installed its handler yet: the default action would end it.
      for (const worker of live()) {
        if (listeningWorkers.has(worker.id)) worker.process.kill(signal);
        else deferredSignals.set(worker.id, signal);
      }
    },
    stop: async () => {
      stopping = true;
      const exits = live().map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
      for (const worker of live()) worker.process.kill('SIGTERM');
      await Promise.all(exits);
    },
  };
}
