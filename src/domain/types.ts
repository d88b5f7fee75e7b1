/** Roles of the user an admin backend acts for. */
export type Role = 'admin' | 'read_only_admin' | 'member';

/** Lifecycle state, always derived from the clock (never stored). */
export type KeyState = 'active' | 'expired' | 'revoked' | 'disabled';

/** Every key state, in the order of `keyStateAt`'s rule. */
export const KEY_STATES: readonly KeyState[] = ['revoked', 'expired', 'disabled', 'active'];

/** The user on whose behalf a KeyAdmin call is made, plus the authenticated calling backend. */
export interface Actor {
  readonly organizationId: string;
  readonly userId: string;
  readonly role: Role;
  /** Identity of the authenticated backend that made the call (`anonymous` when auth is off). */
  readonly caller: string;
}

/** An API key as stored. Times are epoch milliseconds. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly name: string;
  readonly prefix: string;
  /** SHA-256 of the full secret; the secret itself is never stored. */
  readonly secretHash: Buffer;
  /** Sorted, unique. */
  readonly scopes: readonly string[];
  /** Canonical entries; empty = any IP. */
  readonly allowedIps: readonly string[];
  /** Names → values, sorted by name (normalizeMetadata's limits); empty when none. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly createdByUserId: string;
  readonly createdByRole: Role;
  readonly createTime: number;
  readonly expireTime: number;
  readonly updateTime: number;
  readonly revokeTime: number | null;
  readonly revokedByUserId: string | null;
  readonly revokeReason: string | null;
  /** When an Admin suspended the key (UpdateKey `enabled = false`); null while it is enabled. */
  readonly disableTime: number | null;
  /** The Admin who suspended it; null while it is enabled. */
  readonly disabledByUserId: string | null;
  readonly lastUsedTime: number | null;
  readonly lastUsedIp: string | null;
  readonly rotatedFromKeyId: string | null;
  readonly replacedByKeyId: string | null;
  /**
   * 1 when created, one more on every write of its fields (not on last-used writes): a cached copy whose
   * version is at least a change's `keyVersion` already reflects that change.
   */
  readonly version: number;
}

/** Audited actions. */
export type AuditAction =
  'key_created' | 'key_updated' | 'key_revoked' | 'key_rotated' | 'key_disabled' | 'key_enabled';

/** One changed field of an audited action; values rendered as text, never a secret. */
export interface FieldChange {
  readonly field: string;
  readonly oldValue: string;
  readonly newValue: string;
}

/** A row of the audit trail. */
export interface AuditEventRecord {
  readonly id: string;
  readonly organizationId: string;
  readonly keyId: string;
  readonly action: AuditAction;
  readonly actorUserId: string;
  /** `none` for a write no user made (ReportLeakedKeys: the reporting caller is in `caller`). */
  readonly actorRole: Role | 'none';
  readonly caller: string;
  readonly createTime: number;
  readonly relatedKeyId: string | null;
  readonly changes: readonly FieldChange[];
  readonly reason: string | null;
}

/**
 * Returns the state of `key` at instant `now`: revocation wins, then expiry (a suspended key's expiry keeps
 * running), then suspension.
 */
export function keyStateAt(
  key: Pick<ApiKeyRecord, 'revokeTime' | 'expireTime' | 'disableTime'>,
  now: number,
): KeyState {
  if (key.revokeTime !== null) return 'revoked';
  if (now >= key.expireTime) return 'expired';
  return key.disableTime !== null ? 'disabled' : 'active';
}
