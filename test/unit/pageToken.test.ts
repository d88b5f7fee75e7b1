import { createHash, createHmac } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { INVALID_PAGE_TOKEN, PageTokens } from '../../src/domain/pageToken.js';

const LISTING = JSON.stringify(['keys', 'org-1', 'alice', false, []]);
const SECRET = Buffer.alloc(32, 9);
const tokens = new PageTokens(() => SECRET);

/** A token as someone without the secret could build it: the old public checksum, or an HMAC under a guess. */
function forgeUnkeyed(payloadText: string, listing = LISTING): string {
  const payload = Buffer.from(payloadText).toString('base64url');
  const mac = createHash('sha256').update(`api-key-service/page-token/v1\n${listing}\n${payload}`).digest('base64url');
  return `${payload}.${mac.slice(0, 22)}`;
}
function forgeWithKey(key: Buffer, payloadText: string, listing = LISTING): string {
  const payload = Buffer.from(payloadText).toString('base64url');
  const mac = createHmac('sha256', key).update(`api-key-service/page-token/v2\n${listing}\n${payload}`);
  return `${payload}.${mac.digest('base64url')}`;
}

function decodeError(token: string, listing = LISTING): AppError {
  try {
    tokens.decode(token, listing);
  } catch (error) {
    return error as AppError;
  }
  throw new Error('expected decode to throw');
}

describe('page tokens', () => {
  describe('round trip', () => {
    it('decodes what it encoded', () => {
      const cursor = { time: 1_795_000_000_123, id: 'key_0123456789ABCDEFabcdef' };
      expect(tokens.decode(tokens.encode(cursor, LISTING), LISTING)).toEqual(cursor);
    });

    it('treats an empty token as the first page', () => {
      expect(tokens.decode('', LISTING)).toBeUndefined();
    });

    it('is opaque: neither the id nor the time appears in clear', () => {
      const token = tokens.encode({ time: 1_795_000_000_123, id: 'key_visible' }, LISTING);
      expect(token).not.toContain('key_visible');
      expect(token).not.toContain('1795000000123');
      expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    });

    it('accepts the tokens of another instance with the same secret (another replica)', () => {
      const other = new PageTokens(() => Buffer.from(SECRET));
      const cursor = { time: 7, id: 'key_b' };
      expect(other.decode(tokens.encode(cursor, LISTING), LISTING)).toEqual(cursor);
    });

    it('accepts only what the secret signed: a forged token with the right key is a valid position', () => {
      expect(tokens.decode(forgeWithKey(SECRET, '[5,"key_a"]'), LISTING)).toEqual({ time: 5, id: 'key_a' });
    });
  });

  describe('rejects as INVALID_ARGUMENT, saying to restart the listing', () => {
    const token = tokens.encode({ time: 5, id: 'key_a' }, LISTING);
    const [payload, mac] = token.split('.') as [string, string];
    const flipped = (text: string, index: number) =>
      text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1);

    it.each([
      [
        'another listing (other filters, caller or organization)',
        token,
        JSON.stringify(['keys', 'org-2', 'alice', false, []]),
      ],
      ['a changed payload', `${flipped(payload, 0)}.${mac}`, LISTING],
      ['a changed MAC', `${payload}.${flipped(mac, 5)}`, LISTING],
      ['a MAC with a character outside base64url', `${payload}.${mac.slice(0, -1)}*`, LISTING],
      ['a truncated MAC', token.slice(0, -1), LISTING],
      ['no MAC', payload, LISTING],
      ['an extra segment', `${token}.more`, LISTING],
      ['an overlong token', `${'a'.repeat(200)}.${mac}`, LISTING],
      ['the old public checksum (main before this fix)', forgeUnkeyed('[5,"key_b"]'), LISTING],
      ['an HMAC under a guessed key', forgeWithKey(Buffer.alloc(32), '[5,"key_b"]'), LISTING],
      [
        'the right MAC issued by a replica with another secret',
        new PageTokens(() => Buffer.alloc(32, 8)).encode({ time: 5, id: 'key_a' }, LISTING),
        LISTING,
      ],
      ['an authentic token whose payload is not JSON', forgeWithKey(SECRET, 'not json {'), LISTING],
      ['an authentic token with a payload of the wrong shape', forgeWithKey(SECRET, '{"time":1,"id":"x"}'), LISTING],
      ['an authentic token with a fractional time', forgeWithKey(SECRET, '[1.5,"key_a"]'), LISTING],
    ])('a token with %s', (_what, candidate, listing) => {
      const error = decodeError(candidate, listing);
      expect(error).toBeInstanceOf(AppError);
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(INVALID_PAGE_TOKEN);
      expect(error.message).toMatch(/restart the listing without page_token$/);
    });
  });
});
