import { Metadata } from '@grpc/grpc-js';

/** Visible ASCII only: what an HTTP/2 header value (and a service token) may hold. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * The call metadata carrying a service token as `authorization: Bearer <token>`, or empty metadata
 * without a token. A token with spaces, control or non-ASCII characters is refused here, with a message
 * that does not repeat it, instead of failing later inside grpc-js.
 */
export function createAuthMetadata(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token === undefined || token === '') return metadata;
  if (!TOKEN_PATTERN.test(token)) {
    throw new TypeError('the service token must be visible ASCII characters without spaces');
  }
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}
