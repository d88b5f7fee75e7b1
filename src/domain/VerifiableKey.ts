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

/** Pre-parses a stored key for fast repeated verification. */
export function toVerifiableKey(record: ApiKeyRecord): VerifiableKey {
  return {
    id: record.id,
    organizationId: record.organizationId,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    scopeSet: new Set(record.scopes),
    metadata: record.metadata,
    allowlist: new IpAllowlist(record.allowedIps),
    expireTime: record.expireTime,
    revokeTime: record.revokeTime,
    disableTime: record.disableTime,
    disabledByUserId: record.disabledByUserId,
    createdByUserId: record.createdByUserId,
    version: record.version,
  };
}
