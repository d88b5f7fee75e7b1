import { randomBytes } from 'node:crypto';

import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createAuthorizationClient, envoyCheckRequest } from '../helpers/envoyCheck.js';
import { type ReceivedSpan, startOtlpReceiver } from '../helpers/otlpReceiver.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';

/** A caller's W3C trace context: a new trace id and parent span id, sampled. */
function traceparent(): { header: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

function withTraceparent(header: string): Metadata {
  const metadata = new Metadata();
  metadata.set('traceparent', header);
  return metadata;
}

const SERVER = 2;
const CLIENT = 3;

describeEachDatabase('OpenTelemetry traces', (kind) => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let server: TestServer;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    server = await startTestServer(kind, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'apikeys-test',
    });
  });
  afterAll(async () => {
    await server.stop();
    await receiver.close();
  });

  /** The spans of one trace, once exported. */
  const spansOf = async (traceId: string): Promise<ReceivedSpan[]> => {
    await server.app.tracing?.flush();
    return receiver.spans.filter((span) => span.traceId === traceId);
  };

  it("parents VerifyKey's span on the caller's traceparent, with the gRPC conventions, the decision and the key id, and the cold lookup under it", async () => {
    const created = await createTestKey(server, actorOf(newOrganizationId('trace'), 'alice'));
    await settleFeed(server);
    const cold = traceparent();
    const request = { key: created.secret, clientIp: '203.0.113.50', requiredScopes: ['tickets:read'] };
    await server.clients.verifier.verifyKey(request, { metadata: withTraceparent(cold.header) });
    const spans = await spansOf(cold.traceId);
    const rpc = spans.find((span) => span.kind === SERVER);
    expect(rpc).toMatchObject({
      name: 'apikeys.v1.KeyVerifier/VerifyKey',
      parentSpanId: cold.parentId,
      serviceName: 'apikeys-test',
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': 'apikeys.v1.KeyVerifier',
        'rpc.method': 'VerifyKey',
        'rpc.grpc.status_code': 0,
        'apikeys.decision': 'valid',
        'apikeys.key_id': created.key.id,
      },
    });
    const query = spans.find((span) => span.kind === CLIENT);
    expect(query).toMatchObject({
      name: 'SELECT api_keys',
      parentSpanId: rpc?.spanId,
      attributes: { 'db.system.name': kind === 'mysql' ? 'mysql' : 'sqlite', 'db.collection.name': 'api_keys' },
    });

    // Warm: the same call has its span, and no query under it.
    const warm = traceparent();
    await server.clients.verifier.verifyKey(request, { metadata: withTraceparent(warm.header) });
    const warmSpans = await spansOf(warm.traceId);
    expect(warmSpans.map((span) => span.kind)).toEqual([SERVER]);
    expect(receiver.bodies.some((body) => body.includes(created.secret))).toBe(false);
  });

  it("parents Check's span on the traceparent Envoy forwards, with its decision, and never exports the key", async () => {
    const created = await createTestKey(server, actorOf(newOrganizationId('trace'), 'alice'));
    const envoy = createAuthorizationClient(server.address);
    try {
      const context = traceparent();
      await envoy.check(
        envoyCheckRequest({
          headers: { authorization: `Bearer ${created.secret}` },
          contextExtensions: { required_scopes: 'tickets:write' },
        }),
        { metadata: withTraceparent(context.header) },
      );
      const rpc = (await spansOf(context.traceId)).find((span) => span.kind === SERVER);
      expect(rpc).toMatchObject({
        name: 'envoy.service.auth.v3.Authorization/Check',
        parentSpanId: context.parentId,
        attributes: {
          'rpc.service': 'envoy.service.auth.v3.Authorization',
          'rpc.method': 'Check',
          'apikeys.decision': 'insufficient_scope',
          'apikeys.key_id': created.key.id,
        },
      });
      expect(receiver.bodies.some((body) => body.includes(created.secret))).toBe(false);
    } finally {
      envoy.close();
    }
  });

  it("exports nothing for a call whose caller's traceparent says not sampled, cache miss included", async () => {
    const created = await createTestKey(server, actorOf(newOrganizationId('trace'), 'alice'));
    await settleFeed(server);
    const unsampled = traceparent();
    await server.clients.verifier.verifyKey(
      { key: created.secret, clientIp: '', requiredScopes: [] },
      { metadata: withTraceparent(unsampled.header.replace(/-01$/, '-00')) },
    );
    expect(await spansOf(unsampled.traceId)).toEqual([]);
  });

  it('traces an admin write with its transaction, and starts a new trace for a call without traceparent', async () => {
    const before = new Set(receiver.spans.map((span) => span.traceId));
    await createTestKey(server, actorOf(newOrganizationId('trace'), 'alice'));
    await server.app.tracing?.flush();
    const created = receiver.spans.filter(
      (span) => !before.has(span.traceId) && span.name === 'apikeys.v1.KeyAdmin/CreateKey',
    );
    expect(created).toHaveLength(1);
    expect(created[0]?.parentSpanId).toBe('');
    const children = receiver.spans.filter((span) => span.parentSpanId === created[0]?.spanId);
    expect(children.map((span) => span.name)).toContain('transaction api_keys');
  });
});

describe('tracing off', () => {
  it('is off unless an OTLP endpoint is configured', async () => {
    const server = await startTestServer('sqlite');
    try {
      expect(server.app.tracing).toBeNull();
    } finally {
      await server.stop();
    }
  });
});
