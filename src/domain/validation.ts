import { invalidArgument } from './AppError.js';

const IDENTIFIER = /^[A-Za-z0-9._-]{1,64}$/;
// Control characters (C0, DEL, C1), bidi overrides and U+FFFD (what invalid UTF-8 decodes to).
const FORBIDDEN_IN_TEXT = /[\p{Cc}\u202A-\u202E\u2066-\u2069\uFFFD]/u;
export const MAX_NAME_LENGTH = 100;
export const MAX_REASON_LENGTH = 500;

/** Validates an organization/user/key id: 1–64 of letters, digits, `.`, `_`, `-`. */
export function requireIdentifier(value: string, field: string): string {
  if (!IDENTIFIER.test(value)) {
    throw invalidArgument(
      value === '' ? `${field} is required` : `${field} must be 1–64 characters of letters, digits, ".", "_" or "-"`,
    );
  }
  return value;
}

/** Trims and validates a key name: 1–100 characters (code points), any language, no control characters. */
export function normalizeName(value: string, field = 'name'): string {
  const trimmed = value.trim();
  const length = codePointLength(trimmed);
  if (length === 0) throw invalidArgument(`${field} is required (1–${MAX_NAME_LENGTH} characters)`);
  if (length > MAX_NAME_LENGTH) {
    throw invalidArgument(`${field} must be at most ${MAX_NAME_LENGTH} characters, got ${length}`);
  }
  if (FORBIDDEN_IN_TEXT.test(trimmed)) {
    throw invalidArgument(`${field} must not contain control characters, bidirectional overrides or invalid UTF-8`);
  }
  return trimmed;
}

/** Trims and validates an optional free-text reason; empty becomes null. */
export function normalizeReason(value: string): string | null {
  const trimmed = value.trim();
  if (trimmed === '') return null;
  const length = codePointLength(trimmed);
  if (length > MAX_REASON_LENGTH) {
    throw invalidArgument(`reason must be at most ${MAX_REASON_LENGTH} characters, got ${length}`);
  }
  if (FORBIDDEN_IN_TEXT.test(trimmed))
    throw invalidArgument('reason must not contain control characters or invalid UTF-8');
  return trimmed;
}

/**
 * Validates a page size: 0 → `fallback`, 1…`max` as asked, above `max` reduced to `max` (AIP-158: a caller
 * asking for more gets the most a page holds, not an error); negative (or fractional) INVALID_ARGUMENT.
 */
export function pageSize(value: number, fallback: number, max: number): number {
  if (value === 0) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw invalidArgument(
      `page_size must not be negative (0 means ${fallback}, above ${max} means ${max}), got ${value}`,
    );
  }
  return Math.min(value, max);
}

/** Length in Unicode code points (what MySQL's utf8mb4 VARCHAR counts), not UTF-16 units. */
export function codePointLength(value: string): number {
  let length = 0;
  for (const _codePoint of value) length++;
  return length;
}
