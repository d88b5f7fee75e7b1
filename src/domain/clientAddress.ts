import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * The longest `client_ip` this service reads. The longest textual IP address it accepts is 45
 * characters (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`); 64 leaves room for surrounding
 * whitespace. Anything longer is unparsable without being looked at further: a 62 KB `client_ip` must
 * cost no more than a 20-byte one, and must never be kept (as a memo key or as last_used_ip).
 */
export const MAX_CLIENT_IP_LENGTH = 64;

/**
 * The only shapes ipaddr.js is asked about. On text it refuses, its validity checks throw and catch an
 * Error internally: `IPv4.isValidFourPartDecimal('2001:db8::7')` costs about 30 µs of CPU (a stack
 * trace), against 1.5 µs for the whole IPv4 path, so every IPv6 client paid it on every call. These
 * patterns admit a superset of what ipaddr.js accepts (it still decides), so nothing changes but the cost.
 */
const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const HEX_AND_COLONS = /^[0-9A-Fa-f:]+$/;

function isFourPartDecimal(text: string): boolean {
  return DOTTED_QUAD.test(text) && ipaddr.IPv4.isValidFourPartDecimal(text);
}

/**
 * Parses one IP address the way this service accepts them everywhere: surrounding whitespace trimmed,
 * IPv4 only in four-part decimal (ipaddr.js would also take `127.1` or `0x7f.0.0.1`, which no allowlist
 * should mean), IPv6 zone ids rejected, IPv4-mapped IPv6 (`::ffff:203.0.113.50`) turned into IPv4 so
 * that both spellings of one client match the same entries. Returns null when unparsable.
 */
export function parseAddress(text: string): Address | null {
  const trimmed = text.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_CLIENT_IP_LENGTH) return null;
  if (isFourPartDecimal(trimmed)) return ipaddr.IPv4.parse(trimmed);
  const hex = withHexTail(trimmed);
  // A zone id (`%eth0`) or any other character fails the pattern: zones are refused.
  if (hex === null || !HEX_AND_COLONS.test(hex) || !ipaddr.IPv6.isValid(hex)) return null;
  const v6 = ipaddr.IPv6.parse(hex);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * Rewrites an IPv6 address ending in a dotted IPv4 (`::ffff:203.0.113.50`) with that part as two hex
 * groups. ipaddr.js reads the dotted part with parseInt (so `::ffff:0x7f.0.0.1` and `::ffff:010.0.0.1`
 * would pass) and turns `::a.b.c.d` (IPv4-compatible, a plain IPv6 address) into `::ffff:a.b.c.d`;
 * doing it here keeps the IPv4 part to strict decimal and `::a.b.c.d` the address it denotes.
 */
function withHexTail(text: string): string | null {
  if (!text.includes('.')) return text;
  const colon = text.lastIndexOf(':');
  const tail = text.slice(colon + 1);
  if (colon === -1 || !isFourPartDecimal(tail)) return null;
  const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(tail).toByteArray();
  return `${text.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** What a request's `client_ip` denotes, read once per verification. */
export type ClientAddress =
  | { readonly kind: 'missing' }
  | { readonly kind: 'unparsable' }
  | {
      readonly kind: 'address';
      readonly address: Address;
      /** ipaddr.js's canonical text (compressed IPv6, IPv4-mapped as IPv4): the only form ever kept. */
      readonly canonical: string;
    };

const MISSING: ClientAddress = { kind: 'missing' };
const UNPARSABLE: ClientAddress = { kind: 'unparsable' };

/**
 * Reads a request's `client_ip` without the memo: the length is checked before anything else (trimming
 * included), so distinct spellings of one address give one canonical text and junk gives no text at all.
 */
export function readClientAddress(raw: string): ClientAddress {
  if (raw.length > MAX_CLIENT_IP_LENGTH) return UNPARSABLE;
  if (raw.trim() === '') return MISSING;
  const address = parseAddress(raw);
  return address === null ? UNPARSABLE : { kind: 'address', address, canonical: address.toString() };
}

/** Texts remembered process-wide; past this many distinct ones the memo starts afresh. */
export const MAX_REMEMBERED_CLIENT_IPS = 4096;
const remembered = new Map<string, ClientAddress>();

/**
 * readClientAddress, remembered process-wide by the request's text: a gateway sends the same few client
 * addresses again and again, and parsing one (ipaddr.js objects, the canonical text) was ≈ 2 % of a warm
 * call's CPU. Only texts within MAX_CLIENT_IP_LENGTH are kept, at most MAX_REMEMBERED_CLIENT_IPS of them.
 * A ClientAddress is never changed by its readers, so one may be shared.
 */
export function clientAddress(raw: string): ClientAddress {
  if (raw.length > MAX_CLIENT_IP_LENGTH) return UNPARSABLE;
  let client = remembered.get(raw);
  if (client === undefined) {
    client = readClientAddress(raw);
    if (remembered.size >= MAX_REMEMBERED_CLIENT_IPS) remembered.clear();
    remembered.set(raw, client);
  }
  return client;
}

/** The canonical text of an address, or null for anything that is not one (for last_used_ip). */
export function canonicalIpOrNull(raw: string | null): string | null {
  if (raw === null) return null;
  const client = clientAddress(raw);
  return client.kind === 'address' ? client.canonical : null;
}
