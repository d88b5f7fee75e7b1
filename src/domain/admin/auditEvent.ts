import type { Actor, ApiKeyRecord, AuditAction, AuditEventRecord, FieldChange } from '../types.js';
import { newId } from './newId.js';

/** What an audit event says beyond who did what to which key, when. */
export interface AuditDetails {
  readonly relatedKeyId?: string;
  readonly changes?: FieldChange[];
  readonly reason?: string | null;
}

/** The audit row of `action` on `key` by `actor` at `now`. */
export function auditEvent(
  actor: Actor,
  key: ApiKeyRecord,
  action: AuditAction,
  now: number,
  details: AuditDetails,
): AuditEventRecord {
  return {
    id: newId('evt'),
    organizationId: key.organizationId,
    keyId: key.id,
    action,
    actorUserId: actor.userId,
    actorRole: actor.role,
    caller: actor.caller,
    createTime: now,
    relatedKeyId: details.relatedKeyId ?? null,
    changes: details.changes ?? [],
    reason: details.reason ?? null,
  };
}
