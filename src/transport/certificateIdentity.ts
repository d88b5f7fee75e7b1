import type { PeerCertificate } from 'node:tls';

/** One `TYPE:value` entry of Node's subjectaltname text; values with special characters are JSON-quoted. */
const SAN_ENTRY = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;

/** Parses Node's `subjectaltname` ("DNS:a, URI:spiffe://b, IP Address:c") into [type, value] pairs. */
function subjectAltNames(text: string): [string, string][] {
  const names: [string, string][] = [];
  SAN_ENTRY.lastIndex = 0;
  while (SAN_ENTRY.lastIndex < text.length) {
    const match = SAN_ENTRY.exec(text);
    if (match === null) return names;
    const [, type = '', raw = ''] = match;
    names.push([type, raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
  }
  return names;
}

/**
 * The caller identity a verified client certificate names: its first URI SAN (such as a SPIFFE id
 * `spiffe://toptickets/admin-backend`), else its first DNS SAN, else its subject CN (when it has exactly
 * one). Undefined when it names none of them.
 */
export function certificateIdentity(certificate: PeerCertificate): string | undefined {
  const names = subjectAltNames(certificate.subjectaltname ?? '');
  const uri = names.find(([type]) => type === 'URI')?.[1];
  if (uri !== undefined && uri !== '') return uri;
  const dns = names.find(([type]) => type === 'DNS')?.[1];
  if (dns !== undefined && dns !== '') return dns;
  // Node gives an array when the subject holds several CNs: ambiguous, so none is taken.
  const cn = (certificate.subject as Partial<Record<string, string | string[]>> | undefined)?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}
