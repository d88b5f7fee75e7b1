/**
 * TLS files are re-read without a restart (app.reloadTls(), which SIGHUP and TLS_RELOAD_INTERVAL_MS
 * call): new connections get the new server certificate or client CA, established connections keep
 * working, and a broken set (mismatched key, half-written file, missing file, expired certificate) is
 * refused while the last good one keeps being served. Real servers, real TLS handshakes; SIGHUP on real
 * processes, a single one and a cluster whose primary relays it to every worker.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { ListScopesRequest, Role } from '../../gen/apikeys/v1/api_keys.js';
import {
  CERTIFICATE_IDENTITIES,
  type CertificateFiles,
  createCredentialedClients,
  createTestCertificates,
  type TestCertificates,
  tlsCredentials,
} from '../helpers/certificates.js';
import { createClients, grpcError } from '../helpers/grpcClients.js';
import { startServiceProcess } from '../helpers/startProcess.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';

const DAY = 86_400_000;

/** The SHA-256 fingerprint of the certificate a new TLS connection to `address` is shown. */
function servedFingerprint(address: string, ca: CertificateFiles, client?: CertificateFiles): Promise<string> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port: Number(port),
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      ca: readFileSync(ca.cert),
      ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function fingerprintOf(files: CertificateFiles): string {
  return new X509Certificate(readFileSync(files.cert)).fingerprint256;
}

const listScopes = () =>
  ListScopesRequest.fromPartial({ actor: actorOf(newOrganizationId('tls'), 'alice', Role.ROLE_ADMIN) });

/** The files the server is configured with, which the test overwrites the way a rotation tool does. */
function liveFiles(certificates: TestCertificates, withClientCa: boolean) {
  const live = {
    cert: join(certificates.dir, `live-${withClientCa ? 'm' : ''}tls.crt`),
    key: join(certificates.dir, `live-${withClientCa ? 'm' : ''}tls.key`),
    ca: join(certificates.dir, `live-${withClientCa ? 'm' : ''}tls-ca.crt`),
  };
  const install = (files: CertificateFiles): void => {
    copyFileSync(files.cert, live.cert);
    copyFileSync(files.key, live.key);
  };
  install(certificates.server);
  copyFileSync(certificates.ca.cert, live.ca);
  return { ...live, install };
}

/** What a TLS suite works with; filled in by its `beforeAll`. */
interface TlsServer {
  certificates: TestCertificates;
  live: ReturnType<typeof liveFiles>;
  server: TestServer;
}

/**
 * Fresh test certificates installed as live files and an SQLite server serving them (asking for client
 * certificates signed by the test CA when `withClientCa`), for the whole suite.
 */
function useTlsServer(withClientCa: boolean, environment: Record<string, string>): TlsServer {
  const tls = {} as TlsServer;
  beforeAll(async () => {
    tls.certificates = createTestCertificates();
    tls.live = liveFiles(tls.certificates, withClientCa);
    tls.server = await startTestServer('sqlite', {
      TLS_CERT_FILE: tls.live.cert,
      TLS_KEY_FILE: tls.live.key,
      ...(withClientCa ? { TLS_CLIENT_CA_FILE: tls.live.ca } : {}),
      ...environment,
    });
  }, 30_000);
  afterAll(async () => {
    await tls.server.stop();
    tls.certificates.remove();
  });
  return tls;
}

describe('TLS reload with client certificates (mutual TLS)', () => {
  const tls = useTlsServer(true, { TLS_RELOAD_INTERVAL_MS: '0', ADMIN_CLIENT_IDS: CERTIFICATE_IDENTITIES.spiffe });

  const reloads = () => tls.server.app.certificates?.stats;

  it('serves a new server certificate to new connections after a reload, without breaking established ones', async () => {
    const { ca, clients } = tls.certificates;
    const established = createCredentialedClients(tls.server.address, tlsCredentials(ca, clients.spiffe));
    try {
      expect(await established.health()).toBe('SERVING');
      expect(await servedFingerprint(tls.server.address, ca, clients.spiffe)).toBe(
        fingerprintOf(tls.certificates.server),
      );
      expect(tls.server.app.reloadTls()).toBe('unchanged');

      tls.live.install(tls.certificates.renewedServer);
      expect(tls.server.app.reloadTls()).toBe('reloaded');
      expect(await servedFingerprint(tls.server.address, ca, clients.spiffe)).toBe(
        fingerprintOf(tls.certificates.renewedServer),
      );
      expect((await established.admin.listScopes(listScopes())).scopes.length).toBeGreaterThan(0);
      const fresh = createCredentialedClients(tls.server.address, tlsCredentials(ca, clients.spiffe));
      try {
        expect((await fresh.admin.listScopes(listScopes())).scopes.length).toBeGreaterThan(0);
      } finally {
        fresh.close();
      }
      expect(tls.server.logs.join('')).toContain('TLS certificate reloaded; new connections use it');
    } finally {
      established.close();
      tls.live.install(tls.certificates.server);
      tls.server.app.reloadTls();
    }
  });

  it.each([
    [
      'a certificate with the previous key (a rotation caught halfway)',
      () => copyFileSync(tls.certificates.renewedServer.cert, tls.live.cert),
      'is not the private key of the certificate in',
    ],
    [
      'a half-written certificate file',
      () => writeFileSync(tls.live.cert, readFileSync(tls.live.cert).subarray(0, 200)),
      'holds no PEM certificate',
    ],
    ['a missing key file', () => rmSync(tls.live.key), 'TLS_KEY_FILE: cannot read'],
    [
      'a client CA file that holds no certificate',
      () => writeFileSync(tls.live.ca, 'not a certificate\n'),
      'TLS_CLIENT_CA_FILE:',
    ],
  ])('refuses %s and keeps serving the last good certificate', async (_label, breakFiles, reason) => {
    const { ca, clients } = tls.certificates;
    const rejectedBefore = reloads()?.rejected ?? 0;
    const logsBefore = tls.server.logs.length;
    breakFiles();
    try {
      expect(tls.server.app.reloadTls()).toBe('rejected');
      expect(reloads()?.rejected).toBe(rejectedBefore + 1);
      const refusal = tls.server.logs.slice(logsBefore).join('');
      expect(refusal).toContain('TLS reload refused; still serving the previous certificate');
      expect(refusal).toContain(reason);
      expect(await servedFingerprint(tls.server.address, ca, clients.spiffe)).toBe(
        fingerprintOf(tls.certificates.server),
      );
      const clientsAfter = createCredentialedClients(tls.server.address, tlsCredentials(ca, clients.spiffe));
      try {
        expect(await clientsAfter.health()).toBe('SERVING');
      } finally {
        clientsAfter.close();
      }
    } finally {
      tls.live.install(tls.certificates.server);
      copyFileSync(tls.certificates.ca.cert, tls.live.ca);
      expect(tls.server.app.reloadTls()).toBe('unchanged');
    }
  });

  it('refuses a certificate that has already expired', async () => {
    tls.server.clock.advance(3 * DAY); // the test certificates are valid for 2 days
    const logsBefore = tls.server.logs.length;
    try {
      tls.live.install(tls.certificates.renewedServer);
      expect(tls.server.app.reloadTls()).toBe('rejected');
      expect(tls.server.logs.slice(logsBefore).join('')).toMatch(/TLS_CERT_FILE: \S+ expired at \d{4}-/);
    } finally {
      tls.server.clock.advance(-3 * DAY);
      tls.live.install(tls.certificates.server);
      tls.server.app.reloadTls();
    }
    expect(await servedFingerprint(tls.server.address, tls.certificates.ca, tls.certificates.clients.spiffe)).toBe(
      fingerprintOf(tls.certificates.server),
    );
  });

  it('rotates the client CA: a bundle of both admits both, then the old CA is dropped', async () => {
    const { ca, otherCa, clients } = tls.certificates;
    const newCaClient = () => createCredentialedClients(tls.server.address, tlsCredentials(ca, clients.otherCa));
    const oldCaClient = () => createCredentialedClients(tls.server.address, tlsCredentials(ca, clients.spiffe));
    const outcome = async (make: () => ReturnType<typeof newCaClient>) => {
      const clientsOf = make();
      try {
        return await clientsOf.admin.listScopes(listScopes()).then(
          () => 'admitted',
          (error: unknown) => (error as { code: number }).code,
        );
      } finally {
        clientsOf.close();
      }
    };
    try {
      expect(await outcome(newCaClient)).toBe(status.UNAVAILABLE); // handshake refused
      writeFileSync(tls.live.ca, Buffer.concat([readFileSync(ca.cert), readFileSync(otherCa.cert)]));
      expect(tls.server.app.reloadTls()).toBe('reloaded');
      expect(await outcome(newCaClient)).toBe('admitted');
      expect(await outcome(oldCaClient)).toBe('admitted');
      copyFileSync(otherCa.cert, tls.live.ca);
      expect(tls.server.app.reloadTls()).toBe('reloaded');
      expect(await outcome(newCaClient)).toBe('admitted');
      expect(await outcome(oldCaClient)).toBe(status.UNAVAILABLE);
    } finally {
      copyFileSync(ca.cert, tls.live.ca);
      tls.server.app.reloadTls();
    }
  });

  it('exposes the served certificate’s expiry and the reload counts as metrics', async () => {
    const address = /"metricsAddress":"([^"]+)"/.exec(tls.server.logs.join(''))?.[1];
    const body = await (await fetch(`http://${address}/metrics`)).text();
    const notAfter = Date.parse(new X509Certificate(readFileSync(tls.live.cert)).validTo) / 1000;
    expect(body).toContain(`apikeys_tls_certificate_expiry_timestamp_seconds ${notAfter}\n`);
    expect(body).toContain(`apikeys_tls_reloads_total{result="reloaded"} ${reloads()?.reloads}\n`);
    expect(body).toContain(`apikeys_tls_reloads_total{result="rejected"} ${reloads()?.rejected}\n`);
    expect(reloads()?.reloads).toBeGreaterThan(0);
  });
});

describe('TLS reload without client certificates', () => {
  const tls = useTlsServer(false, { TLS_RELOAD_INTERVAL_MS: '1000' });

  it('serves TLS to clients without a certificate, and picks up new files by itself within the interval', async () => {
    const plain = createCredentialedClients(tls.server.address, tlsCredentials(tls.certificates.ca));
    try {
      expect(await plain.health()).toBe('SERVING');
      expect(await servedFingerprint(tls.server.address, tls.certificates.ca)).toBe(
        fingerprintOf(tls.certificates.server),
      );
      tls.live.install(tls.certificates.renewedServer);
      const renewed = fingerprintOf(tls.certificates.renewedServer);
      const deadline = Date.now() + 10_000;
      while ((await servedFingerprint(tls.server.address, tls.certificates.ca)) !== renewed) {
        if (Date.now() > deadline) throw new Error('the new certificate was not served within 10 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await plain.health()).toBe('SERVING');
      const stranger = createCredentialedClients(tls.server.address, tlsCredentials(tls.certificates.otherCa));
      try {
        // A client that trusts another CA still cannot connect.
        expect((await grpcError(stranger.health())).code).toBe(status.UNAVAILABLE);
      } finally {
        stranger.close();
      }
    } finally {
      plain.close();
    }
  });
});

describe('SIGHUP on a real process', () => {
  let certificates: TestCertificates;
  beforeAll(() => {
    certificates = createTestCertificates();
  }, 30_000);
  afterAll(() => certificates.remove());

  /** Fingerprints seen by `connections` new connections (round-robin spreads them over the workers). */
  async function served(address: string, connections: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < connections; i++) seen.add(await servedFingerprint(address, certificates.ca));
    return seen;
  }

  it.each([1, 2])(
    'WORKERS=%i: every worker serves the new certificate after SIGHUP',
    async (workers) => {
      const live = liveFiles(certificates, false);
      const service = await startServiceProcess({
        LISTEN_ADDRESS: '127.0.0.1:0',
        DATABASE_URL: `sqlite:${join(certificates.dir, `sighup-${workers}.db`)}`,
        METRICS_ADDRESS: 'off',
        TLS_CERT_FILE: live.cert,
        TLS_KEY_FILE: live.key,
        TLS_RELOAD_INTERVAL_MS: '0',
        WORKERS: String(workers),
      });
      try {
        expect(await served(service.address, 4)).toEqual(new Set([fingerprintOf(certificates.server)]));
        live.install(certificates.renewedServer);
        service.child.kill('SIGHUP');
        await vi.waitFor(() => expect(service.output().split('TLS certificate reloaded').length - 1).toBe(workers), {
          timeout: 10_000,
          interval: 50,
        });
        expect(await served(service.address, 4 * workers)).toEqual(
          new Set([fingerprintOf(certificates.renewedServer)]),
        );
      } finally {
        live.install(certificates.server);
        expect(await service.stop()).toBe(0);
      }
    },
    60_000,
  );

  it('SIGHUP while the workers are still starting ends no process; they load the new files once listening', async () => {
    const live = liveFiles(certificates, false);
    let signalled = false;
    const service = await startServiceProcess(
      {
        DATABASE_URL: `sqlite:${join(certificates.dir, 'sighup-early.db')}`,
        LISTEN_ADDRESS: '127.0.0.1:0',
        METRICS_ADDRESS: 'off',
        TLS_CERT_FILE: live.cert,
        TLS_KEY_FILE: live.key,
        TLS_RELOAD_INTERVAL_MS: '0',
        WORKERS: '2',
      },
      {
        onOutput: (output, child) => {
          // The primary's first line (the loopback security warning) comes before any worker exists.
          if (signalled || !output.includes('INSECURE')) return;
          signalled = true;
          live.install(certificates.renewedServer);
          child.kill('SIGHUP');
        },
      },
    );
    try {
      expect(signalled).toBe(true);
      expect(await served(service.address, 8)).toEqual(new Set([fingerprintOf(certificates.renewedServer)]));
      expect(service.output()).not.toContain('worker died');
    } finally {
      live.install(certificates.server);
      expect(await service.stop()).toBe(0);
    }
  }, 60_000);

  it('a plaintext process logs that there is nothing to reload and keeps serving', async () => {
    const service = await startServiceProcess({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: `sqlite:${join(certificates.dir, 'sighup-plain.db')}`,
      METRICS_ADDRESS: 'off',
    });
    try {
      service.child.kill('SIGHUP');
      await vi.waitFor(() => expect(service.output()).toContain('SIGHUP: plaintext, no TLS files to reload'), {
        timeout: 10_000,
        interval: 50,
      });
      const clients = createClients(service.address, { ownConnection: true });
      try {
        expect((await clients.admin.listScopes(listScopes())).scopes.length).toBeGreaterThan(0);
      } finally {
        clients.close();
      }
    } finally {
      expect(await service.stop()).toBe(0);
    }
  }, 60_000);
});
