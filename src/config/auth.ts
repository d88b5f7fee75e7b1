import { bool, makeValidator } from 'envalid';

import { documented } from './documented.js';
import { commaList } from './validators.js';

/** A configured service token: the caller identity it stands for and the SHA-256 digest of the token. */
export interface ServiceTokenHash {
  readonly name: string;
  /** 32 bytes. The token itself is never configured. */
  readonly sha256: Buffer;
}

/** A token name: it is a caller identity in logs, audit events and ADMIN_CLIENT_IDS. */
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * `name=sha256hex,…`. Error messages never repeat a hash value: an operator who pasted the token itself
 * instead of its hash must not find it in a log.
 */
const serviceTokens = makeValidator<ServiceTokenHash[]>((input) => {
  const problems: string[] = [];
  const tokens: ServiceTokenHash[] = [];
  commaList(input).forEach((entry, index) => {
    const separator = entry.indexOf('=');
    const name = separator < 0 ? '' : entry.slice(0, separator).trim();
    const hash = separator < 0 ? '' : entry.slice(separator + 1).trim();
    if (separator < 0 || !TOKEN_NAME.test(name)) {
      problems.push(
        `entry ${index + 1} must be name=sha256hex with a name of letters, digits and . _ : @ / - (at most 100 characters)`,
      );
    } else if (!SHA256_HEX.test(hash)) {
      problems.push(
        `the hash of "${name}" must be 64 hex digits (got ${hash.length} characters): configure the SHA-256 of the token, never the token itself`,
      );
    } else if (tokens.some((token) => token.name === name)) {
      problems.push(`"${name}" is configured twice`);
    } else {
      const sha256 = Buffer.from(hash, 'hex');
      const twin = tokens.find((token) => token.sha256.equals(sha256));
      if (twin !== undefined) problems.push(`"${name}" and "${twin.name}" have the same hash: one token, two names`);
      else tokens.push({ name, sha256 });
    }
  });
  if (problems.length > 0) throw new Error(problems.join('; '));
  return tokens;
});

/** Comma-separated caller identities: SPIFFE ids, DNS names, CNs (spaces allowed inside), token names. */
const clientIds = makeValidator<string[]>((input) => {
  const ids = commaList(input);
  if (ids.some((id) => id === '')) throw new Error('empty entry (two commas in a row, or a trailing comma)');
  // eslint-disable-next-line no-control-regex
  if (ids.some((id) => /[\x00-\x1f\x7f]/.test(id))) throw new Error('control characters are not allowed');
  // The audit trail stores the caller in 200 characters.
  if (ids.some((id) => id.length > 200)) throw new Error('an identity may have at most 200 characters');
  return [...new Set(ids)];
});

/** Who callers are (service tokens; client certificates are TLS_CLIENT_CA_FILE) and what they may call. */
export const AUTH_SETTINGS = {
  AUTH_TOKENS: documented(
    serviceTokens({
      default: [],
      desc: "service tokens as `name=sha256hex,name2=sha256hex`: each token's name (letters, digits, `. _ : @ / -`) and the SHA-256 of the token, never the token itself; see [Security](#security)",
    }),
    '(none)',
  ),
  ADMIN_CLIENT_IDS: documented(
    clientIds({
      default: [],
      desc: 'comma-separated caller identities allowed to call `KeyAdmin`: certificate identities (URI SAN, DNS SAN or CN) and/or token names',
    }),
    '(none)',
  ),
  LEAK_REPORTER_CLIENT_IDS: documented(
    clientIds({
      default: [],
      desc: 'comma-separated caller identities allowed to call `ReportLeakedKeys` (and only that, unless also in `ADMIN_CLIENT_IDS`): the receiver of a secret scanner; see [docs/leaks.md](docs/leaks.md)',
    }),
    '(none)',
  ),
  VERIFIER_REQUIRES_AUTH: documented(
    bool({ default: false, desc: '`true`: `VerifyKey` also requires an authenticated caller (any identity)' }),
    '`false`',
  ),
};

/** The settings the authentication rules read, and whether client certificates are required. */
export interface AuthFacts {
  readonly AUTH_TOKENS: readonly ServiceTokenHash[];
  readonly ADMIN_CLIENT_IDS: readonly string[];
  readonly VERIFIER_REQUIRES_AUTH: boolean;
  readonly mutualTls: boolean;
}

/** Whether any caller can authenticate: a service token is configured, or client certificates are required. */
export function authenticates(facts: Pick<AuthFacts, 'AUTH_TOKENS' | 'mutualTls'>): boolean {
  return facts.AUTH_TOKENS.length > 0 || facts.mutualTls;
}

/** Settings that contradict each other: an allow-list nobody can match, a requirement nobody can meet. */
export function authProblems(facts: AuthFacts): string[] {
  const problems: string[] = [];
  if (!authenticates(facts) && facts.ADMIN_CLIENT_IDS.length > 0) {
    problems.push(
      'ADMIN_CLIENT_IDS: has no effect without AUTH_TOKENS or TLS_CLIENT_CA_FILE (no caller is authenticated)',
    );
  }
  if (!authenticates(facts) && facts.VERIFIER_REQUIRES_AUTH) {
    problems.push('VERIFIER_REQUIRES_AUTH: no caller could authenticate; set AUTH_TOKENS or TLS_CLIENT_CA_FILE too');
  }
  if (authenticates(facts) && !facts.mutualTls) {
    // Without client certificates every allowed identity must be a token name: anything else is a typo.
    const names = new Set(facts.AUTH_TOKENS.map((token) => token.name));
    const unknown = facts.ADMIN_CLIENT_IDS.filter((id) => !names.has(id));
    if (unknown.length > 0) {
      problems.push(
        `ADMIN_CLIENT_IDS: ${unknown.map((id) => `"${id}"`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not the name of a token in AUTH_TOKENS (and TLS_CLIENT_CA_FILE is not set)`,
      );
    }
  }
  return problems;
}
