import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** Where the PEM files are (they are re-read on reload). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** null = no client certificates (plain TLS). */
  readonly clientCa: string | null;
}

/** PEM contents, checked: the key belongs to the certificate, the CA file holds a certificate. */
export interface TlsMaterial {
  readonly files: TlsFiles;
  readonly certChain: Buffer;
  readonly privateKey: Buffer;
  /** CA certificate(s) client certificates must chain to (mutual TLS); null = no client certificates. */
  readonly clientCa: Buffer | null;
  /** The server certificate (first of the chain), for logs and the expiry metric. */
  readonly certificate: X509Certificate;
}

function read(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function certificateIn(variable: string, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new Error(`${variable}: ${path} holds no PEM certificate`);
  }
}

/**
 * Reads and checks the files; throws an Error whose message names the variable and the file at fault.
 * Used at start (configuration) and on every reload, so a half-written or mismatched pair is refused the
 * same way in both.
 */
export function readTlsMaterial(files: TlsFiles, now: number = Date.now()): TlsMaterial {
  const certChain = read('TLS_CERT_FILE', files.cert);
  const privateKey = read('TLS_KEY_FILE', files.key);
  const clientCa = files.clientCa === null ? null : read('TLS_CLIENT_CA_FILE', files.clientCa);
  const certificate = certificateIn('TLS_CERT_FILE', files.cert, certChain);
  let key;
  try {
    key = createPrivateKey(privateKey);
  } catch {
    throw new Error(`TLS_KEY_FILE: ${files.key} holds no PEM private key`);
  }
  const expires = Date.parse(certificate.validTo);
  if (expires <= now) {
    throw new Error(`TLS_CERT_FILE: ${files.cert} expired at ${new Date(expires).toISOString()}`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Error(`TLS_KEY_FILE: ${files.key} is not the private key of the certificate in ${files.cert}`);
  }
  if (clientCa !== null && files.clientCa !== null) certificateIn('TLS_CLIENT_CA_FILE', files.clientCa, clientCa);
  try {
    // What the server will do with them: a set Node refuses to load must be refused here, not when the
    // server swaps it in (grpc-js would then drop every new connection).
    createSecureContext({ cert: certChain, key: privateKey, ...(clientCa === null ? {} : { ca: clientCa }) });
  } catch (error) {
    throw new Error(
      `TLS_CERT_FILE/TLS_KEY_FILE${clientCa === null ? '' : '/TLS_CLIENT_CA_FILE'}: Node cannot load them together (${(error as Error).message})`,
    );
  }
  return { files, certChain, privateKey, clientCa, certificate };
}

/** Same files, same bytes. */
export function sameTlsMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const sameCa = a.clientCa === null || b.clientCa === null ? a.clientCa === b.clientCa : a.clientCa.equals(b.clientCa);
  return a.certChain.equals(b.certChain) && a.privateKey.equals(b.privateKey) && sameCa;
}
