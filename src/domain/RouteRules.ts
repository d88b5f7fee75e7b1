/**
 * Which scopes an HTTP route requires, for requests authorized through Envoy's ext_authz when the route
 * itself does not say (its `context_extensions`). Rules are tried in order; the first whose method and
 * path pattern match decides.
 */

/** One rule as configured (EXT_AUTHZ_RULES_FILE). */
export interface RouteRule {
  /** Upper-case HTTP methods; empty = any method. */
  readonly methods: readonly string[];
  /** `/tickets/*` (one segment), `/tickets/**` (any rest, none included), or a literal path. */
  readonly path: string;
  readonly scopes: readonly string[];
}

/** What a pattern compiles to: literal segments, `*` for one segment, a trailing `**` for any rest. */
interface CompiledRule {
  readonly rule: RouteRule;
  readonly methods: ReadonlySet<string>;
  readonly segments: readonly string[];
  readonly rest: boolean;
}

/** Methods a rule may name (RFC 9110 plus PATCH). */
export const HTTP_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/** Why a path pattern is not usable, or null. */
export function pathPatternProblem(path: string): string | null {
  if (!path.startsWith('/')) return `path ${JSON.stringify(path)} must start with "/"`;
  if (/[?#\s]/.test(path))
    return `path ${JSON.stringify(path)} must not contain "?", "#" or spaces (query strings are not matched)`;
  const segments = path.split('/').slice(1);
  const doubleStar = segments.indexOf('**');
  if (doubleStar !== -1 && doubleStar !== segments.length - 1)
    return `path ${JSON.stringify(path)}: "**" may only be the last segment`;
  if (segments.some((segment) => segment !== '*' && segment !== '**' && segment.includes('*')))
    return `path ${JSON.stringify(path)}: "*" must be a whole segment`;
  if (
    /[%\\]/.test(path) ||
    segments.some(
      (segment, index) => segment === '.' || segment === '..' || (segment === '' && index < segments.length - 1),
    )
  )
    return `path ${JSON.stringify(path)} must be a normalized path: no "%", "\\", "." or ".." segments or "//" (request paths are matched percent-decoded)`;
  return null;
}

/**
 * The segments of a request path as the protected service will read them (percent-decoded, query and
 * fragment cut), or why the path cannot be matched safely: a dot segment (`/tickets/../admin`), an empty
 * segment (`//admin`), an encoded `/` or `\`, a backslash, or broken percent-encoding. Such a path means
 * one thing to a rule and possibly another upstream (which may resolve `..`, merge slashes or decode
 * `%2F`), so no rule may decide it. Envoy's `normalize_path` and `merge_slashes` remove the first two.
 */
export function requestPathSegments(path: string): { segments: string[] } | { problem: string } {
  if (!path.startsWith('/')) return { problem: 'no leading "/"' };
  const end = path.search(/[?#]/);
  const raw = (end === -1 ? path : path.slice(0, end)).split('/').slice(1);
  const segments: string[] = [];
  for (const [index, segment] of raw.entries()) {
    if (segment.includes('\\')) return { problem: 'a backslash' };
    let decoded: string;
    try {
      decoded = segment.includes('%') ? decodeURIComponent(segment) : segment;
    } catch {
      return { problem: 'broken percent-encoding' };
    }
    if (decoded.includes('/') || decoded.includes('\\')) return { problem: 'an encoded "/" or "\\"' };
    if (decoded === '.' || decoded === '..') return { problem: 'a dot segment ("." or "..")' };
    if (decoded === '' && index < raw.length - 1) return { problem: 'an empty segment ("//")' };
    segments.push(decoded);
  }
  return { segments };
}

function compile(rule: RouteRule): CompiledRule {
  const segments = rule.path.split('/').slice(1);
  const rest = segments.at(-1) === '**';
  return { rule, methods: new Set(rule.methods), segments: rest ? segments.slice(0, -1) : segments, rest };
}

function matches(compiled: CompiledRule, method: string, segments: readonly string[]): boolean {
  if (compiled.methods.size > 0 && !compiled.methods.has(method)) return false;
  if (compiled.rest ? segments.length < compiled.segments.length : segments.length !== compiled.segments.length)
    return false;
  return compiled.segments.every((pattern, index) => pattern === '*' || pattern === segments[index]);
}

/** The configured rules, compiled once. */
export class RouteRules {
  private readonly compiled: readonly CompiledRule[];

  /** `rules` must have passed pathPatternProblem. */
  constructor(readonly rules: readonly RouteRule[]) {
    this.compiled = rules.map(compile);
  }

  static readonly NONE = new RouteRules([]);

  /**
   * The scopes of the first rule matching `method` and the segments of requestPathSegments (the query
   * string and fragment are not part of the match), or undefined when none matches.
   */
  scopesFor(method: string, segments: readonly string[]): readonly string[] | undefined {
    if (this.compiled.length === 0) return undefined;
    return this.compiled.find((compiled) => matches(compiled, method.toUpperCase(), segments))?.rule.scopes;
  }
}
