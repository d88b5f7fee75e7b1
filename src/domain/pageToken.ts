import { createHmac, timingSafeEqual } from 'node:crypto';

import { invalidArgument } from './AppError.js';
import type { ListCursor } from './KeyRepository.js';

// Page tokens are opaque and tamper-evident: an HMAC-SHA256 under a secret every replica shares (configured
// as PAGE_TOKEN_SECRET, or created once in the database), over the position and the listing it belongs to
// (organization, caller, filters). Without the secret nobody can build a token, move a position or reuse
// one with another caller or other filters; a token from any replica is valid on every other one.
const DOMAIN = 'api-key-service/page-token/v2';
const MAC_BYTES = 32;
const MAX_TOKEN_LENGTH = 200;

/** The message of every rejected token: the only remedy is to start the listing again. */
export const INVALID_PAGE_TOKEN =
  'page_token is invalid: pass the next_page_token of a previous response unchanged, by the same caller with the same filters, or restart the listing without page_token';

/**
 * The server secret page tokens are authenticated with. A function, because the secret may only be known
 * once the process has started (read from the database); it throws before then.
 */
export type PageTokenSecret = () => Buffer;

/** Issues and checks the page tokens of every listing, under one secret. */
export class PageTokens {
  constructor(private readonly secret: PageTokenSecret) {}

  /** Encodes the last row of a page, bound to `listing` (everything the listing's rows depend on). */
  encode(cursor: ListCursor, listing: string): string {
    const payload = Buffer.from(JSON.stringify([cursor.time, cursor.id])).toString('base64url');
    return `${payload}.${this.mac(payload, listing).toString('base64url')}`;
  }

  /** Decodes a token this service issued for the same `listing`; INVALID_ARGUMENT otherwise. */
  decode(token: string, listing: string): ListCursor | undefined {
    if (token === '') return undefined;
    const invalid = invalidArgument(INVALID_PAGE_TOKEN);
    if (token.length > MAX_TOKEN_LENGTH) throw invalid;
    const [payload, mac, ...rest] = token.split('.');
    if (payload === undefined || mac === undefined || rest.length > 0) throw invalid;
    const given = Buffer.from(mac, 'base64url');
    // Buffer.from drops characters outside base64url: re-encoding catches a token altered that way.
    if (given.length !== MAC_BYTES || given.toString('base64url') !== mac) throw invalid;
    if (!timingSafeEqual(given, this.mac(payload, listing))) throw invalid;
    // Authentic, so the payload was written by encode; the shape is still checked rather than trusted.
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw invalid;
    }
    if (!Array.isArray(parsed) || !Number.isSafeInteger(parsed[0]) || typeof parsed[1] !== 'string') throw invalid;
    return { time: parsed[0] as number, id: parsed[1] };
  }

  private mac(payload: string, listing: string): Buffer {
    return createHmac('sha256', this.secret()).update(`${DOMAIN}\n${listing}\n${payload}`).digest();
  }
}
