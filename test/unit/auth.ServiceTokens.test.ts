import { createHash } from 'node:crypto';

import { beforeEach, describe, expect, it, vi } from 'vitest';

import { ServiceTokens } from '../../src/transport/ServiceTokens.js';

/** Counts calls of the real crypto.timingSafeEqual, which ServiceTokens must use for every comparison. */
const compared = vi.hoisted(() => ({ calls: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return {
    ...original,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      compared.calls++;
      return original.timingSafeEqual(a, b);
    },
  };
});

const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest();

const TOKENS = ['token-of-admin', 'token-of-billing', 'token-of-search', 'token-of-reports'];
const tokens = new ServiceTokens(TOKENS.map((token, index) => ({ name: `service-${index}`, sha256: sha256(token) })));

describe('ServiceTokens', () => {
  beforeEach(() => {
    compared.calls = 0;
  });

  it('names the token whose SHA-256 is configured', () => {
    expect(TOKENS.map((token) => tokens.identify(token))).toEqual(['service-0', 'service-1', 'service-2', 'service-3']);
  });

  it('recognizes no other token: a prefix, a longer string, another case, the empty string, the hash itself', () => {
    for (const token of [
      'token-of',
      'token-of-admin ',
      'TOKEN-OF-ADMIN',
      '',
      sha256('token-of-admin').toString('hex'),
    ]) {
      expect(tokens.identify(token)).toBeUndefined();
    }
  });

  it.each([
    ['the first configured token', 'token-of-admin'],
    ['the last configured token', 'token-of-reports'],
    ['an unknown token', 'token-of-nobody'],
    ['an empty token', ''],
  ])('compares %s with every configured digest, in constant time (no early exit)', (_label, token) => {
    tokens.identify(token);
    expect(compared.calls).toBe(TOKENS.length);
  });

  it('keeps its own copies of the digests', () => {
    const digest = sha256('mutable');
    const own = new ServiceTokens([{ name: 'm', sha256: digest }]);
    digest.fill(0);
    expect(own.identify('mutable')).toBe('m');
  });

  it('refuses a digest that is not 32 bytes', () => {
    expect(() => new ServiceTokens([{ name: 'short', sha256: Buffer.alloc(16) }])).toThrow(/not 32 bytes/);
  });
});
