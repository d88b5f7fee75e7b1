import { createHash } from 'node:crypto';

import { afterAll, describe, expect, it } from 'vitest';

import { securityWarnings } from '../../src/config/insecureSetup.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import { createTestCertificates } from '../helpers/certificates.js';

const certificates = createTestCertificates();
afterAll(() => certificates.remove());

const TLS = { TLS_CERT_FILE: certificates.server.cert, TLS_KEY_FILE: certificates.server.key };
const MTLS = { ...TLS, TLS_CLIENT_CA_FILE: certificates.ca.cert };
const TOKENS = { AUTH_TOKENS: `admin=${createHash('sha256').update('t').digest('hex')}` };

describe('facts derived once by the configuration', () => {
  it.each([
    ['nothing configured', {}, false, false],
    ['service tokens', TOKENS, true, false],
    ['plain TLS', TLS, false, false],
    ['mutual TLS', MTLS, true, true],
    ['tokens over mutual TLS', { ...MTLS, ...TOKENS }, true, true],
  ])('%s: some caller authenticates = %s, client certificates required = %s', (_, env, authenticates, mtls) => {
    const config = loadConfig(env);
    expect(config.authenticates).toBe(authenticates);
    expect(config.clientCertificates).toBe(mtls);
  });
});

describe('start-up security warnings', () => {
  it('on loopback, names each tolerated insecurity and how to end it', () => {
    expect(securityWarnings(loadConfig({}))).toEqual([
      expect.stringMatching(
        /^INSECURE: KeyAdmin answers unauthenticated callers .* Tolerated only because 127\.0\.0\.1:50051 is reachable from this machine alone;/,
      ),
    ]);
  });

  it('elsewhere, says which ALLOW_INSECURE entry accepted it', () => {
    const config = loadConfig({ LISTEN_ADDRESS: '0.0.0.0:50051', ALLOW_INSECURE: 'unauthenticated-keyadmin' });
    expect(securityWarnings(config)).toEqual([
      expect.stringMatching(/Accepted on 0\.0\.0\.0:50051 because ALLOW_INSECURE names unauthenticated-keyadmin$/),
    ]);
  });

  it('warns that KeyAdmin refuses everyone when callers authenticate but none may administer', () => {
    expect(securityWarnings(loadConfig(MTLS))).toEqual([
      'ADMIN_CLIENT_IDS is empty: every KeyAdmin call will be refused with PERMISSION_DENIED',
    ]);
  });
});
