import { randomUUID } from 'node:crypto';

import type { Metadata } from '@grpc/grpc-js';

/** The longest caller request id that is logged as sent. */
export const MAX_REQUEST_ID_LENGTH = 64;
/** What a caller's request id may be made of to be logged as sent. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/**
 * An id with this many letters, digits and underscores in all could hold a secret (a service token, an
 * API key's random part, a signature), however dashes or dots split it: 32 hex digits already hold 128
 * bits. Counted over the whole id, not per run: a run limit let two 21-digit halves joined by a dash (168
 * random bits) through (issue 12 attack review). Short ids, ULIDs (26), host:port:counter ids pass.
 */
const SECRET_LIKE_CHARACTERS = 32;
const WORD_CHARACTER = /[A-Za-z0-9_]/g;
/** A UUID (8-4-4-4-12 hex, the usual request id and Envoy's): logged as sent, although it has 32 digits. */
const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

function safeShape(id: string): boolean {
  if (!REQUEST_ID.test(id)) return false;
  return UUID.test(id) || (id.match(WORD_CHARACTER)?.length ?? 0) < SECRET_LIKE_CHARACTERS;
}

/** The request id of a call's log line, and why the caller's own was not used when it was not. */
export interface LoggedRequestId {
  readonly requestId: string;
  /** Set when the caller sent an `x-request-id` that is not logged; its value never appears. */
  readonly requestIdNote?: string;
}

const NOT_SAFE = `x-request-id not logged: it is neither a UUID nor at most ${MAX_REQUEST_ID_LENGTH} characters of [A-Za-z0-9._:-] with fewer than ${SECRET_LIKE_CHARACTERS} letters/digits (more could be a secret); this id was generated instead`;

/**
 * The caller's `x-request-id` when it has a shape that cannot carry a secret, else a fresh UUID with a
 * note. A token or API key pasted into that header (by mistake, or by a proxy that forwards the wrong
 * header) must not reach the log, where it would outlive its rotation.
 */
export function requestIdForLog(metadata: Metadata): LoggedRequestId {
  const [sent] = metadata.get('x-request-id');
  if (sent === undefined || sent === '') return { requestId: randomUUID() };
  if (typeof sent === 'string' && safeShape(sent)) return { requestId: sent };
  return { requestId: randomUUID(), requestIdNote: NOT_SAFE };
}
