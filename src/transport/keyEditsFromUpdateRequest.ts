import type { UpdateKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { invalidArgument } from '../domain/AppError.js';
import { setTo, UNCHANGED } from '../domain/FieldUpdate.js';
import type { KeyEdits } from '../domain/admin/updateKey.js';

/** The `update_mask` paths, in the order error messages list them. */
const UPDATABLE = ['name', 'scopes', 'allowed_ips', 'expires_in_hours', 'enabled', 'metadata'] as const;
type UpdatablePath = (typeof UPDATABLE)[number];
/** Most unknown update_mask paths an error message names. */
const MAX_NAMED_PATHS = 5;

/**
 * The edits an UpdateKey request asks for: the fields its `update_mask` names are set to the request's
 * values (an empty list included: `allowed_ips` named with no entries clears the allowlist), all others
 * stay unchanged. INVALID_ARGUMENT for an empty mask or unknown paths.
 */
export function keyEditsFromUpdateRequest(request: UpdateKeyRequest): KeyEdits {
  const paths = request.updateMask ?? [];
  if (paths.length === 0) {
    throw invalidArgument(`update_mask is required: list the fields to change (${UPDATABLE.join(', ')})`);
  }
  const unknown = [...new Set(paths.filter((path) => !(UPDATABLE as readonly string[]).includes(path)))];
  if (unknown.length > 0) {
    // Named a few at a time: the mask's length is bounded only by the message size limit.
    const named = unknown.slice(0, MAX_NAMED_PATHS).map((p) => JSON.stringify(p.slice(0, 64)));
    const more = unknown.length > MAX_NAMED_PATHS ? ` and ${unknown.length - MAX_NAMED_PATHS} more` : '';
    throw invalidArgument(
      `update_mask has unknown path${unknown.length > 1 ? 's' : ''} ${named.join(', ')}${more}; updatable: ${UPDATABLE.join(', ')}`,
    );
  }
  const masked = new Set(paths as UpdatablePath[]);
  return {
    name: masked.has('name') ? setTo(request.name) : UNCHANGED,
    scopes: masked.has('scopes') ? setTo(request.scopes) : UNCHANGED,
    allowedIps: masked.has('allowed_ips') ? setTo(request.allowedIps) : UNCHANGED,
    expiresInHours: masked.has('expires_in_hours') ? setTo(request.expiresInHours) : UNCHANGED,
    // Unset with `enabled` in the mask is proto3's default, false: suspend.
    enabled: masked.has('enabled') ? setTo(request.enabled ?? false) : UNCHANGED,
    metadata: masked.has('metadata') ? setTo(request.metadata) : UNCHANGED,
  };
}
