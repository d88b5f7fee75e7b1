import { describe, expect, it } from 'vitest';

import { parseRouteRules, routeRuleScopeProblems } from '../../src/config/extAuthz.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import { requestPathSegments, RouteRules } from '../../src/domain/RouteRules.js';
import { ScopeCatalog } from '../../src/domain/ScopeCatalog.js';

describe('EXT_AUTHZ_RULES_FILE', () => {
  it('reports every problem of the file at once, each with its rule', () => {
    const { problems } = parseRouteRules(
      [
        'rules:',
        '  - path: tickets',
        '    scopes: [tickets:read]',
        '  - path: /a/**/b',
        '    scopes: tickets:read',
        '  - path: /c',
        '    scopes: []',
        '    methods: [FETCH]',
        '    scope: [x]',
      ].join('\n'),
    );
    expect(problems).toEqual([
      'rule 1: path "tickets" must start with "/"',
      'rule 2: path "/a/**/b": "**" may only be the last segment',
      'rule 2: scopes must be a list of scope names (an empty list requires a valid key only)',
      'rule 3: unknown field "scope"',
      'rule 3: "FETCH" is not an HTTP method',
    ]);
    expect(parseRouteRules('rules: [').problems[0]).toMatch(/^not valid YAML/);
    expect(parseRouteRules('- path: /x').problems).toEqual(['expected a top-level "rules:" list']);
  });

  it('fails the start naming the file and the problems, and names scopes the catalog lacks', () => {
    expect(() => loadConfig({ EXT_AUTHZ_RULES_FILE: '/nonexistent/rules.yaml' })).toThrow(
      /EXT_AUTHZ_RULES_FILE: cannot read \/nonexistent\/rules\.yaml: ENOENT/,
    );
    const rules = new RouteRules([{ methods: [], path: '/x', scopes: ['tickets:read', 'tickets:raed'] }]);
    expect(routeRuleScopeProblems(rules, ScopeCatalog.default())).toEqual([
      'EXT_AUTHZ_RULES_FILE rule 1 (/x): scope "tickets:raed" is not in the scope catalog',
    ]);
  });

  it('matches the first rule by method and path, one segment per "*", any rest for a last "**", query ignored', () => {
    const rules = new RouteRules([
      { methods: ['GET'], path: '/tickets/*/comments', scopes: ['comments:read'] },
      { methods: ['GET', 'HEAD'], path: '/tickets/**', scopes: ['tickets:read'] },
      { methods: [], path: '/health', scopes: [] },
    ]);
    const scopesFor = (method: string, path: string) => {
      const parsed = requestPathSegments(path);
      if ('problem' in parsed) throw new Error(parsed.problem);
      return rules.scopesFor(method, parsed.segments);
    };
    expect(scopesFor('GET', '/tickets/42/comments?page=2')).toEqual(['comments:read']);
    expect(scopesFor('get', '/tickets/42/comments/7')).toEqual(['tickets:read']);
    expect(scopesFor('HEAD', '/tickets')).toEqual(['tickets:read']);
    expect(scopesFor('POST', '/tickets/42')).toBeUndefined();
    expect(scopesFor('DELETE', '/health#x')).toEqual([]);
    expect(scopesFor('GET', '/healthz')).toBeUndefined();
  });

  it('matches percent-decoded segments, and refuses a path that upstream could read as another one', () => {
    const rules = new RouteRules([{ methods: [], path: '/tickets/**', scopes: ['tickets:read'] }]);
    const parsed = requestPathSegments('/tick%65ts/%34%32?x=%2F');
    expect(parsed).toEqual({ segments: ['tickets', '42'] });
    expect(rules.scopesFor('GET', 'segments' in parsed ? parsed.segments : [])).toEqual(['tickets:read']);
    expect(requestPathSegments('/tickets/')).toEqual({ segments: ['tickets', ''] });
    const problems = {
      '/tickets/../admin/keys': 'a dot segment',
      '/tickets/%2e%2E/admin': 'a dot segment',
      '/tickets/./42': 'a dot segment',
      '//admin/keys': 'an empty segment',
      '/tickets//42': 'an empty segment',
      '/tickets/..%2Fadmin': 'an encoded "/"',
      '/tickets/%5c..': 'an encoded "/"',
      '/tickets\\..\\admin': 'a backslash',
      '/tickets/%zz': 'broken percent-encoding',
      'tickets/42': 'no leading "/"',
      '*': 'no leading "/"',
    };
    for (const [path, problem] of Object.entries(problems))
      expect((requestPathSegments(path) as { problem?: string }).problem, path).toContain(problem);
  });

  it('refuses rule paths that are not normalized (they could never match a request path)', () => {
    const { problems } = parseRouteRules(
      [
        'rules:',
        '  - path: /a/../b',
        '    scopes: []',
        '  - path: /a%2Fb',
        '    scopes: []',
        '  - path: //a',
        '    scopes: []',
      ].join('\n'),
    );
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('must be a normalized path');
  });
});
