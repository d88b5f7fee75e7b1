import { AppError } from '../../src/domain/AppError.js';
import type {
  AuditListQuery,
  KeyChange,
  KeyListQuery,
  KeyRepository,
  KeyTransaction,
  LastUsedEntry,
  ListCursor,
  TransactionOptions,
} from '../../src/domain/KeyRepository.js';
import { applyKeyPatch, type KeyPatch } from '../../src/domain/KeyPatch.js';
import { keyStateAt, type ApiKeyRecord, type AuditEventRecord, type KeyState } from '../../src/domain/types.js';
import { toDatabaseError } from '../../src/storage/toDatabaseError.js';
import { noUsage, USAGE_OUTCOMES, type UsageEntry } from '../../src/domain/UsageTally.js';

/** The committed contents: records are immutable values, so a transaction copies the maps, not the rows. */
interface Tables {
  keys: Map<string, ApiKeyRecord>;
  auditEvents: Map<string, AuditEventRecord>;
  changes: Map<number, KeyChange>;
  /** The feed head: the last position taken. */
  head: number;
  /** Usage history by `day:keyId`. */
  usage: Map<string, UsageEntry>;
}

function copyTables(tables: Tables): Tables {
  return {
    keys: new Map(tables.keys),
    auditEvents: new Map(tables.auditEvents),
    changes: new Map(tables.changes),
    head: tables.head,
    usage: new Map(tables.usage),
  };
}

function copyKey(key: ApiKeyRecord): ApiKeyRecord {
  return { ...key, secretHash: Buffer.from(key.secretHash), scopes: [...key.scopes], allowedIps: [...key.allowedIps] };
}

function copyAuditEvent(event: AuditEventRecord): AuditEventRecord {
  return { ...event, changes: event.changes.map((change) => ({ ...change })) };
}

function copyChange(change: KeyChange): KeyChange {
  return { ...change, secretHash: Buffer.from(change.secretHash) };
}

function cancelledTransaction(): AppError {
  return new AppError('CANCELLED', 'the call was cancelled before its write committed; nothing was changed');
}

/** `work`'s result, or CANCELLED as soon as `signal` aborts (`work` then runs on, on tables nobody commits). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(cancelledTransaction());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Both databases compare ids byte by byte (utf8mb4_bin, SQLite BINARY), not by UTF-16 code unit. */
function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Newest first: create time descending, then id descending. */
function newestFirst(a: { createTime: number; id: string }, b: { createTime: number; id: string }): number {
  return b.createTime - a.createTime || compareIds(b.id, a.id);
}

function isAfterCursor(row: { createTime: number; id: string }, after: ListCursor | undefined): boolean {
  if (after === undefined) return true;
  return row.createTime < after.time || (row.createTime === after.time && compareIds(row.id, after.id) < 0);
}

/** Same rule as the SQL (keyStateAt): no filter for an empty list. */
function matchesStates(key: ApiKeyRecord, states: readonly KeyState[], now: number): boolean {
  if (states.length === 0) return true;
  return states.includes(keyStateAt(key, now));
}

/** A driver-like failure (a unique violation), mapped the way KnexKeyRepository maps it. */
function constraintFailure(message: string): never {
  throw toDatabaseError(new Error(message));
}

/**
 * A KeyRepository in memory for tests, with the semantics of KnexKeyRepository that callers rely on:
 * a transaction commits everything it wrote or (when its work throws) nothing; transactions and
 * last-used batches run one at a time, so a key read with `lockKey` cannot change until that transaction
 * ends; reads outside a transaction see only committed data; feed positions are taken at commit, gapless
 * and in commit order; last-used writes never replace a newer time; listings
 * are newest first with keyset cursors. Errors are mapped through `toDatabaseError` exactly as the knex
 * repository maps them (an AppError passes through, anything else becomes INTERNAL).
 *
 * Test hook: `unavailable` makes every call fail as an unreachable database does.
 */
export class InMemoryKeyRepository implements KeyRepository {
  /** While true, every call fails with UNAVAILABLE and changes nothing. */
  unavailable = false;

  private committed: Tables = {
    keys: new Map(),
    auditEvents: new Map(),
    changes: new Map(),
    head: 0,
    usage: new Map(),
  };
  private queue: Promise<unknown> = Promise.resolve();

  findByHash(secretHash: Buffer): Promise<ApiKeyRecord | null> {
    return this.read(() => {
      for (const key of this.committed.keys.values()) if (key.secretHash.equals(secretHash)) return copyKey(key);
      return null;
    });
  }

  listSecretHashes(after: Buffer | null, limit: number): Promise<Buffer[]> {
    return this.read(() =>
      [...this.committed.keys.values()]
        .map((key) => Buffer.from(key.secretHash))
        .filter((hash) => after === null || Buffer.compare(hash, after) > 0)
        .sort((x, y) => Buffer.compare(x, y))
        .slice(0, limit),
    );
  }

  findById(organizationId: string, keyId: string): Promise<ApiKeyRecord | null> {
    return this.read(() => {
      const key = this.committed.keys.get(keyId);
      return key?.organizationId === organizationId ? copyKey(key) : null;
    });
  }

  listKeys(query: KeyListQuery): Promise<ApiKeyRecord[]> {
    return this.read(() =>
      [...this.committed.keys.values()]
        .filter(
          (key) =>
            key.organizationId === query.organizationId &&
            (query.createdByUserId === undefined || key.createdByUserId === query.createdByUserId) &&
            matchesStates(key, query.states, query.now) &&
            (query.unusedSince === undefined || key.lastUsedTime === null || key.lastUsedTime < query.unusedSince) &&
            (query.expireBefore === undefined || key.expireTime < query.expireBefore) &&
            isAfterCursor(key, query.after),
        )
        .sort(newestFirst)
        .slice(0, query.limit)
        .map(copyKey),
    );
  }

  listAuditEvents(query: AuditListQuery): Promise<AuditEventRecord[]> {
    return this.read(() =>
      [...this.committed.auditEvents.values()]
        .filter(
          (event) =>
            event.organizationId === query.organizationId &&
            (query.keyId === undefined || event.keyId === query.keyId) &&
            (query.startTime === undefined || event.createTime >= query.startTime) &&
            (query.endTime === undefined || event.createTime < query.endTime) &&
            isAfterCursor(event, query.after),
        )
        .sort(newestFirst)
        .slice(0, query.limit)
        .map(copyAuditEvent),
    );
  }

  /**
   * As on MySQL, an abort of `options.signal` while `work` runs rolls back at once (its copy of the tables
   * is dropped, the next transaction may start) and rejects with CANCELLED; one before it starts rejects
   * without running it.
   */
  transaction<T>(work: (tx: KeyTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const { signal } = options;
    return this.serialised(async () => {
      if (signal?.aborted === true) throw cancelledTransaction();
      const working = copyTables(this.committed);
      const pending: Omit<KeyChange, 'position'>[] = [];
      const result = await untilAborted(work(this.transactionOver(working, pending)), signal);
      for (const change of pending) {
        working.head += 1;
        working.changes.set(working.head, { ...change, position: working.head });
      }
      this.committed = working;
      if (pending.length > 0) options.onCommitted?.(working.head);
      return result;
    });
  }

  recordLastUsed(entries: readonly LastUsedEntry[], usage: readonly UsageEntry[] = []): Promise<void> {
    return this.serialised(() => {
      const working = copyTables(this.committed);
      for (const entry of entries) {
        const key = working.keys.get(entry.keyId);
        if (key === undefined || (key.lastUsedTime !== null && key.lastUsedTime >= entry.time)) continue;
        working.keys.set(key.id, { ...key, lastUsedTime: entry.time, lastUsedIp: entry.ip });
      }
      for (const entry of usage) {
        const slot = `${entry.day}:${entry.keyId}`;
        const stored = working.usage.get(slot)?.counts ?? noUsage();
        const counts = noUsage();
        for (const outcome of USAGE_OUTCOMES) counts[outcome] = stored[outcome] + entry.counts[outcome];
        working.usage.set(slot, { keyId: entry.keyId, day: entry.day, counts });
      }
      this.committed = working;
      return Promise.resolve();
    });
  }

  readUsage(keyId: string, firstDay: number, lastDay: number): Promise<UsageEntry[]> {
    return this.read(() =>
      [...this.committed.usage.values()]
        .filter((entry) => entry.keyId === keyId && entry.day >= firstDay && entry.day <= lastDay)
        .sort((a, b) => a.day - b.day)
        .map((entry) => ({ ...entry, counts: { ...entry.counts } })),
    );
  }

  pruneUsage(beforeDay: number): Promise<number> {
    return this.serialised(() => {
      const working = copyTables(this.committed);
      let deleted = 0;
      for (const [slot, entry] of working.usage) {
        if (entry.day < beforeDay) {
          working.usage.delete(slot);
          deleted++;
        }
      }
      this.committed = working;
      return Promise.resolve(deleted);
    });
  }

  readChanges(afterPosition: number, limit: number): Promise<KeyChange[]> {
    return this.read(() =>
      [...this.committed.changes.values()]
        .filter((change) => change.position > afterPosition)
        .sort((a, b) => a.position - b.position)
        .slice(0, limit)
        .map(copyChange),
    );
  }

  pruneChanges(before: number): Promise<number> {
    return this.serialised(() => {
      let deleted = 0;
      const working = copyTables(this.committed);
      const newest = Math.max(0, ...working.changes.keys());
      for (const change of working.changes.values()) {
        if (change.changeTime < before && change.position < newest && working.changes.delete(change.position)) {
          deleted += 1;
        }
      }
      this.committed = working;
      return Promise.resolve(deleted);
    });
  }

  latestChangePosition(): Promise<number> {
    return this.read(() => this.committed.head);
  }

  ping(): Promise<void> {
    return this.read(() => undefined);
  }

  private transactionOver(working: Tables, pending: Omit<KeyChange, 'position'>[]): KeyTransaction {
    const recordChange = (key: ApiKeyRecord, keyVersion: number, changeTime: number): void => {
      pending.push({ keyId: key.id, secretHash: Buffer.from(key.secretHash), keyVersion, changeTime });
    };
    const update = (key: ApiKeyRecord, patch: KeyPatch): void => {
      const stored = working.keys.get(key.id);
      if (stored !== undefined) working.keys.set(key.id, copyKey(applyKeyPatch(stored, patch)));
      recordChange(key, key.version + 1, patch.updateTime);
    };
    return {
      lockKey: (organizationId, keyId) => {
        const key = working.keys.get(keyId);
        return Promise.resolve(key?.organizationId === organizationId ? copyKey(key) : null);
      },
      lockActiveKeysOf: (organizationId, userId, now, limit) =>
        Promise.resolve(
          [...working.keys.values()]
            .filter(
              (key) =>
                key.organizationId === organizationId &&
                key.createdByUserId === userId &&
                key.revokeTime === null &&
                key.expireTime > now,
            )
            .sort((a, b) => a.createTime - b.createTime || compareIds(a.id, b.id))
            .slice(0, limit)
            .map(copyKey),
        ),
      insertKey: (key) => {
        if (working.keys.has(key.id)) constraintFailure('duplicate api_keys.id');
        for (const other of working.keys.values()) {
          if (other.secretHash.equals(key.secretHash)) constraintFailure('duplicate api_keys.secret_hash');
        }
        working.keys.set(key.id, copyKey(key));
        recordChange(key, key.version, key.updateTime);
        return Promise.resolve();
      },
      updateKey: (key, patch) => {
        update(key, patch);
        return Promise.resolve();
      },
      updateKeys: (keys, patch) => {
        for (const key of keys) update(key, patch);
        return Promise.resolve();
      },
      insertAuditEvent: (event) => {
        if (working.auditEvents.has(event.id)) constraintFailure('duplicate audit_events.id');
        working.auditEvents.set(event.id, copyAuditEvent(event));
        return Promise.resolve();
      },
      insertAuditEvents: (events) => {
        for (const event of events) {
          if (working.auditEvents.has(event.id)) constraintFailure('duplicate audit_events.id');
          working.auditEvents.set(event.id, copyAuditEvent(event));
        }
        return Promise.resolve();
      },
    };
  }

  /** Runs after every earlier transaction has ended; a failure rolls nothing forward. */
  private serialised<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.guarded(operation));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private read<T>(operation: () => T): Promise<T> {
    return this.guarded(() => Promise.resolve(operation()));
  }

  private async guarded<T>(operation: () => Promise<T>): Promise<T> {
    if (this.unavailable) {
      throw new AppError('UNAVAILABLE', 'the key database is unavailable; nothing was changed, retry shortly');
    }
    try {
      return await operation();
    } catch (error) {
      throw toDatabaseError(error);
    }
  }
}
