import type { MonotonicClock } from './Clock.js';
import type { Propagation, PropagationWaiter } from './Propagation.js';
import type { ReplicaRegistry, ReplicaSnapshot } from './ReplicaRegistry.js';

/** Settings of ReplicaPropagationWaiter. */
export interface ReplicaPropagationWaiterOptions {
  readonly registry: Pick<ReplicaRegistry, 'snapshot'>;
  /** This replica: confirmed at once (it dropped what it changed before the wait), never waited for. */
  readonly selfId: string;
  /** The longest a write waits (> 0). */
  readonly waitMs: number;
  /** A replica whose heartbeat is older than this is not waited for. */
  readonly replicaTimeoutMs: number;
  /** Time between two reads of the table while someone waits. */
  readonly pollMs: number;
  /** A read that has not answered by then is given up; the next one is not sent before it settles. */
  readonly readTimeoutMs: number;
  /** Waits are measured on it, never on the wall clock. */
  readonly monotonic: MonotonicClock;
}

/** What the newest usable read said of one wait's position. */
interface Verdict {
  readonly live: number;
  readonly unconfirmed: readonly string[];
}

/** One write waiting for the replicas. */
interface Waiting {
  /** The position to reach; undefined until the first read names the head. */
  target: number | undefined;
  readonly startedAt: number;
  verdict: Verdict | undefined;
  timer: NodeJS.Timeout | undefined;
  readonly resolve: (propagation: Propagation) => void;
  /** Removes the listener of the call's abort signal. */
  forget: () => void;
}

/** A read of the table on its way, and when it was sent. */
interface Read {
  readonly sentAt: number;
  readonly snapshot: Promise<ReplicaSnapshot | null>;
}

/**
 * Waits for writes to reach every live replica by reading the replicas' table (ReplicaRegistry).
 *
 * One loop per process reads the table every `pollMs` while anyone waits, whatever the number of
 * writes waiting, so concurrent writes cost no more queries than one. A read counts for a write only if
 * it was sent after the write began to wait (it committed before): an earlier read could miss a replica
 * that registered meanwhile at a position below the write's. Each wait ends at its bound by its own
 * timer, whatever the database does, or when its call is abandoned; a read that fails or hangs only
 * leaves the wait unconfirmed.
 */
export class ReplicaPropagationWaiter implements PropagationWaiter {
  private readonly waiting = new Set<Waiting>();
  private readonly listeners: ((propagation: Propagation) => void)[] = [];
  private polling = false;
  private inFlight: Read | undefined;

  constructor(private readonly options: ReplicaPropagationWaiterOptions) {}

  /** Calls `listener` with every wait's outcome (for metrics). */
  onSettled(listener: (propagation: Propagation) => void): void {
    this.listeners.push(listener);
  }

  waitFor(position?: number, signal?: AbortSignal, maxWaitMs = Number.POSITIVE_INFINITY): Promise<Propagation> {
    return new Promise((resolve) => {
      const waiting: Waiting = {
        target: position,
        startedAt: this.options.monotonic.now(),
        verdict: undefined,
        timer: undefined,
        resolve,
        forget: () => undefined,
      };
      this.waiting.add(waiting);
      if (signal?.aborted === true) {
        this.settle(waiting);
        return;
      }
      waiting.timer = setTimeout(() => this.settle(waiting), Math.max(0, Math.min(this.options.waitMs, maxWaitMs)));
      if (signal !== undefined) {
        const onAbort = (): void => this.settle(waiting);
        signal.addEventListener('abort', onAbort, { once: true });
        waiting.forget = () => signal.removeEventListener('abort', onAbort);
      }
      void this.poll();
    });
  }

  /** Reads the table until nobody waits. Only one loop runs; a wait added meanwhile joins it. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      // No await between the size check and the end of the loop: a wait added later starts a new loop.
      while (this.waiting.size > 0) {
        const read = this.read();
        const snapshot = await this.settledWithin(read);
        if (snapshot !== null) for (const waiting of [...this.waiting]) this.judge(waiting, snapshot, read.sentAt);
        if (this.waiting.size === 0) break;
        await sleep(this.options.pollMs);
      }
    } finally {
      this.polling = false;
    }
  }

  /** The read in flight, or a new one; a failed read is null (the waits stay as they were). */
  private read(): Read {
    if (this.inFlight !== undefined) return this.inFlight;
    const read: Read = {
      sentAt: this.options.monotonic.now(),
      snapshot: this.options.registry.snapshot(this.options.replicaTimeoutMs).then(
        (snapshot) => snapshot,
        () => null,
      ),
    };
    this.inFlight = read;
    void read.snapshot.then(() => {
      if (this.inFlight === read) this.inFlight = undefined;
    });
    return read;
  }

  /** The read's answer, or null when it did not answer within the read timeout (it is left to finish). */
  private async settledWithin(read: Read): Promise<ReplicaSnapshot | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>(
      (resolve) => (timer = setTimeout(() => resolve(null), this.options.readTimeoutMs)),
    );
    try {
      return await Promise.race([read.snapshot, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private judge(waiting: Waiting, snapshot: ReplicaSnapshot, sentAt: number): void {
    if (sentAt < waiting.startedAt) return;
    const target = (waiting.target ??= snapshot.head);
    const others = snapshot.replicas.filter((replica) => replica.replicaId !== this.options.selfId);
    const unconfirmed = others
      .filter((replica) => replica.appliedPosition < target)
      .map((replica) => replica.replicaId)
      .sort();
    waiting.verdict = { live: others.length + 1, unconfirmed };
    if (unconfirmed.length === 0) this.settle(waiting);
  }

  private settle(waiting: Waiting): void {
    if (!this.waiting.delete(waiting)) return;
    clearTimeout(waiting.timer);
    waiting.forget();
    const verdict = waiting.verdict;
    const propagation: Propagation = {
      confirmedReplicas: verdict === undefined ? 1 : verdict.live - verdict.unconfirmed.length,
      liveReplicas: verdict?.live ?? 1,
      unconfirmedReplicaIds: verdict?.unconfirmed ?? [],
      waitedMs: Math.round(this.options.monotonic.now() - waiting.startedAt),
      complete: verdict !== undefined && verdict.unconfirmed.length === 0,
    };
    for (const listener of this.listeners) listener(propagation);
    waiting.resolve(propagation);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
