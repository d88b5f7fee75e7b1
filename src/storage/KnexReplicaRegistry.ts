import type { Knex } from 'knex';

import type { ReplicaProgress, ReplicaRegistry, ReplicaSnapshot } from '../domain/ReplicaRegistry.js';
import { databaseNowMs } from './databaseNowMs.js';
import { fromBigInt } from './rows.js';
import { toDatabaseError } from './toDatabaseError.js';

/** A row of the snapshot query: the head, and a live replica's progress (null without any). */
interface SnapshotRow {
  readonly head: number | string;
  readonly replica_id: string | null;
  readonly applied_position: number | string | null;
}

/** ReplicaRegistry over the `feed_replicas` table, for MySQL/MariaDB and SQLite. */
export class KnexReplicaRegistry implements ReplicaRegistry {
  constructor(private readonly db: Knex) {}

  register(replicaId: string, appliedPosition: number): Promise<void> {
    return this.run(async () => {
      // A replica id is new at every start, so a row with it is only ever this process's own.
      await this.db('feed_replicas').where('replica_id', replicaId).delete();
      await this.insert(replicaId, appliedPosition);
    });
  }

  report(replicaId: string, appliedPosition: number): Promise<void> {
    return this.run(async () => {
      const updated = await this.db('feed_replicas')
        .where('replica_id', replicaId)
        .update({ applied_position: appliedPosition, heartbeat_at: this.now() });
      if (updated === 0) await this.insert(replicaId, appliedPosition);
    });
  }

  deregister(replicaId: string): Promise<void> {
    return this.run(async () => {
      await this.db('feed_replicas').where('replica_id', replicaId).delete();
    });
  }

  snapshot(timeoutMs: number): Promise<ReplicaSnapshot> {
    return this.run(async () => {
      // One statement: the head by its primary key, the live replicas by the heartbeat index.
      const rows = (await this.db
        .select('h.position as head', 'r.replica_id', 'r.applied_position')
        .from('key_feed_head as h')
        .joinRaw(`LEFT JOIN feed_replicas r ON r.heartbeat_at >= ${databaseNowMs(this.db)} - ?`, [timeoutMs])
        .where('h.id', 1)) as SnapshotRow[];
      const replicas: ReplicaProgress[] = [];
      for (const row of rows) {
        if (row.replica_id === null || row.applied_position === null) continue;
        replicas.push({ replicaId: row.replica_id, appliedPosition: fromBigInt(row.applied_position) });
      }
      return { head: rows[0] === undefined ? 0 : fromBigInt(rows[0].head), replicas };
    });
  }

  removeDead(olderThanMs: number): Promise<number> {
    return this.run(() =>
      this.db('feed_replicas')
        .where('heartbeat_at', '<', this.db.raw(`${databaseNowMs(this.db)} - ?`, [olderThanMs]))
        .delete(),
    );
  }

  private async insert(replicaId: string, appliedPosition: number): Promise<void> {
    await this.db('feed_replicas').insert({
      replica_id: replicaId,
      applied_position: appliedPosition,
      heartbeat_at: this.now(),
      started_at: this.now(),
    });
  }

  private now(): Knex.Raw {
    return this.db.raw(databaseNowMs(this.db));
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toDatabaseError(error);
    }
  }
}
