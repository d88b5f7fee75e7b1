import { hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { randomBase62, toBase62 } from './randomBase62.js';
import type { Role } from './types.js';

/**
 * Key format: `tt_<label>_<random><checksum>`.
 * - label: `admin` (made by an Admin) or `readonly` (made by a Read-Only Admin);
 * - random: 24 base62 characters from the CSPRNG (≈ 142 bits);
 * - checksum: CRC32 of everything before it, 6 base62 characters, so typos and random strings are
 *   rejected without a database lookup and secret scanners get few false positives.
 */
export const RANDOM_LENGTH = 24;
export const CHECKSUM_LENGTH = 6;
/** Display prefix length taken from the random part. */
export const PREFIX_RANDOM_LENGTH = 8;
/** The regular expression secret scanners can use (also in the README). */
export const KEY_PATTERN = /^tt_(admin|readonly)_[0-9A-Za-z]{30}$/;
/** A secret inside any text: its display prefix followed by at least one more random character. */
const SECRET_IN_TEXT = new RegExp(`tt_(admin|readonly)_([0-9A-Za-z]{${PREFIX_RANDOM_LENGTH}})[0-9A-Za-z]+`, 'g');
/** Longest string ever worth examining as a key. */
export const MAX_KEY_LENGTH = 64;
const KEY_LENGTHS = new Set(
  ['admin', 'readonly'].map((label) => `tt_${label}_`.length + RANDOM_LENGTH + CHECKSUM_LENGTH),
);

/** Cheap first filter: true when `candidate` has the length of some key (no content check). */
export function hasKeyLength(candidate: string): boolean {
  return KEY_LENGTHS.has(candidate.length);
}

export type KeyLabel = 'admin' | 'readonly';

/** The label a key made by `role` carries. */
export function labelForRole(role: Role): KeyLabel {
  return role === 'read_only_admin' ? 'readonly' : 'admin';
}

function checksumOf(body: string): string {
  return toBase62(crc32(body), CHECKSUM_LENGTH);
}

/** A freshly generated secret with its stored hash and display prefix. */
export interface GeneratedSecret {
  readonly secret: string;
  readonly hash: Buffer;
  readonly prefix: string;
}

/** Generates a new secret for a key labelled `label`. */
export function generateSecret(label: KeyLabel): GeneratedSecret {
  const random = randomBase62(RANDOM_LENGTH);
  const body = `tt_${label}_${random}`;
  const secret = body + checksumOf(body);
  return { secret, hash: hashSecret(secret), prefix: `tt_${label}_${random.slice(0, PREFIX_RANDOM_LENGTH)}` };
}

/** SHA-256 of the full secret: the only form in which a secret is ever stored or cached. */
export function hashSecret(secret: string): Buffer {
  return Buffer.from(secretDigest(secret), 'hex');
}

/** SHA-256 of the full secret as hex: the cache key (one-shot hash, no Hash object: the hot path). */
export function secretDigest(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/**
 * True when `candidate` has the shape of a key and a correct checksum. Not a secret comparison: the
 * checksum is public information derived from the key itself, so its early exits leak nothing.
 */
export function isWellFormedKey(candidate: string): boolean {
  if (candidate.length > MAX_KEY_LENGTH || !KEY_PATTERN.test(candidate)) return false;
  const split = candidate.length - CHECKSUM_LENGTH;
  return checksumOf(candidate.slice(0, split)) === candidate.slice(split);
}

/**
 * `text` with everything shaped like a secret (a whole key, a near miss or a longer run) cut down to its
 * display prefix, e.g. `tt_admin_P6jVGAam…`. For text that echoes caller input: a secret pasted into the
 * wrong field must not come back in a message that callers log.
 */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_IN_TEXT, 'tt_$1_$2…');
}
