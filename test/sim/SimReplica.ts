import { pino } from 'pino';

import { ChangeFeed } from '../../src/domain/ChangeFeed.js';
import type { MonotonicClock } from '../../src/domain/Clock.js';
import { KeyCache } from '../../src/domain/KeyCache.js';
import type { Agenda } from './Agenda.js';
import { OldGapTimeoutFeed } from './OldGapTimeoutFeed.js';
import type { CopyLog, SimConnection } from './SimConnection.js';
import type { StoredKey, Trace } from './SimDatabase.js';

/** The settings every replica of a simulation runs with (the same meaning as the service's settings). */
export interface ReplicaSettings {
  readonly pollIntervalMs: number;
  readonly stalenessBoundMs: number;
  readonly pollTimeoutMs: number;
  readonly batchSize: number;
  readonly maxAgeMs: number;
  readonly negativeTtlMs: number;
  readonly maxKeys: number;
  /** Only the previous feed has it. */
  readonly gapTimeoutMs: number;
}

/** What the simulation drives of a feed: the real ChangeFeed, or the previous one as a negative control. */
export interface FeedUnderTest {
  start(): Promise<void>;
  stop(): Promise<void>;
  pollOnce(): Promise<boolean>;
  isFresh(): boolean;
  readonly stats: { readonly pollErrors: number };
}

/** Which feed algorithm the replicas run. */
export type FeedAlgorithm = 'ordered' | 'gap-timeout';

const silent = pino({ level: 'silent' });

/** Wires a feed to a cache as createApp does (and as the previous createApp did, for the old feed). */
function feedFor(
  algorithm: FeedAlgorithm,
  connection: SimConnection,
  cache: () => KeyCache,
  monotonic: MonotonicClock,
  settings: ReplicaSettings,
): FeedUnderTest {
  const common = {
    logger: silent,
    onStale: () => cache().distrust(),
    onFresh: () => cache().trust(),
    pollIntervalMs: settings.pollIntervalMs,
    stalenessBoundMs: settings.stalenessBoundMs,
    batchSize: settings.batchSize,
  };
  if (algorithm === 'gap-timeout') {
    return new OldGapTimeoutFeed({
      ...common,
      // The previous KeyCache dropped everything when the feed went stale and again when it was fresh
      // (changes made while it was blind may have been pruned): clear() and distrust() together are that.
      onStale: () => {
        cache().clear();
        cache().distrust();
      },
      onFresh: () => {
        cache().clear();
        cache().trust();
      },
      repository: connection.oldFeedRepository(),
      clock: monotonic, // the wall clock of the simulation never steps: the same clock
      onChanges: (hashes) => cache().invalidate(hashes),
      gapTimeoutMs: settings.gapTimeoutMs,
    });
  }
  return new ChangeFeed({
    ...common,
    repository: connection.repository(),
    monotonic,
    onChanges: (changes) =>
      cache().applyChanges(
        changes.map((change) => ({ hexDigest: change.secretHash.toString('hex'), keyVersion: change.keyVersion })),
      ),
    onGap: () => cache().clear(),
    pollTimeoutMs: settings.pollTimeoutMs,
  });
}

/** Hooks a replica needs from the simulation around it. */
export interface ReplicaHooks {
  readonly agenda: Agenda;
  readonly connection: SimConnection;
  readonly copies: CopyLog;
  readonly trace: Trace;
  /** A poll read the feed to its end: the simulation checks this replica at once, too. */
  readonly vouched: (replica: SimReplica) => void;
  /** Ms until a long step of simulated time ends (0 outside one): polls and restarts wait meanwhile. */
  readonly pausedFor: () => number;
}

/**
 * One service process: a real ChangeFeed (or the old feed) and a real KeyCache over its connection,
 * polled as ChangeFeed's own loop does (next poll one interval after the last settled, at once after a
 * full batch) but by the simulation, on its clock. A restart is a new incarnation: new feed, empty cache,
 * started at the feed's newest position.
 */
export class SimReplica {
  cache!: KeyCache;
  feed!: FeedUnderTest;
  private incarnation = 0;
  /** Starts that failed in a row: the supervisor waits longer after each. */
  private failedStarts = 0;
  private started = false;
  private polling = false;
  private nextPollAt = Number.POSITIVE_INFINITY;
  /**
   * When the last poll that read the feed to its end was sent (or the start read the head): every change
   * visible before then must be reflected in what this replica serves from memory.
   */
  private vouchedAt = Number.NEGATIVE_INFINITY;
  polls = 0;

  constructor(
    readonly name: string,
    private readonly algorithm: FeedAlgorithm,
    private readonly settings: ReplicaSettings,
    private readonly hooks: ReplicaHooks,
  ) {}

  /** Its link to the database (kept across restarts: it is the host's network). */
  get connection(): SimConnection {
    return this.hooks.connection;
  }

  /** Starts a new incarnation (the first start, or a restart: whatever the old one had is gone). */
  boot(): void {
    const incarnation = ++this.incarnation;
    const { agenda, connection, trace } = this.hooks;
    this.started = false;
    this.polling = false;
    this.vouchedAt = Number.NEGATIVE_INFINITY;
    const monotonic: MonotonicClock = { now: () => agenda.now };
    const cache = new KeyCache({
      repository: connection.repository(),
      maxKeys: this.settings.maxKeys,
      negativeTtlMs: this.settings.negativeTtlMs,
      maxAgeMs: this.settings.maxAgeMs,
      isFresh: () => feed.isFresh(),
      monotonic,
    });
    const feed = feedFor(this.algorithm, connection, () => cache, monotonic, this.settings);
    this.cache = cache;
    this.feed = feed;
    trace?.(() => `${this.name} boots (incarnation ${incarnation})`);
    const sentAt = agenda.now;
    // start() arms ChangeFeed's own timer; stop() disarms it at once: the simulation polls instead.
    feed
      .start()
      .then(() => feed.stop())
      .then(
        () => {
          if (incarnation !== this.incarnation) return;
          this.started = true;
          this.failedStarts = 0;
          this.vouchedAt = sentAt;
          trace?.(() => `${this.name} started`);
          this.pollAfter(this.settings.pollIntervalMs);
        },
        () => {
          // The process exits when its first database read fails; its supervisor starts it again, backing off.
          if (incarnation === this.incarnation) {
            this.failedStarts++;
            agenda.after(Math.max(this.hooks.pausedFor(), 1000 * Math.min(this.failedStarts, 10)), () => {
              if (incarnation === this.incarnation) this.boot();
            });
          }
        },
      );
  }

  /** Sends the next poll if one is due and none is in flight (`anyway`: in a long step too). */
  pollIfDue(anyway = false): void {
    const { agenda, trace } = this.hooks;
    if (!this.started || this.polling || agenda.now < this.nextPollAt) return;
    if (!anyway && this.hooks.pausedFor() > 0) return;
    const { feed } = this;
    const incarnation = this.incarnation;
    const sentAt = agenda.now;
    const errorsBefore = feed.stats.pollErrors;
    this.polling = true;
    this.polls++;
    void feed.pollOnce().then((more) => {
      if (incarnation !== this.incarnation) return;
      this.polling = false;
      const readToEnd = feed.stats.pollErrors === errorsBefore && !more;
      if (readToEnd) this.vouchedAt = Math.max(this.vouchedAt, sentAt);
      trace?.(() => `${this.name} poll sent at ${sentAt} ${readToEnd ? 'read to the end' : more ? 'full' : 'failed'}`);
      this.pollAfter(more ? 0 : this.settings.pollIntervalMs);
      if (readToEnd) this.hooks.vouched(this);
    });
  }

  private pollAfter(delayMs: number): void {
    this.nextPollAt = this.hooks.agenda.now + delayMs;
    this.hooks.agenda.after(delayMs, () => this.pollIfDue());
  }

  /** A verification of `key` on this replica: from memory when it may, else a database read. */
  verify(key: StoredKey): void {
    this.cache.get(key.secretHash).catch(() => undefined);
  }

  /** Returns what invalidates this incarnation's cache when a write it made is acknowledged. */
  writer(): (hexDigests: string[]) => void {
    const incarnation = this.incarnation;
    return (hexDigests) => {
      if (incarnation === this.incarnation) this.cache.invalidate(hexDigests);
    };
  }

  /**
   * The invariant, for every key: what this replica would serve from memory now (peekDigest, as a
   * VerifyKey would) is served only within the staleness bound of its last poll that read the feed to its
   * end (`unvouched`), is no older than a version visible before that poll was sent (`missed-change`), and
   * is a copy read at most the maximum age ago (`too-old`). Returns the first violation of a kind `checked`.
   */
  violation(keys: Iterable<StoredKey>, checked: ReadonlySet<ViolationKind>): Violation | undefined {
    const now = this.hooks.agenda.now;
    const { stalenessBoundMs, maxAgeMs } = this.settings;
    const at = `${this.name} at ${ms(now)}`;
    for (const key of keys) {
      const served = this.cache.peekDigest(key.hexDigest);
      if (served === undefined) continue;
      const version = served === null ? 0 : served.version;
      const what = served === null ? `"no such key" for ${key.id}` : `${key.id} v${version}`;
      if (checked.has('unvouched') && now - this.vouchedAt > stalenessBoundMs) {
        const since = now - this.vouchedAt;
        return {
          kind: 'unvouched',
          text: `${at} serves ${what} from memory ${ms(since)} ms after its last poll that read the feed to its end was sent (bound ${stalenessBoundMs} ms)`,
        };
      }
      const newerAt = key.visibleAt[version + 1];
      if (checked.has('missed-change') && newerAt !== undefined && newerAt < this.vouchedAt) {
        return {
          kind: 'missed-change',
          text: `${at} serves ${what}, but v${version + 1} was visible at ${ms(newerAt)} (${ms(now - newerAt)} ms ago), before its poll sent at ${ms(this.vouchedAt)} that read the feed to its end`,
        };
      }
      if (checked.has('too-old') && served !== null) {
        const answeredAt = this.hooks.copies.answeredAtOf(served);
        if (answeredAt === undefined || now - answeredAt > maxAgeMs) {
          return {
            kind: 'too-old',
            text: `${at} serves ${what}, a copy read at ${answeredAt === undefined ? '?' : ms(answeredAt)} (maximum age ${maxAgeMs} ms)`,
          };
        }
      }
    }
    return undefined;
  }
}

/** The three ways a replica can serve what it must not (SimReplica.violation). */
export type ViolationKind = 'unvouched' | 'missed-change' | 'too-old';

/** A broken invariant, described for the failure message. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly text: string;
}

function ms(value: number): string {
  return value.toFixed(1);
}
