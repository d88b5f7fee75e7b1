import type { Knex } from 'knex';

/** What a refused call must leave untouched: the organizations' keys, their audit trail, the change feed. */
export interface DatabaseSnapshot {
  readonly keys: Record<string, unknown>[];
  readonly auditEvents: Record<string, unknown>[];
  readonly changeFeedHead: number;
}

/** Reads every row of `organizationIds` in a form that compares equal on both databases. */
export async function databaseSnapshot(db: Knex, organizationIds: readonly string[]): Promise<DatabaseSnapshot> {
  const keys = (await db('api_keys').whereIn('organization_id', organizationIds).orderBy('id')) as Record<
    string,
    unknown
  >[];
  const auditEvents = (await db('audit_events').whereIn('organization_id', organizationIds).orderBy('id')) as Record<
    string,
    unknown
  >[];
  const head = await db('key_feed_head').where('id', 1).first<{ position: number | string } | undefined>('position');
  return {
    keys: keys.map((row) => ({ ...row, secret_hash: Buffer.from(row.secret_hash as Buffer).toString('hex') })),
    auditEvents,
    changeFeedHead: Number(head?.position ?? 0),
  };
}
