import { permissionDenied } from '../AppError.js';
import type { Actor, Role } from '../types.js';

/** What a KeyAdmin use case does, as error messages name it. */
export type KeyAdminAction = 'create keys' | 'read keys' | 'update keys' | 'revoke keys' | 'rotate keys';

/** The roles allowed each action. Members may do none; Read-Only Admins create (within limits) and read. */
const PERMITTED: Readonly<Record<KeyAdminAction, readonly Role[]>> = {
  'create keys': ['admin', 'read_only_admin'],
  'read keys': ['admin', 'read_only_admin'],
  'update keys': ['admin'],
  'revoke keys': ['admin'],
  'rotate keys': ['admin'],
};

/** The role policy of KeyAdmin: PERMISSION_DENIED unless the actor's role may do `action`. */
export function requirePermission(actor: Actor, action: KeyAdminAction): void {
  if (actor.role !== 'admin' && actor.role !== 'read_only_admin') {
    throw permissionDenied('only users with the Admin or Read-Only Admin role can manage API keys');
  }
  if (!PERMITTED[action].includes(actor.role)) {
    throw permissionDenied(`only users with the Admin role can ${action}`);
  }
}
