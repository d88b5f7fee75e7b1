import type { KeyChange, KeyRepository } from '../../src/domain/KeyRepository.js';
import type { Agenda } from './Agenda.js';
import type { OldFeedRepository, OldKeyChange } from './OldGapTimeoutFeed.js';
import type { Prng } from './Prng.js';
import type { SimDatabase, Trace } from './SimDatabase.js';

/** The network between one replica and the database. */
export type Link = 'up' | 'refusing' | 'blackholed';

/** When each key copy a read returned was answered: its `name` is `copy#<id>`, so a cached copy's age is known. */
export class CopyLog {
  private next = 1;
  private readonly answeredAt = new Map<number, number>();

  /** A new copy id. */
  take(): number {
    return this.next++;
  }

  answered(id: number, at: number): void {
    this.answeredAt.set(id, at);
  }

  /** When the read that made this copy answered (undefined: not a copy of a read). */
  answeredAtOf(record: { name: string }): number | undefined {
    const match = /^copy#(\d+)$/.exec(record.name);
    return match === null ? undefined : this.answeredAt.get(Number(match[1]));
  }
}

/** Of 100 reads: 85 take up to 5 ms, 10 up to 300 ms, 4 up to 5 s, 1 up to two minutes. */
const LATENCY_WEIGHTS = [85, 10, 4, 1];

interface Pending {
  /** Answered or failed. */
  done: boolean;
  /** The link went down under it: it will never answer. */
  cutOff: boolean;
  /** The link went down under it: fail now (reset) or after a socket timeout (packets dropped). */
  cut(link: Exclude<Link, 'up'>): void;
}

/**
 * One replica's connection pool to the simulated database. Each read is sent now, takes its snapshot of
 * committed data at some moment before it answers (as a statement does), and answers after a latency
 * drawn per read: mostly milliseconds, sometimes seconds, rarely minutes (a hung query); some fail. A
 * refused link fails reads at once; a blackholed one answers nothing and fails them after a socket
 * timeout.
 */
export class SimConnection {
  link: Link = 'up';
  private readonly pending = new Set<Pending>();

  constructor(
    readonly name: string,
    private readonly db: SimDatabase,
    private readonly agenda: Agenda,
    private readonly prng: Prng,
    private readonly copies: CopyLog,
    private readonly trace: Trace,
    /** Called when a read settles: the simulation must run the promise callbacks before going on. */
    private readonly settledSomething: () => void,
  ) {}

  setLink(link: Link): void {
    this.link = link;
    this.trace?.(() => `${this.name}: link ${link}`);
    if (link !== 'up') for (const request of [...this.pending]) request.cut(link);
  }

  /** The repository the new ChangeFeed and the KeyCache use. */
  repository(): Pick<KeyRepository, 'readChanges' | 'latestChangePosition' | 'findByHash'> {
    return {
      readChanges: (after, limit) =>
        this.request(`readChanges(>${after})`, () => this.db.readChanges(after, limit), describeRows),
      latestChangePosition: () =>
        this.request(
          'latestChangePosition',
          () => this.db.latestChangePosition(),
          (head) => `${head}`,
        ),
      findByHash: (hash) => {
        const hexDigest = hash.toString('hex');
        const copy = this.copies.take();
        return this.request(
          `findByHash(${this.db.keys.get(hexDigest)?.id ?? '?'})`,
          () => {
            const record = this.db.findCommitted(hexDigest);
            return record === null ? null : { ...record, name: `copy#${copy}` };
          },
          (record) => (record === null ? 'null' : `v${record.version}`),
          () => this.copies.answered(copy, this.agenda.now),
        );
      },
    };
  }

  /** The repository of the previous feed: `key_changes` ids are the positions of this database. */
  oldFeedRepository(): OldFeedRepository {
    return {
      readChanges: (afterId, missingIds, limit) =>
        this.request(
          `readChanges(>${afterId} or [${missingIds.join(',')}])`,
          () => this.db.readChanges(afterId, limit, missingIds).map(toOldChange),
          (rows) => `[${rows.map((row) => row.id).join(',')}]`,
        ),
      latestChangeId: () =>
        this.request(
          'latestChangeId',
          () => this.db.latestChangePosition(),
          (head) => `${head}`,
        ),
    };
  }

  private request<T>(what: string, snapshot: () => T, describe: (value: T) => string, onAnswer?: () => void) {
    return new Promise<T>((resolve, reject) => {
      const request: Pending = { done: false, cutOff: false, cut: () => undefined };
      const fail = (why: string): void => {
        if (request.done) return;
        request.done = true;
        this.pending.delete(request);
        this.trace?.(() => `${this.name}: ${what} fails (${why})`);
        this.settledSomething();
        reject(new Error(why));
      };
      request.cut = (link) => {
        request.cutOff = true;
        if (link === 'refusing') fail('connection reset');
        else this.agenda.after(this.prng.logBetween(1000, 60_000), () => fail('socket timeout'));
        request.cut = () => undefined;
      };
      if (this.link !== 'up') {
        this.pending.add(request);
        request.cut(this.link);
        return;
      }
      const latency = this.latency();
      if (this.prng.chance(0.02)) {
        this.agenda.after(latency * this.prng.next(), () => fail('query failed'));
        return;
      }
      this.pending.add(request);
      let value: { taken: T } | undefined;
      this.agenda.after(latency * this.prng.next(), () => {
        if (!request.done && !request.cutOff) value = { taken: snapshot() };
      });
      this.agenda.after(latency, () => {
        if (request.done || request.cutOff || value === undefined) return;
        request.done = true;
        this.pending.delete(request);
        const { taken } = value;
        this.trace?.(() => `${this.name}: ${what} answers ${describe(taken)}`);
        onAnswer?.();
        this.settledSomething();
        resolve(taken);
      });
    });
  }

  /** Mostly a few ms; sometimes hundreds; rarely seconds; now and then a query that hangs for minutes. */
  private latency(): number {
    switch (this.prng.weighted(LATENCY_WEIGHTS)) {
      case 0:
        return this.prng.between(0, 5);
      case 1:
        return this.prng.between(5, 300);
      case 2:
        return this.prng.logBetween(300, 5000);
      default:
        return this.prng.logBetween(5000, 120_000);
    }
  }
}

function describeRows(rows: readonly KeyChange[]): string {
  return `[${rows.map((row) => `${row.position}:${row.keyId}@v${row.keyVersion}`).join(',')}]`;
}

function toOldChange(row: KeyChange): OldKeyChange {
  return { id: row.position, keyId: row.keyId, secretHash: row.secretHash, changeTime: row.changeTime };
}
