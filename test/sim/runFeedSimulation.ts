import { T0 } from '../storage/storageFixtures.js';
import { Agenda, type AgendaHandle } from './Agenda.js';
import { Prng } from './Prng.js';
import { CopyLog, type Link, SimConnection } from './SimConnection.js';
import { type FeedOrdering, SimDatabase, type StoredKey, type TransactionTiming } from './SimDatabase.js';
import {
  type FeedAlgorithm,
  type ReplicaSettings,
  SimReplica,
  type Violation,
  type ViolationKind,
} from './SimReplica.js';

/** Timers on simulated time: what `setTimeout`/`clearTimeout` are while a schedule runs. */
export interface FakeTimers {
  readonly setTimeout: (run: () => void, delayMs?: number) => AgendaHandle;
  readonly clearTimeout: (handle: AgendaHandle | undefined) => void;
}

/**
 * Puts the simulation's timers in place of the global ones for one schedule (ChangeFeed's poll timeout
 * is a `setTimeout`: it must fire on simulated time, in order with everything else) and back again.
 */
export interface SimTimers {
  install(timers: FakeTimers): void;
  restore(): void;
}

/** One schedule to run. */
export interface SimulationOptions {
  readonly seed: number;
  readonly ordering: FeedOrdering;
  readonly feed: FeedAlgorithm;
  readonly timers: SimTimers;
  /** Steps of the schedule (each: maybe an action, then time passes). */
  readonly steps?: number;
  readonly replicas?: number;
  /** Collect the schedule as text (slower): for printing a failing seed. */
  readonly trace?: boolean;
  /** False: no replica restarts (only commits, rollbacks, outages, pruning and verifications). */
  readonly restarts?: boolean;
  /** The kinds of violation looked for (default: all three). */
  readonly checked?: readonly ViolationKind[];
}

/** What a schedule did, and the first violation of the invariant if any. */
export interface SimulationResult {
  readonly violation: Violation | undefined;
  readonly log: readonly string[];
  readonly commits: number;
  readonly rollbacks: number;
  readonly polls: number;
  /** Simulated time the schedule covered (ms). */
  readonly elapsedMs: number;
  /** Longest delay between a transaction taking its positions and its commit being visible (ms). */
  readonly slowestCommitMs: number;
}

/**
 * The service's defaults (simulated ms), except a batch of 3 rows (a backlog takes several polls) and room
 * for 8 keys (entries are evicted).
 */
const SIMULATED_SETTINGS: ReplicaSettings = {
  pollIntervalMs: 100,
  stalenessBoundMs: 1000,
  pollTimeoutMs: 500,
  batchSize: 3,
  maxAgeMs: 300_000,
  negativeTtlMs: 5000,
  maxKeys: 8,
  gapTimeoutMs: 10_000,
};

/** Change-feed rows older than this (wall ms) are pruned whenever the pruner runs. */
const RETENTION_MS = 20_000;
/** A step longer than this is a long step (`longStep`): minutes pass cheaply. */
const PAUSE_OVER_MS = 3000;
const START = 1_000_000;
/** Keys created before the replicas start. */
const INITIAL_KEYS = 6;
/** What happens at a random moment of each step, and how often (of 100 steps). */
const ACTIONS = [
  'write',
  'verify',
  'restart',
  'cut one link',
  'cut every link',
  'prune',
  'cut a transaction',
  'nothing',
] as const;
const ACTION_WEIGHTS = [14, 50, 2.5, 5, 1, 3, 2, 22.5];
const QUICK: TransactionTiming = { workMs: 0, commitMs: 0, ackLost: false, ackMs: 0, lockWaitTimeoutMs: 50_000 };

/**
 * Runs one random schedule of several replicas over the simulated database and checks the invariant of
 * the change feed for every replica after every step (SimReplica.violation). Deterministic: a seed is a
 * schedule.
 */
export async function runFeedSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const run = new Simulation(options);
  return run.run();
}

class Simulation {
  private readonly prng: Prng;
  private readonly agenda = new Agenda(START);
  private readonly log: string[] = [];
  private readonly db: SimDatabase;
  private readonly copies = new CopyLog();
  private readonly replicas: SimReplica[] = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private mustFlush = false;
  private readonly trace: ((line: () => string) => void) | undefined;
  private readonly checked: ReadonlySet<ViolationKind>;
  /** The first broken invariant: checked after every step and whenever a poll vouches for a replica. */
  private violation: Violation | undefined;

  constructor(private readonly options: SimulationOptions) {
    this.prng = new Prng(options.seed);
    this.checked = new Set(options.checked ?? ['unvouched', 'missed-change', 'too-old']);
    this.trace =
      options.trace === true ? (line) => this.log.push(`${this.agenda.now.toFixed(1)} ${line()}`) : undefined;
    this.db = new SimDatabase(options.ordering, this.agenda, () => this.agenda.now - START + T0, this.trace);
    for (let index = 0; index < (options.replicas ?? 3); index++) {
      const name = `r${index + 1}`;
      const connection = new SimConnection(name, this.db, this.agenda, this.prng, this.copies, this.trace, () => {
        this.mustFlush = true;
      });
      this.replicas.push(
        new SimReplica(name, options.feed, SIMULATED_SETTINGS, {
          agenda: this.agenda,
          connection,
          copies: this.copies,
          trace: this.trace,
          vouched: (replica) => this.record(replica.violation(this.db.keys.values(), this.checked)),
          pausedFor: () => Math.max(0, this.pausedUntil - this.agenda.now),
        }),
      );
    }
  }

  async run(): Promise<SimulationResult> {
    this.options.timers.install({
      setTimeout: (run, delayMs = 0) =>
        this.agenda.after(delayMs, () => {
          this.mustFlush = true;
          run();
        }),
      clearTimeout: (handle) => handle?.cancel(),
    });
    try {
      return await this.runSteps();
    } finally {
      this.options.timers.restore();
    }
  }

  private async runSteps(): Promise<SimulationResult> {
    for (let index = 0; index < INITIAL_KEYS; index++) this.write(undefined, { create: true, quick: true });
    await this.advanceTo(this.agenda.now + 10);
    for (const replica of this.replicas) replica.boot();
    const steps = this.options.steps ?? 150;
    for (let step = 0; step < steps && this.violation === undefined; step++) {
      const dt = this.stepLength();
      if (dt > PAUSE_OVER_MS) this.longStep(dt);
      else this.agenda.after(this.prng.between(0, dt), () => this.act());
      await this.advanceTo(this.agenda.now + dt);
      this.record(this.check());
    }
    return {
      violation: this.violation,
      log: this.log,
      ...this.db.stats,
      polls: this.replicas.reduce((sum, replica) => sum + replica.polls, 0),
      elapsedMs: this.agenda.now - START,
    };
  }

  /**
   * Minutes pass cheaply: polls start only at a few random moments (each process gets the CPU now and
   * then, as under heavy load or a VM's steal time), with two actions somewhere in between.
   */
  private longStep(dt: number): void {
    this.pausedUntil = this.agenda.now + dt;
    this.trace?.(() => `a long step of ${dt.toFixed(0)} ms: processes poll only now and then`);
    for (const replica of this.replicas) {
      for (let poll = 0; poll < 3; poll++) this.agenda.after(this.prng.between(0, dt), () => replica.pollIfDue(true));
    }
    for (let action = 0; action < 2; action++) this.agenda.after(this.prng.between(0, dt), () => this.act());
  }

  /** Mostly milliseconds; sometimes seconds; now and then minutes (a long step). */
  private stepLength(): number {
    switch (this.prng.weighted([60, 25, 12, 3])) {
      case 0:
        return this.prng.between(0, 30);
      case 1:
        return this.prng.between(30, 150);
      case 2:
        return this.prng.between(150, 1500);
      default:
        return this.prng.logBetween(PAUSE_OVER_MS, 600_000);
    }
  }

  /** Runs every event due by `target` in order, the promise callbacks after each, and the due polls. */
  private async advanceTo(target: number): Promise<void> {
    while (this.violation === undefined) {
      const event = this.agenda.takeDue(target);
      if (event === undefined) break;
      event();
      await this.settle();
    }
    this.agenda.now = target;
    await this.settle();
  }

  private async settle(): Promise<void> {
    while (this.mustFlush) {
      this.mustFlush = false;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const replica of this.replicas) replica.pollIfDue();
  }

  /** One action at a random moment of a step, by weight (ACTIONS). */
  private act(): void {
    const prng = this.prng;
    const action = ACTIONS[prng.weighted(ACTION_WEIGHTS)];
    switch (action) {
      case 'write':
        this.write(prng.pick(this.replicas), { create: prng.chance(0.3), quick: false });
        break;
      case 'verify':
        this.verify();
        break;
      case 'restart': {
        const replica = prng.pick(this.replicas);
        if (this.options.restarts !== false) replica.boot();
        break;
      }
      case 'cut one link':
        this.toggleLink(prng.pick(this.replicas));
        break;
      case 'cut every link':
        this.replicas.forEach((replica) => this.toggleLink(replica));
        break;
      case 'prune':
        this.prune();
        break;
      case 'cut a transaction':
        this.cutTransaction();
        break;
      default:
        break;
    }
  }

  private write(writer: SimReplica | undefined, how: { create: boolean; quick: boolean }): void {
    const prng = this.prng;
    const committed = this.db.committedKeys();
    const updates: StoredKey[] = [];
    if (!how.create) {
      const count = 1 + prng.below(Math.min(3, committed.length));
      while (updates.length < count && committed.length > 0) {
        const key = prng.pick(committed);
        if (!updates.includes(key)) updates.push(key);
      }
    }
    const creates = updates.length === 0 ? this.db.newKey() : undefined;
    const label = [
      writer?.name ?? 'setup',
      ...updates.map((key) => `update ${key.id}`),
      ...(creates === undefined ? [] : [`create ${creates.id}`]),
    ].join(' ');
    const tx = this.db.begin(
      { updates, creates, label },
      how.quick ? QUICK : this.timing(),
      writer?.writer() ?? (() => undefined),
    );
    if (!how.quick && prng.chance(0.1)) {
      this.agenda.after(prng.logBetween(1, 600_000), () => this.db.rollback(tx, 'its connection died'));
    }
  }

  /** Mostly milliseconds; a commit of seconds or many minutes in one transaction of eight. */
  private timing(): TransactionTiming {
    const prng = this.prng;
    return {
      workMs:
        [prng.between(0, 5), prng.between(5, 500), prng.logBetween(500, 60_000)][prng.weighted([70, 20, 10])] ?? 0,
      commitMs:
        [prng.between(0, 5), prng.between(5, 2000), prng.logBetween(2000, 600_000)][prng.weighted([70, 18, 12])] ?? 0,
      ackLost: prng.chance(0.05),
      ackMs: prng.between(0, 3),
      lockWaitTimeoutMs: 50_000,
    };
  }

  private verify(): void {
    const keys = [...this.db.keys.values()];
    if (keys.length > 0) this.prng.pick(this.replicas).verify(this.prng.pick(keys));
  }

  private toggleLink(replica: SimReplica): void {
    const { connection } = replica;
    const next: Link = connection.link !== 'up' ? 'up' : this.prng.chance(0.5) ? 'refusing' : 'blackholed';
    connection.setLink(next);
  }

  private prune(): void {
    const deleted = this.db.prune(this.db.wallNow() - RETENTION_MS);
    this.trace?.(() => `pruner deletes ${deleted} feed rows`);
  }

  private cutTransaction(): void {
    const open = this.db.openTransactions();
    if (open.length === 0) return;
    this.db.rollback(this.prng.pick(open), 'its connection was cut');
  }

  /** Keeps the first violation found (the schedule stops there) and traces it when it is found. */
  private record(found: Violation | undefined): void {
    if (found === undefined || this.violation !== undefined) return;
    this.violation = found;
    this.trace?.(() => `VIOLATION (${found.kind}): ${found.text}`);
  }

  private check(): Violation | undefined {
    const keys = [...this.db.keys.values()];
    for (const replica of this.replicas) {
      const found = replica.violation(keys, this.checked);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}
