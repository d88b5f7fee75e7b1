import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/**
 * Paths of the server's PEM files (they are re-read on reload). Not the client's `TlsFiles`
 * (src/client/createChannelCredentials.ts), which holds PEM contents.
 */
export interface ServerTlsFiles {
  readonly cert: string;
  readonly key: string;
  /** null = no client certificates (plain TLS). */
  readonly clientCa: string | null;
}

/** PEM contents, checked: the key belongs to the certificate, the CA file holds a certificate. */
export interface TlsMaterial {
  readonly files: ServerTlsFiles;
  readonly certChain: Buffer;
  readonly privateKey: Buffer;
  /** CA certificate(s) client certificates must chain to (mutual TLS); null = no client certificates. */
  readonly clientCa: Buffer | null;
  /** The server certificate (first of the chain), for logs and the expiry metric. */
  readonly certificate: X509Certificate;
}

/**
 * Reads one PEM file and checks it holds what it should; the message names the file, never its contents.
 * Configuration validates each variable with it, and readTlsMaterial checks the whole set with it.
 */
export function readPemFile(path: string, holds: 'certificate' | 'private key'): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    if (holds === 'certificate') new X509Certificate(pem);
    else createPrivateKey(pem);
  } catch {
    throw new Error(`${path} holds no PEM ${holds}`);
  }
  return pem;
}

/** readPemFile with the variable's name in front of any complaint. */
function readVariable(variable: string, path: string, holds: 'certificate' | 'private key'): Buffer {
  try {
    return readPemFile(path, holds);
  } catch (error) {
    throw new Error(`${variable}: ${(error as Error).message}`);
  }
}

/**
 * Reads and checks the files; throws an Error whose message names the variable and the file at fault.
 * Used at start (configuration) and on every reload, so a half-written or mismatched pair is refused the
 * same way in both.
 */
export function readTlsMaterial(files: ServerTlsFiles, now: number = Date.now()): TlsMaterial {
  const certChain = readVariable('TLS_CERT_FILE', files.cert, 'certificate');
  const privateKey = readVariable('TLS_KEY_FILE', files.key, 'private key');
  const clientCa = files.clientCa === null ? null : readVariable('TLS_CLIENT_CA_FILE', files.clientCa, 'certificate');
  const certificate = new X509Certificate(certChain);
  const key = createPrivateKey(privateKey);
  const expires = Date.parse(certificate.validTo);
  if (expires <= now) {
    throw new Error(`TLS_CERT_FILE: ${files.cert} expired at ${new Date(expires).toISOString()}`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Error(`TLS_KEY_FILE: ${files.key} is not the private key of the certificate in ${files.cert}`);
  }
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
