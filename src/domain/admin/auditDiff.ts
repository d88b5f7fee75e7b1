import type { KeyPatch } from '../KeyPatch.js';
import type { ApiKeyRecord, FieldChange } from '../types.js';

/** The fields the audit trail records, with the API's names for them. */
const AUDITED_FIELDS = [
  ['name', 'name'],
  ['scopes', 'scopes'],
  ['allowedIps', 'allowed_ips'],
  ['expireTime', 'expire_time'],
  ['revokeTime', 'revoke_time'],
  ['disableTime', 'disable_time'],
  ['replacedByKeyId', 'replaced_by_key_id'],
] as const;

function render(value: unknown, field: string): string {
  if (value === null || value === undefined) return '';
  if (field.endsWith('_time') && typeof value === 'number') return new Date(value).toISOString();
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The audited fields `patch` sets to a value other than the key's, rendered as text. */
export function auditDiff(key: ApiKeyRecord, patch: KeyPatch): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [property, field] of AUDITED_FIELDS) {
    const update = patch[property];
    if (update.kind === 'unchanged') continue;
    const before = render(key[property], field);
    const after = render(update.value, field);
    if (before !== after) changes.push({ field, oldValue: before, newValue: after });
  }
  return changes;
}

/** A new key as audit changes from nothing: its audited fields that hold a value. */
export function describeNewKey(key: ApiKeyRecord): FieldChange[] {
  return AUDITED_FIELDS.filter(([property]) => key[property] !== null).map(([property, field]) => ({
    field,
    oldValue: '',
    newValue: render(key[property], field),
  }));
}
