import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it, vi } from 'vitest';

import { ConfigError } from '../../src/config/ConfigError.js';
import { isLoopbackHost } from '../../src/config/insecureSetup.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import { createTestCertificates } from '../helpers/certificates.js';

const certificates = createTestCertificates();
afterAll(() => certificates.remove());

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
const TOKEN = 'correct-horse-battery-staple-0123456789';
const TLS = { TLS_CERT_FILE: certificates.server.cert, TLS_KEY_FILE: certificates.server.key };
const MTLS = { ...TLS, TLS_CLIENT_CA_FILE: certificates.ca.cert };

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('caller authentication settings', () => {
  it('default: no authentication, plaintext, the verifier open, and KeyAdmin open (flagged insecure) on loopback', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      authTokens: [],
      tls: null,
      adminClientIds: [],
      verifierRequiresAuth: false,
      allowInsecure: [],
      insecurities: ['unauthenticated-keyadmin'],
    });
  });

  it('parses AUTH_TOKENS into names and 32-byte digests (hex in any case, spaces around entries)', () => {
    const config = loadConfig({
      AUTH_TOKENS: ` admin-backend=${hash(TOKEN).toUpperCase()} , billing.v2=${hash('other')}`,
      ADMIN_CLIENT_IDS: 'admin-backend',
    });
    expect(config.authTokens.map((token) => [token.name, token.sha256.toString('hex')])).toEqual([
      ['admin-backend', hash(TOKEN)],
      ['billing.v2', hash('other')],
    ]);
    expect(config.adminClientIds).toEqual(['admin-backend']);
    expect(config.insecurities).toEqual(['plaintext-tokens']);
  });

  it('rejects bad AUTH_TOKENS entries without ever repeating a configured value', () => {
    const message = configError({
      AUTH_TOKENS: [
        `=${hash('a')}`,
        `bad name=${hash('b')}`,
        `plain=${TOKEN}`,
        `sum=${hash('c')}  -`,
        `twice=${hash('d')}`,
        `twice=${hash('e')}`,
        `alias=${hash('d')}`,
        'no-separator',
      ].join(','),
    });
    expect(message).toContain('AUTH_TOKENS: entry 1 must be name=sha256hex');
    expect(message).toContain('entry 2 must be name=sha256hex');
    expect(message).toContain(`the hash of "plain" must be 64 hex digits (got ${TOKEN.length} characters)`);
    expect(message).toContain('never the token itself');
    expect(message).toContain('the hash of "sum" must be 64 hex digits');
    expect(message).toContain('"twice" is configured twice');
    expect(message).toContain('"alias" and "twice" have the same hash');
    expect(message).toContain('entry 8 must be name=sha256hex');
    expect(message).not.toContain(TOKEN);
    for (const value of ['a', 'b', 'c', 'd', 'e']) expect(message).not.toContain(hash(value));
  });

  it('reads TLS files and recognizes mutual TLS', () => {
    const config = loadConfig({ ...MTLS, ADMIN_CLIENT_IDS: 'spiffe://toptickets/admin-backend' });
    expect(config.tls?.certChain.toString()).toContain('BEGIN CERTIFICATE');
    expect(config.tls?.privateKey.toString()).toContain('PRIVATE KEY');
    expect(config.tls?.clientCa?.toString()).toContain('BEGIN CERTIFICATE');
    expect(config.insecurities).toEqual([]);
    expect(loadConfig(TLS).tls?.clientCa).toBeNull();
  });

  it('reports every TLS problem at once, naming files but never their contents', () => {
    const notPem = join(certificates.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const message = configError({
      TLS_CERT_FILE: join(certificates.dir, 'missing.crt'),
      TLS_KEY_FILE: notPem,
      TLS_CLIENT_CA_FILE: certificates.server.key,
      LOG_LEVEL: 'loud',
    });
    expect(message).toContain(`TLS_CERT_FILE: cannot read ${join(certificates.dir, 'missing.crt')} (ENOENT)`);
    expect(message).toContain(`TLS_KEY_FILE: ${notPem} holds no PEM private key`);
    expect(message).toContain(`TLS_CLIENT_CA_FILE: ${certificates.server.key} holds no PEM certificate`);
    expect(message).toContain('LOG_LEVEL');
    expect(message).not.toContain('hello');
    expect(message).not.toContain('BEGIN');
  });

  it('refuses to start with a server certificate that has expired (the test certificates last 2 days)', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 3 * 86_400_000);
      expect(configError(TLS)).toMatch(
        new RegExp(`TLS_CERT_FILE: ${certificates.server.cert} expired at \\d{4}-\\d\\d-\\d\\dT`),
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    [{ TLS_CERT_FILE: certificates.server.cert }, 'TLS_KEY_FILE: required with TLS_CERT_FILE'],
    [{ TLS_KEY_FILE: certificates.server.key }, 'TLS_CERT_FILE: required with TLS_KEY_FILE'],
    [{ TLS_CLIENT_CA_FILE: certificates.ca.cert }, 'TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE'],
    [
      { TLS_CERT_FILE: certificates.server.cert, TLS_KEY_FILE: certificates.clients.spiffe.key },
      `TLS_KEY_FILE: ${certificates.clients.spiffe.key} is not the private key of the certificate in ${certificates.server.cert}`,
    ],
    [
      { ADMIN_CLIENT_IDS: 'admin-backend' },
      'ADMIN_CLIENT_IDS: has no effect without AUTH_TOKENS or TLS_CLIENT_CA_FILE',
    ],
    [{ VERIFIER_REQUIRES_AUTH: 'true' }, 'VERIFIER_REQUIRES_AUTH: no caller could authenticate'],
    [
      { AUTH_TOKENS: `admin-backend=${hash(TOKEN)}`, ADMIN_CLIENT_IDS: 'admin-backend,admin-backnd,spiffe://x/y' },
      'ADMIN_CLIENT_IDS: "admin-backnd", "spiffe://x/y" are not the name of a token in AUTH_TOKENS',
    ],
    [{ ...MTLS, ADMIN_CLIENT_IDS: 'a,,b' }, 'ADMIN_CLIENT_IDS: empty entry'],
    [{ ...MTLS, ADMIN_CLIENT_IDS: 'a\tb' }, 'ADMIN_CLIENT_IDS: control characters are not allowed'],
    [{ ...MTLS, ADMIN_CLIENT_IDS: 'x'.repeat(201) }, 'ADMIN_CLIENT_IDS: an identity may have at most 200 characters'],
    [{ VERIFIER_REQUIRES_AUTH: 'maybe' }, 'VERIFIER_REQUIRES_AUTH'],
    [{ ALLOW_INSECURE: 'everything' }, 'ALLOW_INSECURE: unknown "everything"; expected a comma-separated list of'],
  ])('rejects %j', (env, expected) => {
    expect(configError(env)).toContain(expected);
  });

  it('accepts certificate identities in ADMIN_CLIENT_IDS with mutual TLS (CNs may hold spaces)', () => {
    const config = loadConfig({ ...MTLS, ADMIN_CLIENT_IDS: 'spiffe://toptickets/admin-backend, CN Only Backend ,x' });
    expect(config.adminClientIds).toEqual(['spiffe://toptickets/admin-backend', 'CN Only Backend', 'x']);
  });

  describe('on an address other machines can reach', () => {
    it('refuses KeyAdmin without caller authentication, saying what is exposed and how to opt in', () => {
      const message = configError({ LISTEN_ADDRESS: '0.0.0.0:50051' });
      expect(message).toContain('refusing to start on 0.0.0.0:50051, which is not a loopback address');
      expect(message).toContain('KeyAdmin answers unauthenticated callers');
      expect(message).toContain('ALLOW_INSECURE=unauthenticated-keyadmin');
      expect(configError({ LISTEN_ADDRESS: '0.0.0.0:50051', ...TLS })).toContain('unauthenticated-keyadmin');
    });

    it('refuses service tokens in plaintext', () => {
      const message = configError({ LISTEN_ADDRESS: '[::]:50051', AUTH_TOKENS: `a=${hash(TOKEN)}` });
      expect(message).toContain('service tokens travel in plaintext');
      expect(message).toContain('ALLOW_INSECURE=plaintext-tokens');
    });

    it('starts when the operator names the accepted risk', () => {
      expect(
        loadConfig({ LISTEN_ADDRESS: '0.0.0.0:50051', ALLOW_INSECURE: 'unauthenticated-keyadmin' }).insecurities,
      ).toEqual(['unauthenticated-keyadmin']);
      expect(() => loadConfig({ LISTEN_ADDRESS: '0.0.0.0:50051', ALLOW_INSECURE: 'plaintext-tokens' })).toThrow(
        /ALLOW_INSECURE=unauthenticated-keyadmin/,
      );
    });

    it('starts with tokens over TLS, or with mutual TLS', () => {
      expect(
        loadConfig({ LISTEN_ADDRESS: '0.0.0.0:50051', ...TLS, AUTH_TOKENS: `a=${hash(TOKEN)}` }).insecurities,
      ).toEqual([]);
      expect(loadConfig({ LISTEN_ADDRESS: '10.1.2.3:50051', ...MTLS }).insecurities).toEqual([]);
    });
  });

  it.each([
    ['127.0.0.1', true],
    ['127.9.8.7', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['[::1]', true],
    ['[::ffff:127.0.0.1]', true],
    ['0.0.0.0', false],
    ['[::]', false],
    ['10.0.0.1', false],
    ['api-keys.internal', false],
    ['localhost.example.com', false],
  ])('knows whether %s is a loopback address (%s)', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
