import type { KeyAdminServer } from '../../gen/apikeys/v1/api_keys.js';
import type { Clock } from '../domain/Clock.js';
import type { KeyAdministration } from '../domain/admin/createKeyAdministration.js';
import {
  actorFromProto,
  apiKeyToProto,
  auditEventToProto,
  keyUsageToProto,
  leakResultToProto,
  propagationToProto,
  scopeToProto,
} from './convert.js';
import { keyEditsFromUpdateRequest } from './keyEditsFromUpdateRequest.js';
import { listAuditInputFromProto, listKeysInputFromProto } from './listInputsFromProto.js';
import type { UseCaseContext } from '../domain/admin/UseCaseContext.js';
import { createCallPipeline, type ServiceOptions } from './pipeline/createCallPipeline.js';
import type { CallLifetime } from './pipeline/RpcCall.js';

/** The KeyAdmin gRPC service: decode and validate, call the domain, encode. */
export function createKeyAdminService(
  admin: KeyAdministration,
  clock: Clock,
  options: ServiceOptions,
  leakReporterOptions: ServiceOptions = options,
): KeyAdminServer {
  const method = (name: string) => `/apikeys.v1.KeyAdmin/${name}`;
  const pipeline = createCallPipeline(options);
  // ReportLeakedKeys has its own callers (LEAK_REPORTER_CLIENT_IDS), so its own authentication step.
  const leakPipeline = createCallPipeline(leakReporterOptions);
  return {
    createKey: pipeline.unary(method('CreateKey'), async (request, context, call) => {
      const actor = actorFromProto(request.actor, context.caller);
      const input = {
        name: request.name,
        scopes: request.scopes,
        allowedIps: request.allowedIps,
        metadata: request.metadata,
        ...(request.expiresInHours !== undefined ? { expiresInHours: request.expiresInHours } : {}),
      };
      const created = await admin.createKey(actor, input, contextOf(call));
      return { key: apiKeyToProto(created.key, clock.now()), secret: created.secret };
    }),
    getKey: pipeline.unary(method('GetKey'), async (request, context) => {
      const key = await admin.getKey(actorFromProto(request.actor, context.caller), request.keyId);
      return { key: apiKeyToProto(key, clock.now()) };
    }),
    getKeyUsage: pipeline.unary(method('GetKeyUsage'), async (request, context) => {
      const usage = await admin.getKeyUsage(actorFromProto(request.actor, context.caller), {
        keyId: request.keyId,
        startDay: request.startDay,
        endDay: request.endDay,
      });
      return keyUsageToProto(usage);
    }),
    listKeys: pipeline.unary(method('ListKeys'), async (request, context) => {
      const actor = actorFromProto(request.actor, context.caller);
      const page = await admin.listKeys(actor, listKeysInputFromProto(request));
      const now = clock.now();
      return { keys: page.items.map((key) => apiKeyToProto(key, now)), nextPageToken: page.nextPageToken };
    }),
    updateKey: pipeline.unary(method('UpdateKey'), async (request, context, call) => {
      const updated = await admin.updateKey(
        actorFromProto(request.actor, context.caller),
        { keyId: request.keyId, edits: () => keyEditsFromUpdateRequest(request) },
        contextOf(call),
      );
      return { key: apiKeyToProto(updated.key, clock.now()), propagation: propagationToProto(updated.propagation) };
    }),
    revokeKey: pipeline.unary(method('RevokeKey'), async (request, context, call) => {
      const actor = actorFromProto(request.actor, context.caller);
      const revoked = await admin.revokeKey(actor, request.keyId, request.reason, contextOf(call));
      return { key: apiKeyToProto(revoked.key, clock.now()), propagation: propagationToProto(revoked.propagation) };
    }),
    rotateKey: pipeline.unary(method('RotateKey'), async (request, context, call) => {
      const input = {
        keyId: request.keyId,
        gracePeriodHours: request.gracePeriodHours,
        ...(request.expiresInHours !== undefined ? { expiresInHours: request.expiresInHours } : {}),
      };
      const rotated = await admin.rotateKey(actorFromProto(request.actor, context.caller), input, contextOf(call));
      const now = clock.now();
      return {
        newKey: apiKeyToProto(rotated.key, now),
        secret: rotated.secret,
        oldKey: apiKeyToProto(rotated.oldKey, now),
        propagation: propagationToProto(rotated.propagation),
      };
    }),
    revokeUserKeys: pipeline.unary(method('RevokeUserKeys'), async (request, context, call) => {
      const revoked = await admin.revokeUserKeys(
        actorFromProto(request.actor, context.caller),
        request.userId,
        request.reason,
        contextOf(call),
      );
      return {
        revokedCount: revoked.keys.length,
        revokedKeyIds: revoked.keys.map((key) => key.id),
        propagation: propagationToProto(revoked.propagation),
      };
    }),
    listScopes: pipeline.unary(method('ListScopes'), (request, context) => ({
      scopes: admin.listScopes(actorFromProto(request.actor, context.caller)).map(scopeToProto),
    })),
    listAuditEvents: pipeline.unary(method('ListAuditEvents'), async (request, context) => {
      // The time bounds are checked before the actor, as they always were: the same error wins.
      const input = listAuditInputFromProto(request);
      const page = await admin.listAuditEvents(actorFromProto(request.actor, context.caller), input);
      return { events: page.items.map(auditEventToProto), nextPageToken: page.nextPageToken };
    }),
    reportLeakedKeys: leakPipeline.unary(method('ReportLeakedKeys'), async (request, context, call) => {
      const report = await admin.reportLeakedKeys(
        context.caller,
        request.candidates.map((candidate) => ({ key: candidate.key, location: candidate.location })),
        contextOf(call),
      );
      return { results: report.results.map(leakResultToProto), propagation: propagationToProto(report.propagation) };
    }),
  } satisfies KeyAdminServer;
}

/**
 * What the use cases learn of the call: a plain object, because they spread it into their transaction
 * options (an RpcCall's `signal` and `remainingMs` live on its prototype and would not be copied).
 */
function contextOf(call: CallLifetime): UseCaseContext {
  return { signal: call.signal, remainingMs: () => call.remainingMs() };
}
