import { readFileSync } from 'node:fs';

import { bool, makeValidator, str } from 'envalid';
import { parse as parseYaml } from 'yaml';

import { HTTP_METHODS, pathPatternProblem, type RouteRule, RouteRules } from '../domain/RouteRules.js';
import type { ScopeCatalog } from '../domain/ScopeCatalog.js';
import { documented } from './documented.js';
import { intRange } from './validators.js';

/** How Check finds the client IP: the downstream peer Envoy reports, or an entry of `x-forwarded-for`. */
export type ClientIpSource = 'peer' | 'xff';

/** What Check does for a request whose route names no scopes and that no rule matches. */
export type UnmatchedPolicy = 'deny' | 'require_key';

/** Lower-case HTTP header names (RFC 9110 tokens), as Envoy sends them. */
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

const headerName = makeValidator<string>((input) => {
  const name = input.trim().toLowerCase();
  if (!HEADER_NAME.test(name) || name.startsWith(':'))
    throw new Error('expected an HTTP header name such as authorization or x-api-key');
  return name;
});

const KNOWN_RULE_FIELDS = new Set(['methods', 'path', 'scopes']);

/** Reads and checks every rule of the file, collecting every problem (each with its rule's number). */
export function parseRouteRules(text: string): { rules: RouteRule[]; problems: string[] } {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    return { rules: [], problems: [`not valid YAML: ${(error as Error).message.split('\n')[0] ?? ''}`] };
  }
  const list = (document as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(list)) return { rules: [], problems: ['expected a top-level "rules:" list'] };
  const problems: string[] = [];
  const rules: RouteRule[] = [];
  list.forEach((entry: unknown, index) => {
    const where = `rule ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected a mapping with path, scopes and optional methods`);
      return;
    }
    const fields = entry as Record<string, unknown>;
    const before = problems.length;
    for (const field of Object.keys(fields))
      if (!KNOWN_RULE_FIELDS.has(field)) problems.push(`${where}: unknown field ${JSON.stringify(field)}`);
    const { path, scopes, methods = [] } = fields;
    if (typeof path !== 'string') problems.push(`${where}: path is required (e.g. "/tickets/**")`);
    else {
      const problem = pathPatternProblem(path);
      if (problem !== null) problems.push(`${where}: ${problem}`);
    }
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string'))
      problems.push(`${where}: scopes must be a list of scope names (an empty list requires a valid key only)`);
    if (!Array.isArray(methods) || !methods.every((method) => typeof method === 'string'))
      problems.push(`${where}: methods must be a list such as [GET, HEAD]`);
    else
      for (const method of methods)
        if (!HTTP_METHODS.has(method.toUpperCase()))
          problems.push(`${where}: ${JSON.stringify(method)} is not an HTTP method`);
    if (problems.length === before) {
      rules.push({
        path: path as string,
        scopes: [...new Set(scopes as string[])],
        methods: (methods as string[]).map((method) => method.toUpperCase()),
      });
    }
  });
  return { rules, problems };
}

/** EXT_AUTHZ_RULES_FILE: the file's rules, every problem reported at once. */
const rulesFile = makeValidator<RouteRules>((input) => {
  const file = input.trim();
  if (file === '') return RouteRules.NONE;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const { rules, problems } = parseRouteRules(text);
  if (problems.length > 0) throw new Error(`${file}: ${problems.join('; ')}`);
  return new RouteRules(rules);
});

/** Envoy's ext_authz (`envoy.service.auth.v3.Authorization/Check`): where the key, client IP and scopes come from. */
export const EXT_AUTHZ_SETTINGS = {
  EXT_AUTHZ_KEY_HEADER: documented(
    headerName({
      default: 'authorization',
      desc: 'request header holding the API key for `Check`: `authorization` expects `Bearer <key>`; any other header (e.g. `x-api-key`) holds the key itself',
    }),
    '`authorization`',
  ),
  EXT_AUTHZ_REMOVE_KEY_HEADER: documented(
    bool({
      default: true,
      desc: '`true`: an allowed request goes upstream without the key header, so the protected service never sees the secret',
    }),
    '`true`',
  ),
  EXT_AUTHZ_CLIENT_IP: documented(
    str<ClientIpSource>({
      choices: ['peer', 'xff'],
      default: 'peer',
      desc: "client IP for `Check`: `peer` = the downstream address Envoy reports (`attributes.source.address`), `xff` = the `x-forwarded-for` entry `EXT_AUTHZ_XFF_TRUSTED_HOPS` from the right (Envoy's `xff_num_trusted_hops`)",
    }),
    '`peer`',
  ),
  EXT_AUTHZ_XFF_TRUSTED_HOPS: documented(
    intRange(
      0,
      16,
    )({
      default: 0,
      desc: 'with `EXT_AUTHZ_CLIENT_IP=xff`: trusted proxies that appended to `x-forwarded-for` (0 = its last entry)',
    }),
    '`0`',
  ),
  EXT_AUTHZ_SCOPES_EXTENSION: documented(
    str({
      default: 'required_scopes',
      desc: 'key of the route\'s ext_authz `context_extensions` holding its required scopes, comma-separated (`"tickets:read,comments:read"`)',
    }),
    '`required_scopes`',
  ),
  EXT_AUTHZ_RULES_FILE: documented(
    rulesFile({
      default: RouteRules.NONE,
      desc: 'YAML `rules:` list of `{methods, path, scopes}` for routes without the context extension; first match wins; `*` = one path segment, a last `**` = any rest (docs/envoy.md)',
    }),
    '(none)',
  ),
  EXT_AUTHZ_UNMATCHED: documented(
    str<UnmatchedPolicy>({
      choices: ['deny', 'require_key'],
      default: 'deny',
      desc: '`Check` of a request with neither: `deny` (403, fail closed) or `require_key` (a valid key, no scope required)',
    }),
    '`deny`',
  ),
};

/** The settings of the ext_authz service, as the configuration carries them. */
export interface ExtAuthzConfig {
  readonly keyHeader: string;
  readonly removeKeyHeader: boolean;
  readonly clientIp: ClientIpSource;
  readonly xffTrustedHops: number;
  readonly scopesExtension: string;
  readonly rules: RouteRules;
  readonly unmatched: UnmatchedPolicy;
}

/** The section's values, from cleanEnv's result. */
export function extAuthzConfig(raw: {
  readonly EXT_AUTHZ_KEY_HEADER: string;
  readonly EXT_AUTHZ_REMOVE_KEY_HEADER: boolean;
  readonly EXT_AUTHZ_CLIENT_IP: ClientIpSource;
  readonly EXT_AUTHZ_XFF_TRUSTED_HOPS: number;
  readonly EXT_AUTHZ_SCOPES_EXTENSION: string;
  readonly EXT_AUTHZ_RULES_FILE: RouteRules;
  readonly EXT_AUTHZ_UNMATCHED: UnmatchedPolicy;
}): ExtAuthzConfig {
  return Object.freeze({
    keyHeader: raw.EXT_AUTHZ_KEY_HEADER,
    removeKeyHeader: raw.EXT_AUTHZ_REMOVE_KEY_HEADER,
    clientIp: raw.EXT_AUTHZ_CLIENT_IP,
    xffTrustedHops: raw.EXT_AUTHZ_XFF_TRUSTED_HOPS,
    scopesExtension: raw.EXT_AUTHZ_SCOPES_EXTENSION,
    rules: raw.EXT_AUTHZ_RULES_FILE,
    unmatched: raw.EXT_AUTHZ_UNMATCHED,
  });
}

/** Scopes the rules name that the catalog lacks, each with its rule (checked at start, once the catalog is loaded). */
export function routeRuleScopeProblems(rules: RouteRules, catalog: ScopeCatalog): string[] {
  return rules.rules.flatMap((rule, index) =>
    rule.scopes
      .filter((scope) => !catalog.has(scope))
      .map(
        (scope) =>
          `EXT_AUTHZ_RULES_FILE rule ${index + 1} (${rule.path}): scope ${JSON.stringify(scope)} is not in the scope catalog`,
      ),
  );
}
