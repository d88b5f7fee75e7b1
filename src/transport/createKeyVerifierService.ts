import type { handleUnaryCall } from '@grpc/grpc-js';

import type { KeyVerifierServer, VerifyKeyRequest, VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
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
    { successLogLevel: 'debug' },
  );
  // The response is a VerifyKeyResponse's bytes, which the server's serializer passes through.
  return { verifyKey: verifyKey as unknown as handleUnaryCall<VerifyKeyRequest, VerifyKeyResponse> };
}
