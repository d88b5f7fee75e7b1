import type { KeyChange } from '../../src/domain/KeyRepository.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';
import { hashOf, keyRecord } from '../storage/storageFixtures.js';
import type { Agenda } from './Agenda.js';

/**
 * How feed positions are taken. `head-lock` is the design (KnexKeyRepository.transaction): the feed rows
 * are the last statements, positions come from incrementing the one head row, whose lock is held until the
 * commit is visible, so positions are visible in ascending order without gaps and a rollback gives them
 * back. `auto-increment` is what the design rules out (the previous `key_changes`): a position is taken
 * when the row is inserted, without a lock, is visible only when its transaction commits (in any order) and
 * is burnt by a rollback.
 */
export type FeedOrdering = 'head-lock' | 'auto-increment';

/** A key row. Only committed state is here; a transaction's writes become visible at its commit. */
export interface StoredKey {
  readonly id: string;
  readonly hexDigest: string;
  readonly secretHash: Buffer;
  /** The committed row, null until its creation commits. */
  record: ApiKeyRecord | null;
  /** `visibleAt[v]`: the simulated time at which version v became visible. */
  readonly visibleAt: number[];
  lockedBy: SimTransaction | undefined;
}

type Phase = 'locking' | 'working' | 'waiting-head' | 'committing' | 'committed' | 'rolled-back';

/** One write transaction, from its first statement to its commit or rollback. */
export interface SimTransaction {
  readonly id: number;
  readonly label: string;
  phase: Phase;
  /** Keys it updates (locked before it works) and the key it creates, if any. */
  readonly updates: readonly StoredKey[];
  readonly creates: StoredKey | undefined;
  /** The rows it writes, known once it holds its key locks. */
  writes: { key: StoredKey; record: ApiKeyRecord }[];
  positions: number[];
  /** When it took its positions (sent COMMIT). */
  positionsAt: number;
  changeTime: number;
  /** Called when the client learns of the commit (not at all when the acknowledgement is lost). */
  readonly acknowledged: (hexDigests: string[]) => void;
  readonly timing: TransactionTiming;
}

/** How long each part of a transaction takes, drawn by the scheduler. */
export interface TransactionTiming {
  /** From holding its key locks to its feed insert (the statements of its work). */
  readonly workMs: number;
  /** From sending COMMIT to the commit being visible: ms, or many minutes (fsync stall, semi-sync wait). */
  readonly commitMs: number;
  /** The client never hears of the commit (the connection died after the server committed). */
  readonly ackLost: boolean;
  readonly ackMs: number;
  /** How long it waits for a lock before failing (innodb_lock_wait_timeout). */
  readonly lockWaitTimeoutMs: number;
}

/** What a schedule can be traced with: one line per event, only when the schedule is printed. */
export type Trace = ((line: () => string) => void) | undefined;

/** A feed row as stored. */
interface FeedRow extends KeyChange {
  readonly changeTime: number;
}

/**
 * The database of the simulation: key rows with versions, the change feed, write transactions with key
 * and feed-head locks, commits that become visible after any delay, rollbacks. Readers see only committed
 * data (`committedRows`, `findCommitted`); transactions never read uncommitted rows of others.
 */
export class SimDatabase {
  readonly keys = new Map<string, StoredKey>();
  /** Committed feed rows, ascending by position. */
  private rows: FeedRow[] = [];
  /** The committed head (head-lock) or the auto-increment counter (auto-increment). */
  private head = 0;
  private headOwner: SimTransaction | undefined;
  private readonly headQueue: SimTransaction[] = [];
  private readonly lockQueue: SimTransaction[] = [];
  private nextTransaction = 1;
  private nextKey = 1;
  private readonly open = new Set<SimTransaction>();
  /** Commits and rollbacks so far, and the longest delay from taking positions to being visible (ms). */
  readonly stats = { commits: 0, rollbacks: 0, slowestCommitMs: 0 };

  constructor(
    readonly ordering: FeedOrdering,
    private readonly agenda: Agenda,
    /** Wall-clock ms (epoch) for change times; the simulation never steps it. */
    readonly wallNow: () => number,
    private readonly trace: Trace,
  ) {}

  /** A key row id and secret hash for a key not created yet (verifications may look it up before). */
  newKey(): StoredKey {
    const id = `k${this.nextKey++}`;
    const secretHash = hashOf(id);
    const key: StoredKey = {
      id,
      hexDigest: secretHash.toString('hex'),
      secretHash,
      record: null,
      visibleAt: [],
      lockedBy: undefined,
    };
    this.keys.set(key.hexDigest, key);
    return key;
  }

  /** Keys whose creation has committed. */
  committedKeys(): StoredKey[] {
    return [...this.keys.values()].filter((key) => key.record !== null);
  }

  /** Transactions not finished yet. */
  openTransactions(): SimTransaction[] {
    return [...this.open];
  }

  /**
   * Starts a write transaction: locks the keys it updates (waiting for other writers of them), works,
   * appends its feed rows and commits, each after the delays of `timing`.
   */
  begin(
    plan: { updates: readonly StoredKey[]; creates: StoredKey | undefined; label: string },
    timing: TransactionTiming,
    acknowledged: (hexDigests: string[]) => void,
  ): SimTransaction {
    const tx: SimTransaction = {
      id: this.nextTransaction++,
      label: plan.label,
      phase: 'locking',
      updates: plan.updates,
      creates: plan.creates,
      writes: [],
      positions: [],
      positionsAt: Number.NaN,
      changeTime: 0,
      acknowledged,
      timing,
    };
    this.open.add(tx);
    this.trace?.(() => `tx${tx.id} begins (${plan.label})`);
    this.lockQueue.push(tx);
    this.agenda.after(timing.lockWaitTimeoutMs, () => {
      if (tx.phase === 'locking') this.rollback(tx, 'key lock wait timeout');
    });
    this.grantKeyLocks();
    return tx;
  }

  /**
   * Rolls the transaction back if it has not committed: its locks are released, its writes and feed
   * rows are never visible; with the head lock its positions are taken again by the next writer.
   */
  rollback(tx: SimTransaction, why: string): void {
    if (tx.phase === 'committed' || tx.phase === 'rolled-back') return;
    const wasHeadOwner = this.headOwner === tx;
    tx.phase = 'rolled-back';
    this.open.delete(tx);
    this.stats.rollbacks++;
    this.trace?.(() => `tx${tx.id} rolls back (${why}); positions [${tx.positions.join(',')}] never visible`);
    this.releaseLocks(tx, wasHeadOwner);
  }

  private grantKeyLocks(): void {
    for (const tx of [...this.lockQueue]) {
      if (tx.phase !== 'locking') {
        this.lockQueue.splice(this.lockQueue.indexOf(tx), 1);
        continue;
      }
      if (tx.updates.some((key) => key.lockedBy !== undefined)) continue;
      this.lockQueue.splice(this.lockQueue.indexOf(tx), 1);
      for (const key of tx.updates) key.lockedBy = tx;
      this.startWork(tx);
    }
  }

  /** The transaction holds its key locks: what it writes is fixed from the committed rows (SELECT … FOR UPDATE). */
  private startWork(tx: SimTransaction): void {
    tx.phase = 'working';
    tx.changeTime = this.wallNow();
    const writes: { key: StoredKey; record: ApiKeyRecord }[] = [];
    for (const key of tx.updates) {
      const current = key.record;
      if (current === null) continue; // only committed keys are updated
      writes.push({ key, record: { ...current, version: current.version + 1, updateTime: tx.changeTime } });
    }
    if (tx.creates !== undefined) {
      const key = tx.creates;
      writes.push({
        key,
        record: keyRecord(key.id, { secretHash: key.secretHash, createTime: tx.changeTime, updateTime: tx.changeTime }),
      });
    }
    tx.writes = writes;
    this.trace?.(
      () => `tx${tx.id} holds its key locks, writes ${writes.map((w) => `${w.key.id}@v${w.record.version}`).join(' ')}`,
    );
    this.agenda.after(tx.timing.workMs, () => {
      if (tx.phase === 'working') this.appendFeedRows(tx);
    });
  }

  private appendFeedRows(tx: SimTransaction): void {
    if (this.ordering === 'auto-increment') {
      tx.positions = tx.writes.map(() => ++this.head);
      this.sendCommit(tx);
      return;
    }
    tx.phase = 'waiting-head';
    this.headQueue.push(tx);
    this.agenda.after(tx.timing.lockWaitTimeoutMs, () => {
      if (tx.phase === 'waiting-head') this.rollback(tx, 'head lock wait timeout');
    });
    this.grantHead();
  }

  /** `UPDATE key_feed_head SET position = position + n`: the first writer waiting takes the lock. */
  private grantHead(): void {
    while (this.headOwner === undefined) {
      const tx = this.headQueue.shift();
      if (tx === undefined) return;
      if (tx.phase !== 'waiting-head') continue;
      this.headOwner = tx;
      tx.positions = tx.writes.map((_write, index) => this.head + index + 1);
      this.sendCommit(tx);
    }
  }

  private sendCommit(tx: SimTransaction): void {
    tx.phase = 'committing';
    tx.positionsAt = this.agenda.now;
    this.trace?.(() => `tx${tx.id} took positions [${tx.positions.join(',')}], COMMIT in ${tx.timing.commitMs} ms`);
    this.agenda.after(tx.timing.commitMs, () => {
      if (tx.phase === 'committing') this.commit(tx);
    });
  }

  /** The commit becomes visible to new reads, then the locks are released (InnoDB's order). */
  private commit(tx: SimTransaction): void {
    const now = this.agenda.now;
    tx.phase = 'committed';
    this.open.delete(tx);
    this.stats.commits++;
    this.stats.slowestCommitMs = Math.max(this.stats.slowestCommitMs, now - tx.positionsAt);
    tx.writes.forEach(({ key, record }, index) => {
      key.record = record;
      key.visibleAt[record.version] = now;
      const position = tx.positions[index] ?? Number.NaN;
      this.insertRow({
        position,
        keyId: key.id,
        secretHash: key.secretHash,
        keyVersion: record.version,
        changeTime: tx.changeTime,
      });
    });
    const wasHeadOwner = this.headOwner === tx;
    if (wasHeadOwner) this.head = Math.max(this.head, ...tx.positions);
    this.trace?.(() => `tx${tx.id} visible: positions [${tx.positions.join(',')}]`);
    this.releaseLocks(tx, wasHeadOwner);
    if (!tx.timing.ackLost) {
      const hexDigests = tx.writes.map(({ key }) => key.hexDigest);
      this.agenda.after(tx.timing.ackMs, () => tx.acknowledged(hexDigests));
    }
  }

  private releaseLocks(tx: SimTransaction, headOwner: boolean): void {
    for (const key of tx.updates) if (key.lockedBy === tx) key.lockedBy = undefined;
    if (headOwner) {
      this.headOwner = undefined;
      this.grantHead();
    }
    this.grantKeyLocks();
  }

  /** The committed row of a key, as a non-locking read sees it now. */
  findCommitted(hexDigest: string): ApiKeyRecord | null {
    return this.keys.get(hexDigest)?.record ?? null;
  }

  /** `SELECT … FROM key_feed WHERE position > ? ORDER BY position LIMIT ?` on committed rows. */
  readChanges(afterPosition: number, limit: number, alsoPositions: readonly number[] = []): KeyChange[] {
    const found: KeyChange[] = [];
    for (const { position, keyId, secretHash, keyVersion, changeTime } of this.rows) {
      if (found.length === limit) break;
      if (position > afterPosition || (alsoPositions.length > 0 && alsoPositions.includes(position))) {
        found.push({ position, keyId, secretHash, keyVersion, changeTime });
      }
    }
    return found;
  }

  /** The committed head (head-lock), or the highest visible position (auto-increment, `MAX(id)`). */
  latestChangePosition(): number {
    return this.ordering === 'head-lock' ? this.head : this.newestPosition();
  }

  /** ChangeFeedPruner: deletes rows changed before `before` (wall ms) except the newest; returns how many. */
  prune(before: number): number {
    const newest = this.newestPosition();
    const kept = this.rows.filter((row) => !(row.changeTime < before && row.position < newest));
    const deleted = this.rows.length - kept.length;
    this.rows = kept;
    return deleted;
  }

  private newestPosition(): number {
    return this.rows.at(-1)?.position ?? 0;
  }

  private insertRow(row: FeedRow): void {
    let index = this.rows.length;
    while (index > 0 && (this.rows[index - 1]?.position ?? 0) > row.position) index--;
    this.rows.splice(index, 0, row);
  }
}
