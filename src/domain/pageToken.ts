import { createHash } from 'node:crypto';

import { invalidArgument } from './AppError.js';
import type { ListCursor } from './KeyRepository.js';

// Page tokens are opaque and tamper-evident, not secret: a forged token could only move the position
// inside the caller's own organization (every query is re-scoped and the filters are re-checked), so a
// checksum bound to the filters is enough and tokens work on every replica without a shared key.
const DOMAIN = 'api-key-service/page-token/v1';

function digest(payload: string, filters: string): string {
  return createHash('sha256').update(`${DOMAIN}\n${filters}\n${payload}`).digest('base64url').slice(0, 22);
}

/** Encodes the last row of a page, bound to the request's filters. */
export function encodePageToken(cursor: ListCursor, filters: string): string {
  const payload = Buffer.from(JSON.stringify([cursor.time, cursor.id])).toString('base64url');
  return `${payload}.${digest(payload, filters)}`;
}

/** Decodes a token from a previous response with the same filters; INVALID_ARGUMENT otherwise. */
export function decodePageToken(token: string, filters: string): ListCursor | undefined {
  if (token === '') return undefined;
  const invalid = invalidArgument(
    'page_token is invalid: pass the next_page_token of a previous response unchanged, with the same filters',
  );
  const [payload, mac, ...rest] = token.split('.');
  if (payload === undefined || mac === undefined || rest.length > 0 || token.length > 200) throw invalid;
  if (digest(payload, filters) !== mac) throw invalid;
  // The checksum is not a secret, so a matching one does not prove the payload came from encodePageToken.
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(parsed) || !Number.isSafeInteger(parsed[0]) || typeof parsed[1] !== 'string') throw invalid;
  return { time: parsed[0] as number, id: parsed[1] };
}
