import { type ApiKey, KeyState, Role } from '../../gen/apikeys/v1/api_keys.js';
import type { Timestamp } from '../../gen/google/protobuf/timestamp.js';
import { formatFields } from './formatTable.js';

const STATE_NAMES: Readonly<Record<number, string>> = {
  [KeyState.KEY_STATE_ACTIVE]: 'active',
  [KeyState.KEY_STATE_EXPIRED]: 'expired',
  [KeyState.KEY_STATE_REVOKED]: 'revoked',
  [KeyState.KEY_STATE_DISABLED]: 'disabled',
};

const ROLE_NAMES: Readonly<Record<number, string>> = {
  [Role.ROLE_ADMIN]: 'admin',
  [Role.ROLE_READ_ONLY_ADMIN]: 'read-only-admin',
  [Role.ROLE_MEMBER]: 'member',
};

/** A key state as the CLI names it (also the spelling `list --state` accepts). */
export function stateName(state: KeyState): string {
  return STATE_NAMES[state] ?? 'unknown';
}

/** A role as the CLI names it (also the spelling `--role` accepts). */
export function roleName(role: Role): string {
  return ROLE_NAMES[role] ?? 'unknown';
}

/** A timestamp as ISO 8601 to the second (UTC), or `fallback` when unset. */
export function formatTime(timestamp: Timestamp | undefined, fallback = '-'): string {
  if (timestamp === undefined) return fallback;
  return new Date(timestamp.seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Every field of a key, one per line. */
export function formatKey(key: ApiKey): string {
  const fields: [string, string][] = [
    ['id', key.id],
    ['name', key.name],
    ['prefix', key.prefix],
    ['state', stateName(key.state)],
    ['scopes', key.scopes.join(', ')],
    ['allowed ips', key.allowedIps.length === 0 ? 'any' : key.allowedIps.join(', ')],
    ...Object.entries(key.metadata).map(([name, value]): [string, string] => [`meta ${name}`, value]),
    ['created', `${formatTime(key.createTime)} by ${key.createdByUserId} (${roleName(key.createdByRole)})`],
    ['expires', formatTime(key.expireTime)],
    ['updated', formatTime(key.updateTime)],
  ];
  if (key.revokeTime !== undefined) {
    const reason = key.revokeReason === '' ? '' : `: ${key.revokeReason}`;
    fields.push(['revoked', `${formatTime(key.revokeTime)} by ${key.revokedByUserId}${reason}`]);
  }
  if (key.disableTime !== undefined) {
    fields.push(['suspended', `${formatTime(key.disableTime)} by ${key.disabledByUserId}`]);
  }
  fields.push([
    'last used',
    key.lastUsedTime === undefined
      ? 'never'
      : `${formatTime(key.lastUsedTime)}${key.lastUsedIp === '' ? '' : ` from ${key.lastUsedIp}`}`,
  ]);
  if (key.rotatedFromKeyId !== '') fields.push(['rotated from', key.rotatedFromKeyId]);
  if (key.replacedByKeyId !== '') fields.push(['replaced by', key.replacedByKeyId]);
  fields.push(['organization', key.organizationId]);
  return formatFields(fields);
}

/** The columns `list` shows for each key. */
export const KEY_ROW_HEADERS = ['ID', 'NAME', 'PREFIX', 'STATE', 'SCOPES', 'EXPIRES', 'LAST USED'] as const;

/** One key as a row of `list`. */
export function keyRow(key: ApiKey): string[] {
  return [
    key.id,
    key.name,
    key.prefix,
    stateName(key.state),
    key.scopes.join(','),
    formatTime(key.expireTime),
    formatTime(key.lastUsedTime, 'never'),
  ];
}
