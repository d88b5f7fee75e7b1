import { type Actor, Role } from '../../gen/apikeys/v1/api_keys.js';
import type { OptionValues } from './Command.js';
import { stringOption } from './optionValues.js';
import { UsageError } from './UsageError.js';

const ROLES: ReadonlyMap<string, Role> = new Map([
  ['admin', Role.ROLE_ADMIN],
  ['read-only-admin', Role.ROLE_READ_ONLY_ADMIN],
  ['member', Role.ROLE_MEMBER],
]);

/** The acting user: flags first, then APIKEYS_ORG / APIKEYS_USER / APIKEYS_ROLE. Every gap is reported. */
export function resolveActor(values: OptionValues, env: NodeJS.ProcessEnv): Actor {
  const pick = (name: string, variable: string): string | undefined => {
    const value = stringOption(values, name) ?? env[variable];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const organizationId = pick('org', 'APIKEYS_ORG');
  const userId = pick('user', 'APIKEYS_USER');
  const roleName = pick('role', 'APIKEYS_ROLE');
  const problems: string[] = [];
  if (organizationId === undefined) problems.push('--org is required (or set APIKEYS_ORG)');
  if (userId === undefined) problems.push('--user is required (or set APIKEYS_USER)');
  let role: Role | undefined;
  if (roleName === undefined)
    problems.push('--role is required (or set APIKEYS_ROLE): admin, read-only-admin or member');
  else {
    role = ROLES.get(roleName.toLowerCase().replace(/_/g, '-'));
    if (role === undefined) {
      problems.push(`--role must be admin, read-only-admin or member, got ${JSON.stringify(roleName)}`);
    }
  }
  if (problems.length > 0 || organizationId === undefined || userId === undefined || role === undefined) {
    throw new UsageError(problems.join('\n'));
  }
  return { organizationId, userId, role };
}
