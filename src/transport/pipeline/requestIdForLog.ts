import { randomUUID } from 'node:crypto';

import type { Metadata } from '@grpc/grpc-js';

import { redactSecrets } from '../../domain/keyFormat.js';

/** What a caller's request id may look like to be logged as sent. */
const REQUEST_ID = /^[\w.-]{1,64}$/;

/**
 * The request id of a call's log line: the caller's `x-request-id` when it is a short plain token, else a
 * fresh UUID. An API key pasted into that header is logged as its display prefix only: a secret must not
 * reach the log, whatever header it arrives in.
 */
export function requestIdForLog(metadata: Metadata): string {
  const [sent] = metadata.get('x-request-id');
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? redactSecrets(sent) : randomUUID();
}
