import { InternTable } from './InternTable.js';
import { IpAllowlist } from './IpAllowlist.js';
import type { ApiKeyRecord } from './types.js';

/** The parsed, immutable form of a key that the verifier keeps in memory. */
export interface VerifiableKey {
  readonly id: string;
  readonly organizationId: string;
  readonly name: string;
  readonly prefix: string;
  readonly scopes: readonly string[];
  readonly scopeSet: ReadonlySet<string>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly allowlist: IpAllowlist;
  readonly expireTime: number;
  readonly revokeTime: number | null;
  /** Set while the key is suspended. */
  readonly disableTime: number | null;
  readonly disabledByUserId: string | null;
  readonly createdByUserId: string;
  /** The stored key's version this copy was made from (ApiKeyRecord.version). */
  readonly version: number;
}

interface Scopes {
  readonly scopes: readonly string[];
  readonly scopeSet: ReadonlySet<string>;
}

/** Distinct values shared among cached keys, per kind; far more than a deployment has of each. */
const MAX_INTERNED = 10_000;
// Keys of one organization share its scopes and allowlist far more often than not: one copy each
// (an allowlist's parsed ranges and its memo of decisions are a function of its entries alone).
const scopeSets = new InternTable<Scopes>(MAX_INTERNED);
const allowlists = new InternTable<IpAllowlist>(MAX_INTERNED);
const names = new InternTable<string>(MAX_INTERNED);
const metadataMaps = new InternTable<Readonly<Record<string, string>>>(MAX_INTERNED);
/** Metadata longer than this (as JSON) is kept per key rather than interned: the table holds its text. */
const MAX_INTERNED_METADATA_CHARS = 1024;
// '\n' cannot occur in a scope name or an allowlist entry (both validated), so joined lists are unambiguous.
const SEPARATOR = '\n';

function makeScopes(joined: string): Scopes {
  const scopes = Object.freeze(joined === '' ? [] : joined.split(SEPARATOR));
  return { scopes, scopeSet: new Set(scopes) };
}

function makeAllowlist(joined: string): IpAllowlist {
  return new IpAllowlist(joined === '' ? [] : joined.split(SEPARATOR));
}

/** The same string, shared with every key that holds an equal one (organization, creator, name). */
function intern(text: string): string {
  return names.get(text, () => text);
}

/** The metadata of every key that has none (most keys): one frozen object, not one per key. */
export const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The same frozen map, shared with every key whose metadata is equal entry for entry and in the same
 * order (order matters: it is the order the response encodes them in).
 */
function internMetadata(metadata: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (Object.keys(metadata).length === 0) return NO_METADATA;
  const json = JSON.stringify(metadata);
  if (json.length > MAX_INTERNED_METADATA_CHARS) return Object.freeze({ ...metadata });
  return metadataMaps.get(json, () => Object.freeze({ ...metadata }));
}

/** Pre-parses a stored key for fast repeated verification. */
export function toVerifiableKey(record: ApiKeyRecord): VerifiableKey {
  const { scopes, scopeSet } = scopeSets.get(record.scopes.join(SEPARATOR), makeScopes);
  return {
    id: record.id,
    organizationId: intern(record.organizationId),
    name: intern(record.name),
    prefix: record.prefix,
    scopes,
    scopeSet,
    metadata: internMetadata(record.metadata),
    allowlist: allowlists.get(record.allowedIps.join(SEPARATOR), makeAllowlist),
    expireTime: record.expireTime,
    revokeTime: record.revokeTime,
    disableTime: record.disableTime,
    disabledByUserId: record.disabledByUserId === null ? null : intern(record.disabledByUserId),
    createdByUserId: intern(record.createdByUserId),
    version: record.version,
  };
}
