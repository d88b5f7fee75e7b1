import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { DenialReason as ProtoDenialReason, VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import { IpAllowlist } from '../../src/domain/IpAllowlist.js';
import type { KeyCache } from '../../src/domain/KeyCache.js';
import { generateSecret } from '../../src/domain/keyFormat.js';
import { DENIAL_HTTP_STATUS, type DenialReason, type Verification, KeyVerifier } from '../../src/domain/KeyVerifier.js';
import { ScopeCatalog } from '../../src/domain/ScopeCatalog.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';
import { NO_METADATA, toVerifiableKey, type VerifiableKey } from '../../src/domain/VerifiableKey.js';
import { timestampFromMs, verificationToProto } from '../../src/transport/convert.js';
import { encodeVerification } from '../../src/transport/encodeVerification.js';
import { keyRecord } from '../storage/storageFixtures.js';

/** Differential test: the hand-assembled VerifyKey answer against ts-proto's encoder, on random input. */

const RUNS = 3000;
const REASONS: DenialReason[] = [
  'malformed',
  'not_found',
  'revoked',
  'expired',
  'disabled',
  'ip_not_allowed',
  'insufficient_scope',
];

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant(''));
const instant = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 45 }),
  fc.constantFrom(0, 1, 999, 1000, 1001, 127_000, 128_000, 16_383_999, 16_384_000, Date.now()),
);
/** Metadata as CreateKey accepts it (names of [a-z0-9_.-] from a letter, any text as values), or none. */
const metadataName = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/);
const metadata: fc.Arbitrary<Readonly<Record<string, string>>> = fc.oneof(
  fc.constant(NO_METADATA),
  fc.constant({}),
  fc.dictionary(metadataName, fc.oneof(text, fc.string({ maxLength: 600 })), { minKeys: 1, maxKeys: 20 }),
);

const key: fc.Arbitrary<VerifiableKey> = fc
  .record({
    id: text,
    organizationId: text,
    name: text,
    prefix: text,
    scopes: fc.array(text, { maxLength: 5 }),
    metadata,
    expireTime: instant,
    revokeTime: fc.option(instant),
    disableTime: fc.option(instant),
    disabledByUserId: fc.option(text),
    createdByUserId: text,
    version: fc.nat(),
  })
  .map((fields) => ({ ...fields, scopeSet: new Set(fields.scopes), allowlist: new IpAllowlist([]) }));

const outcome: fc.Arbitrary<Verification> = fc.oneof(
  fc.record({ valid: fc.constant(true as const), key, now: instant, message: text }),
  fc.record(
    {
      valid: fc.constant(false as const),
      reason: fc.constantFrom(...REASONS),
      message: text,
      now: instant,
      key,
    },
    { requiredKeys: ['valid', 'reason', 'message', 'now'] },
  ),
);

function library(verification: Verification): Buffer {
  return Buffer.from(VerifyKeyResponse.encode(verificationToProto(verification)).finish());
}

describe('encodeVerification', () => {
  it('writes the bytes ts-proto writes, for valid answers and denials, with and without metadata', () => {
    fc.assert(
      fc.property(outcome, (verification) => {
        expect(encodeVerification(verification).equals(library(verification))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('writes each call its own authentication time from the bytes kept for the key', () => {
    fc.assert(
      fc.property(key, fc.array(fc.tuple(instant, text), { minLength: 2, maxLength: 6 }), (cached, calls) => {
        for (const [now, message] of calls) {
          const verification: Verification = { valid: true, key: cached, now, message };
          const bytes = encodeVerification(verification);
          expect(bytes.equals(library(verification))).toBe(true);
          expect(VerifyKeyResponse.decode(bytes)).toEqual(verificationToProto(verification));
        }
      }),
      { numRuns: RUNS / 3 },
    );
  });
});

// Through the verifier: stored keys as the repository returns them, made verifiable (interned scopes,
// allowlists, names and metadata), asked by random requests. The answer, decoded by ts-proto, must be the
// response that was encoded before answers were pre-encoded: verificationToProto's fields, the key's taken
// from the stored record itself.

const NOW = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;
const catalog = ScopeCatalog.default();
const SCOPES = catalog.list().map((scope) => scope.name);
const ALLOWLIST_ENTRIES = ['198.51.100.0/24', '203.0.113.7', '2001:db8::/32', '10.0.0.0/8', '::1'];
const CLIENT_IPS = [
  '',
  '198.51.100.7',
  '203.0.113.7',
  '203.0.113.8',
  '2001:db8::5',
  '2001:db9::5',
  '10.1.2.3',
  '::1',
  '::ffff:198.51.100.9',
  ' 198.51.100.7 ',
  'not-an-ip',
  'localhost',
];
const { secret } = generateSecret('admin');

/** Null three times in four: most keys drawn can still be valid. */
function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary, weight: 1 });
}

const stored: fc.Arbitrary<ApiKeyRecord> = fc
  .record({
    id: fc.stringMatching(/^key_[A-Za-z0-9]{1,22}$/),
    organizationId: fc.constantFrom('org-a', 'org-b', 'org-ü'),
    name: text,
    scopes: fc.uniqueArray(fc.constantFrom(...SCOPES), { maxLength: 6 }),
    allowedIps: fc.uniqueArray(fc.constantFrom(...ALLOWLIST_ENTRIES), { maxLength: 3 }),
    metadata: fc.oneof(
      fc.constant({}),
      fc.dictionary(metadataName, fc.oneof(text, fc.string({ maxLength: 600 })), { minKeys: 1, maxKeys: 20 }),
      fc.constant({ team: 'payments', env: 'prod' }),
    ),
    expireTime: fc.integer({ min: NOW - 10 * HOUR, max: NOW + 8760 * HOUR }),
    revokeTime: rarely(fc.integer({ min: NOW - 100 * HOUR, max: NOW })),
    suspended: rarely(fc.tuple(fc.integer({ min: NOW - 100 * HOUR, max: NOW }), text)),
    createdByUserId: fc.oneof(text, fc.constantFrom('alice', 'bob')),
  })
  .map(({ suspended, ...fields }) =>
    keyRecord(fields.id, {
      ...fields,
      disableTime: suspended?.[0] ?? null,
      disabledByUserId: suspended?.[1] ?? null,
    }),
  );

const request = fc.record({
  clientIp: fc.oneof(fc.constantFrom(...CLIENT_IPS), fc.string({ maxLength: 50 })),
  // A scope of the catalog, or (a number) the key's own n-th scope: most requests ask for scopes it holds.
  requiredScopes: fc.array(fc.oneof(fc.constantFrom(...SCOPES), fc.nat(), fc.nat()), { maxLength: 4 }),
  now: fc.integer({ min: NOW - HOUR, max: NOW + HOUR }),
});

/** The response as VerifyKey encoded it before pre-encoding: every key field from the stored record. */
function responseBefore(record: ApiKeyRecord, verification: Verification): VerifyKeyResponse {
  const identified = verification.key !== undefined;
  return {
    valid: verification.valid,
    denialReason: verification.valid
      ? ProtoDenialReason.DENIAL_REASON_UNSPECIFIED
      : verificationToProto(verification).denialReason,
    httpStatus: verification.valid ? 200 : DENIAL_HTTP_STATUS[verification.reason],
    message: verification.message,
    keyId: identified ? record.id : '',
    keyName: identified ? record.name : '',
    keyPrefix: identified ? record.prefix : '',
    scopes: identified ? [...record.scopes] : [],
    expireTime: identified ? timestampFromMs(record.expireTime) : undefined,
    organizationId: identified ? record.organizationId : '',
    authenticateTime: timestampFromMs(verification.now),
    createdByUserId: identified ? record.createdByUserId : '',
    metadata: identified ? { ...record.metadata } : {},
  };
}

describe('encodeVerification through KeyVerifier', () => {
  it('answers every stored key and request as VerifyKey did before (metadata, suspension, allowlists, scopes)', () => {
    const reasons = new Set<string>();
    let validWithMetadata = 0;
    fc.assert(
      fc.property(stored, request, (record, { clientIp, requiredScopes: asked, now }) => {
        const requiredScopes = asked.flatMap((scope) =>
          typeof scope === 'string'
            ? [scope]
            : record.scopes.length === 0
              ? []
              : [record.scopes[scope % record.scopes.length] ?? ''],
        );
        const verifiable = toVerifiableKey(record);
        const cache = { peekDigest: () => verifiable } as unknown as KeyCache;
        const verifier = new KeyVerifier({ cache, scopes: catalog, clock: { now: () => now } });
        const verification = verifier.verify({ key: secret, clientIp, requiredScopes });
        if (verification instanceof Promise) throw new Error('a cached key is decided synchronously');
        reasons.add(verification.valid ? 'valid' : verification.reason);
        if (verification.valid && Object.keys(record.metadata).length > 0) validWithMetadata++;
        if (record.revokeTime === null && now < record.expireTime && record.disableTime !== null)
          expect(verification).toMatchObject({ valid: false, reason: 'disabled' });
        const bytes = encodeVerification(verification);
        expect(VerifyKeyResponse.decode(bytes)).toEqual(responseBefore(record, verification));
        expect(bytes.equals(library(verification))).toBe(true);
        // The same key answered again (its bytes now kept) and at another instant.
        const again = verifier.verify({ key: secret, clientIp, requiredScopes });
        if (again instanceof Promise) throw new Error('a cached key is decided synchronously');
        expect(VerifyKeyResponse.decode(encodeVerification(again))).toEqual(responseBefore(record, again));
      }),
      { numRuns: RUNS },
    );
    expect([...reasons].sort()).toEqual(
      ['disabled', 'expired', 'insufficient_scope', 'ip_not_allowed', 'revoked', 'valid'].sort(),
    );
    expect(validWithMetadata).toBeGreaterThan(RUNS / 20);
  });
});
