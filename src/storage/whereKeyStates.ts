import type { Knex } from 'knex';

import { KEY_STATES, type KeyState } from '../domain/types.js';

/**
 * Limits `query` to keys in any of `states` at instant `now`, by the rule of `keyStateAt`: revoked
 * wins, then expired, then disabled. An empty list, or one naming every state, filters nothing.
 */
export function whereKeyStates(query: Knex.QueryBuilder, states: readonly KeyState[], now: number): void {
  if (states.length === 0 || KEY_STATES.every((state) => states.includes(state))) return;
  void query.where((q) => {
    for (const state of states) {
      if (state === 'revoked') void q.orWhereNotNull('revoke_time');
      if (state === 'expired')
        void q.orWhere((s) => void s.whereNull('revoke_time').andWhere('expire_time', '<=', now));
      if (state === 'disabled')
        void q.orWhere(
          (s) => void s.whereNull('revoke_time').andWhere('expire_time', '>', now).whereNotNull('disable_time'),
        );
      if (state === 'active')
        void q.orWhere(
          (s) => void s.whereNull('revoke_time').andWhere('expire_time', '>', now).whereNull('disable_time'),
        );
    }
  });
}
