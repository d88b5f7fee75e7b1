import { status as GrpcStatus } from '@grpc/grpc-js';

import {
  type HeaderValueOption,
  HeaderValueOption_HeaderAppendAction,
} from '../../../gen/envoy/config/core/v3/base.js';
import { StatusCode } from '../../../gen/envoy/type/v3/http_status.js';
import type { CheckResponse } from '../../../gen/envoy/service/auth/v3/external_auth.js';
import type { Verification } from '../../domain/KeyVerifier.js';
import { DENIAL_HTTP_STATUS } from '../../domain/KeyVerifier.js';
import type { VerifiableKey } from '../../domain/VerifiableKey.js';

/** The headers an allowed request carries upstream (each replaces any the client sent). */
export const UPSTREAM_HEADERS = {
  keyId: 'x-apikey-key-id',
  organizationId: 'x-apikey-organization-id',
  keyName: 'x-apikey-key-name',
  scopes: 'x-apikey-scopes',
  authenticatedAt: 'x-apikey-authenticated-at',
} as const;

const EMPTY = Buffer.alloc(0);

function header(key: string, value: string): HeaderValueOption {
  return {
    header: { key, value, rawValue: EMPTY },
    appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    keepEmptyValue: false,
  };
}

/** A header value is visible ASCII: anything else in a key name is percent-encoded (UTF-8). */
function headerSafe(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : text.replace(/[^\x20-\x7e]+/g, (run) => encodeURIComponent(run));
}

/** The key's facts for Envoy's dynamic metadata (access logs), as a Struct. */
function keyMetadata(key: VerifiableKey, now: number): Record<string, unknown> {
  return {
    key_id: key.id,
    organization_id: key.organizationId,
    key_name: key.name,
    key_prefix: key.prefix,
    scopes: [...key.scopes],
    authenticated_at: new Date(now).toISOString(),
  };
}

/** An allowed request: the key's facts as upstream headers and dynamic metadata, the key header removed. */
export function allowedResponse(
  outcome: Extract<Verification, { valid: true }>,
  keyHeader: string,
  removeKeyHeader: boolean,
): CheckResponse {
  const { key, now } = outcome;
  return {
    status: { code: GrpcStatus.OK, message: '', details: [] },
    httpResponse: {
      $case: 'okResponse',
      value: {
        headers: [
          header(UPSTREAM_HEADERS.keyId, key.id),
          header(UPSTREAM_HEADERS.organizationId, key.organizationId),
          header(UPSTREAM_HEADERS.keyName, headerSafe(key.name)),
          header(UPSTREAM_HEADERS.scopes, key.scopes.join(',')),
          header(UPSTREAM_HEADERS.authenticatedAt, new Date(now).toISOString()),
        ],
        headersToRemove: removeKeyHeader ? [keyHeader] : [],
        responseHeadersToAdd: [],
        queryParametersToSet: [],
        queryParametersToRemove: [],
      },
    },
    dynamicMetadata: { decision: 'valid', ...keyMetadata(key, now) },
  };
}

const HTTP_STATUS = {
  401: StatusCode.Unauthorized,
  403: StatusCode.Forbidden,
  500: StatusCode.InternalServerError,
} as const;

/** RFC 6750 challenge of a refused request (API-key header: a challenge naming it). */
function challenge(status: number, code: string, keyHeader: string): string | undefined {
  const scheme = keyHeader === 'authorization' ? 'Bearer' : `APIKey header="${keyHeader}"`;
  if (status === 401)
    return code === 'missing_authorization'
      ? scheme
      : `${scheme}${keyHeader === 'authorization' ? ' ' : ', '}error="invalid_token"`;
  if (code === 'insufficient_scope' && keyHeader === 'authorization') return 'Bearer error="insufficient_scope"';
  return undefined;
}

/**
 * A refusal Envoy sends to the client as it is: the HTTP status, the product's error JSON
 * `{"error": {"code", "message"}}` (VerifyKey's message text), `WWW-Authenticate` on 401.
 */
export function deniedResponse(
  status: 401 | 403 | 500,
  code: string,
  message: string,
  keyHeader: string,
  metadata: Record<string, unknown> = {},
): CheckResponse {
  const wwwAuthenticate = challenge(status, code, keyHeader);
  return {
    status: {
      code: status === 401 ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.PERMISSION_DENIED,
      message,
      details: [],
    },
    httpResponse: {
      $case: 'deniedResponse',
      value: {
        status: { code: HTTP_STATUS[status] },
        headers: [
          header('content-type', 'application/json'),
          header('cache-control', 'no-store'),
          ...(wwwAuthenticate === undefined ? [] : [header('www-authenticate', wwwAuthenticate)]),
        ],
        body: JSON.stringify({ error: { code, message } }),
      },
    },
    dynamicMetadata: { decision: code, ...metadata },
  };
}

/** A denial by the verifier, with the key's id and organization in the metadata once it was identified. */
export function verificationDenied(outcome: Extract<Verification, { valid: false }>, keyHeader: string): CheckResponse {
  const metadata =
    outcome.key === undefined ? {} : { key_id: outcome.key.id, organization_id: outcome.key.organizationId };
  return deniedResponse(DENIAL_HTTP_STATUS[outcome.reason], outcome.reason, outcome.message, keyHeader, metadata);
}
