import type { ScopeDefinition } from '../ScopeCatalog.js';
import type { Actor } from '../types.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { requirePermission } from './requirePermission.js';

/** The scope catalog, for either admin role. */
export function listScopes(
  deps: Pick<KeyAdministrationDependencies, 'scopes'>,
  actor: Actor,
): readonly ScopeDefinition[] {
  requirePermission(actor, 'read keys');
  return deps.scopes.list();
}
