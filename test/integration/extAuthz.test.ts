import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CheckRequest } from '../../gen/envoy/service/auth/v3/external_auth.js';
import { AUTHORIZATION_SERVICE } from '../../src/transport/createAuthorizationService.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import {
  allowanceOf,
  createAuthorizationClient,
  denialOf,
  envoyCheckRequest,
  type HttpRequestShape,
} from '../helpers/envoyCheck.js';
import { grpcError } from '../helpers/grpcClients.js';
import { runServiceToExit } from '../helpers/startProcess.js';
import { BUF_CURL_GRPC, runBuf } from '../helpers/bufCurl.js';
import { checkHealth } from '../helpers/healthClient.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const admin = () => actorOf(newOrganizationId('envoy'), 'alice');
const READ = { required_scopes: 'tickets:read' };

describeEachDatabase('Envoy ext_authz Check', (kind) => {
  const server = useTestServer(kind);
  let envoy: ReturnType<typeof createAuthorizationClient>;
  beforeAll(() => {
    envoy = createAuthorizationClient(server.address);
  });
  afterAll(() => envoy.close());

  const check = (shape: HttpRequestShape) => envoy.check(envoyCheckRequest(shape));
  const bearer = (created: TestKey) => ({ authorization: `Bearer ${created.secret}` });
  const verify = (created: TestKey, requiredScopes: string[], clientIp = '203.0.113.50') =>
    server.clients.verifier.verifyKey({ key: created.secret, clientIp, requiredScopes });

  describe('allowed', () => {
    it('passes the key facts upstream as headers and dynamic metadata and removes the key header', async () => {
      const created = await createTestKey(server, admin(), { scopes: ['tickets:read', 'comments:read'] });
      const response = await check({ headers: bearer(created), contextExtensions: READ });
      expect(response.status?.code).toBe(status.OK);
      const { headers, removed } = allowanceOf(response);
      expect(headers).toMatchObject({
        'x-apikey-key-id': created.key.id,
        'x-apikey-organization-id': created.key.organizationId,
        'x-apikey-key-name': created.key.name,
        'x-apikey-scopes': created.key.scopes.join(','),
      });
      expect(Date.parse(headers['x-apikey-authenticated-at'] ?? '')).not.toBeNaN();
      expect(removed).toEqual(['authorization']);
      expect(response.dynamicMetadata).toMatchObject({
        decision: 'valid',
        key_id: created.key.id,
        organization_id: created.key.organizationId,
        scopes: created.key.scopes,
        key_name: created.key.name,
        key_prefix: created.key.prefix,
        authenticated_at: headers['x-apikey-authenticated-at'],
      });
      expect(JSON.stringify(response)).not.toContain(created.secret);
    });

    it('counts its decisions under its own service, on the same verifier as VerifyKey', async () => {
      const created = await createTestKey(server, admin());
      const before = { ...server.app.verifier.countsFor(AUTHORIZATION_SERVICE) };
      const verifyBefore = server.app.verifier.stats.valid;
      await check({ headers: bearer(created), contextExtensions: READ });
      expect(server.app.verifier.countsFor(AUTHORIZATION_SERVICE).valid).toBe(before.valid + 1);
      expect(server.app.verifier.stats.valid).toBe(verifyBefore);
    });

    it('counts the refusals made before the key is looked at in the same metric, by their reason', async () => {
      const decisions = async () =>
        (await server.app.registry.metrics())
          .split('\n')
          .filter((line) => line.startsWith(`apikeys_decisions_total{service="${AUTHORIZATION_SERVICE}"`));
      const countOf = (lines: string[], reason: string) =>
        Number(lines.find((line) => line.includes(`reason="${reason}"`))?.split(' ')[1] ?? 0);
      const before = await decisions();
      await check({ contextExtensions: READ });
      await check({ headers: { authorization: 'Bearer a,b' }, contextExtensions: READ });
      await check({ headers: { authorization: 'Bearer x' }, contextExtensions: { required_scopes: 'nope:nope' } });
      await check({ headers: { authorization: 'Bearer x' } });
      const after = await decisions();
      for (const reason of [
        'missing_authorization',
        'invalid_authorization',
        'route_misconfigured',
        'route_not_configured',
      ])
        expect(countOf(after, reason), reason).toBe(countOf(before, reason) + 1);
    });

    it('matches the allowlist with the peer address, IPv4-mapped IPv6 included, as VerifyKey does', async () => {
      const created = await createTestKey(server, admin(), { allowedIps: ['203.0.113.50'] });
      const mapped = await check({
        headers: bearer(created),
        contextExtensions: READ,
        sourceAddress: '::ffff:203.0.113.50',
      });
      expect(mapped.status?.code).toBe(status.OK);
      const other = denialOf(
        await check({ headers: bearer(created), contextExtensions: READ, sourceAddress: '198.51.100.1' }),
      );
      expect(other.status).toBe(403);
      expect(other.body.error.message).toBe((await verify(created, ['tickets:read'], '198.51.100.1')).message);
    });

    it('accepts an explicitly empty scope list as "a valid key is enough"', async () => {
      const created = await createTestKey(server, admin());
      expect((await check({ headers: bearer(created), contextExtensions: { required_scopes: '' } })).status?.code).toBe(
        status.OK,
      );
    });
  });

  describe('denied', () => {
    it('answers a revoked key 401 with the VerifyKey message as JSON and a WWW-Authenticate challenge', async () => {
      const created = await createTestKey(server, admin());
      await server.clients.admin.revokeKey({
        actor: actorOf(created.key.organizationId, 'alice'),
        keyId: created.key.id,
        reason: 'test',
      });
      const response = await check({ headers: bearer(created), contextExtensions: READ });
      const denial = denialOf(response);
      expect(denial.status).toBe(401);
      expect(denial.body.error.code).toBe('revoked');
      expect(denial.body.error.message).toBe((await verify(created, ['tickets:read'])).message);
      expect(denial.headers).toMatchObject({
        'content-type': 'application/json',
        'www-authenticate': 'Bearer error="invalid_token"',
      });
      expect(response.status?.code).toBe(status.UNAUTHENTICATED);
      expect(response.dynamicMetadata).toMatchObject({ decision: 'revoked', key_id: created.key.id });
    });

    it('answers a missing scope 403 with the same message as VerifyKey', async () => {
      const created = await createTestKey(server, admin());
      const denial = denialOf(
        await check({
          headers: bearer(created),
          contextExtensions: { required_scopes: 'tickets:read, tickets:write' },
        }),
      );
      expect(denial.status).toBe(403);
      expect(denial.body.error).toEqual({
        code: 'insufficient_scope',
        message: (await verify(created, ['tickets:read', 'tickets:write'])).message,
      });
      expect(denial.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
    });

    it('answers a request without a key 401 missing_authorization, and a garbled header 401 invalid_authorization', async () => {
      const missing = denialOf(await check({ contextExtensions: READ }));
      expect(missing).toMatchObject({ status: 401, body: { error: { code: 'missing_authorization' } } });
      expect(missing.headers['www-authenticate']).toBe('Bearer');
      const basic = denialOf(
        await check({ headers: { authorization: 'Basic dXNlcjpwdw==' }, contextExtensions: READ }),
      );
      expect(basic).toMatchObject({ status: 401, body: { error: { code: 'invalid_authorization' } } });
    });

    it('refuses several keys in one header (Envoy joins repeated headers with commas) without echoing them', async () => {
      const a = await createTestKey(server, admin());
      const b = await createTestKey(server, admin());
      for (const value of [`Bearer ${a.secret},Bearer ${b.secret}`, `Bearer ${a.secret},${b.secret}`]) {
        const denial = denialOf(await check({ headers: { authorization: value }, contextExtensions: READ }));
        expect(denial).toMatchObject({ status: 401, body: { error: { code: 'invalid_authorization' } } });
        expect(denial.body.error.message).toContain('more than one API key');
        expect(JSON.stringify(denial)).not.toContain(a.secret);
      }
    });

    it('fails closed (403) on a route with neither context extension nor rule', async () => {
      const created = await createTestKey(server, admin());
      const denial = denialOf(await check({ headers: bearer(created) }));
      expect(denial).toMatchObject({ status: 403, body: { error: { code: 'route_not_configured' } } });
      expect(denial.body.error.message).toContain('context_extensions.required_scopes');
    });

    it('answers an unknown scope in the route configuration 500 naming the setting, logged at error', async () => {
      const created = await createTestKey(server, admin());
      const denial = denialOf(
        await check({ headers: bearer(created), contextExtensions: { required_scopes: 'tickets:raed' } }),
      );
      expect(denial.status).toBe(500);
      expect(denial.body.error.code).toBe('route_misconfigured');
      expect(denial.body.error.message).toContain('context_extensions.required_scopes names "tickets:raed"');
      expect(server.logs.some((line) => line.includes('"level":50') && line.includes('tickets:raed'))).toBe(true);
    });
  });

  describe('discovery', () => {
    it('is listed and described by reflection to the Go client (buf curl) and reported by health', async () => {
      const base = `http://${server.address}`;
      const methods = await runBuf([...BUF_CURL_GRPC, '--list-methods', base]);
      expect(methods.code, methods.stderr).toBe(0);
      expect(methods.stdout.split('\n')).toContain('envoy.service.auth.v3.Authorization/Check');
      const called = await runBuf([
        ...BUF_CURL_GRPC,
        '-d',
        JSON.stringify({ attributes: { request: { http: { method: 'GET', path: '/x', headers: {} } } } }),
        `${base}/envoy.service.auth.v3.Authorization/Check`,
      ]);
      expect(called.code, called.stderr).toBe(0);
      expect(JSON.parse(called.stdout)).toMatchObject({ deniedResponse: { status: { code: 'Forbidden' } } });
      expect(await checkHealth(server.address, AUTHORIZATION_SERVICE)).toBe('SERVING');
    });

    it('answers the buf curl command of docs/envoy.md as written, with a real key', async () => {
      const created = await createTestKey(server, admin());
      const doc = readFileSync('docs/envoy.md', 'utf8');
      const command = /## Trying it without Envoy[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
      const body = /-d '([\s\S]*?)'/.exec(command)?.[1] ?? '';
      const url = (command.trim().split(/\s+/).at(-1) ?? '').replace('127.0.0.1:50051', server.address);
      expect(command.startsWith('npx buf curl --protocol grpc --http2-prior-knowledge -d')).toBe(true);
      const result = await runBuf([...BUF_CURL_GRPC, '-d', body.replace('tt_admin_…', created.secret), url]);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ okResponse: { headersToRemove: ['authorization'] } });
    });
  });

  describe('bad input', () => {
    it('is INVALID_ARGUMENT without attributes, without an HTTP request, or with too many headers', async () => {
      const noAttributes = await grpcError(envoy.check(CheckRequest.fromPartial({})));
      expect(noAttributes.code).toBe(status.INVALID_ARGUMENT);
      expect(noAttributes.details).toContain('attributes is required');
      const noHttp = await grpcError(envoy.check(CheckRequest.fromPartial({ attributes: { request: {} } })));
      expect(noHttp.code).toBe(status.INVALID_ARGUMENT);
      expect(noHttp.details).toContain('attributes.request.http is required');
      const headers = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`x-h${i}`, 'v']));
      const many = await grpcError(check({ headers, contextExtensions: READ }));
      expect(many.code).toBe(status.INVALID_ARGUMENT);
      expect(many.details).toContain('at most 1024 headers');
    });
  });
});

describeEachDatabase('Envoy ext_authz Check, configured', (kind) => {
  const rules = join(tmpdir(), `ext-authz-rules-${process.pid}-${kind}.yaml`);
  writeFileSync(
    rules,
    'rules:\n  - methods: [GET, HEAD]\n    path: /tickets/**\n    scopes: [tickets:read]\n  - path: /comments/*\n    scopes: [comments:read]\n',
  );
  const server = useTestServer(kind, {
    EXT_AUTHZ_KEY_HEADER: 'X-API-Key',
    EXT_AUTHZ_REMOVE_KEY_HEADER: 'false',
    EXT_AUTHZ_CLIENT_IP: 'xff',
    EXT_AUTHZ_XFF_TRUSTED_HOPS: '1',
    EXT_AUTHZ_RULES_FILE: rules,
  });
  let envoy: ReturnType<typeof createAuthorizationClient>;
  beforeAll(() => {
    envoy = createAuthorizationClient(server.address);
  });
  afterAll(() => envoy.close());
  const check = (shape: HttpRequestShape) => envoy.check(envoyCheckRequest(shape));

  it('reads the key from the configured header and keeps it when told to', async () => {
    const created = await createTestKey(server, admin());
    const response = await check({ path: '/tickets/42?page=2', headers: { 'x-api-key': created.secret } });
    expect(allowanceOf(response).removed).toEqual([]);
    const missing = denialOf(await check({ path: '/tickets/42' }));
    expect(missing.body.error.code).toBe('missing_authorization');
    expect(missing.body.error.message).toContain('x-api-key');
    expect(missing.headers['www-authenticate']).toBe('APIKey header="x-api-key"');
  });

  it('takes the scopes of the first matching rule, and fails closed where none matches', async () => {
    const reader = await createTestKey(server, admin(), { scopes: ['tickets:read'] });
    const key = { 'x-api-key': reader.secret };
    expect((await check({ method: 'HEAD', path: '/tickets', headers: key })).status?.code).toBe(status.OK);
    const comments = denialOf(await check({ path: '/comments/7', method: 'POST', headers: key }));
    expect(comments).toMatchObject({ status: 403, body: { error: { code: 'insufficient_scope' } } });
    const unmatched = denialOf(await check({ method: 'DELETE', path: '/tickets/42', headers: key }));
    expect(unmatched.body.error.code).toBe('route_not_configured');
  });

  it('matches rules on the percent-decoded path, and refuses 400 a path upstream could read as another route', async () => {
    const reader = await createTestKey(server, admin(), { scopes: ['tickets:read'] });
    const key = { 'x-api-key': reader.secret };
    // Without scopes for /admin, a rule for /tickets/** must not decide /tickets/../admin/keys.
    expect((await check({ path: '/tick%65ts/42', headers: key })).status?.code).toBe(status.OK);
    for (const path of [
      '/tickets/../admin/keys',
      '/tickets/%2e%2e/admin',
      '/tickets/..%2Fadmin',
      '//tickets/1',
      '/tickets\\..\\admin',
    ]) {
      const denial = denialOf(await check({ path, headers: key }));
      expect(denial, path).toMatchObject({ status: 400, body: { error: { code: 'path_not_normalized' } } });
      expect(denial.body.error.message).toContain('normalize_path');
    }
  });

  it('takes the client IP one trusted hop from the right of x-forwarded-for; garbage there is no address', async () => {
    const created = await createTestKey(server, admin(), { allowedIps: ['198.51.100.0/24'] });
    const key = { 'x-api-key': created.secret };
    const via = (xff: string) => check({ path: '/tickets/1', headers: { ...key, 'x-forwarded-for': xff } });
    expect((await via('10.9.9.9, 198.51.100.7, 10.0.0.1')).status?.code).toBe(status.OK);
    expect(denialOf(await via('203.0.113.9, 10.9.9.9')).body.error.code).toBe('ip_not_allowed');
    for (const garbage of ['10.0.0.1', 'not-an-ip, 10.0.0.1', '%%%,,,', '198.51.100.7:443, 10.0.0.1']) {
      const denial = denialOf(await via(garbage));
      expect(denial, garbage).toMatchObject({ status: 403, body: { error: { code: 'ip_not_allowed' } } });
    }
  });
});

describe('Envoy ext_authz Check with VERIFIER_REQUIRES_AUTH=true', () => {
  const token = 'envoy-sidecar-token-0123456789abcdef';
  const server = useTestServer('sqlite', {
    AUTH_TOKENS: `envoy=${createHash('sha256').update(token).digest('hex')}`,
    VERIFIER_REQUIRES_AUTH: 'true',
  });
  let envoy: ReturnType<typeof createAuthorizationClient>;
  beforeAll(() => {
    envoy = createAuthorizationClient(server.address);
  });
  afterAll(() => envoy.close());

  it('authenticates Envoy as a KeyVerifier caller (its grpc_service initial_metadata), before reading the request', async () => {
    const request = envoyCheckRequest({ contextExtensions: READ });
    const refused = await grpcError(envoy.check(request));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const answered = await envoy.check(request, { metadata });
    expect(denialOf(answered).body.error.code).toBe('missing_authorization');
  });
});

describe('EXT_AUTHZ_RULES_FILE at the start of the service process', () => {
  it('refuses a rule scope the catalog lacks like any configuration problem: exit 2, one message, no stack trace', async () => {
    const rules = join(tmpdir(), `ext-authz-bad-scope-${process.pid}.yaml`);
    writeFileSync(rules, 'rules:\n  - path: /tickets/**\n    scopes: [tickets:raed]\n');
    const { code, stdout, stderr } = await runServiceToExit({
      LISTEN_ADDRESS: '127.0.0.1:0',
      METRICS_ADDRESS: 'off',
      DATABASE_URL: `sqlite:${join(tmpdir(), `ext-authz-bad-scope-${process.pid}.db`)}`,
      EXT_AUTHZ_RULES_FILE: rules,
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      'api-key-service: invalid configuration:',
      '  EXT_AUTHZ_RULES_FILE rule 1 (/tickets/**): scope "tickets:raed" is not in the scope catalog',
    ]);
  });
});
