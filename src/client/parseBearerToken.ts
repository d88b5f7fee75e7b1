/** The outcome of reading an `Authorization` header. */
export type BearerToken =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly error: 'missing_authorization' | 'invalid_authorization'; readonly message: string };

const USAGE = 'send "Authorization: Bearer <API key>"';

/**
 * Reads `Authorization: Bearer <token>` (RFC 6750): the scheme is case-insensitive, the token is one
 * run of visible characters. Anything else is refused with a sentence saying what was wrong, without
 * repeating the header (it may hold a secret).
 */
export function parseBearerToken(header: string | readonly string[] | undefined): BearerToken {
  if (header === undefined || (typeof header !== 'string' && header.length === 0)) {
    return { ok: false, error: 'missing_authorization', message: `missing Authorization header; ${USAGE}` };
  }
  if (typeof header !== 'string') {
    return { ok: false, error: 'invalid_authorization', message: `more than one Authorization header; ${USAGE}` };
  }
  const value = header.trim();
  if (value === '') {
    return { ok: false, error: 'missing_authorization', message: `empty Authorization header; ${USAGE}` };
  }
  const match = /^(\S+)(?:[ \t]+(.*))?$/s.exec(value);
  if (match?.[1]?.toLowerCase() !== 'bearer') {
    return {
      ok: false,
      error: 'invalid_authorization',
      message: `Authorization header must use the Bearer scheme; ${USAGE}`,
    };
  }
  const token = match[2] ?? '';
  if (token === '') {
    return {
      ok: false,
      error: 'invalid_authorization',
      message: `Authorization header has no API key after "Bearer"; ${USAGE}`,
    };
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    return {
      ok: false,
      error: 'invalid_authorization',
      message: `Authorization header must hold exactly one API key after "Bearer", without spaces; ${USAGE}`,
    };
  }
  return { ok: true, token };
}
