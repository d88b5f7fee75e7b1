import type { PeerCertificate } from 'node:tls';

import { describe, expect, it } from 'vitest';

import { certificateIdentity } from '../../src/transport/certificateIdentity.js';

function certificate(subjectaltname: string | undefined, cn?: string | string[]): PeerCertificate {
  return { subjectaltname, subject: cn === undefined ? {} : { CN: cn } } as unknown as PeerCertificate;
}

describe('certificateIdentity', () => {
  it('takes the URI SAN (a SPIFFE id) before DNS SANs and the CN', () => {
    expect(
      certificateIdentity(
        certificate('DNS:admin.internal, URI:spiffe://toptickets/admin-backend, IP Address:10.0.0.1', 'cn'),
      ),
    ).toBe('spiffe://toptickets/admin-backend');
  });

  it('takes the first URI SAN when there are several', () => {
    expect(certificateIdentity(certificate('URI:spiffe://a/one, URI:spiffe://a/two'))).toBe('spiffe://a/one');
  });

  it('takes the first DNS SAN when there is no URI SAN, before the CN', () => {
    expect(certificateIdentity(certificate('IP Address:10.0.0.1, DNS:a.internal, DNS:b.internal', 'cn'))).toBe(
      'a.internal',
    );
  });

  it('takes the subject CN when there is no URI or DNS SAN', () => {
    expect(certificateIdentity(certificate(undefined, 'Admin Backend'))).toBe('Admin Backend');
    expect(certificateIdentity(certificate('IP Address:10.0.0.1, email:ops@example.com', 'Admin Backend'))).toBe(
      'Admin Backend',
    );
  });

  it('reads values Node quotes because they hold a comma', () => {
    expect(certificateIdentity(certificate('URI:"spiffe://t/a,b", DNS:x'))).toBe('spiffe://t/a,b');
  });

  it('names no one when the subject has several CNs (ambiguous) or nothing at all', () => {
    expect(certificateIdentity(certificate(undefined, ['one', 'two']))).toBeUndefined();
    expect(certificateIdentity(certificate(undefined))).toBeUndefined();
    expect(certificateIdentity(certificate('', ''))).toBeUndefined();
  });
});
