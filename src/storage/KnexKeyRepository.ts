import type { Knex } from 'knex';

import type {
  AuditListQuery,
  KeyChange,
  KeyListQuery,
  KeyPatch,
  KeyRepository,
  KeyTransaction,
  LastUsedEntry,
  ListCursor,
} from '../domain/KeyRepository.js';
import type { ApiKeyRecord, AuditEventRecord, KeyState, Role } from '../domain/types.js';
import { isMysql } from './isMysql.js';
import { toDatabaseError } from './toDatabaseError.js';

export interface KeyRow {
  id: string;
  organization_id: string;
  name: string;
  prefix: string;
  secret_hash: Buffer;
  scopes: string;
  allowed_ips: string;
  created_by_user_id: string;
  created_by_role: string;
  create_time: number | string;
  expire_time: number | string;
  update_time: number | string;
  revoke_time: number | string | null;
  revoked_by_user_id: string | null;
  revoke_reason: string | null;
  last_used_time: number | string | null;
  last_used_ip: string | null;
  rotated_from_key_id: string | null;
  replaced_by_key_id: string | null;
}

interface AuditRow {
  id: string;
  organization_id: string;
  key_id: string;
  action: string;
  actor_user_id: string;
  actor_role: string;
  caller: string;
  create_time: number | string;
  related_key_id: string | null;
  changes: string;
  reason: string | null;
}

function toMs(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}

function toMsOrNull(value: number | string | null): number | null {
  return value === null ? null : toMs(value);
}

function fromKeyRow(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    prefix: row.prefix,
    secretHash: Buffer.from(row.secret_hash),
    scopes: JSON.parse(row.scopes) as string[],
    allowedIps: JSON.parse(row.allowed_ips) as string[],
    createdByUserId: row.created_by_user_id,
    createdByRole: row.created_by_role as Role,
    createTime: toMs(row.create_time),
    expireTime: toMs(row.expire_time),
    updateTime: toMs(row.update_time),
    revokeTime: toMsOrNull(row.revoke_time),
    revokedByUserId: row.revoked_by_user_id,
    revokeReason: row.revoke_reason,
    lastUsedTime: toMsOrNull(row.last_used_time),
    lastUsedIp: row.last_used_ip,
    rotatedFromKeyId: row.rotated_from_key_id,
    replacedByKeyId: row.replaced_by_key_id,
  };
}

/** The `api_keys` row of a key (exported for bulk seeding in the benchmark). */
export function toKeyRow(key: ApiKeyRecord): KeyRow {
  return {
    id: key.id,
    organization_id: key.organizationId,
    name: key.name,
    prefix: key.prefix,
    secret_hash: key.secretHash,
    scopes: JSON.stringify(key.scopes),
    allowed_ips: JSON.stringify(key.allowedIps),
    created_by_user_id: key.createdByUserId,
    created_by_role: key.createdByRole,
    create_time: key.createTime,
    expire_time: key.expireTime,
    update_time: key.updateTime,
    revoke_time: key.revokeTime,
    revoked_by_user_id: key.revokedByUserId,
    revoke_reason: key.revokeReason,
    last_used_time: key.lastUsedTime,
    last_used_ip: key.lastUsedIp,
    rotated_from_key_id: key.rotatedFromKeyId,
    replaced_by_key_id: key.replacedByKeyId,
  };
}

const PATCH_COLUMNS: Record<Exclude<keyof KeyPatch, 'updateTime'>, keyof KeyRow> = {
  name: 'name',
  scopes: 'scopes',
  allowedIps: 'allowed_ips',
  expireTime: 'expire_time',
  revokeTime: 'revoke_time',
  revokedByUserId: 'revoked_by_user_id',
  revokeReason: 'revoke_reason',
  replacedByKeyId: 'replaced_by_key_id',
};

function toPatchRow(patch: KeyPatch): Partial<Record<keyof KeyRow, unknown>> {
  const row: Partial<Record<keyof KeyRow, unknown>> = { update_time: patch.updateTime };
  for (const [property, column] of Object.entries(PATCH_COLUMNS) as [keyof typeof PATCH_COLUMNS, keyof KeyRow][]) {
    const update = patch[property];
    if (update.kind === 'set') row[column] = Array.isArray(update.value) ? JSON.stringify(update.value) : update.value;
  }
  return row;
}

function fromAuditRow(row: AuditRow): AuditEventRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    keyId: row.key_id,
    action: row.action as AuditEventRecord['action'],
    actorUserId: row.actor_user_id,
    actorRole: row.actor_role as Role,
    caller: row.caller,
    createTime: toMs(row.create_time),
    relatedKeyId: row.related_key_id,
    changes: JSON.parse(row.changes) as AuditEventRecord['changes'],
    reason: row.reason,
  };
}

/** Newest-first keyset pagination: rows strictly after the cursor in (time desc, id desc) order. */
function applyCursor(query: Knex.QueryBuilder, timeColumn: string, after: ListCursor | undefined): void {
  if (after === undefined) return;
  void query.where((q) => {
    void q.where(timeColumn, '<', after.time).orWhere((same) => {
      void same.where(timeColumn, '=', after.time).andWhere('id', '<', after.id);
    });
  });
}

function applyStates(query: Knex.QueryBuilder, states: readonly KeyState[], now: number): void {
  if (states.length === 0 || states.length === 3) return;
  void query.where((q) => {
    for (const state of states) {
      if (state === 'revoked') void q.orWhereNotNull('revoke_time');
      if (state === 'active') void q.orWhere((s) => void s.whereNull('revoke_time').andWhere('expire_time', '>', now));
      if (state === 'expired')
        void q.orWhere((s) => void s.whereNull('revoke_time').andWhere('expire_time', '<=', now));
    }
  });
}

/** KeyRepository over knex, for MySQL/MariaDB (mysql2) and SQLite (better-sqlite3). */
export class KnexKeyRepository implements KeyRepository {
  private readonly mysql: boolean;

  constructor(private readonly db: Knex) {
    this.mysql = isMysql(db);
  }

  findByHash(secretHash: Buffer): Promise<ApiKeyRecord | null> {
    return this.run(async () => {
      const row = (await this.db('api_keys').where('secret_hash', secretHash).first()) as KeyRow | undefined;
      return row === undefined ? null : fromKeyRow(row);
    });
  }

  findById(organizationId: string, keyId: string): Promise<ApiKeyRecord | null> {
    return this.run(async () => {
      const row = (await this.db('api_keys').where({ id: keyId, organization_id: organizationId }).first()) as
        KeyRow | undefined;
      return row === undefined ? null : fromKeyRow(row);
    });
  }

  listKeys(query: KeyListQuery): Promise<ApiKeyRecord[]> {
    return this.run(async () => {
      const builder = this.db<KeyRow>('api_keys').where('organization_id', query.organizationId);
      if (query.createdByUserId !== undefined) void builder.andWhere('created_by_user_id', query.createdByUserId);
      applyStates(builder, query.states, query.now);
      applyCursor(builder, 'create_time', query.after);
      const rows = await builder
        .orderBy([
          { column: 'create_time', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(query.limit);
      return rows.map(fromKeyRow);
    });
  }

  listAuditEvents(query: AuditListQuery): Promise<AuditEventRecord[]> {
    return this.run(async () => {
      const builder = this.db<AuditRow>('audit_events').where('organization_id', query.organizationId);
      if (query.keyId !== undefined) void builder.andWhere('key_id', query.keyId);
      if (query.startTime !== undefined) void builder.andWhere('create_time', '>=', query.startTime);
      if (query.endTime !== undefined) void builder.andWhere('create_time', '<', query.endTime);
      applyCursor(builder, 'create_time', query.after);
      const rows = await builder
        .orderBy([
          { column: 'create_time', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(query.limit);
      return rows.map(fromAuditRow);
    });
  }

  transaction<T>(work: (tx: KeyTransaction) => Promise<T>): Promise<T> {
    return this.run(() => this.db.transaction((trx) => work(this.transactionOf(trx))));
  }

  recordLastUsed(entries: readonly LastUsedEntry[]): Promise<void> {
    return this.run(async () => {
      // One transaction per batch keeps it one fsync; the WHERE keeps the newest time when several
      // replicas flush observations of the same key.
      await this.db.transaction(async (trx) => {
        for (const entry of entries) {
          await trx('api_keys')
            .where('id', entry.keyId)
            .andWhere((q) => void q.whereNull('last_used_time').orWhere('last_used_time', '<', entry.time))
            .update({ last_used_time: entry.time, last_used_ip: entry.ip });
        }
      });
    });
  }

  readChanges(afterId: number, missingIds: readonly number[], limit: number): Promise<KeyChange[]> {
    return this.run(async () => {
      const query = this.db('key_changes').where('id', '>', afterId);
      if (missingIds.length > 0) void query.orWhereIn('id', missingIds.slice(0, 1000));
      const rows = (await query.orderBy('id', 'asc').limit(limit)) as {
        id: number | string;
        key_id: string;
        secret_hash: Buffer;
        change_time: number | string;
      }[];
      return rows.map((row) => ({
        id: toMs(row.id),
        keyId: row.key_id,
        secretHash: Buffer.from(row.secret_hash),
        changeTime: toMs(row.change_time),
      }));
    });
  }

  pruneChanges(before: number): Promise<number> {
    return this.run(async () => this.db('key_changes').where('change_time', '<', before).delete());
  }

  latestChangeId(): Promise<number> {
    return this.run(async () => {
      const row = (await this.db('key_changes').max({ id: 'id' }).first()) as
        { id: number | string | null } | undefined;
      return row?.id === null || row?.id === undefined ? 0 : toMs(row.id);
    });
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.db.raw('select 1');
    });
  }

  private transactionOf(trx: Knex.Transaction): KeyTransaction {
    const lockable = (query: Knex.QueryBuilder): Knex.QueryBuilder => (this.mysql ? query.forUpdate() : query);
    const recordChange = async (key: ApiKeyRecord, now: number): Promise<void> => {
      await trx('key_changes').insert({ key_id: key.id, secret_hash: key.secretHash, change_time: now });
    };
    return {
      lockKey: async (organizationId, keyId) => {
        const row = (await lockable(trx('api_keys').where({ id: keyId, organization_id: organizationId })).first()) as
          KeyRow | undefined;
        return row === undefined ? null : fromKeyRow(row);
      },
      lockActiveKeysOf: async (organizationId, userId, now) => {
        const rows = (await lockable(
          trx('api_keys')
            .where({ organization_id: organizationId, created_by_user_id: userId })
            .whereNull('revoke_time')
            .andWhere('expire_time', '>', now)
            .orderBy('create_time', 'asc'),
        )) as KeyRow[];
        return rows.map(fromKeyRow);
      },
      insertKey: async (key) => {
        await trx('api_keys').insert(toKeyRow(key));
        await recordChange(key, key.updateTime);
      },
      updateKey: async (key, patch) => {
        await trx('api_keys').where('id', key.id).update(toPatchRow(patch));
        await recordChange(key, patch.updateTime);
      },
      insertAuditEvent: async (event) => {
        await trx('audit_events').insert({
          id: event.id,
          organization_id: event.organizationId,
          key_id: event.keyId,
          action: event.action,
          actor_user_id: event.actorUserId,
          actor_role: event.actorRole,
          caller: event.caller,
          create_time: event.createTime,
          related_key_id: event.relatedKeyId,
          changes: JSON.stringify(event.changes),
          reason: event.reason,
        });
      },
    };
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toDatabaseError(error);
    }
  }
}
