import { invalidArgument } from '../AppError.js';
import type { Actor, AuditEventRecord } from '../types.js';
import { requireIdentifier } from '../validation.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { keyNotFound } from './keyNotFound.js';
import { pageLimit, paginate, type Page } from './paginate.js';
import { requirePermission } from './requirePermission.js';

/** Which audit events to list, and where the page starts. */
export interface ListAuditInput {
  /** Only events of this key; empty = every key of the organization. */
  readonly keyId: string;
  /** Inclusive lower bound, epoch ms. */
  readonly startTime?: number;
  /** Exclusive upper bound, epoch ms. */
  readonly endTime?: number;
  readonly pageSize: number;
  readonly pageToken: string;
}

/** The organization's audit trail, newest first, optionally for one key and a time range. */
export async function listAuditEvents(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'pageTokens'>,
  actor: Actor,
  input: ListAuditInput,
): Promise<Page<AuditEventRecord>> {
  requirePermission(actor, 'read keys');
  const limit = pageLimit(input.pageSize);
  const keyId = input.keyId === '' ? undefined : requireIdentifier(input.keyId, 'key_id');
  if (input.startTime !== undefined && input.endTime !== undefined && input.endTime <= input.startTime) {
    throw invalidArgument('end_time must be after start_time');
  }
  // An unknown key is NOT_FOUND rather than an empty page, as GetKey would answer.
  if (keyId !== undefined && (await deps.repository.findById(actor.organizationId, keyId)) === null) {
    throw keyNotFound(keyId);
  }
  // A page token is valid only for the caller and the filters it was issued for.
  const listing = JSON.stringify([
    'audit',
    actor.organizationId,
    actor.userId,
    keyId ?? '',
    input.startTime ?? '',
    input.endTime ?? '',
  ]);
  const rows = await deps.repository.listAuditEvents({
    organizationId: actor.organizationId,
    ...(keyId !== undefined ? { keyId } : {}),
    ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
    ...(input.endTime !== undefined ? { endTime: input.endTime } : {}),
    limit: limit + 1,
    after: deps.pageTokens.decode(input.pageToken, listing),
  });
  return paginate(deps.pageTokens, rows, limit, listing, (event) => ({ time: event.createTime, id: event.id }));
}
