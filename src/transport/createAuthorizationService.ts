import type { Attributes } from '@opentelemetry/api';

import type { AuthorizationServer, CheckResponse } from '../../gen/envoy/service/auth/v3/external_auth.js';
import type { KeyVerifier, Verification } from '../domain/KeyVerifier.js';
import { checkRequestInput, type CheckSettings } from './extAuthz/checkRequestInput.js';
import { allowedResponse, deniedResponse, verificationDenied } from './extAuthz/checkResponses.js';
import { createCallPipeline, type ServiceOptions } from './pipeline/createCallPipeline.js';

/** The service Envoy's ext_authz filter calls. */
export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

/**
 * Envoy's ext_authz `Check`: reads the key, client IP and required scopes from the HTTP request Envoy
 * describes, asks the same KeyVerifier as VerifyKey (cache, revocation, last used, decisions counted under
 * this service), and answers with an OK response for upstream or the denial Envoy sends to the client. A
 * cold key whose database is unavailable fails the RPC UNAVAILABLE, for Envoy's failure_mode_allow and
 * status_on_error to decide, as for VerifyKey.
 */
export function createAuthorizationService(
  verifier: KeyVerifier,
  settings: CheckSettings,
  options: ServiceOptions,
): AuthorizationServer {
  const pipeline = createCallPipeline(options);
  const counts = verifier.countsFor(AUTHORIZATION_SERVICE);
  // Refusals decided before the key is looked at (no usable key, an unconfigured or misconfigured route,
  // a path no rule may judge) count under their own reasons beside the verifier's, in the same metric.
  const refusals = counts as Record<string, number>;
  const refused = (code: string): void => {
    refusals[code] = (refusals[code] ?? 0) + 1;
  };
  const answer = (outcome: Verification): CheckResponse =>
    outcome.valid
      ? allowedResponse(outcome, settings.keyHeader, settings.removeKeyHeader)
      : verificationDenied(outcome, settings.keyHeader);
  return {
    check: pipeline.unary(
      `/${AUTHORIZATION_SERVICE}/Check`,
      (request) => {
        const input = checkRequestInput(request, settings);
        switch (input.kind) {
          case 'misconfigured': {
            const http = request.attributes?.request?.http;
            options.logger.error(
              { method: http?.method, host: http?.host, path: http?.path.split('?')[0] },
              input.message,
            );
            refused('route_misconfigured');
            return deniedResponse(500, 'route_misconfigured', input.message, settings.keyHeader);
          }
          case 'refuse':
            refused(input.code);
            return deniedResponse(input.status, input.code, input.message, settings.keyHeader);
          case 'verify': {
            const outcome = verifier.verify(input, counts);
            return outcome instanceof Promise ? outcome.then(answer) : answer(outcome);
          }
        }
      },
      { successLogLevel: 'debug', traceAttributes: checkSpanAttributes },
    ),
  } satisfies AuthorizationServer;
}

/** A traced Check's decision (valid or the denial code) and, once identified, the key's id. */
function checkSpanAttributes(response: CheckResponse): Attributes {
  const { decision, key_id: keyId } = (response.dynamicMetadata ?? {}) as { decision?: string; key_id?: string };
  const attributes: Attributes = { 'apikeys.decision': decision ?? 'unknown' };
  if (keyId !== undefined) attributes['apikeys.key_id'] = keyId;
  return attributes;
}
