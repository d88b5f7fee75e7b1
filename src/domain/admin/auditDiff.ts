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
  if (patch.metadata.kind === 'set') changes.push(...metadataDiff(key.metadata, patch.metadata.value));
  return changes;
}

/**
 * One change per metadata entry added, changed or removed, as `metadata.<name>` (an absent entry is
 * empty), by name: the trail says which label changed, not only that the map did.
 */
function metadataDiff(
  before: Readonly<Record<string, string>>,
  after: Readonly<Record<string, string>>,
): FieldChange[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names
    .filter((name) => Object.hasOwn(before, name) !== Object.hasOwn(after, name) || before[name] !== after[name])
    .map((name) => ({ field: `metadata.${name}`, oldValue: before[name] ?? '', newValue: after[name] ?? '' }));
}

/** A new key as audit changes from nothing: its audited fields that hold a value, and its metadata. */
export function describeNewKey(key: ApiKeyRecord): FieldChange[] {
  const fields = AUDITED_FIELDS.filter(([property]) => key[property] !== null).map(([property, field]) => ({
    field,
    oldValue: '',
    newValue: render(key[property], field),
  }));
  return [...fields, ...metadataDiff({}, key.metadata)];
}
