import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { status as GrpcStatus } from '@grpc/grpc-js';

import { HeaderValueOption, HeaderValueOption_HeaderAppendAction } from '../../../gen/envoy/config/core/v3/base.js';
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
  /** `headers` as encoded `OkHttpResponse.headers` entries (a repeated field is only its entries). */
  readonly okHeaders: Uint8Array;
}

/** `headers` as encoded entries of `OkHttpResponse.headers` (field 2). */
function okHeaderEntries(headers: readonly HeaderValueOption[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const option of headers) HeaderValueOption.encode(option, writer.uint32(18).fork()).join();
  return writer.finish();
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
    const headers = [
      header(UPSTREAM_HEADERS.keyId, key.id),
      header(UPSTREAM_HEADERS.organizationId, key.organizationId),
      header(UPSTREAM_HEADERS.keyName, headerSafe(key.name)),
      header(UPSTREAM_HEADERS.scopes, key.scopes.join(',')),
    ];
    parts = {
      headers,
      metadata,
      metadataEntries: Struct.encode(Struct.wrap(metadata)).finish(),
      okHeaders: okHeaderEntries(headers),
    };
    keyPartsCache.set(key, parts);
  }
  return parts;
}

/** The authenticated-at of one millisecond, as header and metadata, encoded once for every call within it. */
interface Stamp {
  readonly ms: number;
  readonly iso: string;
  readonly header: HeaderValueOption;
  readonly okHeader: Uint8Array;
  readonly metadataEntry: Uint8Array;
}

let lastStamp: Stamp | undefined;

function stampOf(ms: number): Stamp {
  if (lastStamp?.ms === ms) return lastStamp;
  const iso = new Date(ms).toISOString();
  const option = header(UPSTREAM_HEADERS.authenticatedAt, iso);
  lastStamp = {
    ms,
    iso,
    header: option,
    okHeader: okHeaderEntries([option]),
    metadataEntry: Struct.encode(Struct.wrap({ authenticated_at: iso })).finish(),
  };
  return lastStamp;
}

/** `OkHttpResponse.headers_to_remove` (field 5) of each key header, encoded once. */
const removals = new Map<string, Uint8Array>();

function removalOf(keyHeader: string): Uint8Array {
  let encoded = removals.get(keyHeader);
  if (encoded === undefined) {
    encoded = new BinaryWriter().uint32(42).string(keyHeader).finish();
    removals.set(keyHeader, encoded);
  }
  return encoded;
}

/**
 * The encoded parts of an allowed response, when it was prepared from the key's cached parts and this
 * millisecond's stamp (encodeCheckResponse joins them instead of encoding the response's values again).
 */
const PREPARED = Symbol('encoded parts of an allowed response');

interface Prepared {
  readonly parts: KeyParts;
  readonly stamp: Stamp;
  readonly removal: Uint8Array;
}

type PreparedResponse = CheckResponse & { [PREPARED]?: Prepared };

const NOTHING = new Uint8Array(0);

/**
 * An allowed request: the key's facts as upstream headers and dynamic metadata, the key header removed.
 * The response must not be changed afterwards: its wire encoding is prepared with it.
 */
export function allowedResponse(
  outcome: Extract<Verification, { valid: true }>,
  keyHeader: string,
  removeKeyHeader: boolean,
): CheckResponse {
  const parts = keyParts(outcome.key);
  const stamp = stampOf(outcome.now);
  const response: PreparedResponse = {
    status: { code: GrpcStatus.OK, message: '', details: [] },
    httpResponse: {
      $case: 'okResponse',
      value: {
        headers: [...parts.headers, stamp.header],
        headersToRemove: removeKeyHeader ? [keyHeader] : [],
        responseHeadersToAdd: [],
        queryParametersToSet: [],
        queryParametersToRemove: [],
      },
    },
    dynamicMetadata: { ...parts.metadata, authenticated_at: stamp.iso },
  };
  response[PREPARED] = { parts, stamp, removal: removeKeyHeader ? removalOf(keyHeader) : NOTHING };
  return response;
}

/**
 * CheckResponse's wire encoding. An allowed response is joined from the bytes allowedResponse prepared:
 * status OK (an empty google.rpc.Status), then `ok_response` as the key's headers encoded once per key,
 * this millisecond's authenticated-at and the key header's removal, then the dynamic metadata as the
 * key's facts and the time (a Struct's, like a repeated field's, encoding is the concatenation of its
 * entries). Any other response is ts-proto's encoding.
 */
export function encodeCheckResponse(response: CheckResponse): Buffer {
  const prepared = (response as PreparedResponse)[PREPARED];
  if (prepared === undefined) return Buffer.from(CheckResponse.encode(response).finish());
  const { parts, stamp, removal } = prepared;
  const writer = new BinaryWriter();
  writer.uint32(10).fork().join();
  writer.uint32(26).fork().raw(parts.okHeaders).raw(stamp.okHeader).raw(removal).join();
  writer.uint32(34).fork().raw(parts.metadataEntries).raw(stamp.metadataEntry).join();
  const bytes = writer.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
