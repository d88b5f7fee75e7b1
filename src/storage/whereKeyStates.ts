import type { Knex } from 'knex';

import type { KeyState } from '../domain/types.js';

/**
 * Limits `query` to keys in any of `states` at instant `now`, by the rule of `keyStateAt`: revoked
 * wins, then expired. An empty list, or one of three entries, filters nothing.
 */
export function whereKeyStates(query: Knex.QueryBuilder, states: readonly KeyState[], now: number): void {
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
