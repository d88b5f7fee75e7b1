import { makeExactValidator } from 'envalid';

import { readPemFile, readTlsMaterial, type TlsMaterial } from '../transport/tlsMaterial.js';
import { documented } from './documented.js';
import { intRange } from './validators.js';

/** A PEM file read at start. */
interface PemFile {
  readonly path: string;
  readonly pem: Buffer;
}

/**
 * A path to a PEM file holding a certificate or a private key, read and parsed at start; empty = none.
 * Messages name the file, never its contents.
 */
function pemFile(holds: 'certificate' | 'private key') {
  return makeExactValidator<PemFile | undefined>((path) => {
    if (path === '') return undefined;
    const pem = readPemFile(path, holds);
    return { path, pem };
  });
}

/** The gRPC server's TLS: certificate and key, the client CA for mutual TLS, and how often they are re-read. */
export const TLS_SETTINGS = {
  TLS_CERT_FILE: documented(
    pemFile('certificate')({
      default: undefined,
      desc: 'PEM server certificate chain; with `TLS_KEY_FILE`, the server speaks TLS only',
    }),
    '(none: plaintext)',
  ),
  TLS_KEY_FILE: documented(
    pemFile('private key')({
      default: undefined,
      desc: 'PEM private key of `TLS_CERT_FILE` (checked to match at start)',
    }),
    '(none)',
  ),
  TLS_CLIENT_CA_FILE: documented(
    pemFile('certificate')({
      default: undefined,
      desc: 'PEM CA certificate(s): mutual TLS, every connection must present a client certificate issued by them',
    }),
    '(none)',
  ),
  TLS_RELOAD_INTERVAL_MS: documented(
    intRange(
      0,
      86_400_000,
    )({
      default: 60_000,
      desc: 'how often the three TLS files are re-read (also on `SIGHUP`); `0` = only on `SIGHUP`',
    }),
    '`60000`',
  ),
};

/**
 * Cross-field TLS checks: both or none of cert and key, a client CA only with them, a key matching the
 * certificate. Problems are added to `problems`; the material is null when TLS is off or invalid.
 */
export function tlsMaterial(
  raw: { TLS_CERT_FILE?: PemFile; TLS_KEY_FILE?: PemFile; TLS_CLIENT_CA_FILE?: PemFile },
  problems: string[],
): TlsMaterial | null {
  const { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_CLIENT_CA_FILE: caFile } = raw;
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined)
      problems.push('TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE (mutual TLS is TLS)');
    return null;
  }
  if (certFile === undefined || keyFile === undefined) {
    problems.push(
      certFile === undefined
        ? 'TLS_CERT_FILE: required with TLS_KEY_FILE'
        : 'TLS_KEY_FILE: required with TLS_CERT_FILE',
    );
    return null;
  }
  try {
    return readTlsMaterial({ cert: certFile.path, key: keyFile.path, clientCa: caFile?.path ?? null });
  } catch (error) {
    problems.push((error as Error).message);
    return null;
  }
}
