import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config/ConfigError.js';
import { loadConfig } from '../../src/config/loadConfig.js';

describe('PAGE_TOKEN_SECRET', () => {
  it('is unset by default: the secret is then created once in the database', () => {
    expect(loadConfig({}).pageTokenSecret).toBeNull();
  });

  it('accepts 32 characters or more, as UTF-8 bytes', () => {
    const secret = 'x'.repeat(32);
    expect(loadConfig({ PAGE_TOKEN_SECRET: secret }).pageTokenSecret).toEqual(Buffer.from(secret));
  });

  it.each([
    ['too short', 's3cret-but-only-31-characters-x', /expected 32 to 512 characters/],
    ['too long', 'y'.repeat(513), /expected 32 to 512 characters/],
    ['padded with whitespace', ` ${'z'.repeat(40)}`, /whitespace/],
  ])('refuses a secret %s without repeating it', (_what, secret, message) => {
    const load = () => loadConfig({ PAGE_TOKEN_SECRET: secret });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
    expect(() => load()).not.toThrow(secret.trim());
  });
});
