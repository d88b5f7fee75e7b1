import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';

import { MAX_CLIENT_IP_LENGTH, parseAddress } from '../../src/domain/clientAddress.js';

/**
 * parseAddress as it was before the shape patterns were put in front of ipaddr.js: the reference the
 * faster version must agree with on every input.
 */
function referenceParse(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_CLIENT_IP_LENGTH) return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(trimmed)) return ipaddr.IPv4.parse(trimmed).toString();
  let hex = trimmed;
  if (trimmed.includes('.')) {
    const colon = trimmed.lastIndexOf(':');
    const tail = trimmed.slice(colon + 1);
    if (colon === -1 || !ipaddr.IPv4.isValidFourPartDecimal(tail)) return null;
    const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(tail).toByteArray();
    hex = `${trimmed.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  if (hex.includes('%') || !ipaddr.IPv6.isValid(hex)) return null;
  const v6 = ipaddr.IPv6.parse(hex);
  return (v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6).toString();
}

const current = (text: string): string | null => parseAddress(text)?.toString() ?? null;

/** Text made of the characters addresses are written with, plus a few that must be refused. */
const addressLike = fc.string({
  unit: fc.constantFrom(
    ...Array.from('0123456789abcdefABCDEF:.'),
    ':',
    '.',
    '0',
    '1',
    '%',
    'x',
    ' ',
    '\t',
    'g',
    '-',
    '/',
    '\u0660',
  ),
  maxLength: 48,
});
const realAddress = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4().map((v4) => `::ffff:${v4}`),
  fc.ipV4Extended(),
  fc.tuple(fc.ipV6(), fc.string({ maxLength: 6 })).map(([v6, zone]) => `${v6}%${zone}`),
);

describe('parseAddress agrees with ipaddr.js as used before its shape patterns', () => {
  it('on random address-like text', () => {
    fc.assert(
      fc.property(addressLike, (text) => {
        expect(current(text)).toBe(referenceParse(text));
      }),
      { numRuns: 20_000 },
    );
  });

  it('on real IPv4, IPv6, mapped, extended-notation and zoned addresses, with surrounding spaces', () => {
    fc.assert(
      fc.property(realAddress, fc.constantFrom('', ' ', '\t'), (text, pad) => {
        expect(current(`${pad}${text}${pad}`)).toBe(referenceParse(`${pad}${text}${pad}`));
      }),
      { numRuns: 20_000 },
    );
  });
});
