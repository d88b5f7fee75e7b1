import type { Knex } from 'knex';

import type { ListCursor } from '../domain/KeyRepository.js';

/**
 * Limits `query` to one newest-first keyset page: rows strictly after the cursor in (create_time desc,
 * id desc) order, in that order, at most `limit`. Keys and audit events share it, and both tables index
 * (organization_id, create_time, id) for it.
 */
export function pageNewestFirst<Row extends object>(
  query: Knex.QueryBuilder<Row, Row[]>,
  after: ListCursor | undefined,
  limit: number,
): Knex.QueryBuilder<Row, Row[]> {
  if (after !== undefined) {
    void query.where((q) => {
      void q.where('create_time', '<', after.time).orWhere((same) => {
        void same.where('create_time', '=', after.time).andWhere('id', '<', after.id);
      });
    });
  }
  return query
    .orderBy([
      { column: 'create_time', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit);
}
