import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';

import type { Component } from '../lifecycle/Component.js';
import type { StopDeadline } from '../lifecycle/StopDeadline.js';
import { isWorkerMessage, type PrimaryToWorker, type WorkerStats } from './messages.js';

/** How long the primary waits for workers to acknowledge an invalidation before giving up on them. */
const ACK_TIMEOUT_MS = 2000;

/** A stats request in progress: the workers still to answer, and what the others answered. */
interface StatsRequest {
  readonly pending: Set<number>;
  readonly results: WorkerStats[];
  readonly done: () => void;
}

/**
 * The primary of one replica. Once started it forks `workers` processes sharing the listening port
 * (round-robin scheduling) and relays cache invalidations between them: a worker's invalidation is
 * acknowledged only after every other live worker applied it. A worker that dies unexpectedly is replaced
 * (its replacement starts with an empty cache, so it cannot be stale).
 */
export class ClusterPrimary implements Component {
  /** Resolves with the port once every worker listens. */
  readonly listening: Promise<number>;
  private resolveListening: (port: number) => void = () => undefined;
  private stopping = false;
  private requestId = 1;
  private readonly statsWaiting = new Map<number, StatsRequest>();
  private readonly listeningWorkers = new Set<number>();
  /** Signals for workers still starting, delivered once they listen (their handlers exist by then). */
  private readonly deferredSignals = new Map<number, NodeJS.Signals>();

  constructor(
    private readonly workers: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
  ) {
    this.listening = new Promise<number>((resolve) => (this.resolveListening = resolve));
  }

  /** Whether every worker has listened (some may since have been replaced). */
  get allListened(): boolean {
    return this.listeningWorkers.size >= this.workers;
  }

  /** Ready for traffic (/readyz): every worker listened, and no stop has begun (workers drain then). */
  get ready(): boolean {
    return this.allListened && !this.stopping;
  }

  /** Forks the workers; returns at once (`listening` says when they serve). */
  start(): void {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.on('message', (worker, message: unknown) => this.onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => {
      if (this.stopping) return;
      this.logger.error({ worker: worker.id, code, signal }, 'worker died; starting a replacement');
      cluster.fork(this.env);
    });
    for (let i = 0; i < this.workers; i++) cluster.fork(this.env);
  }

  /**
   * Relays the stop to every worker and resolves when all exited. Each worker drains and stops within its
   * own SHUTDOWN_TIMEOUT_MS (the same settings as this process); the primary is not bounded by it, since
   * exiting before them would cut their final flush short. The signal keeps the drain decision: SIGTERM
   * when this stop drains, SIGINT when it skips the drain (Ctrl-C on a terminal, which the workers share
   * through their inherited standard input, so they skip it too).
   */
  async stop(deadline: StopDeadline): Promise<void> {
    this.stopping = true;
    const signal = deadline.drainMs > 0 ? 'SIGTERM' : 'SIGINT';
    const exits = live().map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
    for (const worker of live()) worker.process.kill(signal);
    await Promise.all(exits);
  }

  /** Counters of every live worker. */
  stats(): Promise<WorkerStats[]> {
    return new Promise((resolve) => {
      const id = this.requestId++;
      const targets = live();
      const results: WorkerStats[] = [];
      const done = (): void => {
        this.statsWaiting.delete(id);
        resolve(results);
      };
      this.statsWaiting.set(id, { pending: new Set(targets.map((w) => w.id)), results, done });
      if (targets.length === 0) done();
      for (const worker of targets) send(worker, { type: 'stats', id });
    });
  }

  /** Sends `signal` to every live worker (SIGHUP: reload TLS files); a starting one gets it once it listens. */
  signalWorkers(signal: NodeJS.Signals): void {
    // A worker still starting has not installed its handler yet: the default action would end it.
    for (const worker of live()) {
      if (this.listeningWorkers.has(worker.id)) worker.process.kill(signal);
      else this.deferredSignals.set(worker.id, signal);
    }
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    if (message.type === 'invalidate') this.relayInvalidation(worker, message.id, message.hashes);
    else if (message.type === 'listening') {
      this.listeningWorkers.add(worker.id);
      const deferred = this.deferredSignals.get(worker.id);
      if (deferred !== undefined) {
        this.deferredSignals.delete(worker.id);
        worker.process.kill(deferred);
      }
      if (this.allListened) this.resolveListening(message.port);
    } else if (message.type === 'stats') {
      const waiting = this.statsWaiting.get(message.id);
      if (waiting !== undefined) {
        waiting.results.push(message.stats);
        waiting.pending.delete(worker.id);
        if (waiting.pending.size === 0) waiting.done();
      }
    }
  }

  private relayInvalidation(origin: Worker, id: number, hashes: string[]): void {
    const others = live().filter((worker) => worker.id !== origin.id);
    const pending = new Set(others.map((worker) => worker.id));
    const finish = (): void => {
      clearTimeout(timer);
      cluster.off('message', onAck);
      if (origin.isConnected()) send(origin, { type: 'invalidate-done', id });
    };
    const relayId = this.requestId++;
    const onAck = (worker: Worker, message: unknown): void => {
      if (isWorkerMessage(message) && message.type === 'invalidated' && message.id === relayId) {
        pending.delete(worker.id);
        if (pending.size === 0) finish();
      }
    };
    const timer = setTimeout(() => {
      this.logger.warn({ workers: [...pending] }, 'workers did not acknowledge an invalidation in time');
      finish();
    }, ACK_TIMEOUT_MS);
    if (pending.size === 0) {
      finish();
      return;
    }
    cluster.on('message', onAck);
    for (const worker of others) send(worker, { type: 'invalidate', id: relayId, hashes });
  }
}

function live(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
}

function send(worker: Worker, message: PrimaryToWorker): void {
  worker.send(message);
}
