import type { DatabaseTarget } from '../storage/createDatabase.js';
import type { TlsMaterial } from '../transport/tlsMaterial.js';
import type { TransportLimits } from '../transport/TransportLimits.js';
import type { ServiceTokenHash } from './auth.js';
import type { ExtAuthzConfig } from './extAuthz.js';
import type { TracingConfig } from './tracing.js';
import type { InsecureMode } from './insecureSetup.js';

/**
 * The validated, frozen configuration of one process. Each field comes from the variable of the same
 * name, documented once in its section (src/config/*.ts, mirrored in the README's table).
 */
export interface Config {
  /** LISTEN_ADDRESS; port 0 picks a free port (logged at start). */
  readonly listenAddress: { readonly host: string; readonly port: number };
  /** DATABASE_URL. */
  readonly database: DatabaseTarget;
  /** The database, password left out, for logs. */
  readonly databaseDisplay: string;
  readonly databasePoolMax: number;
  readonly databaseTimeoutMs: number;
  readonly databaseQueryTimeoutMs: number;
  /** MIGRATE_ON_START resolved: `auto` is true for the embedded SQLite database only. */
  readonly migrateOnStart: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Failed calls logged one by one each second (0: all; INTERNAL always); the rest summed in one line. */
  readonly logFailedCallsPerSecond: number;
  readonly defaultKeyLifetimeHours: number;
  /** PAGE_TOKEN_SECRET as bytes; null = the secret created once in the database. */
  readonly pageTokenSecret: Buffer | null;
  /** SCOPES_FILE; empty = built-in catalog. */
  readonly scopesFile: string;
  readonly cacheMaxKeys: number;
  readonly cacheNegativeTtlMs: number;
  /** KNOWN_KEY_FILTER_CAPACITY: keys the filter of known keys is sized for at least; 0: no filter. */
  readonly knownKeyFilterCapacity: number;
  /** UNKNOWN_KEY_LOOKUPS_PER_SECOND: queries a second for keys the filter does not know. */
  readonly unknownKeyLookupsPerSecond: number;
  /** SHUTDOWN_TIMEOUT_MS: the whole graceful stop, the drain period included. */
  readonly shutdownTimeoutMs: number;
  /** SHUTDOWN_DRAIN_MS: the first part of it, NOT_SERVING but still accepting. */
  readonly shutdownDrainMs: number;
  readonly maxReceiveMessageBytes: number;
  /** GRPC_MAX_* and *_DEFAULT_DEADLINE_MS. */
  readonly transportLimits: TransportLimits;
  readonly changeFeedPollMs: number;
  readonly cacheMaxAgeMs: number;
  readonly changeFeedRetentionHours: number;
  readonly stalenessBoundMs: number;
  readonly lastUsedFlushMs: number;
  /** USAGE_RETENTION_DAYS: days of usage history kept. */
  readonly usageRetentionDays: number;
  /** PROPAGATION_WAIT_MS; 0 = writes do not wait for the replicas. */
  readonly propagationWaitMs: number;
  readonly replicaHeartbeatMs: number;
  readonly replicaTimeoutMs: number;
  /** WORKERS resolved (`auto` = CPU cores); 1 = no cluster. */
  readonly workers: number;
  /** METRICS_ADDRESS; null = off. */
  readonly metricsAddress: { readonly host: string; readonly port: number } | null;
  readonly livenessPoolExhaustedMs: number;
  /** AUTH_TOKENS: only their SHA-256 is known. */
  readonly authTokens: readonly ServiceTokenHash[];
  /** TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE, read and checked; null = plaintext. */
  readonly tls: TlsMaterial | null;
  readonly tlsReloadIntervalMs: number;
  readonly adminClientIds: readonly string[];
  /** LEAK_REPORTER_CLIENT_IDS: who may call ReportLeakedKeys. */
  readonly leakReporterClientIds: readonly string[];
  readonly verifierRequiresAuth: boolean;
  readonly allowInsecure: readonly InsecureMode[];
  /** Derived: client certificates are required (TLS_CLIENT_CA_FILE is set). */
  readonly clientCertificates: boolean;
  /** Derived: some caller can authenticate (a service token, or a client certificate). */
  readonly authenticates: boolean;
  /** Derived: what is insecure about this configuration (allowed: on loopback, or opted into); main warns about each. */
  readonly insecurities: readonly InsecureMode[];
  /** EXT_AUTHZ_*: Envoy's ext_authz Check. */
  readonly extAuthz: ExtAuthzConfig;
  /** OTEL_*: OpenTelemetry traces; null = off (no OTLP endpoint, or OTEL_SDK_DISABLED). */
  readonly tracing: TracingConfig | null;
}
