import { failedPrecondition, invalidArgument, notFound, permissionDenied } from './AppError.js';
import type { Clock } from './Clock.js';
import { normalizeAllowedIps } from './IpAllowlist.js';
import { generateSecret, labelForRole } from './keyFormat.js';
import type { KeyPatch, KeyRepository, KeyTransaction } from './KeyRepository.js';
import { decodePageToken, encodePageToken } from './pageToken.js';
import { randomBase62 } from './randomBase62.js';
import type { ScopeCatalog, ScopeDefinition } from './ScopeCatalog.js';
import type { Actor, ApiKeyRecord, AuditAction, AuditEventRecord, FieldChange, KeyState } from './types.js';
import { keyStateAt } from './types.js';
import { normalizeName, normalizeReason, pageSize, requireIdentifier } from './validation.js';

/** Longest lifetime a key may have: one year. */
export const MAX_LIFETIME_HOURS = 8760;
/** The fixed lifetime of keys made by a Read-Only Admin. */
export const READ_ONLY_LIFETIME_HOURS = 72;
/** Longest grace period of a rotation: one week. */
export const MAX_GRACE_PERIOD_HOURS = 168;
const HOUR_MS = 3_600_000;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 100;

/** Settings of KeyAdministration. */
export interface KeyAdministrationOptions {
  readonly repository: KeyRepository;
  readonly scopes: ScopeCatalog;
  readonly clock: Clock;
  /** Lifetime of keys created without `expiresInHours`, 1…8760. */
  readonly defaultLifetimeHours: number;
  /** Called after a write commits with the keys it changed, so caches drop them before the RPC returns. */
  readonly onKeysChanged?: (keys: readonly ApiKeyRecord[]) => Promise<void> | void;
}

export interface CreateKeyInput {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly allowedIps: readonly string[];
  readonly expiresInHours?: number;
}

export interface CreatedKey {
  readonly key: ApiKeyRecord;
  /** The full secret: returned to the caller once, never stored, never logged. */
  readonly secret: string;
}

export type UpdatableField = 'name' | 'scopes' | 'allowed_ips' | 'expires_in_hours';

export interface UpdateKeyInput {
  readonly keyId: string;
  readonly updateMask: readonly string[];
  readonly name: string;
  readonly scopes: readonly string[];
  readonly allowedIps: readonly string[];
  readonly expiresInHours: number;
}

export interface ListKeysInput {
  readonly onlyMine: boolean;
  readonly states: readonly KeyState[];
  readonly pageSize: number;
  readonly pageToken: string;
}

export interface ListAuditInput {
  readonly keyId: string;
  readonly startTime?: number;
  readonly endTime?: number;
  readonly pageSize: number;
  readonly pageToken: string;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

export interface RotatedKey extends CreatedKey {
  readonly oldKey: ApiKeyRecord;
}

const UPDATABLE: readonly UpdatableField[] = ['name', 'scopes', 'allowed_ips', 'expires_in_hours'];
/** Most unknown update_mask paths an error message names. */
const MAX_NAMED_PATHS = 5;

/** The rules of managing API keys: roles, organizations, scopes, lifetimes, audit. */
export class KeyAdministration {
  constructor(private readonly options: KeyAdministrationOptions) {}

  /** Creates a key; Admins with any scopes, Read-Only Admins with `*:read` scopes and a 72 h lifetime. */
  async createKey(actor: Actor, input: CreateKeyInput): Promise<CreatedKey> {
    requireKeyManager(actor);
    const name = normalizeName(input.name);
    const scopes = this.options.scopes.normalize(input.scopes, 'scopes', { allowEmpty: false });
    if (actor.role === 'read_only_admin') this.requireReadOnlyScopes(scopes);
    const allowedIps = normalizeAllowedIps(input.allowedIps);
    const lifetimeHours = this.lifetimeFor(actor, input.expiresInHours);
    const now = this.options.clock.now();
    const generated = generateSecret(labelForRole(actor.role));
    const key: ApiKeyRecord = {
      id: newId('key'),
      organizationId: actor.organizationId,
      name,
      prefix: generated.prefix,
      secretHash: generated.hash,
      scopes,
      allowedIps,
      createdByUserId: actor.userId,
      createdByRole: actor.role,
      createTime: now,
      expireTime: now + lifetimeHours * HOUR_MS,
      updateTime: now,
      revokeTime: null,
      revokedByUserId: null,
      revokeReason: null,
      lastUsedTime: null,
      lastUsedIp: null,
      rotatedFromKeyId: null,
      replacedByKeyId: null,
    };
    await this.options.repository.transaction(async (tx) => {
      await tx.insertKey(key);
      await tx.insertAuditEvent(auditEvent(actor, key, 'key_created', now, { changes: describeNewKey(key) }));
    });
    return { key, secret: generated.secret };
  }

  /** Returns a key of the actor's organization; NOT_FOUND for absent and foreign keys alike. */
  async getKey(actor: Actor, keyId: string): Promise<ApiKeyRecord> {
    requireKeyViewer(actor);
    const key = await this.options.repository.findById(actor.organizationId, requireIdentifier(keyId, 'key_id'));
    if (key === null) throw keyNotFound(keyId);
    return key;
  }

  /** Lists keys of the organization (or only the actor's), newest first. */
  async listKeys(actor: Actor, input: ListKeysInput): Promise<Page<ApiKeyRecord>> {
    requireKeyViewer(actor);
    const limit = pageSize(input.pageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const states = [...new Set(input.states)].sort();
    const filters = JSON.stringify(['keys', actor.organizationId, input.onlyMine ? actor.userId : '', states]);
    const rows = await this.options.repository.listKeys({
      organizationId: actor.organizationId,
      ...(input.onlyMine ? { createdByUserId: actor.userId } : {}),
      states,
      now: this.options.clock.now(),
      limit: limit + 1,
      after: decodePageToken(input.pageToken, filters),
    });
    return paginate(rows, limit, filters, (key) => ({ time: key.createTime, id: key.id }));
  }

  /** Changes the fields named in the mask. Admin only; not on revoked or expired keys. */
  async updateKey(actor: Actor, input: UpdateKeyInput): Promise<ApiKeyRecord> {
    requireAdmin(actor, 'update keys');
    const keyId = requireIdentifier(input.keyId, 'key_id');
    const fields = parseUpdateMask(input.updateMask);
    const requested: { name?: string; scopes?: string[]; allowedIps?: string[]; hours?: number } = {};
    if (fields.has('name')) requested.name = normalizeName(input.name);
    if (fields.has('scopes'))
      requested.scopes = this.options.scopes.normalize(input.scopes, 'scopes', { allowEmpty: false });
    if (fields.has('allowed_ips')) requested.allowedIps = normalizeAllowedIps(input.allowedIps);
    if (fields.has('expires_in_hours')) requested.hours = requireLifetime(input.expiresInHours);
    return this.mutate(actor, keyId, async (tx, key, now) => {
      requireState(key, now, 'updated');
      if (requested.hours !== undefined && key.replacedByKeyId !== null) {
        throw failedPrecondition(
          `key ${key.id} was rotated into ${key.replacedByKeyId} and lives only until its grace period ends; update the new key instead`,
        );
      }
      if (key.createdByRole === 'read_only_admin') {
        if (requested.hours !== undefined) {
          throw failedPrecondition(
            `key ${key.id} was created by a Read-Only Admin and has a fixed ${READ_ONLY_LIFETIME_HOURS}-hour lifetime that cannot be changed`,
          );
        }
        const widened = (requested.scopes ?? []).filter((scope) => !this.options.scopes.isReadOnly(scope));
        if (widened.length > 0) {
          throw failedPrecondition(
            `key ${key.id} was created by a Read-Only Admin and may only hold *:read scopes; not allowed: ${widened.join(', ')}`,
          );
        }
      }
      const patch: KeyPatch = {
        ...(requested.name !== undefined ? { name: requested.name } : {}),
        ...(requested.scopes !== undefined ? { scopes: requested.scopes } : {}),
        ...(requested.allowedIps !== undefined ? { allowedIps: requested.allowedIps } : {}),
        ...(requested.hours !== undefined ? { expireTime: now + requested.hours * HOUR_MS } : {}),
        updateTime: now,
      };
      const changes = diff(key, patch);
      if (changes.length === 0) return key;
      await tx.updateKey(key, patch);
      await tx.insertAuditEvent(auditEvent(actor, key, 'key_updated', now, { changes }));
      return { ...key, ...patch };
    });
  }

  /** Revokes a key at once. Admin only; revoking a revoked key returns it unchanged. */
  async revokeKey(actor: Actor, keyId: string, reason: string): Promise<ApiKeyRecord> {
    requireAdmin(actor, 'revoke keys');
    const id = requireIdentifier(keyId, 'key_id');
    const why = normalizeReason(reason);
    return this.mutate(actor, id, async (tx, key, now) => {
      if (key.revokeTime !== null) return key;
      return revoke(tx, actor, key, now, why);
    });
  }

  /** Revokes every key a user created that still works (offboarding). Admin only. */
  async revokeUserKeys(actor: Actor, userId: string, reason: string): Promise<ApiKeyRecord[]> {
    requireAdmin(actor, 'revoke keys');
    const target = requireIdentifier(userId, 'user_id');
    const why = normalizeReason(reason);
    const revoked = await this.options.repository.transaction(async (tx) => {
      const now = this.options.clock.now();
      const keys = await tx.lockActiveKeysOf(actor.organizationId, target, now);
      const out: ApiKeyRecord[] = [];
      for (const key of keys) out.push(await revoke(tx, actor, key, now, why ?? `keys of user ${target} revoked`));
      return out;
    });
    await this.options.onKeysChanged?.(revoked);
    return revoked;
  }

  /** Replaces an active key; the old one keeps working for the grace period, then expires. Admin only. */
  async rotateKey(
    actor: Actor,
    input: { keyId: string; gracePeriodHours: number; expiresInHours?: number },
  ): Promise<RotatedKey> {
    requireAdmin(actor, 'rotate keys');
    const keyId = requireIdentifier(input.keyId, 'key_id');
    const grace = input.gracePeriodHours;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_PERIOD_HOURS) {
      throw invalidArgument(
        `grace_period_hours must be between 0 and ${MAX_GRACE_PERIOD_HOURS} (0 revokes the old key at once), got ${grace}`,
      );
    }
    const lifetimeHours = this.lifetimeFor(actor, input.expiresInHours);
    const generated = generateSecret(labelForRole(actor.role));
    let created: ApiKeyRecord | undefined;
    const oldKey = await this.mutate(actor, keyId, async (tx, key, now) => {
      requireState(key, now, 'rotated');
      if (key.replacedByKeyId !== null) {
        throw failedPrecondition(
          `key ${key.id} was already rotated into ${key.replacedByKeyId}; rotate that key instead`,
        );
      }
      created = {
        ...key,
        id: newId('key'),
        prefix: generated.prefix,
        secretHash: generated.hash,
        createdByUserId: actor.userId,
        createdByRole: actor.role,
        createTime: now,
        expireTime: now + lifetimeHours * HOUR_MS,
        updateTime: now,
        lastUsedTime: null,
        lastUsedIp: null,
        rotatedFromKeyId: key.id,
        replacedByKeyId: null,
      };
      await tx.insertKey(created);
      await tx.insertAuditEvent(
        auditEvent(actor, created, 'key_created', now, { relatedKeyId: key.id, changes: describeNewKey(created) }),
      );
      const patch: KeyPatch =
        grace === 0
          ? {
              replacedByKeyId: created.id,
              updateTime: now,
              revokeTime: now,
              revokedByUserId: actor.userId,
              revokeReason: `rotated into ${created.id}`,
            }
          : {
              replacedByKeyId: created.id,
              updateTime: now,
              expireTime: Math.min(key.expireTime, now + grace * HOUR_MS),
            };
      await tx.updateKey(key, patch);
      await tx.insertAuditEvent(
        auditEvent(actor, key, 'key_rotated', now, { relatedKeyId: created.id, changes: diff(key, patch) }),
      );
      return { ...key, ...patch };
    });
    if (created === undefined) throw new Error('rotation committed without a new key');
    return { key: created, secret: generated.secret, oldKey };
  }

  /** The scope catalog. Either admin role. */
  listScopes(actor: Actor): readonly ScopeDefinition[] {
    requireKeyViewer(actor);
    return this.options.scopes.list();
  }

  /** The organization's audit trail, newest first, optionally for one key and a time range. */
  async listAuditEvents(actor: Actor, input: ListAuditInput): Promise<Page<AuditEventRecord>> {
    requireKeyViewer(actor);
    const limit = pageSize(input.pageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const keyId = input.keyId === '' ? undefined : requireIdentifier(input.keyId, 'key_id');
    if (input.startTime !== undefined && input.endTime !== undefined && input.endTime <= input.startTime) {
      throw invalidArgument('end_time must be after start_time');
    }
    if (keyId !== undefined && (await this.options.repository.findById(actor.organizationId, keyId)) === null) {
      throw keyNotFound(keyId);
    }
    const filters = JSON.stringify([
      'audit',
      actor.organizationId,
      keyId ?? '',
      input.startTime ?? '',
      input.endTime ?? '',
    ]);
    const rows = await this.options.repository.listAuditEvents({
      organizationId: actor.organizationId,
      ...(keyId !== undefined ? { keyId } : {}),
      ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
      ...(input.endTime !== undefined ? { endTime: input.endTime } : {}),
      limit: limit + 1,
      after: decodePageToken(input.pageToken, filters),
    });
    return paginate(rows, limit, filters, (event) => ({ time: event.createTime, id: event.id }));
  }

  /** Locks the key, runs `change` in the same transaction, then tells caches what changed. */
  private async mutate(
    actor: Actor,
    keyId: string,
    change: (tx: KeyTransaction, key: ApiKeyRecord, now: number) => Promise<ApiKeyRecord>,
  ): Promise<ApiKeyRecord> {
    const result = await this.options.repository.transaction(async (tx) => {
      const key = await tx.lockKey(actor.organizationId, keyId);
      if (key === null) throw keyNotFound(keyId);
      const now = this.options.clock.now();
      return change(tx, key, now);
    });
    await this.options.onKeysChanged?.([result]);
    return result;
  }

  private lifetimeFor(actor: Actor, expiresInHours: number | undefined): number {
    if (actor.role === 'read_only_admin') {
      if (expiresInHours !== undefined && expiresInHours !== READ_ONLY_LIFETIME_HOURS) {
        throw invalidArgument(
          `keys created by a Read-Only Admin have a fixed lifetime of ${READ_ONLY_LIFETIME_HOURS} hours; omit expires_in_hours (got ${expiresInHours})`,
        );
      }
      return READ_ONLY_LIFETIME_HOURS;
    }
    return expiresInHours === undefined ? this.options.defaultLifetimeHours : requireLifetime(expiresInHours);
  }

  private requireReadOnlyScopes(scopes: readonly string[]): void {
    const forbidden = scopes.filter((scope) => !this.options.scopes.isReadOnly(scope));
    if (forbidden.length > 0) {
      throw permissionDenied(
        `User cannot create keys with these scopes: ${forbidden.join(', ')} (a Read-Only Admin may only grant *:read scopes)`,
      );
    }
  }
}

function requireKeyViewer(actor: Actor): void {
  if (actor.role !== 'admin' && actor.role !== 'read_only_admin') {
    throw permissionDenied('only users with the Admin or Read-Only Admin role can manage API keys');
  }
}

const requireKeyManager = requireKeyViewer;

function requireAdmin(actor: Actor, action: string): void {
  requireKeyViewer(actor);
  if (actor.role !== 'admin') throw permissionDenied(`only users with the Admin role can ${action}`);
}

function requireLifetime(hours: number): number {
  if (!Number.isInteger(hours) || hours < 1 || hours > MAX_LIFETIME_HOURS) {
    throw invalidArgument(`expires_in_hours must be between 1 and ${MAX_LIFETIME_HOURS} (one year), got ${hours}`);
  }
  return hours;
}

function requireState(key: ApiKeyRecord, now: number, verb: string): void {
  const state = keyStateAt(key, now);
  if (state === 'revoked') throw failedPrecondition(`key ${key.id} is revoked and cannot be ${verb}`);
  if (state === 'expired') {
    throw failedPrecondition(
      `key ${key.id} expired at ${new Date(key.expireTime).toISOString()}; expired keys cannot be renewed or ${verb}, create a new key`,
    );
  }
}

function parseUpdateMask(paths: readonly string[]): Set<UpdatableField> {
  if (paths.length === 0) {
    throw invalidArgument(`update_mask is required: list the fields to change (${UPDATABLE.join(', ')})`);
  }
  const unknown = [...new Set(paths.filter((path) => !(UPDATABLE as readonly string[]).includes(path)))];
  if (unknown.length > 0) {
    // Named a few at a time: the mask's length is bounded only by the message size limit.
    const named = unknown.slice(0, MAX_NAMED_PATHS).map((p) => JSON.stringify(p.slice(0, 64)));
    const more = unknown.length > MAX_NAMED_PATHS ? ` and ${unknown.length - MAX_NAMED_PATHS} more` : '';
    throw invalidArgument(
      `update_mask has unknown path${unknown.length > 1 ? 's' : ''} ${named.join(', ')}${more}; updatable: ${UPDATABLE.join(', ')}`,
    );
  }
  return new Set(paths as UpdatableField[]);
}

async function revoke(
  tx: KeyTransaction,
  actor: Actor,
  key: ApiKeyRecord,
  now: number,
  reason: string | null,
): Promise<ApiKeyRecord> {
  const patch: KeyPatch = { revokeTime: now, revokedByUserId: actor.userId, revokeReason: reason, updateTime: now };
  await tx.updateKey(key, patch);
  await tx.insertAuditEvent(auditEvent(actor, key, 'key_revoked', now, { reason }));
  return { ...key, ...patch };
}

function keyNotFound(keyId: string): Error {
  return notFound(`API key ${JSON.stringify(keyId.slice(0, 64))} not found in your organization`);
}

/** A new identifier: `<kind>_` + 22 base62 characters (≈ 131 bits). */
export function newId(kind: 'key' | 'evt'): string {
  return `${kind}_${randomBase62(22)}`;
}

function auditEvent(
  actor: Actor,
  key: ApiKeyRecord,
  action: AuditAction,
  now: number,
  extra: { relatedKeyId?: string; changes?: FieldChange[]; reason?: string | null },
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
    relatedKeyId: extra.relatedKeyId ?? null,
    changes: extra.changes ?? [],
    reason: extra.reason ?? null,
  };
}

const AUDITED_FIELDS = [
  ['name', 'name'],
  ['scopes', 'scopes'],
  ['allowedIps', 'allowed_ips'],
  ['expireTime', 'expire_time'],
  ['revokeTime', 'revoke_time'],
  ['replacedByKeyId', 'replaced_by_key_id'],
] as const;

function render(value: unknown, field: string): string {
  if (value === null || value === undefined) return '';
  if (field.endsWith('_time') && typeof value === 'number') return new Date(value).toISOString();
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function diff(key: ApiKeyRecord, patch: KeyPatch): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [property, field] of AUDITED_FIELDS) {
    if (!(property in patch)) continue;
    const before = render(key[property], field);
    const after = render(patch[property], field);
    if (before !== after) changes.push({ field, oldValue: before, newValue: after });
  }
  return changes;
}

function describeNewKey(key: ApiKeyRecord): FieldChange[] {
  return AUDITED_FIELDS.filter(([property]) => key[property] !== null).map(([property, field]) => ({
    field,
    oldValue: '',
    newValue: render(key[property], field),
  }));
}

function paginate<T>(
  rows: T[],
  limit: number,
  filters: string,
  cursorOf: (row: T) => { time: number; id: string },
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextPageToken: rows.length > limit && last !== undefined ? encodePageToken(cursorOf(last), filters) : '',
  };
}
