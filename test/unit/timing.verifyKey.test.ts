/**
 * Timing, stated as structure rather than measured: VerifyKey must not exit early on the bytes of a
 * secret. What it does with a presented string, step by step, is recorded (spies on the key-format
 * functions, a fake repository that records every access) and compared between inputs. No wall-clock
 * assertions: they would be flaky and prove little.
 *
 * The claims:
 * - the repository is asked by SHA-256 only, and nothing is ever compared with a stored secret (none is
 *   stored: a record holds the hash);
 * - two keys that differ only in their last random character take the same steps;
 * - the only content-dependent early exits are the length and the checksum, and both depend only on the
 *   presented string: their outcome and the steps taken are the same whatever the repository holds,
 *   even for a near miss of a stored key.
 * The cache and the database are then looked up by the digest. A lookup by digest may stop at the first
 * differing byte of a digest (hash tables and SQL indexes compare that way), which tells an attacker how
 * many leading bytes of SHA-256(guess) match a stored SHA-256, not anything about the secret itself.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { beforeEach, describe, expect, it, vi } from 'vitest';

import { KeyCache } from '../../src/domain/KeyCache.js';
import { generateSecret, hasKeyLength, isWellFormedKey, secretDigest } from '../../src/domain/keyFormat.js';
import type { KeyRepository } from '../../src/domain/KeyRepository.js';
import { KeyVerifier } from '../../src/domain/KeyVerifier.js';
import { toBase62 } from '../../src/domain/randomBase62.js';
import { ScopeCatalog } from '../../src/domain/ScopeCatalog.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';
import { toVerifiableKey } from '../../src/domain/VerifiableKey.js';
import { keyRecord } from '../helpers/keyRecord.js';

vi.mock('../../src/domain/keyFormat.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/domain/keyFormat.js')>();
  return {
    ...actual,
    hasKeyLength: vi.fn(actual.hasKeyLength),
    secretDigest: vi.fn(actual.secretDigest),
    isWellFormedKey: vi.fn(actual.isWellFormedKey),
  };
});

/** The real key-format functions, which the spies below call through to. */
const real = await vi.importActual<typeof import('../../src/domain/keyFormat.js')>('../../src/domain/keyFormat.js');
const NOW = Date.parse('2026-01-01T00:00:00Z');

/** What verification did with one presented string, in order. */
type Step = 'length check' | 'digest' | 'checksum check' | `repository.${string}`;

/** A verifier over a fake repository holding `stored`, and the log of what a verification did. */
function harness(stored: readonly ApiKeyRecord[]) {
  const steps: Step[] = [];
  const hashesAsked: Buffer[] = [];
  const byHash = new Map(stored.map((record) => [record.secretHash.toString('hex'), record]));
  const findByHash = (hash: Buffer): Promise<ApiKeyRecord | null> => {
    hashesAsked.push(hash);
    return Promise.resolve(byHash.get(hash.toString('hex')) ?? null);
  };
  // Every property the verifier touches is recorded: anything but findByHash would be a finding.
  const spied: Pick<KeyRepository, 'findByHash'> = { findByHash };
  const repository = new Proxy(spied, {
    get(target, property, receiver) {
      steps.push(`repository.${String(property)}`);
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  const cache = new KeyCache({ repository, maxKeys: 100, negativeTtlMs: 0, maxAgeMs: 300_000 });
  const verifier = new KeyVerifier({ cache, scopes: ScopeCatalog.default(), clock: { now: () => NOW } });
  const spyOnKeyFormat = (): void => {
    vi.mocked(hasKeyLength).mockImplementation((candidate) => {
      steps.push('length check');
      return real.hasKeyLength(candidate);
    });
    vi.mocked(secretDigest).mockImplementation((candidate) => {
      steps.push('digest');
      return real.secretDigest(candidate);
    });
    vi.mocked(isWellFormedKey).mockImplementation((candidate) => {
      steps.push('checksum check');
      return real.isWellFormedKey(candidate);
    });
  };
  return {
    steps,
    hashesAsked,
    async verify(key: string) {
      steps.length = 0;
      hashesAsked.length = 0;
      spyOnKeyFormat();
      const outcome = await verifier.verify({ key, clientIp: '', requiredScopes: [] });
      return { outcome: outcome.valid ? 'valid' : outcome.reason, steps: [...steps] };
    },
  };
}

/** `secret` with its last random character changed and the checksum recomputed: well-formed, unknown. */
function lastRandomCharacterChanged(secret: string): string {
  const body = secret.slice(0, -6);
  const changed = body.slice(0, -1) + (body.endsWith('A') ? 'B' : 'A');
  return changed + toBase62(crc32(changed), 6);
}

describe('VerifyKey timing: no early exit on the secret', () => {
  let secret: string;
  let record: ApiKeyRecord;

  beforeEach(() => {
    const generated = generateSecret('admin');
    secret = generated.secret;
    record = keyRecord(generated.hash, { createTime: NOW });
  });

  it('asks the repository by the SHA-256 of the presented string, never by the string', async () => {
    const verifying = harness([record]);
    const { outcome } = await verifying.verify(secret);
    expect(outcome).toBe('valid');
    expect(verifying.hashesAsked).toEqual([createHash('sha256').update(secret).digest()]);
    expect(verifying.hashesAsked[0]?.toString('latin1')).not.toContain(secret.slice(9));
  });

  it('has no stored secret to compare with: a stored key and its cached form hold the hash only', () => {
    const stored = JSON.stringify({ ...record, secretHash: record.secretHash.toString('hex') });
    const cached = JSON.stringify(toVerifiableKey(record), (_key, value: unknown) =>
      value instanceof Set ? [...(value as Set<string>)] : value,
    );
    for (const text of [stored, cached]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(9, 33));
    }
  });

  it('takes the same steps for two keys that differ only in their last random character', async () => {
    const verifying = harness([record]);
    const near = lastRandomCharacterChanged(secret);
    expect(near.slice(0, 32)).toBe(secret.slice(0, 32));
    const stored = await verifying.verify(secret);
    const other = await harness([record]).verify(near);
    expect(stored.steps).toEqual(['length check', 'digest', 'checksum check', 'repository.findByHash']);
    expect(other.steps).toEqual(stored.steps);
    expect([stored.outcome, other.outcome]).toEqual(['valid', 'not_found']);
  });

  it('takes the same steps for a near miss of a cached key as for any unknown key', async () => {
    const verifying = harness([record]);
    await verifying.verify(secret);
    const nearCached = await verifying.verify(lastRandomCharacterChanged(secret));
    const unrelated = await verifying.verify(generateSecret('admin').secret);
    expect(nearCached.steps).toEqual(['length check', 'digest', 'checksum check', 'repository.findByHash']);
    expect(unrelated.steps).toEqual(nearCached.steps);
  });

  it('exits early only on length and checksum, the same way whatever the repository holds', async () => {
    const candidates = [
      secret.slice(0, -1),
      `${secret}x`,
      `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`,
      secret.slice(0, 12) + (secret.charAt(12) === 'A' ? 'B' : 'A') + secret.slice(13),
      secret.toLowerCase() === secret ? secret.toUpperCase() : secret.toLowerCase(),
      'x'.repeat(39),
      '',
    ];
    for (const candidate of candidates) {
      const holdingTheKey = await harness([record]).verify(candidate);
      const empty = await harness([]).verify(candidate);
      expect(holdingTheKey, JSON.stringify(candidate)).toEqual(empty);
      expect(holdingTheKey.outcome).toBe('malformed');
      expect(holdingTheKey.steps).not.toContain('repository.findByHash');
      expect(holdingTheKey.steps).toEqual(
        candidate.length === secret.length ? ['length check', 'digest', 'checksum check'] : ['length check'],
      );
    }
  });
});
