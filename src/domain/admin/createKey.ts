import { permissionDenied } from '../AppError.js';
import { normalizeMetadata } from '../metadata.js';
import { normalizeAllowedIps } from '../IpAllowlist.js';
import { generateSecret, labelForRole } from '../keyFormat.js';
import type { ScopeCatalog } from '../ScopeCatalog.js';
import type { Actor, ApiKeyRecord } from '../types.js';
import { normalizeName } from '../validation.js';
import { auditEvent } from './auditEvent.js';
import { describeNewKey } from './auditDiff.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { HOUR_MS, lifetimeHoursFor } from './lifetimes.js';
import { newId } from './newId.js';
import { requirePermission } from './requirePermission.js';
import type { UseCaseContext } from './UseCaseContext.js';

/** What a caller asks for in a new key; validated here. */
export interface CreateKeyInput {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly allowedIps: readonly string[];
  readonly expiresInHours?: number;
  /** Names → values (normalizeMetadata's limits); empty = none. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A key just made, with the secret that is shown once. */
export interface CreatedKey {
  readonly key: ApiKeyRecord;
  /** The full secret: returned to the caller once, never stored, never logged. */
  readonly secret: string;
}

/**
 * Creates a key in the actor's organization. Admins grant any scopes and choose the lifetime; Read-Only
 * Admins grant only `*:read` scopes and their keys live 72 hours.
 */
export async function createKey(
  deps: Pick<
    KeyAdministrationDependencies,
    'repository' | 'scopes' | 'clock' | 'defaultLifetimeHours' | 'onKeysCreated'
  >,
  actor: Actor,
  input: CreateKeyInput,
  context: UseCaseContext = {},
): Promise<CreatedKey> {
  requirePermission(actor, 'create keys');
  const name = normalizeName(input.name);
  const scopes = deps.scopes.normalize(input.scopes, 'scopes', { allowEmpty: false });
  if (actor.role === 'read_only_admin') requireReadOnlyScopes(deps.scopes, scopes);
  const allowedIps = normalizeAllowedIps(input.allowedIps);
  const metadata = normalizeMetadata(input.metadata ?? {});
  const lifetimeHours = lifetimeHoursFor(actor, input.expiresInHours, deps.defaultLifetimeHours);
  const now = deps.clock.now();
  const generated = generateSecret(labelForRole(actor.role));
  const key: ApiKeyRecord = {
    id: newId('key'),
    organizationId: actor.organizationId,
    name,
    prefix: generated.prefix,
    secretHash: generated.hash,
    scopes,
    allowedIps,
    metadata,
    createdByUserId: actor.userId,
    createdByRole: actor.role,
    createTime: now,
    expireTime: now + lifetimeHours * HOUR_MS,
    updateTime: now,
    version: 1,
    revokeTime: null,
    revokedByUserId: null,
    revokeReason: null,
    disableTime: null,
    disabledByUserId: null,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: null,
    replacedByKeyId: null,
  };
  await deps.repository.transaction(async (tx) => {
    await tx.insertKey(key);
    await tx.insertAuditEvent(auditEvent(actor, key, 'key_created', now, { changes: describeNewKey(key) }));
  }, context);
  // In no cache, so nothing to drop; but this process's filter of known keys learns it before the feed says so.
  deps.onKeysCreated?.([key]);
  return { key, secret: generated.secret };
}

function requireReadOnlyScopes(catalog: ScopeCatalog, scopes: readonly string[]): void {
  const forbidden = scopes.filter((scope) => !catalog.isReadOnly(scope));
  if (forbidden.length > 0) {
    throw permissionDenied(
      `User cannot create keys with these scopes: ${forbidden.join(', ')} (a Read-Only Admin may only grant *:read scopes)`,
    );
  }
}
