import { status as GrpcStatus } from '@grpc/grpc-js';

import {
  type HeaderValueOption,
  HeaderValueOption_HeaderAppendAction,
} from '../../../gen/envoy/config/core/v3/base.js';
import { StatusCode } from '../../../gen/envoy/type/v3/http_status.js';
import { CheckResponse } from '../../../gen/envoy/service/auth/v3/external_auth.js';
import { Struct } from '../../../gen/google/protobuf/struct.js';
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

/** What an allowed response repeats for every call with one key: built once per cached key. */
interface KeyParts {
  /** The upstream headers that depend only on the key. */
  readonly headers: readonly HeaderValueOption[];
  /** Its facts for Envoy's dynamic metadata (access logs), as the Struct's JSON. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The same facts as the encoded entries of a Struct (a Struct is only its map's entries). */
  readonly metadataEntries: Uint8Array;
}

const keyPartsCache = new WeakMap<VerifiableKey, KeyParts>();

function keyParts(key: VerifiableKey): KeyParts {
  let parts = keyPartsCache.get(key);
  if (parts === undefined) {
    const metadata = {
      decision: 'valid',
      key_id: key.id,
      organization_id: key.organizationId,
      key_name: key.name,
      key_prefix: key.prefix,
      scopes: [...key.scopes],
    };
    parts = {
      headers: [
        header(UPSTREAM_HEADERS.keyId, key.id),
        header(UPSTREAM_HEADERS.organizationId, key.organizationId),
        header(UPSTREAM_HEADERS.keyName, headerSafe(key.name)),
        header(UPSTREAM_HEADERS.scopes, key.scopes.join(',')),
      ],
      metadata,
      metadataEntries: Struct.encode(Struct.wrap(metadata)).finish(),
    };
    keyPartsCache.set(key, parts);
  }
  return parts;
}

/**
 * The encoded dynamic metadata of an allowed response, when it was prepared from the key's cached parts
 * (encodeCheckResponse appends it instead of encoding the Struct's values again on every call).
 */
const ENCODED_METADATA = Symbol('encoded dynamic metadata');

type PreparedResponse = CheckResponse & { [ENCODED_METADATA]?: Uint8Array };

/** An allowed request: the key's facts as upstream headers and dynamic metadata, the key header removed. */
export function allowedResponse(
  outcome: Extract<Verification, { valid: true }>,
  keyHeader: string,
  removeKeyHeader: boolean,
): CheckResponse {
  const { key, now } = outcome;
  const parts = keyParts(key);
  const authenticatedAt = new Date(now).toISOString();
  const response: PreparedResponse = {
    status: { code: GrpcStatus.OK, message: '', details: [] },
    httpResponse: {
      $case: 'okResponse',
      value: {
        headers: [...parts.headers, header(UPSTREAM_HEADERS.authenticatedAt, authenticatedAt)],
        headersToRemove: removeKeyHeader ? [keyHeader] : [],
        responseHeadersToAdd: [],
        queryParametersToSet: [],
        queryParametersToRemove: [],
      },
    },
    dynamicMetadata: { ...parts.metadata, authenticated_at: authenticatedAt },
  };
  const entries = Struct.encode(Struct.wrap({ authenticated_at: authenticatedAt })).finish();
  response[ENCODED_METADATA] = concat(parts.metadataEntries, entries);
  return response;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/**
 * CheckResponse's wire encoding. An allowed response's dynamic metadata (field 4) is written from the
 * bytes allowedResponse prepared: the key's facts encoded once per key, then this call's time (a Struct's
 * encoding is the concatenation of its entries, in any order). The rest is ts-proto's encoding.
 */
export function encodeCheckResponse(response: CheckResponse): Buffer {
  const prepared = (response as PreparedResponse)[ENCODED_METADATA];
  if (prepared === undefined) return Buffer.from(CheckResponse.encode(response).finish());
  const writer = CheckResponse.encode({ ...response, dynamicMetadata: undefined });
  writer.uint32(34).bytes(prepared);
  return Buffer.from(writer.finish());
}

const HTTP_STATUS = {
  400: StatusCode.BadRequest,
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
  status: 400 | 401 | 403 | 500,
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
