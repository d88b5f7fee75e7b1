/**
 * The public API of the `api-key-service` package: a typed KeyVerifier client for the services that
 * accept TopTickets API keys, and the helper that turns an HTTP request into a gateway's answer.
 */
export {
  createVerifierClient,
  DEFAULT_VERIFY_DEADLINE_MS,
  type VerifierClient,
  type VerifierClientOptions,
  type VerifyCallOptions,
  type VerifyRequest,
} from './client/createVerifierClient.js';
export type { TlsFiles, TlsOption } from './client/createChannelCredentials.js';
export type { DenialReason, VerifiedKey, VerifyResult } from './client/fromVerifyKeyResponse.js';
export { parseBearerToken, type BearerToken } from './client/parseBearerToken.js';
export { VERIFIER_SERVICE_CONFIG } from './client/verifierChannelOptions.js';
export {
  verifyHttpRequest,
  type AuthenticatedBody,
  type ErrorBody,
  type HttpErrorCode,
  type HttpRequestCredentials,
  type HttpVerdict,
} from './client/verifyHttpRequest.js';
