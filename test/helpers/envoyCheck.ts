import { Client, credentials } from '@grpc/grpc-js';

import {
  AuthorizationService,
  CheckRequest,
  type CheckResponse,
} from '../../gen/envoy/service/auth/v3/external_auth.js';
import { promisedClient } from '../../src/client/promisedClient.js';

/** What an HTTP request through Envoy looks like, in the terms of the test. */
export interface HttpRequestShape {
  readonly method?: string;
  readonly path?: string;
  /** Header names as the client sent them; Envoy lower-cases them. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The downstream peer (`attributes.source.address`). */
  readonly sourceAddress?: string;
  /** The route's ext_authz per-route `context_extensions`. */
  readonly contextExtensions?: Readonly<Record<string, string>>;
}

/**
 * The CheckRequest Envoy's HTTP ext_authz filter sends for a request (envoy/source/extensions/filters/
 * common/ext_authz/check_request_utils.cc): source and destination peers with socket addresses, the
 * request time, the HTTP request with lower-cased headers including the pseudo-headers `:authority`,
 * `:method`, `:path` and `:scheme`, and the route's context extensions.
 */
export function envoyCheckRequest(shape: HttpRequestShape = {}): CheckRequest {
  const method = shape.method ?? 'GET';
  const path = shape.path ?? '/tickets/42';
  const headers: Record<string, string> = {
    ':authority': 'api.toptickets.example',
    ':method': method,
    ':path': path,
    ':scheme': 'https',
    'user-agent': 'curl/8.5.0',
    accept: '*/*',
    'x-request-id': '6f1c5a7e-2b8e-4c1d-9b6a-0d6c7f3e2a11',
    'x-envoy-expected-rq-timeout-ms': '15000',
  };
  for (const [name, value] of Object.entries(shape.headers ?? {})) headers[name.toLowerCase()] = value;
  const socket = (address: string, port: number) => ({
    address: {
      $case: 'socketAddress' as const,
      value: { address, portSpecifier: { $case: 'portValue' as const, value: port } },
    },
  });
  return CheckRequest.fromPartial({
    attributes: {
      source: { address: socket(shape.sourceAddress ?? '203.0.113.50', 51234) },
      destination: { address: socket('10.0.0.7', 8080) },
      request: {
        time: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
        http: {
          id: '1234567890',
          method,
          headers,
          path,
          host: 'api.toptickets.example',
          scheme: 'https',
          protocol: 'HTTP/1.1',
        },
      },
      contextExtensions: { ...(shape.contextExtensions ?? {}) },
    },
  });
}

/** A promised client of `envoy.service.auth.v3.Authorization`, as Envoy's own gRPC client calls it. */
export function createAuthorizationClient(address: string) {
  const client = new Client(address, credentials.createInsecure());
  return { ...promisedClient(client, AuthorizationService), close: () => client.close() };
}

/** A denial's parts: status, headers by name, and the decoded JSON body. */
export function denialOf(response: CheckResponse): {
  status: number | undefined;
  headers: Record<string, string>;
  body: { error: { code: string; message: string } };
} {
  if (response.httpResponse?.$case !== 'deniedResponse') throw new Error('expected a denied response');
  const denied = response.httpResponse.value;
  return {
    status: denied.status?.code,
    headers: Object.fromEntries(denied.headers.map((option) => [option.header?.key ?? '', option.header?.value ?? ''])),
    body: JSON.parse(denied.body) as { error: { code: string; message: string } },
  };
}

/** An allowed response's upstream headers by name, and the headers it removes. */
export function allowanceOf(response: CheckResponse): { headers: Record<string, string>; removed: string[] } {
  if (response.httpResponse?.$case !== 'okResponse') throw new Error('expected an OK response');
  const ok = response.httpResponse.value;
  return {
    headers: Object.fromEntries(ok.headers.map((option) => [option.header?.key ?? '', option.header?.value ?? ''])),
    removed: ok.headersToRemove,
  };
}
