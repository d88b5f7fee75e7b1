import type { Attributes } from '@opentelemetry/api';

import { DenialReason, type KeyVerifierServer, type VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import { secretDigest } from '../domain/keyFormat.js';
import type { KeyVerifier, Verification } from '../domain/KeyVerifier.js';
import { cacheFieldsToProto } from './cacheEntryToProto.js';
import { type ClientCacheSupport, createClientCacheMethods } from './createClientCacheMethods.js';
import { verificationToProto } from './convert.js';
import { createCallPipeline, type ServiceOptions } from './pipeline/createCallPipeline.js';

/** The KeyVerifier gRPC service. Successful verifications log at debug level: it is the hot path. */
export function createKeyVerifierService(
  verifier: KeyVerifier,
  options: ServiceOptions,
  clientCache?: ClientCacheSupport,
): KeyVerifierServer {
  const pipeline = createCallPipeline(options);
  return {
    verifyKey: pipeline.unary(
      '/apikeys.v1.KeyVerifier/VerifyKey',
      (request) => {
        const outcome = verifier.verify({
          key: request.key,
          clientIp: request.clientIp,
          requiredScopes: request.requiredScopes,
        });
        if (request.includeCacheEntry === true && clientCache !== undefined) {
          const withEntry = (verification: Verification) => ({
            ...verificationToProto(verification),
            ...cacheFieldsToProto(verification, secretDigest(request.key), clientCache.limits),
          });
          return outcome instanceof Promise ? outcome.then(withEntry) : withEntry(outcome);
        }
        return outcome instanceof Promise ? outcome.then(verificationToProto) : verificationToProto(outcome);
      },
      { successLogLevel: 'debug', traceAttributes: verificationSpanAttributes },
    ),
    // WatchKeyChanges and ReportKeyUse (issue 15): src/transport/createClientCacheMethods.ts.
    ...createClientCacheMethods(options, clientCache),
  } satisfies KeyVerifierServer;
}

/** A traced VerifyKey's decision and, once identified, the key's id (never the key). */
function verificationSpanAttributes(response: VerifyKeyResponse): Attributes {
  const decision = response.valid ? 'valid' : DenialReason[response.denialReason];
  return response.keyId === ''
    ? { 'apikeys.decision': decision }
    : { 'apikeys.decision': decision, 'apikeys.key_id': response.keyId };
}
