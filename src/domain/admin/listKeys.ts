import type { Actor, ApiKeyRecord, KeyState } from '../types.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { pageLimit, paginate, type Page } from './paginate.js';
import { requirePermission } from './requirePermission.js';

/** Which keys to list, and where the page starts. */
export interface ListKeysInput {
  /** Only the keys the actor created. */
  readonly onlyMine: boolean;
  /** Only keys in these states; empty = all. */
  readonly states: readonly KeyState[];
  /** Only keys not used since this instant (epoch ms): last used before it, or never used. */
  readonly unusedSince?: number;
  /** Only keys expiring before this instant (epoch ms). */
  readonly expireBefore?: number;
  readonly pageSize: number;
  readonly pageToken: string;
}

/**
 * Lists keys of the organization (or only the actor's), newest first; optionally only idle keys (not used
 * since a time) and/or keys expiring before a time.
 */
export async function listKeys(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'clock' | 'pageTokens'>,
  actor: Actor,
  input: ListKeysInput,
): Promise<Page<ApiKeyRecord>> {
  requirePermission(actor, 'read keys');
  const limit = pageLimit(input.pageSize);
  const states = [...new Set(input.states)].sort();
  // A page token is valid only for the caller and the filters it was issued for.
  const listing = JSON.stringify([
    'keys',
    actor.organizationId,
    actor.userId,
    input.onlyMine,
    states,
    ...(input.unusedSince !== undefined || input.expireBefore !== undefined
      ? [input.unusedSince ?? '', input.expireBefore ?? '']
      : []),
  ]);
  const rows = await deps.repository.listKeys({
    organizationId: actor.organizationId,
    ...(input.onlyMine ? { createdByUserId: actor.userId } : {}),
    states,
    now: deps.clock.now(),
    ...(input.unusedSince !== undefined ? { unusedSince: input.unusedSince } : {}),
    ...(input.expireBefore !== undefined ? { expireBefore: input.expireBefore } : {}),
    limit: limit + 1,
    after: deps.pageTokens.decode(input.pageToken, listing),
  });
  return paginate(deps.pageTokens, rows, limit, listing, (key) => ({ time: key.createTime, id: key.id }));
}
