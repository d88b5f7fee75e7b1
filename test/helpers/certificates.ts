import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type ChannelCredentials, Client, credentials, Metadata } from '@grpc/grpc-js';

import { KeyAdminService, KeyVerifierService } from '../../gen/apikeys/v1/api_keys.js';
import { promisedClient } from '../../src/client/promisedClient.js';
import { healthClient } from './healthClient.js';

const OPENSSL = 'openssl';

/** Paths of a certificate and its private key (PEM files). */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Throwaway PKI for one test file, written into a temporary directory. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signs the server certificate and the trusted client certificates. */
  readonly ca: CertificateFiles;
  /** A second CA, which signs `clients.otherCa` (for refusals and client-CA rotation). */
  readonly otherCa: CertificateFiles;
  /** Server certificate for 127.0.0.1 and localhost. */
  readonly server: CertificateFiles;
  /** Another server certificate for the same names, signed by `ca` (what a rotation installs). */
  readonly renewedServer: CertificateFiles;
  /** Client certificates signed by `ca`, named after how they identify the caller. */
  readonly clients: {
    /** URI SAN spiffe://toptickets/admin-backend (plus a DNS SAN and a CN, which it takes precedence over). */
    readonly spiffe: CertificateFiles;
    /** URI SAN spiffe://toptickets/ticket-api: a valid certificate that is not an admin client. */
    readonly otherService: CertificateFiles;
    /** Only a DNS SAN (dns-only.backend.internal), no CN. */
    readonly dnsOnly: CertificateFiles;
    /** Only a subject CN (CN Only Backend), no SAN. */
    readonly cnOnly: CertificateFiles;
    /** URI SAN spiffe://toptickets/admin-backend, but signed by another CA. */
    readonly otherCa: CertificateFiles;
  };
  remove(): void;
}

/** The identities the client certificates carry. */
export const CERTIFICATE_IDENTITIES = {
  spiffe: 'spiffe://toptickets/admin-backend',
  otherService: 'spiffe://toptickets/ticket-api',
  dnsOnly: 'dns-only.backend.internal',
  cnOnly: 'CN Only Backend',
} as const;

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA (P-256). */
function makeCa(dir: string, name: string): CertificateFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/O=TopTickets tests/CN=${name}`,
  ]); // prettier-ignore
  return files;
}

/**
 * A certificate signed by `ca`: a key, a signing request, then `openssl x509 -req` with the extensions
 * given (the way the README shows it).
 */
function makeLeaf(
  dir: string,
  ca: CertificateFiles,
  name: string,
  subject: string,
  extensions: string[],
): CertificateFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const extfile = join(dir, `${name}.ext`);
  writeFileSync(extfile, ['basicConstraints=critical,CA:FALSE', ...extensions].join('\n') + '\n');
  openssl(dir, [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', files.key, '-out', csr, '-subj', subject,
  ]); // prettier-ignore
  openssl(dir, [
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-days', '2', '-out', files.cert, '-extfile', extfile,
  ]); // prettier-ignore
  return files;
}

/** Generates a CA, a server certificate and client certificates with openssl into a new temporary directory. */
export function createTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'apikeys-certs-'));
  const ca = makeCa(dir, 'ca');
  const otherCa = makeCa(dir, 'other-ca');
  const client = ['extendedKeyUsage=clientAuth'];
  const serverExtensions = ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth'];
  return {
    dir,
    ca,
    otherCa,
    server: makeLeaf(dir, ca, 'server', '/CN=api-key-service', serverExtensions),
    renewedServer: makeLeaf(dir, ca, 'renewed-server', '/CN=api-key-service', serverExtensions),
    clients: {
      spiffe: makeLeaf(dir, ca, 'spiffe', '/CN=admin-backend-cn', [
        ...client,
        `subjectAltName=URI:${CERTIFICATE_IDENTITIES.spiffe},DNS:admin-backend.internal`,
      ]),
      otherService: makeLeaf(dir, ca, 'other-service', '/CN=ticket-api', [
        ...client,
        `subjectAltName=URI:${CERTIFICATE_IDENTITIES.otherService}`,
      ]),
      dnsOnly: makeLeaf(dir, ca, 'dns-only', '/O=TopTickets tests', [
        ...client,
        `subjectAltName=DNS:${CERTIFICATE_IDENTITIES.dnsOnly}`,
      ]),
      cnOnly: makeLeaf(dir, ca, 'cn-only', `/CN=${CERTIFICATE_IDENTITIES.cnOnly}`, client),
      otherCa: makeLeaf(dir, otherCa, 'other-ca-client', '/CN=admin-backend-cn', [
        ...client,
        `subjectAltName=URI:${CERTIFICATE_IDENTITIES.spiffe}`,
      ]),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Channel credentials trusting `ca`, presenting `client` (mutual TLS) when given. */
export function tlsCredentials(ca: CertificateFiles, client?: CertificateFiles): ChannelCredentials {
  return credentials.createSsl(
    readFileSync(ca.cert),
    client === undefined ? null : readFileSync(client.key),
    client === undefined ? null : readFileSync(client.cert),
  );
}

/** `authorization: Bearer <token>` metadata (empty metadata without a token). */
export function bearer(token?: string): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** Clients of KeyAdmin, KeyVerifier and health over one channel credential, each on its own connection. */
export function createCredentialedClients(address: string, channelCredentials: ChannelCredentials) {
  // The server certificate names localhost too: TLS servername must not be an IP address (RFC 6066).
  const options = { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' };
  const admin = new Client(address, channelCredentials, options);
  const verifier = new Client(address, channelCredentials, options);
  const health = new Client(address, channelCredentials, options);
  const defaults = { deadlineMs: 10_000 };
  return {
    admin: promisedClient(admin, KeyAdminService, defaults),
    verifier: promisedClient(verifier, KeyVerifierService, defaults),
    /** grpc.health.v1.Health/Check of the whole server: the status name. */
    health: async () => (await healthClient(health).check({ service: '' }, defaults)).status,
    close: () => {
      admin.close();
      verifier.close();
      health.close();
    },
  };
}
