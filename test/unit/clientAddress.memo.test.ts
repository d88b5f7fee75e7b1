import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { clientAddress, MAX_REMEMBERED_CLIENT_IPS, readClientAddress } from '../../src/domain/clientAddress.js';

/** The process-wide memo of client_ip texts against reading each text afresh, on random input. */

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.'));
const ipv6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((groups) => groups.map((g) => g.toString(16)).join(':'));
const text = fc.oneof(
  ipv4,
  ipv6,
  ipv4.map((a) => ` ::ffff:${a} `),
  fc.string({ maxLength: 70 }),
  fc.constantFrom('', '  ', '2001:DB8::1', '2001:db8::1', '::', '0.0.0.0', '1.2.3'),
);

describe('clientAddress (remembered)', () => {
  it('answers what reading the text afresh answers, the first time and every time after', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 20 }), (texts) => {
        for (const raw of [...texts, ...texts]) {
          const remembered = clientAddress(raw);
          const fresh = readClientAddress(raw);
          expect(remembered.kind).toBe(fresh.kind);
          if (remembered.kind === 'address' && fresh.kind === 'address') {
            expect(remembered.canonical).toBe(fresh.canonical);
            expect(remembered.address.toString()).toBe(fresh.address.toString());
            expect(remembered.address.kind()).toBe(fresh.address.kind());
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('stays right past its bound', () => {
    for (let i = 0; i < MAX_REMEMBERED_CLIENT_IPS + 10; i++) {
      const raw = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      expect(clientAddress(raw)).toMatchObject({ kind: 'address', canonical: raw });
    }
    expect(clientAddress('10.0.0.1')).toMatchObject({ kind: 'address', canonical: '10.0.0.1' });
  });
});
