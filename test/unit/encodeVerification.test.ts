import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import { IpAllowlist } from '../../src/domain/IpAllowlist.js';
import type { DenialReason, Verification } from '../../src/domain/KeyVerifier.js';
import type { VerifiableKey } from '../../src/domain/VerifiableKey.js';
import { verificationToProto } from '../../src/transport/convert.js';
import { encodeVerification } from '../../src/transport/encodeVerification.js';

/** Differential test: the hand-assembled VerifyKey answer against ts-proto's encoder, on random input. */

const RUNS = 3000;
const REASONS: DenialReason[] = [
  'malformed',
  'not_found',
  'revoked',
  'expired',
  'ip_not_allowed',
  'insufficient_scope',
];

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant(''));
const instant = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 45 }),
  fc.constantFrom(0, 1, 999, 1000, 1001, 127_000, 128_000, 16_383_999, 16_384_000, Date.now()),
);

const key: fc.Arbitrary<VerifiableKey> = fc
  .record({
    id: text,
    organizationId: text,
    name: text,
    prefix: text,
    scopes: fc.array(text, { maxLength: 5 }),
    expireTime: instant,
    revokeTime: fc.option(instant),
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
  it('writes the bytes ts-proto writes, for valid answers and denials', () => {
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
