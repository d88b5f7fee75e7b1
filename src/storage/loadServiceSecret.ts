import type { Knex } from 'knex';

/**
 * The secret named `name` in `service_secrets`: inserted with `create()` if no process did so yet, then
 * read back. The insert is ignored when the row exists, so replicas starting at the same time all end up
 * with the one value that was inserted first.
 */
export async function loadServiceSecret(db: Knex, name: string, create: () => Buffer): Promise<Buffer> {
  await db('service_secrets').insert({ name, secret: create(), created_at: Date.now() }).onConflict('name').ignore();
  const row = await db<{ name: string; secret: Buffer }>('service_secrets').where({ name }).first('secret');
  if (row === undefined) throw new Error(`service secret "${name}" missing after insert`);
  return Buffer.from(row.secret);
}
