import type { KeyPatch } from './KeyPatch.js';
import type { ApiKeyRecord, AuditEventRecord, KeyState } from './types.js';

// Storage imports the patch type from here, next to the interface that takes it.
export type { KeyPatch } from './KeyPatch.js';

/** Position in a newest-first listing: the last row of the previous page. */
export interface ListCursor {
  readonly time: number;
  readonly id: string;
}

/** Filters of KeyRepository.listKeys. */
export interface KeyListQuery {
  readonly organizationId: string;
  /** Only keys this user created. */
  readonly createdByUserId?: string;
  /** Only keys in these states at `now`; empty = all. */
  readonly states: readonly KeyState[];
  readonly now: number;
  readonly limit: number;
  readonly after?: ListCursor;
}

/** Filters of KeyRepository.listAuditEvents. */
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

/** A last-used observation to persist. */
export interface LastUsedEntry {
  readonly keyId: string;
  readonly time: number;
  readonly ip: string | null;
}

/** One row of the change feed: "the key with this hash changed; drop what you cached". */
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
  /** Reads a key of the organization and locks it until commit (row lock on MySQL). */
  lockKey(organizationId: string, keyId: string): Promise<ApiKeyRecord | null>;
  /** Locks the keys a user created that are not revoked and not expired at `now`. */
  lockActiveKeysOf(organizationId: string, userId: string, now: number): Promise<ApiKeyRecord[]>;
  insertKey(key: ApiKeyRecord): Promise<void>;
  updateKey(key: ApiKeyRecord, patch: KeyPatch): Promise<void>;
  insertAuditEvent(event: AuditEventRecord): Promise<void>;
}

/** Persistence of keys, their audit trail and the change feed. Implemented in `storage/`. */
export interface KeyRepository {
  findByHash(secretHash: Buffer): Promise<ApiKeyRecord | null>;
  findById(organizationId: string, keyId: string): Promise<ApiKeyRecord | null>;
  /** Newest first (create time, then id), at most `limit` rows. */
  listKeys(query: KeyListQuery): Promise<ApiKeyRecord[]>;
  /** Newest first, at most `limit` rows. */
  listAuditEvents(query: AuditListQuery): Promise<AuditEventRecord[]>;
  /** Runs `work` in a transaction: everything it wrote commits together or not at all. */
  transaction<T>(work: (tx: KeyTransaction) => Promise<T>): Promise<T>;
  /** Stores last-used observations; never replaces a newer time with an older one. */
  recordLastUsed(entries: readonly LastUsedEntry[]): Promise<void>;
  /** Change-feed rows with id > `afterId` or id in `missingIds`, ascending by id, at most `limit`. */
  readChanges(afterId: number, missingIds: readonly number[], limit: number): Promise<KeyChange[]>;
  /** Deletes change-feed rows older than `before` (epoch ms); returns how many. */
  pruneChanges(before: number): Promise<number>;
  /** Highest change-feed id, 0 when empty. */
  latestChangeId(): Promise<number>;
  /** Cheap liveness probe. */
  ping(): Promise<void>;
}
