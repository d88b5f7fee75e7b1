import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { IpAllowlist, MAX_ALLOWED_IPS, normalizeAllowedIps, parseAddress } from '../../src/domain/IpAllowlist.js';

function rejection(entries: string[]): string {
  try {
    normalizeAllowedIps(entries);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_ARGUMENT');
    return (error as AppError).message;
  }
  throw new Error(`expected ${JSON.stringify(entries)} to be rejected`);
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));

describe('IP allowlists', () => {
  describe('normalizeAllowedIps', () => {
    it.each([
      ['203.0.113.50', '203.0.113.50'],
      ['203.0.113.50/32', '203.0.113.50'],
      ['198.51.100.0/24', '198.51.100.0/24'],
      ['198.51.100.0/024', '198.51.100.0/24'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['2001:DB8:0:0::1', '2001:db8::1'],
      ['2001:db8:0:0:0:0:0:1/128', '2001:db8::1'],
      ['2001:db8::/32', '2001:db8::/32'],
      ['::ffff:203.0.113.50', '203.0.113.50'],
      ['::ffff:cb00:7132', '203.0.113.50'],
      ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
      ['::ffff:a00:0/104', '10.0.0.0/8'],
      ['::ffff:203.0.113.50/128', '203.0.113.50'],
      [' \t198.51.100.0/24 ', '198.51.100.0/24'],
    ])('turns %j into %j', (entry, canonical) => {
      expect(normalizeAllowedIps([entry])).toEqual([canonical]);
    });

    it('sorts and collapses equal entries', () => {
      expect(normalizeAllowedIps(['::1', '10.0.0.1', '10.0.0.1/32', '::ffff:10.0.0.1', '1.0.0.0/8'])).toEqual([
        '1.0.0.0/8',
        '10.0.0.1',
        '::1',
      ]);
    });

    it('accepts an empty list (any IP) and exactly 50 entries', () => {
      expect(normalizeAllowedIps([])).toEqual([]);
      expect(normalizeAllowedIps(Array.from({ length: MAX_ALLOWED_IPS }, (_, i) => `10.0.0.${i}`))).toHaveLength(50);
    });

    it('rejects 51 entries, even duplicates, stating the maximum', () => {
      expect(rejection(Array<string>(51).fill('10.0.0.1'))).toBe('allowed_ips: at most 50 entries allowed, got 51');
    });

    it.each([
      'not-an-ip',
      '',
      '1.2.3',
      '1.2.3.4.5',
      '127.1',
      '0x7f.0.0.1',
      '0177.0.0.1',
      '256.0.0.1',
      'fe80::1%eth0',
      '2001:db8::g',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0.0/8/8',
      '10.0.0.0/1234',
    ])('rejects %j, naming it', (entry) => {
      const message = rejection(['10.0.0.1', entry]);
      expect(message).toBe(
        `allowed_ips: ${JSON.stringify(entry)} is not an IPv4/IPv6 address or CIDR range (e.g. 203.0.113.50, 198.51.100.0/24, 2001:db8::/32)`,
      );
    });

    it('names only the first 64 characters of an overlong entry', () => {
      expect(rejection(['1'.repeat(1000)])).toMatch(
        new RegExp(`^allowed_ips: "${'1'.repeat(64)}" is not an IPv4/IPv6`),
      );
    });

    it.each([
      ['10.0.0.0/33', '/32'],
      ['2001:db8::/129', '/128'],
      ['::ffff:10.0.0.0/129', '/32'],
    ])('rejects %j, a prefix longer than the address', (entry, limit) => {
      expect(rejection([entry])).toBe(`allowed_ips: ${JSON.stringify(entry)} has a prefix longer than ${limit}`);
    });

    it('rejects an IPv4-mapped range shorter than /96, which would mix IPv4 and IPv6 space', () => {
      expect(rejection(['::ffff:0.0.0.0/80'])).toMatch(/mixes IPv4-mapped and plain IPv6 space; use a prefix of \/96/);
    });

    it.each([
      ['198.51.100.7/24', '198.51.100.0/24', '198.51.100.7'],
      ['10.255.255.255/8', '10.0.0.0/8', '10.255.255.255'],
      ['2001:db8::1/64', '2001:db8::/64', '2001:db8::1'],
      ['::ffff:10.1.2.3/104', '10.0.0.0/8', '10.1.2.3'],
    ])('rejects %j (host bits set), suggesting %s or %s', (entry, network, address) => {
      expect(rejection([entry])).toBe(
        `allowed_ips: ${JSON.stringify(entry)} has host bits set; did you mean ${network} (the whole range) or ${address} (the single address)?`,
      );
    });

    it('is idempotent: canonical entries stay as they are', () => {
      fc.assert(
        fc.property(ipv4, fc.integer({ min: 0, max: 32 }), (address, bits) => {
          let canonical: string[];
          try {
            canonical = normalizeAllowedIps([`${address}/${bits}`]);
          } catch {
            return; // host bits set: covered above
          }
          expect(normalizeAllowedIps(canonical)).toEqual(canonical);
        }),
      );
    });
  });

  describe('IpAllowlist.check', () => {
    it('allows everybody, even without an address, when empty', () => {
      const list = new IpAllowlist([]);
      expect(list.isEmpty).toBe(true);
      expect(list.check('')).toEqual({ allowed: true });
      expect(list.check('garbage')).toEqual({ allowed: true });
    });

    it('allows addresses inside any listed range and nobody else', () => {
      const list = new IpAllowlist(['198.51.100.0/24', '203.0.113.50', '2001:db8::/32']);
      expect(list.check('198.51.100.255')).toEqual({ allowed: true });
      expect(list.check('203.0.113.50')).toEqual({ allowed: true });
      expect(list.check('2001:db8:1:2::3')).toEqual({ allowed: true });
      expect(list.check('198.51.101.0')).toEqual({ allowed: false, why: 'not_listed' });
      expect(list.check('203.0.113.51')).toEqual({ allowed: false, why: 'not_listed' });
      expect(list.check('2001:db9::1')).toEqual({ allowed: false, why: 'not_listed' });
    });

    it('matches the IPv4-mapped spelling of a client against IPv4 entries', () => {
      const list = new IpAllowlist(['203.0.113.50']);
      expect(list.check('::ffff:203.0.113.50')).toEqual({ allowed: true });
      expect(list.check('::ffff:cb00:7132')).toEqual({ allowed: true });
    });

    it('distinguishes a missing from an unparsable client address', () => {
      const list = new IpAllowlist(['10.0.0.0/8']);
      expect(list.check('  ')).toEqual({ allowed: false, why: 'missing' });
      expect(list.check('10.1')).toEqual({ allowed: false, why: 'unparsable' });
      expect(list.check('fe80::1%eth0')).toEqual({ allowed: false, why: 'unparsable' });
    });

    it('allows every address of a /n range and none of its neighbours', () => {
      fc.assert(
        fc.property(ipv4, fc.integer({ min: 1, max: 32 }), (address, bits) => {
          const network = normalizeAllowedIps([`${address}/32`])[0]!;
          const numeric = network.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
          const size = 2 ** (32 - bits);
          const base = numeric - (numeric % size);
          const toText = (value: number) =>
            [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
          const list = new IpAllowlist(normalizeAllowedIps([`${toText(base)}/${bits}`]));
          expect(list.check(address).allowed).toBe(true);
          if (base > 0) expect(list.check(toText(base - 1)).allowed).toBe(false);
          if (base + size < 2 ** 32) expect(list.check(toText(base + size)).allowed).toBe(false);
        }),
      );
    });
  });

  describe('parseAddress', () => {
    it('accepts only four-part decimal IPv4, plain IPv6, and maps IPv4-mapped IPv6 to IPv4', () => {
      expect(parseAddress('203.0.113.50')?.toString()).toBe('203.0.113.50');
      expect(parseAddress('::ffff:203.0.113.50')?.kind()).toBe('ipv4');
      expect(parseAddress('2001:DB8::1')?.toString()).toBe('2001:db8::1');
      expect(parseAddress('127.1')).toBeNull();
      expect(parseAddress('fe80::1%1')).toBeNull();
      expect(parseAddress('')).toBeNull();
    });
  });
});
