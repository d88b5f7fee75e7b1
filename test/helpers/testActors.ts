import { randomUUID } from 'node:crypto';

import { type Actor, Role } from '../../gen/apikeys/v1/api_keys.js';

/** A fresh organization id, so that no two tests ever see each other's keys or audit events. */
export function newOrganizationId(label = 'org'): string {
  return `${label}-${randomUUID()}`;
}

/** The actor of a KeyAdmin request. */
export function actorOf(organizationId: string, userId: string, role: Role = Role.ROLE_ADMIN): Actor {
  return { organizationId, userId, role };
}
