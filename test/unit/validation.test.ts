import { describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import {
  codePointLength,
  normalizeName,
  normalizeReason,
  pageSize,
  requireIdentifier,
} from '../../src/domain/validation.js';

function rejection(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_ARGUMENT');
    return (error as AppError).message;
  }
  throw new Error('expected a rejection');
}

describe('validation', () => {
  describe('requireIdentifier', () => {
    it.each(['a', '2ce9a473-3578-422f-82a8-afa17eabe88f', 'user.name_1', 'x'.repeat(64)])('accepts %j', (id) => {
      expect(requireIdentifier(id, 'user_id')).toBe(id);
    });

    it.each(['x'.repeat(65), 'a b', 'ä', 'a/b', 'a\u0000'])('rejects %j', (id) => {
      expect(rejection(() => requireIdentifier(id, 'user_id'))).toBe(
        'user_id must be 1–64 characters of letters, digits, ".", "_" or "-"',
      );
    });

    it('says an empty identifier is required', () => {
      expect(rejection(() => requireIdentifier('', 'actor.user_id'))).toBe('actor.user_id is required');
    });
  });

  describe('normalizeName', () => {
    it('trims whitespace of any script', () => {
      expect(normalizeName('\u3000 Zendesk\u00a0')).toBe('Zendesk');
    });

    it.each(['Zendesk Sync - Production', '同期', '🔑', 'Ünïcödé', 'שלום', 'a'.repeat(100), '👩‍💻'.repeat(33)])(
      'accepts %j',
      (name) => {
        expect(normalizeName(name)).toBe(name);
      },
    );

    it('counts code points, not UTF-16 units', () => {
      expect(normalizeName('😀'.repeat(100))).toHaveLength(200);
      expect(rejection(() => normalizeName('😀'.repeat(101)))).toBe('name must be at most 100 characters, got 101');
    });

    it.each([
      ['0000', '\u0000'],
      ['0001', '\u0001'],
      ['0009', '\t'],
      ['000A', '\n'],
      ['000D', '\r'],
      ['001B', '\u001b'],
      ['007F', '\u007f'],
      ['0085', '\u0085'],
      ['009F', '\u009f'],
      ['202E', '\u202e'],
      ['2066', '\u2066'],
      ['FFFD', '\ufffd'],
    ])('rejects a name containing U+%s', (_code, character) => {
      expect(rejection(() => normalizeName(`a${character}b`))).toBe(
        'name must not contain control characters, bidirectional overrides or invalid UTF-8',
      );
    });

    it('requires something besides whitespace', () => {
      expect(rejection(() => normalizeName(' \t\n '))).toBe('name is required (1–100 characters)');
    });
  });

  describe('normalizeReason', () => {
    it('turns an empty or blank reason into none', () => {
      expect(normalizeReason('')).toBeNull();
      expect(normalizeReason('   ')).toBeNull();
    });

    it('trims and keeps up to 500 characters', () => {
      expect(normalizeReason('  leaked  ')).toBe('leaked');
      expect(normalizeReason('é'.repeat(500))).toBe('é'.repeat(500));
      expect(rejection(() => normalizeReason('é'.repeat(501)))).toBe('reason must be at most 500 characters, got 501');
    });

    it('rejects control characters', () => {
      expect(rejection(() => normalizeReason('a\u0007b'))).toBe(
        'reason must not contain control characters or invalid UTF-8',
      );
    });
  });

  describe('pageSize', () => {
    it('maps 0 to the default, accepts 1 to the maximum and reduces larger sizes to the maximum', () => {
      expect(pageSize(0, 50, 100)).toBe(50);
      expect(pageSize(1, 50, 100)).toBe(1);
      expect(pageSize(100, 50, 100)).toBe(100);
      expect(pageSize(101, 50, 100)).toBe(100);
      expect(pageSize(2 ** 31 - 1, 50, 100)).toBe(100);
    });

    it.each([-1, 1.5])('rejects %d, stating the rule', (value) => {
      expect(rejection(() => pageSize(value, 50, 100))).toBe(
        `page_size must not be negative (0 means 50, above 100 means 100), got ${value}`,
      );
    });
  });

  it('codePointLength counts astral characters once', () => {
    expect(codePointLength('a😀本')).toBe(3);
  });
});
