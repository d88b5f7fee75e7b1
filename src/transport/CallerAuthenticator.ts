import { CallerRejectedError } from './CallerRejectedError.js';
import { certificateIdentity } from './certificateIdentity.js';
import type { Authenticate, CallContext, CallerCredentials } from './pipeline/CallContext.js';
import { type ServiceTokenDigest, ServiceTokens } from './ServiceTokens.js';

/** How callers are authenticated and who may call what. */
export interface CallerAuthenticationOptions {
  /** Service tokens accepted as `authorization: Bearer <token>`. */
  readonly tokens: readonly ServiceTokenDigest[];
  /**
   * Whether the server requires and verifies client certificates (mutual TLS). The TLS handshake then
   * refuses any connection without a certificate from the configured CA, before a call exists.
   */
  readonly clientCertificates: boolean;
  /** Identities (certificate identities, token names) allowed to call KeyAdmin. */
  readonly adminClientIds: readonly string[];
  /** Identities allowed to call KeyAdmin.ReportLeakedKeys (and nothing else of KeyAdmin unless admins too). */
  readonly leakReporterClientIds?: readonly string[];
  /** Whether VerifyKey requires an authenticated caller too. */
  readonly verifierRequiresAuth: boolean;
}

/** `Bearer <token>`: the scheme is case-insensitive (RFC 9110), the token visible ASCII without spaces. */
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/**
 * Authenticates the callers of KeyAdmin and KeyVerifier: by a service token in `authorization: Bearer …`
 * metadata (checked first when present: a wrong token is refused even on a connection with a valid client
 * certificate), else by the client certificate of a mutual-TLS connection. The call pipeline runs the
 * functions `forKeyAdmin` / `forKeyVerifier` return before every handler; the identity becomes
 * CallContext.caller (logs, audit events).
 */
export class CallerAuthenticator {
  private readonly tokens: ServiceTokens;
  private readonly admins: ReadonlySet<string>;
  private readonly leakReporters: ReadonlySet<string>;
  private readonly howToAuthenticate: string;

  constructor(private readonly options: CallerAuthenticationOptions) {
    this.tokens = new ServiceTokens(options.tokens);
    this.admins = new Set(options.adminClientIds);
    this.leakReporters = new Set(options.leakReporterClientIds ?? []);
    const ways = [
      ...(this.tokens.size > 0 ? ['send "authorization: Bearer <service token>" metadata'] : []),
      ...(options.clientCertificates ? ['connect with a client certificate issued by the configured CA'] : []),
    ];
    this.howToAuthenticate = ways.join(' or ');
  }

  /** Whether any caller can be authenticated at all (tokens or client certificates configured). */
  get enabled(): boolean {
    return this.tokens.size > 0 || this.options.clientCertificates;
  }

  /** The caller's identity, or UNAUTHENTICATED (the message says what to send; it never repeats a token). */
  authenticate(call: CallerCredentials): string {
    const authorization = call.metadata.get('authorization');
    if (authorization.length > 0) return this.tokenCaller(authorization);
    if (this.options.clientCertificates) {
      const certificate = call.getAuthContext().sslPeerCertificate;
      const identity = certificate === undefined ? undefined : certificateIdentity(certificate);
      if (identity !== undefined) return identity;
      throw new CallerRejectedError(
        'UNAUTHENTICATED',
        certificate === undefined
          ? `caller authentication required: ${this.howToAuthenticate}`
          : 'the client certificate names no caller: it needs a URI SAN (such as a SPIFFE id), a DNS SAN or a subject CN',
      );
    }
    throw new CallerRejectedError('UNAUTHENTICATED', `caller authentication required: ${this.howToAuthenticate}`);
  }

  /** KeyAdmin: an authenticated caller in ADMIN_CLIENT_IDS; undefined (everyone, `anonymous`) without authentication. */
  forKeyAdmin(): Authenticate | undefined {
    if (!this.enabled) return undefined;
    return (call) => {
      const caller = this.authenticate(call);
      if (!this.admins.has(caller)) {
        throw new CallerRejectedError(
          'PERMISSION_DENIED',
          `caller "${caller}" may not use KeyAdmin: it is not in the service's list of admin clients (ADMIN_CLIENT_IDS)`,
          caller,
        );
      }
      return { caller };
    };
  }

  /**
   * KeyAdmin.ReportLeakedKeys: an authenticated caller in LEAK_REPORTER_CLIENT_IDS (being an admin client
   * is not enough: the receiver of a public scanner needs no other right); undefined without authentication.
   */
  forLeakReporter(): Authenticate | undefined {
    if (!this.enabled) return undefined;
    return (call) => {
      const caller = this.authenticate(call);
      if (!this.leakReporters.has(caller)) {
        throw new CallerRejectedError(
          'PERMISSION_DENIED',
          `caller "${caller}" may not report leaked keys: it is not in the service's list of leak reporters (LEAK_REPORTER_CLIENT_IDS)`,
          caller,
        );
      }
      return { caller };
    };
  }

  /**
   * KeyVerifier: nothing at all per call unless VERIFIER_REQUIRES_AUTH; then any authenticated caller. On
   * a mutual-TLS connection without a token the handshake already proved the caller, so the certificate
   * (about 15 µs to fetch) is read only if the call's log line is written.
   */
  forKeyVerifier(): Authenticate | undefined {
    if (!this.options.verifierRequiresAuth || !this.enabled) return undefined;
    return (call): CallContext => {
      if (this.options.clientCertificates && call.metadata.get('authorization').length === 0) {
        return {
          get caller() {
            const certificate = call.getAuthContext().sslPeerCertificate;
            return (certificate && certificateIdentity(certificate)) ?? 'unnamed client certificate';
          },
        };
      }
      return { caller: this.authenticate(call) };
    };
  }

  private tokenCaller(authorization: readonly (string | Buffer)[]): string {
    const [value] = authorization;
    const token = authorization.length === 1 && typeof value === 'string' ? BEARER.exec(value)?.[1] : undefined;
    if (token === undefined) {
      throw new CallerRejectedError(
        'UNAUTHENTICATED',
        'the authorization metadata must be exactly one entry "Bearer <service token>"',
      );
    }
    const name = this.tokens.identify(token);
    if (name === undefined) {
      throw new CallerRejectedError(
        'UNAUTHENTICATED',
        'the service token was not recognized; check that the service uses the token it was issued',
      );
    }
    return name;
  }
}
