import { describe, expect, it } from 'vitest';

import { parseRouteRules, routeRuleScopeProblems } from '../../src/config/extAuthz.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import { RouteRules } from '../../src/domain/RouteRules.js';
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
    expect(rules.scopesFor('GET', '/tickets/42/comments?page=2')).toEqual(['comments:read']);
    expect(rules.scopesFor('get', '/tickets/42/comments/7')).toEqual(['tickets:read']);
    expect(rules.scopesFor('HEAD', '/tickets')).toEqual(['tickets:read']);
    expect(rules.scopesFor('POST', '/tickets/42')).toBeUndefined();
    expect(rules.scopesFor('DELETE', '/health#x')).toEqual([]);
    expect(rules.scopesFor('GET', '/healthz')).toBeUndefined();
  });
});
