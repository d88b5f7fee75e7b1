import { KeyOwnerFilter } from '../../gen/apikeys/v1/api_keys.js';
import type { ListAuditEventsRequest, ListKeysRequest } from '../../gen/apikeys/v1/api_keys.js';
import { invalidArgument } from '../domain/AppError.js';
import type { ListAuditInput } from '../domain/admin/listAuditEvents.js';
import type { ListKeysInput } from '../domain/admin/listKeys.js';
import { msFromTimestamp, statesFromProto } from './convert.js';

/** `ListKeysRequest` → the listing's input; an owner filter outside the enum is INVALID_ARGUMENT. */
export function listKeysInputFromProto(request: ListKeysRequest): ListKeysInput {
  if (!Object.values(KeyOwnerFilter).includes(request.owner) || request.owner === KeyOwnerFilter.UNRECOGNIZED) {
    throw invalidArgument(`owner: ${request.owner} is not a valid KeyOwnerFilter`);
  }
  const unusedSince = msFromTimestamp(request.unusedSince, 'unused_since');
  const expireBefore = msFromTimestamp(request.expireBefore, 'expire_before');
  return {
    onlyMine: request.owner === KeyOwnerFilter.KEY_OWNER_FILTER_MINE,
    states: statesFromProto(request.states),
    ...(unusedSince !== undefined ? { unusedSince } : {}),
    ...(expireBefore !== undefined ? { expireBefore } : {}),
    pageSize: request.pageSize,
    pageToken: request.pageToken,
  };
}

/** `ListAuditEventsRequest` → the audit listing's input (time bounds checked and turned into epoch ms). */
export function listAuditInputFromProto(request: ListAuditEventsRequest): ListAuditInput {
  const startTime = msFromTimestamp(request.startTime, 'start_time');
  const endTime = msFromTimestamp(request.endTime, 'end_time');
  return {
    keyId: request.keyId,
    ...(startTime !== undefined ? { startTime } : {}),
    ...(endTime !== undefined ? { endTime } : {}),
    pageSize: request.pageSize,
    pageToken: request.pageToken,
  };
}
