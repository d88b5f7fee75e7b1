import { randomUUID } from 'node:crypto';

import type { Metadata } from '@grpc/grpc-js';

/** The longest caller request id that is logged as sent. */
export const MAX_REQUEST_ID_LENGTH = 64;
/** What a caller's request id may be made of to be logged as sent. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/**
 * A run this long of hex, base62 or base64url-without-dashes characters looks like a secret (a service
 * token, an API key's random part, a signature): 32 hex digits already hold 128 bits. Dashes, dots and
 * colons break runs, so UUIDs, dates, host names and `service:1234` style ids are logged as sent.
 */
const SECRET_LIKE_RUN = /[A-Za-z0-9_]{32,}/;

/** The request id of a call's log line, and why the caller's own was not used when it was not. */
export interface LoggedRequestId {
  readonly requestId: string;
  /** Set when the caller sent an `x-request-id` that is not logged; its value never appears. */
  readonly requestIdNote?: string;
}

const NOT_SAFE = `x-request-id not logged: it is not at most ${MAX_REQUEST_ID_LENGTH} characters of [A-Za-z0-9._:-] without a run of 32 or more letters/digits (which could be a secret); this id was generated instead`;

/**
 * The caller's `x-request-id` when it has a shape that cannot carry a secret, else a fresh UUID with a
 * note. A token or API key pasted into that header (by mistake, or by a proxy that forwards the wrong
 * header) must not reach the log, where it would outlive its rotation.
 */
export function requestIdForLog(metadata: Metadata): LoggedRequestId {
  const [sent] = metadata.get('x-request-id');
  if (sent === undefined || sent === '') return { requestId: randomUUID() };
  if (typeof sent === 'string' && REQUEST_ID.test(sent) && !SECRET_LIKE_RUN.test(sent)) return { requestId: sent };
  return { requestId: randomUUID(), requestIdNote: NOT_SAFE };
}
