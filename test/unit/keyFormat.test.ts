import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { generateSecret, hashSecret, isWellFormedKey, KEY_PATTERN, labelForRole } from '../../src/domain/keyFormat.js';
import { BASE62_ALPHABET, randomBase62, toBase62 } from '../../src/domain/randomBase62.js';

const KEYS = 200;

describe('key format', () => {
  describe('generated secrets', () => {
    it.each(['admin', 'readonly'] as const)('are tt_%s_ followed by 30 base62 characters', (label) => {
      for (let i = 0; i < KEYS; i++) {
        const { secret } = generateSecret(label);
        expect(secret).toMatch(new RegExp(`^tt_${label}_[0-9A-Za-z]{30}$`));
        expect(secret).toMatch(KEY_PATTERN);
        expect(isWellFormedKey(secret)).toBe(true);
      }
    });

    it('carry a display prefix of the label and the first 8 random characters', () => {
      const { secret, prefix } = generateSecret('readonly');
      expect(prefix).toBe(secret.slice(0, 'tt_readonly_'.length + 8));
    });

    it('are stored as their SHA-256 only', () => {
      const { secret, hash } = generateSecret('admin');
      expect(hash).toEqual(createHash('sha256').update(secret, 'utf8').digest());
      expect(hashSecret(secret)).toEqual(hash);
      expect(hash).toHaveLength(32);
    });

    it('never repeat', () => {
      const secrets = new Set(Array.from({ length: 10_000 }, () => generateSecret('admin').secret));
      expect(secrets.size).toBe(10_000);
    });

    it('label keys by the role that made them', () => {
      expect(labelForRole('admin')).toBe('admin');
      expect(labelForRole('read_only_admin')).toBe('readonly');
    });
  });

  describe('the checksum', () => {
    it('rejects every single-character substitution, at every position, of many keys', () => {
      const accepted: string[] = [];
      let tried = 0;
      for (let i = 0; i < KEYS; i++) {
        const { secret } = generateSecret(i % 2 === 0 ? 'admin' : 'readonly');
        const start = secret.lastIndexOf('_') + 1;
        for (let position = start; position < secret.length; position++) {
          for (const replacement of BASE62_ALPHABET) {
            if (replacement === secret[position]) continue;
            const typo = secret.slice(0, position) + replacement + secret.slice(position + 1);
            tried++;
            if (isWellFormedKey(typo)) accepted.push(typo);
          }
        }
      }
      expect(tried).toBe(KEYS * 30 * 61);
      expect(accepted).toEqual([]);
    });

    it('rejects every swap of two adjacent different characters', () => {
      for (let i = 0; i < KEYS; i++) {
        const { secret } = generateSecret('admin');
        for (let position = 'tt_admin_'.length; position < secret.length - 1; position++) {
          if (secret[position] === secret[position + 1]) continue;
          const swapped =
            secret.slice(0, position) + secret[position + 1]! + secret[position]! + secret.slice(position + 2);
          expect(isWellFormedKey(swapped), swapped).toBe(false);
        }
      }
    });

    it('rejects random strings of the right shape', () => {
      for (let i = 0; i < 10_000; i++) expect(isWellFormedKey(`tt_admin_${randomBase62(30)}`)).toBe(false);
    });

    it('binds the label: the same random part under the other label is rejected', () => {
      const { secret } = generateSecret('admin');
      expect(isWellFormedKey(secret.replace('tt_admin_', 'tt_readonly_'))).toBe(false);
    });

    it.each([
      ['empty', ''],
      ['another label', 'tt_user_0123456789012345678901234567890'],
      ['too short', 'tt_admin_abc'],
      ['non-base62 characters', `tt_admin_${'-'.repeat(30)}`],
      ['far too long', `tt_admin_${'a'.repeat(1000)}`],
    ])('rejects %s input', (_what, candidate) => {
      expect(isWellFormedKey(candidate)).toBe(false);
    });

    it('rejects a valid key with surrounding whitespace or a newline', () => {
      const { secret } = generateSecret('admin');
      expect(isWellFormedKey(` ${secret}`)).toBe(false);
      expect(isWellFormedKey(`${secret}\n`)).toBe(false);
    });
  });

  describe('base62', () => {
    it('draws only alphabet characters, each of them eventually', () => {
      const sample = randomBase62(20_000);
      expect(sample).toHaveLength(20_000);
      expect(new Set(sample)).toEqual(new Set(BASE62_ALPHABET));
    });

    it('encodes integers left-padded to a width', () => {
      expect(toBase62(0, 6)).toBe('000000');
      expect(toBase62(61, 6)).toBe('00000z');
      expect(toBase62(62, 6)).toBe('000010');
      expect(toBase62(0xffffffff, 6)).toBe('4gfFC3');
    });
  });
});
