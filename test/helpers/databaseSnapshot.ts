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
  const head = (await db('key_changes').max({ id: 'id' }).first()) as { id: number | string | null } | undefined;
  return {
    keys: keys.map((row) => ({ ...row, secret_hash: Buffer.from(row.secret_hash as Buffer).toString('hex') })),
    auditEvents,
    changeFeedHead: Number(head?.id ?? 0),
  };
}
