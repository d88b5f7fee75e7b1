import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { IpAllowlist, type IpDecision, normalizeAllowedIps } from '../../src/domain/IpAllowlist.js';

/**
 * Differential tests: IpAllowlist (ipaddr.js underneath) against a deliberately naive reference that
 * does address arithmetic on BigInts. The reference is the specification:
 * - IPv4 only as four decimal octets without leading zeros (no `127.1`, `0x7f.0.0.1`, `010.0.0.1`);
 * - IPv6 as eight 1–4 digit hex groups, at most one `::` standing for at least one zero group, optionally
 *   ending in a dotted IPv4 (same strict syntax) that stands for the last two groups;
 * - no zone ids; surrounding whitespace ignored;
 * - `::ffff:0:0/96` (IPv4-mapped) is IPv4, for clients and entries alike;
 * - a client is in a network when both are the same family and the first `bits` bits agree.
 */

const RUNS = 2000;

type Family = 4 | 6;
interface RefAddress {
  readonly family: Family;
  readonly value: bigint;
}
interface RefNetwork extends RefAddress {
  readonly bits: number;
}

const WIDTH: Record<Family, number> = { 4: 32, 6: 128 };
const MAPPED_PREFIX = 0xffffn;

// ---------------------------------------------------------------------------------------------------------
// Reference parser and matcher
// ---------------------------------------------------------------------------------------------------------

function refParseV4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return null;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function refParseGroups(text: string): bigint[] | null {
  if (text === '') return [];
  const groups: bigint[] = [];
  for (const group of text.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
    groups.push(BigInt(`0x${group}`));
  }
  return groups;
}

function refParseV6(text: string): bigint | null {
  let hex = text;
  const lastColon = text.lastIndexOf(':');
  if (lastColon === -1) return null;
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = refParseV4(last);
    if (v4 === null) return null;
    hex = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return null;
  const head = refParseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? refParseGroups(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const groups = [...head, ...Array<bigint>(8 - count).fill(0n), ...tail];
  return groups.reduce((value, group) => (value << 16n) | group, 0n);
}

function isMapped(address: RefAddress): boolean {
  return address.family === 6 && address.value >> 32n === MAPPED_PREFIX;
}

/** An IPv4-mapped IPv6 address is IPv4. */
function refUnmap(address: RefAddress): RefAddress {
  return isMapped(address) ? { family: 4, value: address.value & 0xffffffffn } : address;
}

/** A network of /96 or longer inside the IPv4-mapped space is an IPv4 network. */
function refUnmapNetwork(network: RefNetwork): RefNetwork {
  return isMapped(network) && network.bits >= 96
    ? { family: 4, value: network.value & 0xffffffffn, bits: network.bits - 96 }
    : network;
}

function refParse(text: string): RefAddress | null {
  const trimmed = text.trim();
  if (trimmed.includes('%')) return null;
  const v4 = refParseV4(trimmed);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = refParseV6(trimmed);
  if (v6 !== null) return refUnmap({ family: 6, value: v6 });
  return null;
}

function refContains(network: RefNetwork, address: RefAddress): boolean {
  if (network.family !== address.family) return false;
  const shift = BigInt(WIDTH[network.family] - network.bits);
  return network.value >> shift === address.value >> shift;
}

function refCheck(networks: readonly RefNetwork[], clientIp: string): IpDecision {
  if (networks.length === 0) return { allowed: true };
  if (clientIp.trim() === '') return { allowed: false, why: 'missing' };
  const client = refParse(clientIp);
  if (client === null) return { allowed: false, why: 'unparsable' };
  const unmapped = networks.map(refUnmapNetwork);
  return unmapped.some((network) => refContains(network, client))
    ? { allowed: true }
    : { allowed: false, why: 'not_listed' };
}

// ---------------------------------------------------------------------------------------------------------
// Spellings (written independently of ipaddr.js)
// ---------------------------------------------------------------------------------------------------------

function dotted(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');
}

function groupsOf(value: bigint): number[] {
  return [7, 6, 5, 4, 3, 2, 1, 0].map((i) => Number((value >> BigInt(i * 16)) & 0xffffn));
}

interface V6Style {
  readonly upper: boolean;
  readonly pad: boolean;
  /** Which run of zero groups to write as `::` (index into the runs found; none when out of range). */
  readonly compressRun: number;
  /** Write the last 32 bits as a dotted IPv4. */
  readonly dottedTail: boolean;
}

function zeroRuns(groups: readonly number[], limit: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < limit; i++) {
    if (groups[i] !== 0) continue;
    let end = i;
    while (end + 1 < limit && groups[end + 1] === 0) end++;
    for (let start = i; start <= end; start++) runs.push([start, end + 1]);
    i = end;
  }
  return runs;
}

function ipv6Text(value: bigint, style: V6Style): string {
  const groups = groupsOf(value);
  const hexCount = style.dottedTail ? 6 : 8;
  const hex = groups
    .slice(0, hexCount)
    .map((group) => (style.pad ? group.toString(16).padStart(4, '0') : group.toString(16)))
    .map((group) => (style.upper ? group.toUpperCase() : group));
  const tail = style.dottedTail ? [dotted(value & 0xffffffffn)] : [];
  const runs = zeroRuns(groups, hexCount);
  const run = runs[style.compressRun];
  if (run === undefined) return [...hex, ...tail].join(':');
  const [start, end] = run;
  const before = hex.slice(0, start).join(':');
  const after = [...hex.slice(end), ...tail].join(':');
  return `${before}::${after}`;
}

const v6Style: fc.Arbitrary<V6Style> = fc.record({
  upper: fc.boolean(),
  pad: fc.boolean(),
  compressRun: fc.integer({ min: 0, max: 12 }),
  dottedTail: fc.boolean(),
});

/** Ways of writing an address; IPv4 also in its IPv4-mapped IPv6 forms. */
function spelling(address: RefAddress): fc.Arbitrary<string> {
  if (address.family === 6) return v6Style.map((style) => ipv6Text(address.value, style));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(dotted(address.value)) },
    { weight: 2, arbitrary: v6Style.map((style) => ipv6Text((MAPPED_PREFIX << 32n) | address.value, style)) },
  );
}

const whitespace = fc.constantFrom('', '', '', ' ', '  ', '\t', '\n', ' \r\n');

const ipv4Value = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n });
/** Random 128-bit values, biased towards the interesting corners: zero runs, mapped and compatible space. */
const ipv6Value = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  fc
    .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
    .map((groups) => groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n)),
  ipv4Value.map((v4) => (MAPPED_PREFIX << 32n) | v4),
  ipv4Value,
  fc.constantFrom(0n, 1n),
);
const address: fc.Arbitrary<RefAddress> = fc.oneof(
  ipv4Value.map((value) => ({ family: 4 as const, value })),
  ipv6Value.map((value) => ({ family: 6 as const, value })),
);

function networkOf(base: RefAddress, bits: number): RefNetwork {
  const hostBits = BigInt(WIDTH[base.family] - bits);
  return { family: base.family, value: (base.value >> hostBits) << hostBits, bits };
}

/** A network with its host bits cleared (normalizeAllowedIps rejects host bits, on purpose). */
const network: fc.Arbitrary<RefNetwork> = address.chain((base) =>
  fc.integer({ min: 0, max: WIDTH[base.family] }).map((bits) => networkOf(base, bits)),
);

/** An allowlist entry as an admin might type it. */
function entrySpelling(net: RefNetwork): fc.Arbitrary<string> {
  const full = WIDTH[net.family];
  return fc.tuple(spelling(net), whitespace, fc.boolean()).map(([text, space, bare]) => {
    const mapped = net.family === 4 && text.includes(':');
    const bits = mapped ? net.bits + 96 : net.bits;
    return net.bits === full && bare ? `${space}${text}` : `${text}/${bits}${space}`;
  });
}

/** A random non-empty allowlist: the networks and how they were typed. */
const allowlist = fc
  .array(network, { minLength: 1, maxLength: 8 })
  .chain((networks) => fc.tuple(fc.constant(networks), fc.tuple(...networks.map(entrySpelling))));

/** An address inside `net`: its prefix with random host bits. */
function insideOf(net: RefNetwork): fc.Arbitrary<RefAddress> {
  const hostMask = (1n << BigInt(WIDTH[net.family] - net.bits)) - 1n;
  return fc
    .bigInt({ min: 0n, max: (1n << 128n) - 1n })
    .map((random) => ({ family: net.family, value: net.value | (random & hostMask) }));
}

/** A client address inside one of `networks`, or anywhere. */
function clientFor(networks: readonly RefNetwork[]): fc.Arbitrary<RefAddress> {
  return fc.oneof(fc.constantFrom(...networks).chain(insideOf), address);
}

const clientText = (client: RefAddress): fc.Arbitrary<string> =>
  fc.tuple(whitespace, spelling(client), whitespace).map(([a, text, b]) => `${a}${text}${b}`);

/** Strings made of the characters addresses are made of, so that many are near misses. */
const nearMiss = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFxX:.%/ \t-'.split('')), maxLength: 48 }),
  fc.string({ maxLength: 48 }),
  fc.string({ unit: 'grapheme', maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
);

/** Valid spellings with one character replaced, inserted or removed. */
const mutated = fc
  .tuple(
    address.chain(spelling),
    fc.nat(),
    fc.constantFrom('replace', 'insert', 'delete'),
    fc.constantFrom(...'0123456789abcdefgABx:.%/ \u0000\u00a0１٣'.split('')),
  )
  .map(([text, at, how, char]) => {
    const i = at % (text.length + 1);
    if (how === 'insert') return text.slice(0, i) + char + text.slice(i);
    if (how === 'delete') return text.slice(0, i) + text.slice(i + 1);
    return text.slice(0, i) + char + text.slice(i + 1);
  });

function allowlistOf(entries: readonly string[]): IpAllowlist {
  return new IpAllowlist(normalizeAllowedIps(entries));
}

// ---------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------

describe('IpAllowlist.check agrees with a BigInt reference', () => {
  it('decides random IPv4/IPv6 clients (any spelling, with whitespace) like the reference', () => {
    fc.assert(
      fc.property(
        allowlist.chain(([networks, entries]) =>
          fc.tuple(fc.constant(networks), fc.constant(entries), clientFor(networks).chain(clientText)),
        ),
        ([networks, entries, client]) => {
          expect(allowlistOf(entries).check(client)).toEqual(refCheck(networks, client));
        },
      ),
      { numRuns: RUNS },
    );
  });

  // A mapped client is IPv4, so a plain IPv6 range that happens to cover ::ffff:0:0/96 does not match it;
  // those cases are left to the property above (the reference decides them the same way).
  it('allows every address inside a listed network, however the network and address are written', () => {
    fc.assert(
      fc.property(
        network.chain((net) =>
          fc.tuple(
            fc.constant(net),
            entrySpelling(net),
            insideOf(net).chain((client) => fc.tuple(fc.constant(client), clientText(client))),
          ),
        ),
        ([net, entry, [client, text]]) => {
          fc.pre(refUnmap(client).family === refUnmapNetwork(net).family);
          expect(allowlistOf([entry]).check(text)).toEqual({ allowed: true });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('agrees with the reference on near-miss and garbage strings, and never allows what it cannot parse', () => {
    fc.assert(
      fc.property(allowlist, fc.oneof(nearMiss, mutated), ([networks, entries], garbage) => {
        const decision = allowlistOf(entries).check(garbage);
        expect(decision).toEqual(refCheck(networks, garbage));
        if (refParse(garbage) === null) expect(decision.allowed).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('IpAllowlist.check refuses addresses it cannot parse unambiguously', () => {
  /** `127.1`, `0x7f.0.0.1`, `010.0.0.1` and friends: inet_aton spellings that no allowlist should mean. */
  const nonDecimalIpv4 = fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 3 }),
      fc.constantFrom('hex', 'octal', 'two-part', 'three-part'),
    )
    .map(([octets, at, form]) => {
      const parts = octets.map(String);
      const octet = octets[at] ?? 0;
      if (form === 'hex') parts[at] = `0x${octet.toString(16)}`;
      if (form === 'octal') parts[at] = `0${octet.toString(8)}`;
      if (form === 'two-part')
        return `${octets[0] ?? 0}.${((octets[1] ?? 0) << 16) + ((octets[2] ?? 0) << 8) + (octets[3] ?? 0)}`;
      if (form === 'three-part')
        return `${octets[0] ?? 0}.${octets[1] ?? 0}.${((octets[2] ?? 0) << 8) + (octets[3] ?? 0)}`;
      return parts.join('.');
    });

  it('treats non-decimal IPv4 forms as unparsable, plain or inside ::ffff:, even under 0.0.0.0/0', () => {
    const anyIpv4 = allowlistOf(['0.0.0.0/0']);
    fc.assert(
      fc.property(nonDecimalIpv4, fc.boolean(), (text, mapped) => {
        expect(anyIpv4.check(mapped ? `::ffff:${text}` : text)).toEqual({ allowed: false, why: 'unparsable' });
      }),
      { numRuns: RUNS },
    );
  });

  it('treats IPv6 zone ids (fe80::1%eth0) as unparsable, even under ::/0', () => {
    const anyIpv6 = allowlistOf(['::/0', '0.0.0.0/0']);
    fc.assert(
      fc.property(
        ipv6Value.chain((value) => v6Style.map((style) => ipv6Text(value, style))),
        fc.stringMatching(/^[0-9a-z]{1,8}$/),
        (text, zone) => {
          expect(anyIpv6.check(`${text}%${zone}`)).toEqual({ allowed: false, why: 'unparsable' });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('normalizeAllowedIps', () => {
  it('turns any spelling of a network into one canonical entry that denotes the same network', () => {
    fc.assert(
      fc.property(
        network.chain((net) => fc.tuple(fc.constant(net), entrySpelling(net))),
        ([net, entry]) => {
          const [canonical, ...rest] = normalizeAllowedIps([entry]);
          expect(rest).toEqual([]);
          const [addressText = '', bitsText] = (canonical ?? '').split('/');
          const parsed = refParse(addressText);
          const expected = refUnmapNetwork(net);
          expect(parsed).toEqual({ family: expected.family, value: expected.value });
          expect(bitsText === undefined ? WIDTH[expected.family] : Number(bitsText)).toBe(expected.bits);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('rejects a network written with host bits set', () => {
    fc.assert(
      fc.property(
        network.filter((net) => net.bits < WIDTH[net.family]),
        fc.bigInt({ min: 1n, max: (1n << 128n) - 1n }),
        (net, random) => {
          const hostMask = (1n << BigInt(WIDTH[net.family] - net.bits)) - 1n;
          const host = random & hostMask || 1n;
          const text = net.family === 4 ? dotted(net.value | host) : ipv6Text(net.value | host, NO_STYLE);
          // Host bits can also land a plain IPv6 range's address in the IPv4-mapped space: rejected too.
          expect(() => normalizeAllowedIps([`${text}/${net.bits}`])).toThrow(/host bits set|IPv4-mapped/);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

const NO_STYLE: V6Style = { upper: false, pad: false, compressRun: 99, dottedTail: false };
