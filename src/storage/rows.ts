import { canonicalIpOrNull } from '../domain/clientAddress.js';
import type { KeyChange, KeyPatch } from '../domain/KeyRepository.js';
import type { ApiKeyRecord, AuditEventRecord, Role } from '../domain/types.js';

/** A row of `api_keys`. BIGINT columns arrive as numbers, or as strings from some drivers. */
export interface KeyRow {
  id: string;
  organization_id: string;
  name: string;
  prefix: string;
  secret_hash: Buffer;
  scopes: string;
  allowed_ips: string;
  /** JSON object; null for keys created before metadata existed. */
  metadata: string | null;
  created_by_user_id: string;
  created_by_role: string;
  create_time: number | string;
  expire_time: number | string;
  update_time: number | string;
  revoke_time: number | string | null;
  revoked_by_user_id: string | null;
  revoke_reason: string | null;
  disable_time: number | string | null;
  disabled_by_user_id: string | null;
  last_used_time: number | string | null;
  last_used_ip: string | null;
  rotated_from_key_id: string | null;
  replaced_by_key_id: string | null;
  version: number | string;
}

/** A row of `audit_events`. */
export interface AuditRow {
  id: string;
  organization_id: string;
  key_id: string;
  action: string;
  actor_user_id: string;
  actor_role: string;
  caller: string;
  create_time: number | string;
  related_key_id: string | null;
  changes: string;
  reason: string | null;
}

/** A row of `key_feed`. */
export interface ChangeRow {
  position: number | string;
  key_id: string;
  secret_hash: Buffer;
  key_version: number | string;
  change_time: number | string;
}

/** A BIGINT column (epoch ms or change id) as a number. */
export function fromBigInt(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}

function fromBigIntOrNull(value: number | string | null): number | null {
  return value === null ? null : fromBigInt(value);
}

/** The key stored in an `api_keys` row. */
export function fromKeyRow(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    prefix: row.prefix,
    secretHash: Buffer.from(row.secret_hash),
    scopes: JSON.parse(row.scopes) as string[],
    allowedIps: JSON.parse(row.allowed_ips) as string[],
    metadata: row.metadata === null ? {} : (JSON.parse(row.metadata) as Record<string, string>),
    createdByUserId: row.created_by_user_id,
    createdByRole: row.created_by_role as Role,
    createTime: fromBigInt(row.create_time),
    expireTime: fromBigInt(row.expire_time),
    updateTime: fromBigInt(row.update_time),
    revokeTime: fromBigIntOrNull(row.revoke_time),
    revokedByUserId: row.revoked_by_user_id,
    revokeReason: row.revoke_reason,
    disableTime: fromBigIntOrNull(row.disable_time),
    disabledByUserId: row.disabled_by_user_id,
    lastUsedTime: fromBigIntOrNull(row.last_used_time),
    // Rows written before last_used_ip was canonicalised can hold any text a caller sent: not shown.
    lastUsedIp: canonicalIpOrNull(row.last_used_ip),
    rotatedFromKeyId: row.rotated_from_key_id,
    replacedByKeyId: row.replaced_by_key_id,
    version: fromBigInt(row.version),
  };
}

/** The `api_keys` row of a key (also used for bulk seeding in the benchmark). */
export function toKeyRow(key: ApiKeyRecord): KeyRow {
  return {
    id: key.id,
    organization_id: key.organizationId,
    name: key.name,
    prefix: key.prefix,
    secret_hash: key.secretHash,
    scopes: JSON.stringify(key.scopes),
    allowed_ips: JSON.stringify(key.allowedIps),
    metadata: JSON.stringify(key.metadata),
    created_by_user_id: key.createdByUserId,
    created_by_role: key.createdByRole,
    create_time: key.createTime,
    expire_time: key.expireTime,
    update_time: key.updateTime,
    revoke_time: key.revokeTime,
    revoked_by_user_id: key.revokedByUserId,
    revoke_reason: key.revokeReason,
    disable_time: key.disableTime,
    disabled_by_user_id: key.disabledByUserId,
    last_used_time: key.lastUsedTime,
    last_used_ip: key.lastUsedIp,
    rotated_from_key_id: key.rotatedFromKeyId,
    replaced_by_key_id: key.replacedByKeyId,
    version: key.version,
  };
}

const PATCH_COLUMNS: Record<Exclude<keyof KeyPatch, 'updateTime'>, keyof KeyRow> = {
  name: 'name',
  scopes: 'scopes',
  allowedIps: 'allowed_ips',
  metadata: 'metadata',
  expireTime: 'expire_time',
  revokeTime: 'revoke_time',
  revokedByUserId: 'revoked_by_user_id',
  revokeReason: 'revoke_reason',
  disableTime: 'disable_time',
  disabledByUserId: 'disabled_by_user_id',
  replacedByKeyId: 'replaced_by_key_id',
};

/**
 * The columns a patch writes: the update time and every field it sets (`setTo(null)` writes NULL), lists
 * and metadata as JSON; fields it leaves unchanged are not in the UPDATE.
 */
export function toPatchRow(patch: KeyPatch): Partial<Record<keyof KeyRow, unknown>> {
  const row: Partial<Record<keyof KeyRow, unknown>> = { update_time: patch.updateTime };
  for (const [property, column] of Object.entries(PATCH_COLUMNS) as [keyof typeof PATCH_COLUMNS, keyof KeyRow][]) {
    const update = patch[property];
    if (update.kind !== 'set') continue;
    const value: unknown = update.value;
    row[column] = value !== null && typeof value === 'object' ? JSON.stringify(value) : value;
  }
  return row;
}

/** The audit event stored in an `audit_events` row. */
export function fromAuditRow(row: AuditRow): AuditEventRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    keyId: row.key_id,
    action: row.action as AuditEventRecord['action'],
    actorUserId: row.actor_user_id,
    actorRole: row.actor_role as Role,
    caller: row.caller,
    createTime: fromBigInt(row.create_time),
    relatedKeyId: row.related_key_id,
    changes: JSON.parse(row.changes) as AuditEventRecord['changes'],
    reason: row.reason,
  };
}

/** The `audit_events` row of an audit event. */
export function toAuditRow(event: AuditEventRecord): AuditRow {
  return {
    id: event.id,
    organization_id: event.organizationId,
    key_id: event.keyId,
    action: event.action,
    actor_user_id: event.actorUserId,
    actor_role: event.actorRole,
    caller: event.caller,
    create_time: event.createTime,
    related_key_id: event.relatedKeyId,
    changes: JSON.stringify(event.changes),
    reason: event.reason,
  };
}

/** The change stored in a `key_feed` row. */
export function fromChangeRow(row: ChangeRow): KeyChange {
  return {
    position: fromBigInt(row.position),
    keyId: row.key_id,
    secretHash: Buffer.from(row.secret_hash),
    keyVersion: fromBigInt(row.key_version),
    changeTime: fromBigInt(row.change_time),
  };
}

/** The `key_feed` row announcing that `key` became version `keyVersion` at `changeTime`. */
export function toChangeRow(position: number, key: ApiKeyRecord, keyVersion: number, changeTime: number): ChangeRow {
  return { position, key_id: key.id, secret_hash: key.secretHash, key_version: keyVersion, change_time: changeTime };
}
