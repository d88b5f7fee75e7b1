import type { handleUnaryCall } from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';

import {
  DenialReason,
  type KeyVerifierServer,
  type VerifyKeyRequest,
  VerifyKeyResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import type { KeyVerifier } from '../domain/KeyVerifier.js';
import { encodeVerification } from './encodeVerification.js';
import { createCallPipeline, type ServiceOptions } from './pipeline/createCallPipeline.js';

/**
 * The KeyVerifier gRPC service. Successful verifications log at debug level: it is the hot path. Answers
 * are encoded here (encodeVerification: a cached key's answer is encoded once), and createServer's
 * passEncodedResponses sends those bytes as they are.
 */
export function createKeyVerifierService(verifier: KeyVerifier, options: ServiceOptions): KeyVerifierServer {
  const pipeline = createCallPipeline(options);
  const verifyKey = pipeline.unary<VerifyKeyRequest, Buffer>(
    '/apikeys.v1.KeyVerifier/VerifyKey',
    (request) => {
      const outcome = verifier.verify({
        key: request.key,
        clientIp: request.clientIp,
        requiredScopes: request.requiredScopes,
      });
      return outcome instanceof Promise ? outcome.then(encodeVerification) : encodeVerification(outcome);
    },
    { successLogLevel: 'debug', traceAttributes: verificationSpanAttributes },
  );
  // The response is a VerifyKeyResponse's bytes, which the server's serializer passes through.
  return { verifyKey: verifyKey as unknown as handleUnaryCall<VerifyKeyRequest, VerifyKeyResponse> };
}

/**
 * A traced VerifyKey's decision and, once identified, the key's id (never the key), read back from the
 * encoded answer: only for a recorded span, so an untraced or unsampled call decodes nothing.
 */
function verificationSpanAttributes(encoded: Buffer): Attributes {
  const response = VerifyKeyResponse.decode(encoded);
  const decision = response.valid ? 'valid' : DenialReason[response.denialReason];
  return response.keyId === ''
    ? { 'apikeys.decision': decision }
    : { 'apikeys.decision': decision, 'apikeys.key_id': response.keyId };
}
