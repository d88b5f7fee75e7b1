import { readFileSync } from 'node:fs';

import { experimental, Server, ServerCredentials, type ServerOptions } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';

import { KeyAdminService, KeyVerifierService } from '../../gen/apikeys/v1/api_keys.js';
import type { KeyAdminServer, KeyVerifierServer } from '../../gen/apikeys/v1/api_keys.js';
import { AuthorizationService, type AuthorizationServer } from '../../gen/envoy/service/auth/v3/external_auth.js';
import { encodeCheckResponse } from './extAuthz/checkResponses.js';
import { authenticateBeforeReading, type CallerGuard } from './authenticateBeforeReading.js';
import { type ArrivalBound, deadlineFromArrival } from './deadlineFromArrival.js';
import { decodeVerifyKeyRequest } from './decodeVerifyKeyRequest.js';
import { HealthWatches } from './HealthWatches.js';
import { passEncodedResponses } from './passEncodedResponses.js';
import { addReflectionService } from './reflection/addReflectionService.js';
import { DescriptorIndex } from './reflection/DescriptorIndex.js';
import type { ReloadingCertificates } from './ReloadingCertificates.js';
import { withTolerantDecoding } from './tolerantDecoding.js';
import { DEFAULT_TRANSPORT_LIMITS, type TransportLimits } from './TransportLimits.js';

/** KeyVerifier, its requests read by decodeVerifyKeyRequest (ts-proto's result, without its reader). */
const KEY_VERIFIER_SERVICE = {
  ...KeyVerifierService,
  verifyKey: { ...KeyVerifierService.verifyKey, requestDeserialize: decodeVerifyKeyRequest },
};

/** Fully qualified names of the services this server answers. */
export const SERVICE_NAMES = [
  'apikeys.v1.KeyAdmin',
  'apikeys.v1.KeyVerifier',
  'envoy.service.auth.v3.Authorization',
] as const;

/** Envoy's Authorization service, its responses written by encodeCheckResponse (key parts encoded once). */
const AUTHORIZATION_DEFINITION = {
  ...AuthorizationService,
  check: { ...AuthorizationService.check, responseSerialize: encodeCheckResponse },
} satisfies typeof AuthorizationService;

/** Health is answered too (by grpc-health-check), so reflection lists and describes it. */
const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/**
 * The descriptor sets `npm run generate` writes with `buf build` (imports included) next to the generated
 * code: our contract, the `.proto` files that grpc-health-check and @grpc/reflection ship, and Envoy's
 * ext_authz service with its imports (from @grpc/grpc-js-xds). The build
 * copies them. Reflection serves their bytes exactly as buf wrote them.
 */
const DESCRIPTOR_SETS = ['apikeys', 'grpc_health', 'grpc_reflection', 'envoy_ext_authz'].map(
  (name) => new URL(`../../gen/descriptors/${name}.binpb`, import.meta.url),
);

let descriptorIndex: DescriptorIndex | undefined;

/** What createServer needs. */
export interface ServerParts {
  readonly keyAdmin: KeyAdminServer;
  readonly keyVerifier: KeyVerifierServer;
  /** Envoy's ext_authz `envoy.service.auth.v3.Authorization` (omitted only by tests and benchmarks of the transport). */
  readonly authorization?: AuthorizationServer | undefined;
  readonly maxReceiveMessageBytes: number;
  /** Connection limits; omitted: DEFAULT_TRANSPORT_LIMITS. */
  readonly limits?: TransportLimits | undefined;
  /**
   * Caller authentication decided from the metadata, before a request is read (authenticateBeforeReading),
   * per service; a service without a guard is not checked there (its pipeline still authenticates, if it
   * was built to). Omitted: no interceptor at all.
   */
  readonly callerGuards?: CallerGuards | undefined;
  /** Told of each call that the default deadline of its service ended before its request arrived (a metric). */
  readonly onDefaultDeadline?: ((service: 'keyAdmin' | 'keyVerifier') => void) | undefined;
}

/** The guard of each service that authenticates its callers. */
export interface CallerGuards {
  readonly keyAdmin?: CallerGuard | undefined;
  /** KeyAdmin.ReportLeakedKeys, whose callers are LEAK_REPORTER_CLIENT_IDS rather than the admin clients. */
  readonly leakReporter?: CallerGuard | undefined;
  readonly keyVerifier?: CallerGuard | undefined;
  /** Envoy's Check: the callers of KeyVerifier. */
  readonly authorization?: CallerGuard | undefined;
}

/** A built server and its health service (so shutdown can flip it to NOT_SERVING, then end its Watch streams). */
export interface BuiltServer {
  readonly server: Server;
  readonly health: HealthImplementation;
  readonly healthWatches: HealthWatches;
}

/** The index reflection answers from, built once per process; exported for tests. */
export function loadDescriptorIndex(): DescriptorIndex {
  descriptorIndex ??= DescriptorIndex.fromDescriptorSets(
    DESCRIPTOR_SETS.map((url) => ({ source: url.pathname, bytes: readFileSync(url) })),
  );
  return descriptorIndex;
}

/**
 * The grpc-js server options, each one honoured by grpc-js 1.14 (build/src/server.js reads them):
 * SETTINGS_MAX_CONCURRENT_STREAMS, the idle timeout, the connection age and its grace, Node's http2
 * session memory (grpc-js sets it to unlimited otherwise) and server keepalive pings (a connection whose
 * peer does not answer within 20 s is closed). grpc-js's server does not enforce a client's ping rate
 * (`grpc.http2.min_ping_interval_without_data_ms` and `grpc.keepalive_permit_without_calls` are client
 * options there); Node answers pings itself and ends a session that floods it (nghttp2's flood check).
 * Idle pings are fine, matching src/client/verifierChannelOptions.ts (every 30 s, without calls too): a
 * pinging connection without calls is still idle and closed after the idle timeout, and clients reconnect.
 */
export function serverOptions(
  maxReceiveMessageBytes: number,
  limits: TransportLimits,
  guards: CallerGuards = {},
  onDefaultDeadline?: (service: 'keyAdmin' | 'keyVerifier') => void,
): ServerOptions {
  const guarded = guardedMethods(guards);
  const interceptors = [
    deadlineFromArrival(arrivalBounds(limits, onDefaultDeadline)),
    ...(guarded.size === 0 ? [] : [authenticateBeforeReading(guarded)]),
  ];
  return {
    interceptors,
    'grpc.max_receive_message_length': maxReceiveMessageBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs,
    'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': limits.maxConnectionAgeGraceMs,
    'grpc-node.max_session_memory': limits.maxSessionMemoryMb,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
  };
}

/** Every method path of our services with its service's default deadline; health and reflection have none. */
function arrivalBounds(
  limits: TransportLimits,
  onExceeded?: (service: 'keyAdmin' | 'keyVerifier') => void,
): Map<string, ArrivalBound> {
  const bounds = new Map<string, ArrivalBound>();
  const services: [Record<string, { readonly path: string }>, 'keyAdmin' | 'keyVerifier', number][] = [
    [KeyAdminService, 'keyAdmin', limits.adminDefaultDeadlineMs],
    [KeyVerifierService, 'keyVerifier', limits.verifierDefaultDeadlineMs],
    // Envoy's Check shares KeyVerifier's callers and deadline.
    [AuthorizationService, 'keyVerifier', limits.verifierDefaultDeadlineMs],
  ];
  for (const [service, name, ms] of services) {
    const bound = { ms, onExceeded: onExceeded === undefined ? undefined : () => onExceeded(name) };
    for (const definition of Object.values(service)) bounds.set(definition.path, bound);
  }
  return bounds;
}

/** Every method path of the guarded services, with its service's guard; health and reflection have none. */
function guardedMethods(guards: CallerGuards): Map<string, CallerGuard> {
  const methods = new Map<string, CallerGuard>();
  const services: [service: Record<string, { readonly path: string }>, guard: CallerGuard | undefined][] = [
    [KeyAdminService, guards.keyAdmin],
    [KeyVerifierService, guards.keyVerifier],
    [AuthorizationService, guards.authorization],
  ];
  for (const [service, guard] of services) {
    if (guard === undefined) continue;
    for (const definition of Object.values(service)) methods.set(definition.path, guard);
  }
  const leaks = KeyAdminService.reportLeakedKeys.path;
  if (guards.leakReporter === undefined) methods.delete(leaks);
  else methods.set(leaks, guards.leakReporter);
  return methods;
}

/**
 * Builds the grpc-js server: both services (their callers authenticated before a request is read, where
 * `callerGuards` says), server reflection (v1 and v1alpha, serving buf's exact
 * descriptors, imported well-known types included) and the standard grpc.health.v1 service.
 */
export function createServer(parts: ServerParts): BuiltServer {
  const server = new Server(
    serverOptions(
      parts.maxReceiveMessageBytes,
      parts.limits ?? DEFAULT_TRANSPORT_LIMITS,
      parts.callerGuards,
      parts.onDefaultDeadline,
    ),
  );
  server.addService(withTolerantDecoding(KeyAdminService), parts.keyAdmin);
  server.addService(passEncodedResponses(withTolerantDecoding(KEY_VERIFIER_SERVICE)), parts.keyVerifier);
  if (parts.authorization !== undefined)
    server.addService(withTolerantDecoding(AUTHORIZATION_DEFINITION), parts.authorization);
  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, 'NOT_SERVING'])),
  });
  const healthWatches = new HealthWatches();
  health.addToServer(healthWatches.tracking(server));
  // Our contract plus the health and reflection services, so `grpcurl list` shows every one of them.
  addReflectionService(server, loadDescriptorIndex(), [...SERVICE_NAMES, HEALTH_SERVICE_NAME]);
  return { server, health, healthWatches };
}

/**
 * Plaintext without certificates; TLS with them; with a client CA, mutual TLS: every connection must
 * present a client certificate issued by that CA or the handshake fails. The certificates come from a
 * provider, so a reload reaches new connections without a restart.
 */
export function serverCredentials(
  certificates: ReloadingCertificates | null,
  handshakeTimeoutMs: number = DEFAULT_TRANSPORT_LIMITS.handshakeTimeoutMs,
): ServerCredentials {
  if (certificates === null) return ServerCredentials.createInsecure();
  const mutual = certificates.material.clientCa !== null;
  // grpc-js 1.14 passes this function's first two arguments to its credentials class in the opposite
  // order of their names (identity first, then CA). One provider serves both, so mutual TLS is unaffected;
  // for plain TLS the provider goes first, where it is used as the identity. The TLS tests catch any change.
  const credentials = experimental.createCertificateProviderServerCredentials(
    certificates,
    mutual ? certificates : null,
    mutual,
  );
  // grpc-js builds its TLS server from these options (spread into http2.createSecureServer) but offers no
  // setting for the handshake: Node's default would hold a silent TLS connection for 120 s, and one that
  // negotiates another protocol than h2 for 10 s.
  const constructorOptions = credentials._getConstructorOptions();
  credentials._getConstructorOptions = () => ({
    ...constructorOptions,
    handshakeTimeout: handshakeTimeoutMs,
    unknownProtocolTimeout: handshakeTimeoutMs,
  });
  return credentials;
}

/** Binds and starts listening; resolves with the actual port (useful with port 0). */
export function bindServer(
  server: Server,
  host: string,
  port: number,
  credentials = ServerCredentials.createInsecure(),
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (error, boundPort) =>
      error === null ? resolve(boundPort) : reject(error),
    );
  });
}

/** Marks every service SERVING or NOT_SERVING. */
export function setServing(health: HealthImplementation, serving: boolean): void {
  const value = serving ? 'SERVING' : 'NOT_SERVING';
  health.setStatus('', value);
  for (const name of SERVICE_NAMES) health.setStatus(name, value);
}
