import { describe, expect, it } from 'vitest';

import { IpAllowlist } from '../../src/domain/IpAllowlist.js';

/** The longest canonical address text: `ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff` (IPv4 is at most 15). */
const LONGEST_CANONICAL = 39;
/** The bound the memo keeps to (MAX_REMEMBERED_DECISIONS); read from the old code's constant too. */
const BOUND = 64;

/**
 * The allowlist's private memo of decisions. Read directly (not through an accessor) so that this test
 * also runs, and fails, against the code before the memo was keyed by canonical address.
 */
function memoOf(list: IpAllowlist): Map<string, unknown> {
  return (list as unknown as { recent?: Map<string, unknown> }).recent ?? new Map<string, unknown>();
}

function randomJunk(length: number): string {
  const alphabet = 'abcdef0123456789:. %/';
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)] ?? 'x';
  return text;
}

describe('IpAllowlist memo of decisions', () => {
  it('never keeps a 62 KB client_ip as a key, whether junk or an address padded with whitespace', () => {
    const list = new IpAllowlist(['198.51.100.0/24']);
    const junk = 'a'.repeat(62 * 1024);
    const padded = `${' '.repeat(62 * 1024)}198.51.100.7`;
    expect(list.check(junk)).toEqual({ allowed: false, why: 'unparsable' });
    expect(list.check(padded)).toEqual({ allowed: false, why: 'unparsable' });
    expect([...memoOf(list).keys()].filter((key) => key.length > LONGEST_CANONICAL)).toEqual([]);
    expect(memoOf(list).size).toBe(0);
  });

  it('keeps unparsable and missing client IPs out of the memo', () => {
    const list = new IpAllowlist(['198.51.100.0/24']);
    for (const text of ['', '   ', 'garbage', '10.1', 'fe80::1%eth0', 'tt_admin_notanaddress']) list.check(text);
    expect(memoOf(list).size).toBe(0);
  });

  it('shares one entry between the spellings of one address', () => {
    const list = new IpAllowlist(['198.51.100.0/24', '2001:db8::/32']);
    for (const text of ['2001:db8::1', '2001:DB8:0:0::1', ' 2001:0db8::0001\t', '2001:db8:0:0:0:0:0:1']) {
      expect(list.check(text)).toEqual({ allowed: true });
    }
    for (const text of ['198.51.100.7', '::ffff:198.51.100.7', ' 198.51.100.7 ', '::ffff:c633:6407']) {
      expect(list.check(text)).toEqual({ allowed: true });
    }
    expect([...memoOf(list).keys()].sort()).toEqual(['198.51.100.7', '2001:db8::1']);
  });

  it(`stays within ${BOUND} entries of at most ${LONGEST_CANONICAL} characters whatever client_ip values arrive`, () => {
    const list = new IpAllowlist(['198.51.100.0/24']);
    for (let i = 0; i < 5000; i++) {
      const text =
        i % 3 === 0
          ? `203.0.${(i >> 8) & 255}.${i & 255}`
          : i % 3 === 1
            ? `2001:db8::${i.toString(16)}`
            : randomJunk(1 + (i % 2000));
      list.check(text);
      expect(memoOf(list).size).toBeLessThanOrEqual(BOUND);
    }
    const keys = [...memoOf(list).keys()];
    expect(keys.length).toBeGreaterThan(0);
    expect(Math.max(...keys.map((key) => key.length))).toBeLessThanOrEqual(LONGEST_CANONICAL);
  });
});
