import type { Knex } from 'knex';

import type {
  AuditListQuery,
  KeyChange,
  KeyListQuery,
  KeyRepository,
  KeyTransaction,
  LastUsedEntry,
  TransactionOptions,
} from '../domain/KeyRepository.js';
import type { ApiKeyRecord, AuditEventRecord } from '../domain/types.js';
import { isMysql } from './isMysql.js';
import { pageNewestFirst } from './pageNewestFirst.js';
import {
  type AuditRow,
  type ChangeRow,
  fromAuditRow,
  fromBigInt,
  fromChangeRow,
  fromKeyRow,
  type KeyRow,
  toAuditRow,
  toChangeRow,
  toKeyRow,
  toPatchRow,
} from './rows.js';
import { runTransaction } from './runTransaction.js';
import { toDatabaseError } from './toDatabaseError.js';
import { whereKeyStates } from './whereKeyStates.js';

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
      whereKeyStates(builder, query.states, query.now);
      const rows = await pageNewestFirst(builder, query.after, query.limit);
      return rows.map(fromKeyRow);
    });
  }

  listAuditEvents(query: AuditListQuery): Promise<AuditEventRecord[]> {
    return this.run(async () => {
      const builder = this.db<AuditRow>('audit_events').where('organization_id', query.organizationId);
      if (query.keyId !== undefined) void builder.andWhere('key_id', query.keyId);
      if (query.startTime !== undefined) void builder.andWhere('create_time', '>=', query.startTime);
      if (query.endTime !== undefined) void builder.andWhere('create_time', '<', query.endTime);
      const rows = await pageNewestFirst(builder, query.after, query.limit);
      return rows.map(fromAuditRow);
    });
  }

  transaction<T>(work: (tx: KeyTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.run(() => runTransaction(this.db, (trx) => work(this.transactionOf(trx)), options.signal));
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
      const query = this.db<ChangeRow>('key_changes').where('id', '>', afterId);
      if (missingIds.length > 0) void query.orWhereIn('id', missingIds.slice(0, 1000));
      const rows = await query.orderBy('id', 'asc').limit(limit);
      return rows.map(fromChangeRow);
    });
  }

  pruneChanges(before: number): Promise<number> {
    return this.run(async () => this.db('key_changes').where('change_time', '<', before).delete());
  }

  latestChangeId(): Promise<number> {
    return this.run(async () => {
      const row = (await this.db('key_changes').max({ id: 'id' }).first()) as
        { id: number | string | null } | undefined;
      return row?.id === null || row?.id === undefined ? 0 : fromBigInt(row.id);
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
      await trx('key_changes').insert(toChangeRow(key, now));
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
        await trx('audit_events').insert(toAuditRow(event));
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
