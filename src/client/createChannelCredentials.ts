import { type ChannelCredentials, credentials } from '@grpc/grpc-js';

/** PEM contents (not file paths) of the files a TLS or mutual-TLS connection needs. */
export interface TlsFiles {
  /** CA certificate(s) that signed the server's certificate; omitted: the system's trusted roots. */
  readonly ca?: string | Buffer;
  /** Client certificate chain, for mutual TLS (together with `key`). */
  readonly cert?: string | Buffer;
  /** Client private key, for mutual TLS (together with `cert`). */
  readonly key?: string | Buffer;
}

/** `false`/omitted: plaintext; `true`: TLS with the system's roots; an object: TLS with these files. */
export type TlsOption = boolean | TlsFiles;

function toBuffer(value: string | Buffer | undefined): Buffer | null {
  if (value === undefined) return null;
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/** Channel credentials for a plaintext, TLS or mutual-TLS connection to api-key-service. */
export function createChannelCredentials(tls: TlsOption | undefined): ChannelCredentials {
  if (tls === undefined || tls === false) return credentials.createInsecure();
  if (tls === true) return credentials.createSsl();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError('tls.cert and tls.key must be given together (mutual TLS needs both)');
  }
  return credentials.createSsl(toBuffer(tls.ca), toBuffer(tls.key), toBuffer(tls.cert));
}
