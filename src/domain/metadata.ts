import { invalidArgument } from './AppError.js';
import { codePointLength } from './validation.js';

/** A key's metadata: names → values, sorted by name, within the limits below. */
export type KeyMetadata = Readonly<Record<string, string>>;

export const MAX_METADATA_ENTRIES = 20;
export const MAX_METADATA_NAME_LENGTH = 64;
export const MAX_METADATA_VALUE_LENGTH = 512;
/** UTF-8 bytes of every name and value together. */
export const MAX_METADATA_BYTES = 4096;

const NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
// Control characters (C0, DEL, C1), bidi overrides and U+FFFD (what invalid UTF-8 decodes to).
const FORBIDDEN_IN_VALUE = /[\p{Cc}\u202A-\u202E\u2066-\u2069\uFFFD]/u;
// Anything shaped like one of our keys, wherever it stands in the value (checksum not checked: a near
// miss is as likely a real secret with a typo).
const KEY_IN_TEXT = /tt_(admin|readonly)_[0-9A-Za-z]{30}/;
/** Most characters of a bad name an error message quotes. */
const QUOTED = 64;

/**
 * Validates metadata and returns it sorted by name. INVALID_ARGUMENT naming the entry and the limit: at
 * most 20 entries; names 1–64 characters of `a-z 0-9 _ . -` starting with a letter; values at most 512
 * characters without control characters; at most 4096 bytes in all; no value that holds an API key.
 */
export function normalizeMetadata(metadata: Readonly<Record<string, string>>, field = 'metadata'): KeyMetadata {
  const names = Object.keys(metadata);
  if (names.length > MAX_METADATA_ENTRIES) {
    throw invalidArgument(`${field}: at most ${MAX_METADATA_ENTRIES} entries allowed, got ${names.length}`);
  }
  let bytes = 0;
  const sorted: Record<string, string> = {};
  for (const name of names.sort()) {
    const value = metadata[name] ?? '';
    if (!NAME.test(name)) {
      throw invalidArgument(
        `${field}: name ${JSON.stringify(name.slice(0, QUOTED))} must be 1–${MAX_METADATA_NAME_LENGTH} characters of a-z, 0-9, "_", "." or "-", starting with a letter`,
      );
    }
    const length = codePointLength(value);
    if (length > MAX_METADATA_VALUE_LENGTH) {
      throw invalidArgument(
        `${field}.${name}: value must be at most ${MAX_METADATA_VALUE_LENGTH} characters, got ${length}`,
      );
    }
    if (FORBIDDEN_IN_VALUE.test(value)) {
      throw invalidArgument(`${field}.${name}: value must not contain control characters or invalid UTF-8`);
    }
    if (KEY_IN_TEXT.test(value)) {
      throw invalidArgument(
        `${field}.${name}: value looks like an API key; metadata is shown to every admin and gateway, never store a secret in it`,
      );
    }
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    sorted[name] = value;
  }
  if (bytes > MAX_METADATA_BYTES) {
    throw invalidArgument(`${field}: at most ${MAX_METADATA_BYTES} bytes of names and values in all, got ${bytes}`);
  }
  return sorted;
}
