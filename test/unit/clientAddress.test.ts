import { describe, expect, it } from 'vitest';

import { canonicalIpOrNull, clientAddress, MAX_CLIENT_IP_LENGTH } from '../../src/domain/clientAddress.js';

describe('clientAddress', () => {
  it('gives the canonical text of every spelling of an address', () => {
    expect(clientAddress(' 2001:0DB8:0:0::0001 ')).toMatchObject({ kind: 'address', canonical: '2001:db8::1' });
    expect(clientAddress('::ffff:203.0.113.5')).toMatchObject({ kind: 'address', canonical: '203.0.113.5' });
    expect(clientAddress('ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255')).toMatchObject({ kind: 'address' });
  });

  it(`reads nothing longer than ${MAX_CLIENT_IP_LENGTH} characters, even a padded address`, () => {
    const padded = `203.0.113.5${' '.repeat(MAX_CLIENT_IP_LENGTH - '203.0.113.5'.length)}`;
    expect(clientAddress(padded)).toMatchObject({ kind: 'address', canonical: '203.0.113.5' });
    expect(clientAddress(`${padded} `)).toEqual({ kind: 'unparsable' });
    expect(clientAddress(' '.repeat(62 * 1024))).toEqual({ kind: 'unparsable' });
  });

  it('tells a missing client IP from one that is not an address', () => {
    expect(clientAddress('  ')).toEqual({ kind: 'missing' });
    expect(clientAddress('tt_admin_AbCdEf')).toEqual({ kind: 'unparsable' });
  });

  it('canonicalIpOrNull keeps only addresses', () => {
    expect(canonicalIpOrNull('2001:DB8::1')).toBe('2001:db8::1');
    expect(canonicalIpOrNull('tt_admin_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789')).toBeNull();
    expect(canonicalIpOrNull(null)).toBeNull();
  });
});
