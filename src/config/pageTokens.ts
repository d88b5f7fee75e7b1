import { makeValidator } from 'envalid';

import { documented } from './documented.js';

/**
 * At least 32 characters (used as UTF-8 bytes, the key of an HMAC-SHA256). The message never repeats the
 * value: a secret must not end up in a log.
 */
const pageTokenSecret = makeValidator<Buffer>((input) => {
  if (input.length < 32 || input.length > 512) {
    throw new Error(`expected 32 to 512 characters, e.g. \`openssl rand -base64 32\` (got ${input.length})`);
  }
  if (input.trim() !== input) throw new Error('leading or trailing whitespace (a copy-paste slip?)');
  return Buffer.from(input, 'utf8');
});

/** How page tokens are authenticated. */
export const PAGE_TOKEN_SETTINGS = {
  PAGE_TOKEN_SECRET: documented(
    pageTokenSecret({
      default: undefined,
      desc: 'key (32–512 characters, the same on every replica) of the HMAC that makes page tokens unforgeable; unset = a random key created once in the database (`service_secrets`) and shared by every replica through it',
    }),
    '(created in the database)',
  ),
};
