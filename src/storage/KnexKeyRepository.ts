import type { Tracer } from '@opentelemetry/api';
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
import { AppError } from '../domain/AppError.js';
import { traceQuery } from './traceQuery.js';
import type { ApiKeyRecord, AuditEventRecord } from '../domain/types.js';
import type { UsageEntry } from '../domain/UsageTally.js';
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
import { addUsage, fromUsageRow, type UsageRow } from './usageRows.js';
import { whereKeyStates } from './whereKeyStates.js';

/** A change to append to the feed when its transaction is about to commit. */
interface PendingChange {
  readonly key: ApiKeyRecord;
  readonly keyVersion: number;
  readonly changeTime: number;
}

/** The index RevokeUserKeys' locking read must use on MySQL, so it locks that user's rows and no others. */
const CREATOR_INDEX = 'api_keys_org_creator_created';

/** KeyRepository over knex, for MySQL/MariaDB (mysql2) and SQLite (better-sqlite3). */
export class KnexKeyRepository implements KeyRepository {
  private readonly mysql: boolean;

  constructor(
    private readonly db: Knex,
    /** Spans for the lookups of a cache miss and for write transactions, inside a traced call. */
    private readonly tracer?: Tracer,
  ) {
    this.mysql = isMysql(db);
  }

  private get system(): string {
    return this.mysql ? 'mysql' : 'sqlite';
  }

  findByHash(secretHash: Buffer): Promise<ApiKeyRecord | null> {
    const attributes = { system: this.system, operation: 'SELECT', collection: 'api_keys' };
    return traceQuery(this.tracer, 'SELECT api_keys', attributes, () =>
      this.run(async () => {
        const row = (await this.db('api_keys').where('secret_hash', secretHash).first()) as KeyRow | undefined;
        return row === undefined ? null : fromKeyRow(row);
      }),
    );
  }

  listSecretHashes(after: Buffer | null, limit: number): Promise<Buffer[]> {
    return this.run(async () => {
      // Only the indexed column is read: MySQL answers from the unique index alone.
      const query = this.db('api_keys').select('secret_hash').orderBy('secret_hash', 'asc').limit(limit);
      if (after !== null) void query.where('secret_hash', '>', after);
      const rows = (await query) as { secret_hash: Buffer }[];
      return rows.map((row) => row.secret_hash);
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
      const { unusedSince, expireBefore } = query;
      if (unusedSince !== undefined) {
        void builder.andWhere((q) => void q.whereNull('last_used_time').orWhere('last_used_time', '<', unusedSince));
      }
      if (expireBefore !== undefined) void builder.andWhere('expire_time', '<', expireBefore);
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
    const attributes = { system: this.system, operation: 'transaction', collection: 'api_keys' };
    return traceQuery(this.tracer, 'transaction api_keys', attributes, () => this.writeTransaction(work, options));
  }

  private writeTransaction<T>(work: (tx: KeyTransaction) => Promise<T>, options: TransactionOptions): Promise<T> {
    return this.run(async () => {
      let lastPosition: number | undefined;
      let committing = false;
      const result = await runTransaction(
        this.db,
        async (trx) => {
          const pending: PendingChange[] = [];
          const value = await work(this.transactionOf(trx, pending));
          if (pending.length > 0) lastPosition = await appendChanges(trx, pending);
          committing = true;
          return value;
        },
        options.signal,
        // READ COMMITTED: a locking read locks the rows it returns, not the gaps between index records,
        // so one organization's writes never wait for another's.
        this.mysql ? { isolationLevel: 'read committed' } : undefined,
      ).catch((error: unknown) => {
        throw committing && this.mysql ? commitFailure(error) : error;
      });
      if (lastPosition !== undefined) options.onCommitted?.(lastPosition);
      return result;
    });
  }

  recordLastUsed(entries: readonly LastUsedEntry[], usage: readonly UsageEntry[] = []): Promise<void> {
    return this.run(async () => {
      // One transaction per batch keeps it one fsync, and the usage counts commit with the last-used
      // times or not at all. The WHERE keeps the newest time when several replicas flush observations
      // of the same key.
      let committing = false;
      await this.db
        .transaction(async (trx) => {
          for (const entry of entries) {
            await trx('api_keys')
              .where('id', entry.keyId)
              .andWhere((q) => void q.whereNull('last_used_time').orWhere('last_used_time', '<', entry.time))
              .update({ last_used_time: entry.time, last_used_ip: entry.ip });
          }
          await addUsage(trx, this.mysql, usage);
          committing = true;
        })
        .catch((error: unknown) => {
          // Counts are added, not set: a flush that may have committed must not be written again.
          throw committing && this.mysql ? commitFailure(error) : error;
        });
    });
  }

  readUsage(keyId: string, firstDay: number, lastDay: number): Promise<UsageEntry[]> {
    return this.run(async () => {
      const rows = await this.db<UsageRow>('key_usage')
        .where('key_id', keyId)
        .andWhere('day', '>=', firstDay)
        .andWhere('day', '<=', lastDay)
        .orderBy('day', 'asc');
      return rows.map(fromUsageRow);
    });
  }

  pruneUsage(beforeDay: number): Promise<number> {
    return this.run(() => this.db('key_usage').where('day', '<', beforeDay).delete());
  }

  readChanges(afterPosition: number, limit: number): Promise<KeyChange[]> {
    return this.run(async () => {
      const rows = await this.db<ChangeRow>('key_feed')
        .where('position', '>', afterPosition)
        .orderBy('position', 'asc')
        .limit(limit);
      return rows.map(fromChangeRow);
    });
  }

  pruneChanges(before: number): Promise<number> {
    return this.run(async () => {
      const newest = (await this.db('key_feed').max({ position: 'position' }).first()) as
        { position: number | string | null } | undefined;
      if (newest?.position === null || newest?.position === undefined) return 0;
      return this.db('key_feed')
        .where('change_time', '<', before)
        .andWhere('position', '<', fromBigInt(newest.position))
        .delete();
    });
  }

  latestChangePosition(): Promise<number> {
    return this.run(async () => {
      const row = await this.db('key_feed_head')
        .where('id', 1)
        .first<{ position: number | string } | undefined>('position');
      return row === undefined ? 0 : fromBigInt(row.position);
    });
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.db.raw('select 1');
    });
  }

  private transactionOf(trx: Knex.Transaction, pending: PendingChange[]): KeyTransaction {
    const lockable = (query: Knex.QueryBuilder): Knex.QueryBuilder => (this.mysql ? query.forUpdate() : query);
    return {
      lockKey: async (organizationId, keyId) => {
        const row = (await lockable(trx('api_keys').where({ id: keyId, organization_id: organizationId })).first()) as
          KeyRow | undefined;
        return row === undefined ? null : fromKeyRow(row);
      },
      lockActiveKeysOf: async (organizationId, userId, now, limit) => {
        // The index names the user's rows exactly: a table scan (the optimiser's pick on a small table)
        // would lock, and wait for, every other organization's rows on the way.
        const table = this.mysql ? trx.raw(`api_keys FORCE INDEX (${CREATOR_INDEX})`) : 'api_keys';
        const rows = (await lockable(
          trx
            .from(table)
            .where({ organization_id: organizationId, created_by_user_id: userId })
            .whereNull('revoke_time')
            .andWhere('expire_time', '>', now)
            .orderBy([
              { column: 'create_time', order: 'asc' },
              { column: 'id', order: 'asc' },
            ])
            .limit(limit),
        )) as KeyRow[];
        return rows.map(fromKeyRow);
      },
      insertKey: async (key) => {
        await trx('api_keys').insert(toKeyRow(key));
        pending.push({ key, keyVersion: key.version, changeTime: key.updateTime });
      },
      updateKey: async (key, patch) => {
        await trx('api_keys')
          .where('id', key.id)
          .update({ ...toPatchRow(patch), version: key.version + 1 });
        pending.push({ key, keyVersion: key.version + 1, changeTime: patch.updateTime });
      },
      updateKeys: async (keys, patch) => {
        if (keys.length === 0) return;
        await trx('api_keys')
          .whereIn(
            'id',
            keys.map((key) => key.id),
          )
          .update({ ...toPatchRow(patch), version: trx.raw('version + 1') });
        for (const key of keys) pending.push({ key, keyVersion: key.version + 1, changeTime: patch.updateTime });
      },
      insertAuditEvent: async (event) => {
        await trx('audit_events').insert(toAuditRow(event));
      },
      insertAuditEvents: async (events) => {
        if (events.length > 0) await trx('audit_events').insert(events.map(toAuditRow));
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

/**
 * What a failed COMMIT on MySQL means to the caller. When the connection was lost or the answer did not
 * come within the statement deadline, the server may have committed (it received the COMMIT, or a
 * semi-synchronous replica's acknowledgement was late), so "nothing was changed, retry" would be false,
 * and a retried CreateKey or RotateKey would make a second key: UNKNOWN, with what to check instead.
 */
function commitFailure(error: unknown): unknown {
  if (toDatabaseError(error).code !== 'UNAVAILABLE') return error;
  return new AppError(
    'UNKNOWN',
    'the key database did not confirm the commit of this change, so it may or may not have been made; check the key (GetKey, ListAuditEvents) before retrying',
    { cause: error },
  );
}

/**
 * Appends a transaction's changes to the feed, as its last statements before it commits. Incrementing
 * the head row takes its lock until the commit: a second writer waits here until the first is visible,
 * so positions become visible in ascending order with no gaps (a rollback undoes the increment too).
 * Returns the position of the last change.
 */
async function appendChanges(trx: Knex.Transaction, pending: readonly PendingChange[]): Promise<number> {
  await trx('key_feed_head').where('id', 1).increment('position', pending.length);
  const head = await trx('key_feed_head').where('id', 1).first<{ position: number | string }>('position');
  const last = fromBigInt(head.position);
  const first = last - pending.length + 1;
  await trx('key_feed').insert(
    pending.map((change, index) => toChangeRow(first + index, change.key, change.keyVersion, change.changeTime)),
  );
  return last;
}
