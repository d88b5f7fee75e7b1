import type { CheckRequest } from '../../../gen/envoy/service/auth/v3/external_auth.js';
import type { AttributeContext_HttpRequest } from '../../../gen/envoy/service/auth/v3/attribute_context.js';
import { parseBearerToken } from '../../client/parseBearerToken.js';
import type { ExtAuthzConfig } from '../../config/extAuthz.js';
import { invalidArgument } from '../../domain/AppError.js';
import { requestPathSegments } from '../../domain/RouteRules.js';
import { MAX_SCOPES_PER_REQUEST, type ScopeCatalog } from '../../domain/ScopeCatalog.js';

/** Most request headers a CheckRequest may carry (Envoy's own default limit is 100). */
export const MAX_CHECK_HEADERS = 1024;

/** What a CheckRequest asks, read at the edge. */
export type CheckInput =
  | {
      readonly kind: 'verify';
      readonly key: string;
      readonly clientIp: string;
      readonly requiredScopes: readonly string[];
    }
  /** Refused before the key is looked at: no usable key, or a route with no scopes (fail closed). */
  | { readonly kind: 'refuse'; readonly status: 400 | 401 | 403; readonly code: string; readonly message: string }
  /** The route's own configuration is wrong (a 500 that names the setting; logged at error). */
  | { readonly kind: 'misconfigured'; readonly message: string };

/** Everything Check reads besides the request. */
export interface CheckSettings extends ExtAuthzConfig {
  readonly scopes: ScopeCatalog;
}

/** The values of one header: one per entry of `header_map` (raw headers), or the one value of `headers`. */
function headerValues(http: AttributeContext_HttpRequest, name: string): string[] {
  if (http.headerMap !== undefined && http.headerMap.headers.length > 0) {
    return http.headerMap.headers
      .filter((entry) => entry.key.toLowerCase() === name)
      .map((entry) => (entry.rawValue.length > 0 ? entry.rawValue.toString('utf8') : entry.value));
  }
  const value = http.headers[name];
  return value === undefined ? [] : [value];
}

function headerCount(http: AttributeContext_HttpRequest): number {
  return http.headerMap?.headers.length || Object.keys(http.headers).length;
}

/** The HTTP request of a CheckRequest, or INVALID_ARGUMENT saying what is missing. */
export function httpRequestOf(request: CheckRequest): AttributeContext_HttpRequest {
  if (request.attributes === undefined)
    throw invalidArgument('attributes is required: send the CheckRequest as Envoy builds it (attributes.request.http)');
  const http = request.attributes.request?.http;
  if (http === undefined) {
    throw invalidArgument(
      'attributes.request.http is required: Check authorizes HTTP requests (the HTTP ext_authz filter, envoy.filters.http.ext_authz), not TCP connections',
    );
  }
  const count = headerCount(http);
  if (count > MAX_CHECK_HEADERS) {
    throw invalidArgument(
      `attributes.request.http.headers: at most ${MAX_CHECK_HEADERS} headers allowed, got ${count}; lower Envoy's max_request_headers_count`,
    );
  }
  return http;
}

/** The key the request carries, or why there is none usable (the header's text is never repeated). */
function keyOf(http: AttributeContext_HttpRequest, header: string): { key: string } | CheckInput {
  const values = headerValues(http, header);
  if (header === 'authorization') {
    // Envoy joins repeated headers with commas: two keys never pass as one.
    const joined = values.join(',');
    if (values.length > 1 || joined.includes(',')) {
      return refuse401(
        'invalid_authorization',
        'more than one API key in the Authorization header; send "Authorization: Bearer <API key>" once',
      );
    }
    const bearer = parseBearerToken(values[0]);
    return bearer.ok ? { key: bearer.token } : refuse401(bearer.error, bearer.message);
  }
  const usage = `send the API key in the ${header} header`;
  const value = values.join(',').trim();
  if (value === '') return refuse401('missing_authorization', `missing ${header} header; ${usage}`);
  if (values.length > 1 || !/^[\x21-\x7e]+$/.test(value) || value.includes(','))
    return refuse401('invalid_authorization', `the ${header} header must hold exactly one API key; ${usage}`);
  return { key: value };
}

function refuse401(code: string, message: string): CheckInput {
  return { kind: 'refuse', status: 401, code, message };
}

/**
 * The client IP as configured: the downstream peer Envoy reports, or the `x-forwarded-for` entry
 * `hops` from the right. Empty when there is none; text that is no address is passed on as it is, so
 * the verifier judges it as VerifyKey would (refused only by a key with an allowlist).
 */
function clientIpOf(request: CheckRequest, http: AttributeContext_HttpRequest, settings: CheckSettings): string {
  if (settings.clientIp === 'peer') {
    const address = request.attributes?.source?.address?.address;
    return address?.$case === 'socketAddress' ? address.value.address : '';
  }
  const forwarded = headerValues(http, 'x-forwarded-for').join(',');
  let end = forwarded.length;
  for (let hop = 0; hop < settings.xffTrustedHops; hop++) {
    end = forwarded.lastIndexOf(',', end - 1);
    if (end === -1) return '';
  }
  return forwarded.slice(forwarded.lastIndexOf(',', end - 1) + 1, end).trim();
}

/** The route's scopes: its context extension, else the first matching rule, else the unmatched policy. */
function scopesOf(
  request: CheckRequest,
  http: AttributeContext_HttpRequest,
  settings: CheckSettings,
): CheckInput | readonly string[] {
  const extension = request.attributes?.contextExtensions[settings.scopesExtension];
  if (extension !== undefined) {
    const scopes = [
      ...new Set(
        extension
          .split(',')
          .map((scope) => scope.trim())
          .filter((scope) => scope !== ''),
      ),
    ];
    const setting = `context_extensions.${settings.scopesExtension}`;
    if (scopes.length > MAX_SCOPES_PER_REQUEST) {
      return {
        kind: 'misconfigured',
        message: `route configuration error: ${setting} lists ${scopes.length} scopes, at most ${MAX_SCOPES_PER_REQUEST} allowed`,
      };
    }
    const unknown = scopes.filter((scope) => !settings.scopes.has(scope));
    if (unknown.length > 0) {
      return {
        kind: 'misconfigured',
        message: `route configuration error: ${setting} names ${unknown.map((scope) => JSON.stringify(scope.slice(0, 64))).join(', ')}, not in the scope catalog; fix this route's ext_authz per-route check_settings`,
      };
    }
    return scopes;
  }
  if (settings.rules.rules.length > 0) {
    const path = requestPathSegments(http.path);
    if ('problem' in path) {
      return {
        kind: 'refuse',
        status: 400,
        code: 'path_not_normalized',
        message: `the request path has ${path.problem}; EXT_AUTHZ_RULES_FILE matches normalized paths only: send the path in normal form (Envoy: normalize_path and merge_slashes)`,
      };
    }
    const ruled = settings.rules.scopesFor(http.method, path.segments);
    if (ruled !== undefined) return ruled;
  }
  if (settings.unmatched === 'require_key') return [];
  return {
    kind: 'refuse',
    status: 403,
    code: 'route_not_configured',
    message: `no required scopes are configured for this route: set context_extensions.${settings.scopesExtension} on it or add a rule to EXT_AUTHZ_RULES_FILE`,
  };
}

/** Reads a CheckRequest: what to verify, or why it is refused without verifying. */
export function checkRequestInput(request: CheckRequest, settings: CheckSettings): CheckInput {
  const http = httpRequestOf(request);
  const scopes = scopesOf(request, http, settings);
  if (!Array.isArray(scopes)) return scopes as CheckInput;
  const key = keyOf(http, settings.keyHeader);
  if ('kind' in key) return key;
  return {
    kind: 'verify',
    key: key.key,
    clientIp: clientIpOf(request, http, settings),
    requiredScopes: scopes as readonly string[],
  };
}
