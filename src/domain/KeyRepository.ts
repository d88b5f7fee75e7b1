import type { KeyPatch } from './KeyPatch.js';
import type { ApiKeyRecord, AuditEventRecord, KeyState } from './types.js';

// Storage imports the patch type from here, next to the interface that takes it.
export type { KeyPatch } from './KeyPatch.js';

/** Position in a newest-first listing: the last row of the previous page. */
export interface ListCursor {
  readonly time: number;
  readonly id: string;
}

/** Filters of KeyRepository.listKeys; they combine with AND. */
export interface KeyListQuery {
  readonly organizationId: string;
  /** Only keys this user created. */
  readonly createdByUserId?: string;
  /** Only keys in these states at `now` (by the rule of `keyStateAt`); empty (or all three) = all. */
  readonly states: readonly KeyState[];
  readonly now: number;
  readonly limit: number;
  /** Continue after this row: strictly older, or as old with a smaller id. */
  readonly after?: ListCursor;
}

/** Filters of KeyRepository.listAuditEvents; they combine with AND. */
export interface AuditListQuery {
  readonly organizationId: string;
  readonly keyId?: string;
  /** Inclusive lower bound, epoch ms. */
  readonly startTime?: number;
  /** Exclusive upper bound, epoch ms. */
  readonly endTime?: number;
  readonly limit: number;
  readonly after?: ListCursor;
}

/** A last-used observation to persist: the key was used at `time` (epoch ms) from `ip`. */
export interface LastUsedEntry {
  readonly keyId: string;
  readonly time: number;
  readonly ip: string | null;
}

/**
 * One row of the change feed: "the key with this hash changed; drop what you cached". Ids ascend in the
 * order they are taken, not the order they commit: a lower id can become visible after a higher one, and
 * a rolled-back transaction can leave an id that never appears.
 */
export interface KeyChange {
  readonly id: number;
  readonly keyId: string;
  readonly secretHash: Buffer;
  readonly changeTime: number;
}

/**
 * Writes inside one database transaction. Every key write also appends to the change feed, so other
 * replicas learn of it exactly when (and only if) it commits.
 */
export interface KeyTransaction {
  /**
   * Reads a key of the organization and locks it until commit: another transaction that locks or writes
   * the same key waits, then sees this one's writes (row lock on MySQL; on SQLite the single connection
   * serialises whole transactions).
   */
  lockKey(organizationId: string, keyId: string): Promise<ApiKeyRecord | null>;
  /** Locks the keys a user created that are not revoked and not expired at `now`, oldest first. */
  lockActiveKeysOf(organizationId: string, userId: string, now: number): Promise<ApiKeyRecord[]>;
  /** Stores a new key (a second key with the same id or secret hash fails); appends a change at its update time. */
  insertKey(key: ApiKeyRecord): Promise<void>;
  /**
   * Writes the update time and the fields `patch` sets on the key with `key.id`; appends a change for
   * `key`'s hash at `patch.updateTime`.
   */
  updateKey(key: ApiKeyRecord, patch: KeyPatch): Promise<void>;
  /** Stores an audit event; it commits with the key writes it describes. */
  insertAuditEvent(event: AuditEventRecord): Promise<void>;
}

/** How a transaction may end early. */
export interface TransactionOptions {
  /**
   * Aborted when nobody waits for the result any more (the caller cancelled, its deadline passed, or
   * shutdown cancelled the call): the transaction is rolled back and its locks released at once, and it
   * rejects with CANCELLED. Once `work` has returned, the commit completes regardless.
   */
  readonly signal?: AbortSignal;
}

/**
 * Persistence of keys, their audit trail and the change feed. Implemented in `storage/`; the contract
 * every implementation meets is test/storage/ (run against SQLite, MySQL/MariaDB and memory). Failures
 * are AppErrors: UNAVAILABLE when the database cannot be reached (nothing was written), else INTERNAL.
 */
export interface KeyRepository {
  /** The key with this secret hash, in any organization, or null. */
  findByHash(secretHash: Buffer): Promise<ApiKeyRecord | null>;
  /** The key with this id, or null when there is none in this organization. */
  findById(organizationId: string, keyId: string): Promise<ApiKeyRecord | null>;
  /** Newest first (create time, then id, both descending), at most `limit` rows. */
  listKeys(query: KeyListQuery): Promise<ApiKeyRecord[]>;
  /** Newest first (create time, then id, both descending), at most `limit` rows. */
  listAuditEvents(query: AuditListQuery): Promise<AuditEventRecord[]>;
  /**
   * Runs `work` in a transaction: everything it wrote commits together, or nothing when it throws. The
   * thrown error comes back as it is when it is an AppError, else as INTERNAL with it as the cause.
   */
  transaction<T>(work: (tx: KeyTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Stores last-used observations in one transaction, without touching update times or the change feed.
   * Never replaces a time with an older or equal one, whatever the order of the batch; unknown keys are
   * skipped.
   */
  recordLastUsed(entries: readonly LastUsedEntry[]): Promise<void>;
  /**
   * Change-feed rows with id > `afterId` or id in `missingIds` (only the first 1000 are asked for),
   * ascending by id, at most `limit`, each once. Missing ids that never committed are simply absent.
   */
  readChanges(afterId: number, missingIds: readonly number[], limit: number): Promise<KeyChange[]>;
  /** Deletes change-feed rows changed strictly before `before` (epoch ms); returns how many. Ids are never reused. */
  pruneChanges(before: number): Promise<number>;
  /** Highest change-feed id visible now, 0 when the feed is empty (also after pruning everything). */
  latestChangeId(): Promise<number>;
  /** Cheap liveness probe. */
  ping(): Promise<void>;
}
