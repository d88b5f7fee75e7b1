import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { CallerAuthenticator, type CallerAuthenticationOptions } from '../../src/transport/CallerAuthenticator.js';
import { CallerRejectedError } from '../../src/transport/CallerRejectedError.js';
import type { CallerCredentials } from '../../src/transport/pipeline/CallContext.js';
import { thrownBy } from '../helpers/thrownBy.js';

const ADMIN_TOKEN = 'tok_admin_3c1f0e9a7b';
const OTHER_TOKEN = 'tok_search_55d2a1c0ff';
const digest = (token: string) => createHash('sha256').update(token).digest();

function authenticator(options: Partial<CallerAuthenticationOptions> = {}): CallerAuthenticator {
  return new CallerAuthenticator({
    tokens: [
      { name: 'admin-backend', sha256: digest(ADMIN_TOKEN) },
      { name: 'search', sha256: digest(OTHER_TOKEN) },
    ],
    clientCertificates: false,
    adminClientIds: ['admin-backend', 'spiffe://toptickets/admin-backend'],
    verifierRequiresAuth: false,
    ...options,
  });
}

/** A call with these authorization values and, optionally, a verified client certificate. */
function call(authorization: string[] = [], certificateSan?: string): CallerCredentials & { certificateReads: number } {
  const metadata = new Metadata();
  for (const value of authorization) metadata.add('authorization', value);
  const fake = {
    metadata,
    certificateReads: 0,
    getAuthContext() {
      fake.certificateReads++;
      return certificateSan === undefined
        ? {}
        : {
            transportSecurityType: 'ssl',
            sslPeerCertificate: { subjectaltname: certificateSan, subject: {} } as unknown as PeerCertificate,
          };
    },
  };
  return fake;
}

const rejection = (run: () => unknown): CallerRejectedError => thrownBy(run, CallerRejectedError);

describe('CallerAuthenticator', () => {
  describe('without any configured credentials', () => {
    const open = authenticator({ tokens: [], adminClientIds: [] });
    it('checks nothing on either service (every caller is anonymous)', () => {
      expect(open.enabled).toBe(false);
      expect(open.forKeyAdmin()).toBeUndefined();
      expect(open.forKeyVerifier()).toBeUndefined();
    });
  });

  describe('service tokens', () => {
    const admin = authenticator().forKeyAdmin()!;

    it.each([`Bearer ${ADMIN_TOKEN}`, `bearer ${ADMIN_TOKEN}`, `BEARER   ${ADMIN_TOKEN} `])(
      'names the caller by its token (%s)',
      (value) => {
        expect(admin(call([value])).caller).toBe('admin-backend');
      },
    );

    it('answers UNAUTHENTICATED, saying what to send, without credentials', () => {
      const error = rejection(() => admin(call()));
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.message).toBe(
        'caller authentication required: send "authorization: Bearer <service token>" metadata',
      );
      expect(error.caller).toBeNull();
    });

    it.each([
      ['an unknown token', [`Bearer ${ADMIN_TOKEN}x`], 'the service token was not recognized'],
      ['the token without a scheme', [ADMIN_TOKEN], 'the authorization metadata must be exactly one entry'],
      ['another scheme', [`Basic ${ADMIN_TOKEN}`], 'the authorization metadata must be exactly one entry'],
      ['an empty bearer token', ['Bearer '], 'the authorization metadata must be exactly one entry'],
      ['two entries', [`Bearer ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}`], 'exactly one entry'],
      ['a token holding a space', [`Bearer ${ADMIN_TOKEN} x`], 'exactly one entry'],
    ])('answers UNAUTHENTICATED to %s, never repeating it', (_label, values, message) => {
      const error = rejection(() => admin(call(values)));
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.message).toContain(message);
      expect(error.message).not.toContain(ADMIN_TOKEN);
    });

    it('answers PERMISSION_DENIED to a valid token that is not an admin client, naming the caller', () => {
      const error = rejection(() => admin(call([`Bearer ${OTHER_TOKEN}`])));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.caller).toBe('search');
      expect(error.message).toBe(
        `caller "search" may not use KeyAdmin: it is not in the service's list of admin clients (ADMIN_CLIENT_IDS)`,
      );
    });
  });

  describe('the verifier', () => {
    it('checks nothing unless VERIFIER_REQUIRES_AUTH', () => {
      expect(authenticator().forKeyVerifier()).toBeUndefined();
    });

    it('then admits any authenticated caller, admin client or not', () => {
      const verifier = authenticator({ verifierRequiresAuth: true }).forKeyVerifier()!;
      expect(verifier(call([`Bearer ${OTHER_TOKEN}`])).caller).toBe('search');
      expect(rejection(() => verifier(call())).code).toBe('UNAUTHENTICATED');
      expect(rejection(() => verifier(call(['Bearer wrong']))).code).toBe('UNAUTHENTICATED');
    });

    it('on mutual TLS reads the certificate only when the caller is asked for (the log line)', () => {
      const verifier = authenticator({ verifierRequiresAuth: true, clientCertificates: true }).forKeyVerifier()!;
      const withCertificate = call([], 'URI:spiffe://toptickets/ticket-api');
      const context = verifier(withCertificate);
      expect(withCertificate.certificateReads).toBe(0);
      expect(context.caller).toBe('spiffe://toptickets/ticket-api');
      expect(withCertificate.certificateReads).toBe(1);
    });
  });

  describe('client certificates', () => {
    const admin = authenticator({ clientCertificates: true }).forKeyAdmin()!;

    it('names the caller by its certificate', () => {
      expect(admin(call([], 'URI:spiffe://toptickets/admin-backend')).caller).toBe('spiffe://toptickets/admin-backend');
    });

    it('prefers a presented token to the certificate, and refuses a wrong token whatever the certificate', () => {
      expect(admin(call([`Bearer ${ADMIN_TOKEN}`], 'URI:spiffe://toptickets/ticket-api')).caller).toBe('admin-backend');
      expect(rejection(() => admin(call(['Bearer wrong'], 'URI:spiffe://toptickets/admin-backend'))).code).toBe(
        'UNAUTHENTICATED',
      );
    });

    it('answers PERMISSION_DENIED to a certificate identity that is not an admin client', () => {
      const error = rejection(() => admin(call([], 'URI:spiffe://toptickets/ticket-api')));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.caller).toBe('spiffe://toptickets/ticket-api');
    });

    it('answers UNAUTHENTICATED to a certificate that names no one, or a call without one', () => {
      expect(rejection(() => admin(call([], 'IP Address:10.0.0.1'))).message).toContain(
        'the client certificate names no caller',
      );
      expect(rejection(() => admin(call())).message).toBe(
        'caller authentication required: send "authorization: Bearer <service token>" metadata or connect with a client certificate issued by the configured CA',
      );
    });
  });
});
