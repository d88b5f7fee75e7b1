import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { decodePageToken, encodePageToken } from '../../src/domain/pageToken.js';

const FILTERS = JSON.stringify(['keys', 'org-1', '', []]);
const INVALID =
  'page_token is invalid: pass the next_page_token of a previous response unchanged, with the same filters';

/** A token with a correct checksum around an arbitrary payload, as someone who read the source could build. */
function forge(payloadText: string, filters = FILTERS): string {
  const payload = Buffer.from(payloadText).toString('base64url');
  const mac = createHash('sha256')
    .update(`api-key-service/page-token/v1\n${filters}\n${payload}`)
    .digest('base64url')
    .slice(0, 22);
  return `${payload}.${mac}`;
}

function decodeError(token: string, filters = FILTERS): AppError {
  try {
    decodePageToken(token, filters);
  } catch (error) {
    return error as AppError;
  }
  throw new Error('expected decodePageToken to throw');
}

describe('page tokens', () => {
  describe('round trip', () => {
    it('decodes what it encoded', () => {
      const cursor = { time: 1_795_000_000_123, id: 'key_0123456789ABCDEFabcdef' };
      expect(decodePageToken(encodePageToken(cursor, FILTERS), FILTERS)).toEqual(cursor);
    });

    it('treats an empty token as the first page', () => {
      expect(decodePageToken('', FILTERS)).toBeUndefined();
    });

    it('is opaque: neither the id nor the time appears in clear', () => {
      const token = encodePageToken({ time: 1_795_000_000_123, id: 'key_visible' }, FILTERS);
      expect(token).not.toContain('key_visible');
      expect(token).not.toContain('1795000000123');
      expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    });
  });

  describe('rejects as INVALID_ARGUMENT', () => {
    const token = encodePageToken({ time: 5, id: 'key_a' }, FILTERS);

    it.each([
      ['other filters', token, JSON.stringify(['keys', 'org-2', '', []])],
      ['a changed payload', `x${token.slice(1)}`, FILTERS],
      ['a changed checksum', `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, FILTERS],
      ['no checksum', token.split('.')[0]!, FILTERS],
      ['an extra segment', `${token}.more`, FILTERS],
      ['an overlong token', `${'a'.repeat(200)}.${'b'.repeat(22)}`, FILTERS],
      ['a forged token whose payload is not JSON', forge('not json {'), FILTERS],
      ['a forged token with a payload of the wrong shape', forge('{"time":1,"id":"x"}'), FILTERS],
      ['a forged token with a string time', forge('["1","key_a"]'), FILTERS],
      ['a forged token with an infinite time', forge('[1e400,"key_a"]'), FILTERS],
      ['a forged token with a fractional time', forge('[1.5,"key_a"]'), FILTERS],
    ])('a token with %s', (_what, candidate, filters) => {
      const error = decodeError(candidate, filters);
      expect(error).toBeInstanceOf(AppError);
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(INVALID);
    });
  });
});
