import ipaddr from 'ipaddr.js';

import { invalidArgument } from './AppError.js';
import { type ClientAddress, clientAddress, parseAddress } from './clientAddress.js';

export { parseAddress };

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** At most this many allowlist entries per key. */
export const MAX_ALLOWED_IPS = 50;
const MAX_ENTRY_LENGTH = 64;

interface Range {
  readonly address: Address;
  readonly bits: number;
}

function maxBits(address: Address): number {
  return address.kind() === 'ipv4' ? 32 : 128;
}

function parseEntry(raw: string): Range {
  const text = raw.trim();
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? null : text.slice(slash + 1);
  const address = parseAddress(addressText);
  // Messages quote the entry trimmed and cut: whitespace around or inside it is not otherwise bounded.
  const shown = JSON.stringify(text.slice(0, MAX_ENTRY_LENGTH));
  // IPv4-mapped in either spelling (::ffff:203.0.113.0 or ::ffff:cb00:7100): IPv6 text, IPv4 result.
  const isMapped = addressText.includes(':') && address?.kind() === 'ipv4';
  if (address === null || (bitsText !== null && !/^\d{1,3}$/.test(bitsText))) {
    throw invalidArgument(
      `allowed_ips: ${JSON.stringify(raw.slice(0, MAX_ENTRY_LENGTH))} is not an IPv4/IPv6 address or CIDR range (e.g. 203.0.113.50, 198.51.100.0/24, 2001:db8::/32)`,
    );
  }
  let bits = bitsText === null ? maxBits(address) : Number(bitsText);
  // An IPv4-mapped IPv6 range (::ffff:10.0.0.0/104) becomes its IPv4 equivalent (10.0.0.0/8).
  if (isMapped && bitsText !== null) {
    if (bits < 96)
      throw invalidArgument(
        `allowed_ips: ${shown} mixes IPv4-mapped and plain IPv6 space; use a prefix of /96 or longer`,
      );
    bits -= 96;
  }
  if (bits > maxBits(address)) {
    throw invalidArgument(`allowed_ips: ${shown} has a prefix longer than /${maxBits(address)}`);
  }
  const network = networkOf(address, bits);
  // Host bits set (198.51.100.7/24) usually means a typo; widening or narrowing it silently would grant
  // or refuse access the admin did not intend, so it is rejected with the probable meaning.
  if (network.toString() !== address.toString()) {
    throw invalidArgument(
      `allowed_ips: ${shown} has host bits set; did you mean ${network.toString()}/${bits} (the whole range) or ${address.toString()} (the single address)?`,
    );
  }
  return { address, bits };
}

function networkOf(address: Address, bits: number): Address {
  const bytes = address.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes);
}

function format(range: Range): string {
  return range.bits === maxBits(range.address) ? range.address.toString() : `${range.address.toString()}/${range.bits}`;
}

/**
 * Validates allowlist entries and returns them canonical (compressed IPv6, IPv4-mapped as IPv4, /32
 * and /128 as bare addresses), sorted and without duplicates.
 */
export function normalizeAllowedIps(entries: readonly string[]): string[] {
  if (entries.length > MAX_ALLOWED_IPS) {
    throw invalidArgument(`allowed_ips: at most ${MAX_ALLOWED_IPS} entries allowed, got ${entries.length}`);
  }
  return [...new Set(entries.map((entry) => format(parseEntry(entry))))].sort();
}

/** Outcome of checking a client address against an allowlist. */
export type IpDecision = { allowed: true } | { allowed: false; why: 'missing' | 'unparsable' | 'not_listed' };

const ALLOWED: IpDecision = { allowed: true };
const MISSING: IpDecision = { allowed: false, why: 'missing' };
const UNPARSABLE: IpDecision = { allowed: false, why: 'unparsable' };
const NOT_LISTED: IpDecision = { allowed: false, why: 'not_listed' };
/** The most decisions one key remembers: its memory stays bounded whatever client_ip values arrive. */
export const MAX_REMEMBERED_DECISIONS = 64;

/** A pre-parsed allowlist for fast repeated checks on the verify path. */
export class IpAllowlist {
  private readonly ranges: readonly Range[];
  /**
   * Decisions by canonical client address: two spellings of one address share an entry, and text that
   * is not an address (missing, unparsable, over MAX_CLIENT_IP_LENGTH) never becomes a key. Created on
   * first use: most cached keys have no allowlist and never need it.
   */
  private recent: Map<string, IpDecision> | undefined;

  /** `entries` must already be canonical (as stored). */
  constructor(entries: readonly string[]) {
    this.ranges = entries.map(parseEntry);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /**
   * An empty allowlist allows every client, even one without an address. Takes the request's text or,
   * on the verify path, the address already read from it (clientAddress).
   */
  check(clientIp: ClientAddress | string): IpDecision {
    if (this.ranges.length === 0) return ALLOWED;
    const client = typeof clientIp === 'string' ? clientAddress(clientIp) : clientIp;
    if (client.kind === 'missing') return MISSING;
    if (client.kind === 'unparsable') return UNPARSABLE;
    // The same few client addresses use a key again and again: remember recent decisions.
    this.recent ??= new Map();
    let decision = this.recent.get(client.canonical);
    if (decision === undefined) {
      if (this.recent.size >= MAX_REMEMBERED_DECISIONS) this.recent.clear();
      decision = this.decide(client.address);
      this.recent.set(client.canonical, decision);
    }
    return decision;
  }

  private decide(client: Address): IpDecision {
    for (const range of this.ranges) {
      if (range.address.kind() === client.kind() && client.match(range.address, range.bits)) {
        return ALLOWED;
      }
    }
    return NOT_LISTED;
  }
}
