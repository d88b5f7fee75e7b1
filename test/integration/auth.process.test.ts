import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { credentials, status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';

import { CreateKeyRequest, ListAuditEventsRequest, VerifyKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import {
  bearer,
  CERTIFICATE_IDENTITIES,
  createCredentialedClients,
  createTestCertificates,
  tlsCredentials,
} from '../helpers/certificates.js';
import { grpcError } from '../helpers/grpcClients.js';
import { runServiceToExit, startServiceProcess } from '../helpers/startProcess.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';

const sqlite = () => `sqlite:${join(mkdtempSync(join(tmpdir(), 'apikeys-auth-proc-')), 'keys.db')}`;
const TOKEN = randomBytes(32).toString('base64');
const AUTH_TOKENS = `admin-backend=${createHash('sha256').update(TOKEN).digest('hex')}`;

/** The loopback address of a process listening on all interfaces. */
const loopback = (address: string) => address.replace(/^(0\.0\.0\.0|\[::\])/, '127.0.0.1');

describe('start-up security checks of the service process', () => {
  const certificates = createTestCertificates();
  afterAll(() => certificates.remove());

  it('refuses to start on 0.0.0.0 without caller authentication: exit 2, one clear message, no stack trace', async () => {
    const { code, stderr, stdout } = await runServiceToExit({ LISTEN_ADDRESS: '0.0.0.0:0', DATABASE_URL: sqlite() });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      'api-key-service: refusing to start on 0.0.0.0:0, which is not a loopback address: KeyAdmin answers unauthenticated callers (neither AUTH_TOKENS nor TLS_CLIENT_CA_FILE is set), and it trusts the actor a caller states. Configure caller authentication and TLS (README, section "Security"), listen on 127.0.0.1, or accept the risk by name with ALLOW_INSECURE=unauthenticated-keyadmin',
    ]);
  });

  it('refuses service tokens in plaintext on [::] (exit 2), naming the opt-in', async () => {
    const { code, stderr } = await runServiceToExit({ LISTEN_ADDRESS: '[::]:0', DATABASE_URL: sqlite(), AUTH_TOKENS });
    expect(code).toBe(2);
    expect(stderr).toContain('service tokens travel in plaintext');
    expect(stderr).toContain('ALLOW_INSECURE=plaintext-tokens');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('starts on 0.0.0.0 without authentication when opted in by name, warning about it', async () => {
    const service = await startServiceProcess({
      LISTEN_ADDRESS: '0.0.0.0:0',
      DATABASE_URL: sqlite(),
      ALLOW_INSECURE: 'unauthenticated-keyadmin',
    });
    try {
      const warning = service
        .output()
        .split('\n')
        .find((line) => line.includes('INSECURE'));
      expect(JSON.parse(warning!)).toMatchObject({
        level: 40,
        insecure: ['unauthenticated-keyadmin'],
        msg: expect.stringContaining(
          'KeyAdmin answers unauthenticated callers (neither AUTH_TOKENS nor TLS_CLIENT_CA_FILE is set), and it trusts the actor a caller states. Accepted on 0.0.0.0:0 because ALLOW_INSECURE names unauthenticated-keyadmin',
        ) as unknown,
      });
      const clients = createCredentialedClients(loopback(service.address), credentials.createInsecure());
      try {
        const organizationActor = actorOf(newOrganizationId('optin'), 'alice');
        await clients.admin.createKey(
          CreateKeyRequest.fromPartial({ actor: organizationActor, name: 'n', scopes: ['tickets:read'] }),
        );
        const audit = await clients.admin.listAuditEvents(
          ListAuditEventsRequest.fromPartial({ actor: organizationActor }),
        );
        expect(audit.events.map((event) => event.caller)).toEqual(['anonymous']);
      } finally {
        clients.close();
      }
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });

  it('starts on loopback without authentication (the quick start) with a clear warning', async () => {
    const service = await startServiceProcess({ LISTEN_ADDRESS: '127.0.0.1:0', DATABASE_URL: sqlite() });
    try {
      expect(service.output()).toContain(
        'Tolerated only because 127.0.0.1:0 is reachable from this machine alone; configure caller authentication before listening elsewhere',
      );
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });

  it('starts on 0.0.0.0 with mutual TLS and no warning; with WORKERS=2 every worker authenticates callers', async () => {
    const service = await startServiceProcess({
      LISTEN_ADDRESS: '0.0.0.0:0',
      DATABASE_URL: sqlite(),
      WORKERS: '2',
      TLS_CERT_FILE: certificates.server.cert,
      TLS_KEY_FILE: certificates.server.key,
      TLS_CLIENT_CA_FILE: certificates.ca.cert,
      AUTH_TOKENS,
      ADMIN_CLIENT_IDS: CERTIFICATE_IDENTITIES.spiffe,
      VERIFIER_REQUIRES_AUTH: 'true',
      LOG_LEVEL: 'debug', // every verify logs its worker
    });
    const address = loopback(service.address);
    // Each client has its own connection, so round-robin spreads them over both workers.
    const admins = Array.from({ length: 6 }, () =>
      createCredentialedClients(address, tlsCredentials(certificates.ca, certificates.clients.spiffe)),
    );
    const others = Array.from({ length: 6 }, () =>
      createCredentialedClients(address, tlsCredentials(certificates.ca, certificates.clients.otherService)),
    );
    const strangers = createCredentialedClients(address, tlsCredentials(certificates.ca, certificates.clients.otherCa));
    try {
      expect(service.output()).not.toContain('INSECURE');
      const organizationActor = actorOf(newOrganizationId('workers'), 'alice');
      const created = await admins[0]!.admin.createKey(
        CreateKeyRequest.fromPartial({ actor: organizationActor, name: 'w', scopes: ['tickets:read'] }),
      );
      const verify = VerifyKeyRequest.fromPartial({ key: created.secret });
      for (const clients of [...admins, ...others]) {
        expect((await clients.verifier.verifyKey(verify)).valid).toBe(true);
      }
      for (const clients of others) {
        expect((await grpcError(clients.admin.listScopes({ actor: organizationActor }))).code).toBe(
          status.PERMISSION_DENIED,
        );
        // A valid token whose name is not in ADMIN_CLIENT_IDS does not help either.
        expect(
          (await grpcError(clients.admin.listScopes({ actor: organizationActor }, { metadata: bearer(TOKEN) }))).code,
        ).toBe(status.PERMISSION_DENIED);
      }
      for (const clients of admins) {
        const audit = await clients.admin.listAuditEvents(
          ListAuditEventsRequest.fromPartial({ actor: organizationActor }),
        );
        expect(audit.events.map((event) => event.caller)).toEqual([CERTIFICATE_IDENTITIES.spiffe]);
      }
      expect((await grpcError(strangers.verifier.verifyKey(verify))).code).toBe(status.UNAVAILABLE);
      const verifyLines = service
        .output()
        .split('\n')
        .filter((line) => line.includes('KeyVerifier/VerifyKey'))
        .map((line) => JSON.parse(line) as { worker: number; caller: string });
      expect(new Set(verifyLines.map((line) => line.worker)).size).toBe(2);
      expect(new Set(verifyLines.map((line) => line.caller))).toEqual(
        new Set([CERTIFICATE_IDENTITIES.spiffe, CERTIFICATE_IDENTITIES.otherService]),
      );
      expect(service.output()).not.toContain(TOKEN);
    } finally {
      for (const clients of [...admins, ...others, strangers]) clients.close();
      expect(await service.stop()).toBe(0);
    }
  }, 60_000);
});
