import type { ScopeDefinition } from '../ScopeCatalog.js';
import type { AcknowledgedKey } from './acknowledgement.js';
import type { Actor, ApiKeyRecord, AuditEventRecord } from '../types.js';
import { createKey, type CreatedKey, type CreateKeyInput } from './createKey.js';
import { getKey } from './getKey.js';
import { getKeyUsage, type KeyUsage, type KeyUsageInput } from './getKeyUsage.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { listAuditEvents, type ListAuditInput } from './listAuditEvents.js';
import { listKeys, type ListKeysInput } from './listKeys.js';
import { listScopes } from './listScopes.js';
import type { Page } from './paginate.js';
import { type LeakCandidate, type LeakReport, reportLeakedKeys } from './reportLeakedKeys.js';
import { revokeKey } from './revokeKey.js';
import { type RevokedUserKeys, revokeUserKeys } from './revokeUserKeys.js';
import { rotateKey, type RotatedKey, type RotateKeyInput } from './rotateKey.js';
import { updateKey, type UpdateKeyInput } from './updateKey.js';
import type { UseCaseContext } from './UseCaseContext.js';

/**
 * The key-administration use cases, bound to their dependencies. Each is documented in its own file; the
 * writes take an optional UseCaseContext (the call's abort signal).
 */
export interface KeyAdministration {
  createKey(actor: Actor, input: CreateKeyInput, context?: UseCaseContext): Promise<CreatedKey>;
  getKey(actor: Actor, keyId: string): Promise<ApiKeyRecord>;
  getKeyUsage(actor: Actor, input: KeyUsageInput): Promise<KeyUsage>;
  listKeys(actor: Actor, input: ListKeysInput): Promise<Page<ApiKeyRecord>>;
  updateKey(actor: Actor, input: UpdateKeyInput, context?: UseCaseContext): Promise<AcknowledgedKey>;
  revokeKey(actor: Actor, keyId: string, reason: string, context?: UseCaseContext): Promise<AcknowledgedKey>;
  revokeUserKeys(actor: Actor, userId: string, reason: string, context?: UseCaseContext): Promise<RevokedUserKeys>;
  rotateKey(actor: Actor, input: RotateKeyInput, context?: UseCaseContext): Promise<RotatedKey>;
  listScopes(actor: Actor): readonly ScopeDefinition[];
  listAuditEvents(actor: Actor, input: ListAuditInput): Promise<Page<AuditEventRecord>>;
  reportLeakedKeys(caller: string, candidates: readonly LeakCandidate[], context?: UseCaseContext): Promise<LeakReport>;
}

/** Binds every use case to `deps`, for the transport to call. */
export function createKeyAdministration(deps: KeyAdministrationDependencies): KeyAdministration {
  return {
    createKey: (actor, input, context) => createKey(deps, actor, input, context),
    getKey: (actor, keyId) => getKey(deps, actor, keyId),
    getKeyUsage: (actor, input) => getKeyUsage(deps, actor, input),
    listKeys: (actor, input) => listKeys(deps, actor, input),
    updateKey: (actor, input, context) => updateKey(deps, actor, input, context),
    revokeKey: (actor, keyId, reason, context) => revokeKey(deps, actor, keyId, reason, context),
    revokeUserKeys: (actor, userId, reason, context) => revokeUserKeys(deps, actor, userId, reason, context),
    rotateKey: (actor, input, context) => rotateKey(deps, actor, input, context),
    listScopes: (actor) => listScopes(deps, actor),
    listAuditEvents: (actor, input) => listAuditEvents(deps, actor, input),
    reportLeakedKeys: (caller, candidates, context) => reportLeakedKeys(deps, caller, candidates, context),
  };
}
