import type { KeyPatch } from './KeyPatch.js';
import type { ApiKeyRecord, AuditEventRecord, KeyState } from './types.js';
import type { UsageEntry } from './UsageTally.js';

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
  /** Only keys not used since this instant (epoch ms): last used strictly before it, or never. */
  readonly unusedSince?: number;
  /** Only keys whose expiry is strictly before this instant (epoch ms). */
  readonly expireBefore?: number;
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
 * One row of the change feed: "the key with this hash changed; drop what you cached of it if it is older
 * than `keyVersion`". Positions are 1, 2, 3… in commit order with no gaps: a transaction takes its
 * positions while it holds the feed head's lock until it commits, and gives them back when it rolls back
 * (docs/architecture.md, "The change feed"). A reader that has applied position p has applied every
 * change visible before p + 1 was.
 */
export interface KeyChange {
  readonly position: number;
  readonly keyId: string;
  readonly secretHash: Buffer;
  /** The key's version after this change. */
  readonly keyVersion: number;
  readonly changeTime: number;
}

/** How a transaction runs. */
export interface TransactionOptions {
  /**
   * Aborted when nobody waits for the result any more (the caller cancelled, its deadline passed, or
   * shutdown cancelled the call): the transaction is rolled back and its locks released at once, and it
   * rejects with CANCELLED. Once `work` has returned, the commit completes regardless.
   */
  readonly signal?: AbortSignal;
  /** Called after commit with the feed position of the transaction's last change; not called without changes. */
  readonly onCommitted?: (lastPosition: number) => void;
}

/**
 * Writes inside one database transaction. Every key write also appends to the change feed, so other
 * replicas learn of it exactly when (and only if) it commits; the feed rows are written last, just before
 * the commit, so the feed head's lock is held for as short a time as possible.
 */
export interface KeyTransaction {
  /**
   * Reads a key of the organization and locks it until commit: another transaction that locks or writes
   * the same key waits, then sees this one's writes (row lock on MySQL; on SQLite the single connection
   * serialises whole transactions).
   */
  lockKey(organizationId: string, keyId: string): Promise<ApiKeyRecord | null>;
  /**
   * Locks at most `limit` keys a user created that are not revoked and not expired at `now`, oldest
   * first, in one statement that locks none of any other user's keys.
   */
  lockActiveKeysOf(organizationId: string, userId: string, now: number, limit: number): Promise<ApiKeyRecord[]>;
  /** Stores a new key (a second key with the same id or secret hash fails); appends a change at its update time. */
  insertKey(key: ApiKeyRecord): Promise<void>;
  /**
   * Writes the update time, version `key.version + 1` and the fields `patch` sets on the key with
   * `key.id` (as read with a lock in this transaction); appends a change for `key`'s hash at
   * `patch.updateTime`.
   */
  updateKey(key: ApiKeyRecord, patch: KeyPatch): Promise<void>;
  /** `updateKey` for each of `keys` with one patch, in a constant number of statements. */
  updateKeys(keys: readonly ApiKeyRecord[], patch: KeyPatch): Promise<void>;
  /** Stores an audit event; it commits with the key writes it describes. */
  insertAuditEvent(event: AuditEventRecord): Promise<void>;
  /** Stores audit events in one statement. */
  insertAuditEvents(events: readonly AuditEventRecord[]): Promise<void>;
}

/**
 * Persistence of keys, their audit trail and the change feed. Implemented in `storage/`; the contract
 * every implementation meets is test/storage/ (run against SQLite, MySQL/MariaDB and memory). Failures
 * are AppErrors: UNAVAILABLE when the database cannot be reached (nothing was written), else INTERNAL.
 */
export interface KeyRepository {
  /** The key with this secret hash, in any organization, or null. */
  findByHash(secretHash: Buffer): Promise<ApiKeyRecord | null>;
  /**
   * The secret hashes of every stored key (any state, any organization), ascending byte by byte, after
   * `after` (exclusive; null: from the first), at most `limit`: one page of a full scan along the unique
   * index, for the filter of known keys (KnownKeyFilter).
   */
  listSecretHashes(after: Buffer | null, limit: number): Promise<Buffer[]>;
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
   * skipped. In the same transaction, adds `usage` to the usage history (each key-day's counts added to
   * what is stored, so replicas' flushes sum). UNKNOWN when the commit was sent but not confirmed (it may
   * have happened); any other failure means nothing was written.
   */
  recordLastUsed(entries: readonly LastUsedEntry[], usage?: readonly UsageEntry[]): Promise<void>;
  /** The stored usage of a key, days `firstDay`…`lastDay` inclusive, ascending; days without a row are absent. */
  readUsage(keyId: string, firstDay: number, lastDay: number): Promise<UsageEntry[]>;
  /** Deletes usage rows of days strictly before `beforeDay`; returns how many. */
  pruneUsage(beforeDay: number): Promise<number>;
  /** Change-feed rows after `afterPosition`, ascending, at most `limit`. */
  readChanges(afterPosition: number, limit: number): Promise<KeyChange[]>;
  /**
   * Deletes change-feed rows changed strictly before `before` (epoch ms), except the newest row, so a
   * reader whose next rows were pruned always sees the gap; returns how many. Positions are never reused.
   */
  pruneChanges(before: number): Promise<number>;
  /** The feed position of the last committed change (0 before the first one), whatever was pruned. */
  latestChangePosition(): Promise<number>;
  /** Cheap liveness probe. */
  ping(): Promise<void>;
}
