import { makeValidator } from 'envalid';
import ipaddr from 'ipaddr.js';

import { ConfigError } from './ConfigError.js';
import { documented } from './documented.js';
import { commaList } from './validators.js';

/**
 * Insecure setups, each refused on a non-loopback address unless named in ALLOW_INSECURE; the text says
 * what is exposed (it ends the start-up warning and the refusal).
 */
export const INSECURE_MODES = {
  'unauthenticated-keyadmin':
    'KeyAdmin answers unauthenticated callers (neither AUTH_TOKENS nor TLS_CLIENT_CA_FILE is set), and it trusts the actor a caller states',
  'plaintext-tokens':
    'service tokens travel in plaintext (AUTH_TOKENS is set but TLS_CERT_FILE/TLS_KEY_FILE are not), readable by anyone on the network path',
} as const;

/** The name of one insecure setup. */
export type InsecureMode = keyof typeof INSECURE_MODES;

const insecureModes = makeValidator<InsecureMode[]>((input) => {
  const names = commaList(input);
  const unknown = names.filter((name) => !(name in INSECURE_MODES));
  if (unknown.length > 0) {
    throw new Error(
      `unknown ${unknown.map((name) => `"${name}"`).join(', ')}; expected a comma-separated list of ${Object.keys(INSECURE_MODES).join(', ')}`,
    );
  }
  return [...new Set(names)] as InsecureMode[];
});

/** The operator's acceptance of named risks. */
export const INSECURE_SETTINGS = {
  ALLOW_INSECURE: documented(
    insecureModes({
      default: [],
      desc: 'comma-separated insecure setups accepted on a non-loopback address: `unauthenticated-keyadmin`, `plaintext-tokens`',
    }),
    '(none)',
  ),
};

/** Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (!ipaddr.isValid(bare)) return false;
  return ipaddr.process(bare).range() === 'loopback';
}

/** What the insecure-setup policy reads. */
export interface SecurityFacts {
  readonly listenAddress: { readonly host: string; readonly port: number };
  readonly authenticates: boolean;
  readonly tokens: boolean;
  readonly tls: boolean;
  readonly allowInsecure: readonly InsecureMode[];
}

/**
 * What is insecure about this setup. On loopback each is tolerated; elsewhere each must be named in
 * ALLOW_INSECURE, or this throws the refusal.
 */
export function acceptedInsecurities(facts: SecurityFacts): InsecureMode[] {
  const insecurities: InsecureMode[] = [];
  if (!facts.authenticates) insecurities.push('unauthenticated-keyadmin');
  if (facts.tokens && !facts.tls) insecurities.push('plaintext-tokens');
  const { host, port } = facts.listenAddress;
  const refused = isLoopbackHost(host) ? [] : insecurities.filter((mode) => !facts.allowInsecure.includes(mode));
  if (refused.length > 0) {
    throw new ConfigError(
      `refusing to start on ${host}:${port}, which is not a loopback address: ${refused.map((mode) => INSECURE_MODES[mode]).join('; ')}. ` +
        'Configure caller authentication and TLS (README, section "Security"), listen on 127.0.0.1, ' +
        `or accept the risk by name with ALLOW_INSECURE=${refused.join(',')}`,
    );
  }
  return insecurities;
}

/**
 * What an operator must know about a started configuration's security: each accepted insecurity (on
 * loopback, or opted into with ALLOW_INSECURE) and a KeyAdmin nobody may call.
 */
export function securityWarnings(config: {
  readonly listenAddress: { readonly host: string; readonly port: number };
  readonly insecurities: readonly InsecureMode[];
  readonly authenticates: boolean;
  readonly adminClientIds: readonly string[];
}): string[] {
  const { host, port } = config.listenAddress;
  const loopback = isLoopbackHost(host);
  const warnings = config.insecurities.map((mode) =>
    loopback
      ? `INSECURE: ${INSECURE_MODES[mode]}. Tolerated only because ${host}:${port} is reachable from this machine alone; configure caller authentication before listening elsewhere (README, section "Security")`
      : `INSECURE: ${INSECURE_MODES[mode]}. Accepted on ${host}:${port} because ALLOW_INSECURE names ${mode}`,
  );
  if (config.authenticates && config.adminClientIds.length === 0) {
    warnings.push('ADMIN_CLIENT_IDS is empty: every KeyAdmin call will be refused with PERMISSION_DENIED');
  }
  return warnings;
}
