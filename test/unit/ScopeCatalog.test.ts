import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { AppError } from '../../src/domain/AppError.js';
import { ScopeCatalog, scopeDefinition } from '../../src/domain/ScopeCatalog.js';
import { loadScopeCatalog } from '../../src/loadScopeCatalog.js';
import { thrownBy } from '../helpers/thrownBy.js';

const catalog = ScopeCatalog.default();

const rejection = (run: () => unknown): AppError => thrownBy(run, AppError);

describe('scope catalog', () => {
  describe('the default catalog', () => {
    it('has the 21 scopes of 7 resources × read, write, delete, sorted by name', () => {
      const names = catalog.list().map((scope) => scope.name);
      expect(names).toHaveLength(21);
      expect(names).toEqual([...names].sort());
      for (const resource of ['tickets', 'comments', 'users', 'teams', 'customers', 'attachments', 'dashboard']) {
        for (const action of ['read', 'write', 'delete']) expect(catalog.has(`${resource}:${action}`)).toBe(true);
      }
    });

    it('marks exactly the *:read scopes read-only', () => {
      for (const scope of catalog.list()) {
        expect(catalog.isReadOnly(scope.name)).toBe(scope.name.endsWith(':read'));
        expect(scope.readOnly).toBe(scope.action === 'read');
      }
      expect(catalog.isReadOnly('tickets:fly')).toBe(false);
    });
  });

  describe('normalize', () => {
    it('collapses duplicates and sorts', () => {
      expect(catalog.normalize(['users:read', 'tickets:read', 'users:read'], 'scopes', { allowEmpty: false })).toEqual([
        'tickets:read',
        'users:read',
      ]);
    });

    it('names unknown scopes once each, and the valid ones', () => {
      const error = rejection(() => catalog.normalize(['x:y', 'tickets:read', 'x:y'], 'scopes', { allowEmpty: false }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        `Invalid scope in scopes: "x:y"; valid scopes: ${catalog
          .list()
          .map((scope) => scope.name)
          .join(', ')}`,
      );
    });

    it('shortens an absurdly long unknown scope in the message', () => {
      const error = rejection(() => catalog.normalize(['a'.repeat(500)], 'scopes', { allowEmpty: false }));
      expect(error.message).toContain(`"${'a'.repeat(60)}…"`);
      expect(error.message).not.toContain('a'.repeat(61));
    });

    it('requires a scope unless empty is allowed', () => {
      expect(rejection(() => catalog.normalize([], 'scopes', { allowEmpty: false })).message).toMatch(
        /^scopes: at least one scope is required/,
      );
      expect(catalog.normalize([], 'required_scopes', { allowEmpty: true })).toEqual([]);
    });

    it('accepts 64 entries and rejects 65', () => {
      expect(catalog.normalize(Array<string>(64).fill('tickets:read'), 'scopes', { allowEmpty: false })).toEqual([
        'tickets:read',
      ]);
      expect(
        rejection(() => catalog.normalize(Array<string>(65).fill('tickets:read'), 'scopes', { allowEmpty: false }))
          .message,
      ).toBe('scopes: at most 64 scopes allowed, got 65');
    });
  });

  describe('construction', () => {
    it.each([
      ['a name that is not resource:action', [scopeDefinition('tickets', '', 'x')], /is not resource:action/],
      ['an upper-case name', [scopeDefinition('Tickets', 'read', 'x')], /is not resource:action/],
      [
        'a duplicate',
        [scopeDefinition('a', 'read', 'x'), scopeDefinition('a', 'read', 'y')],
        /"a:read" is listed twice/,
      ],
      ['no scope at all', [], /at least one scope is required/],
    ])('refuses %s', (_what, definitions, message) => {
      expect(() => new ScopeCatalog(definitions)).toThrow(message);
    });
  });

  describe('loadScopeCatalog (SCOPES_FILE)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scope-catalog-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };

    it('uses the built-in catalog when no file is configured', () => {
      expect(loadScopeCatalog('').list()).toEqual(catalog.list());
    });

    it('replaces the catalog with the file, descriptions defaulting to the name', () => {
      const loaded = loadScopeCatalog(
        file(
          'ok.json',
          JSON.stringify([{ name: 'reports:read', description: 'Read reports' }, { name: 'reports:run' }]),
        ),
      );
      expect(loaded.list()).toEqual([
        { name: 'reports:read', resource: 'reports', action: 'read', description: 'Read reports', readOnly: true },
        { name: 'reports:run', resource: 'reports', action: 'run', description: 'reports:run', readOnly: false },
      ]);
      expect(loaded.has('tickets:read')).toBe(false);
    });

    it.each([
      ['a missing file', () => join(dir, 'absent.json'), /^SCOPES_FILE .*absent\.json: ENOENT/],
      ['invalid JSON', () => file('bad.json', '[{'), /^SCOPES_FILE .*bad\.json: /],
      ['an object instead of an array', () => file('obj.json', '{}'), /expected a JSON array of \{name, description\}/],
      [
        'an entry without a colon',
        () => file('colon.json', '[{"name":"tickets"}]'),
        /entry 0: name must be "resource:action"/,
      ],
      [
        'a malformed name',
        () => file('upper.json', '[{"name":"Tickets:Read"}]'),
        /"Tickets:Read" is not resource:action/,
      ],
      ['an empty array', () => file('empty.json', '[]'), /at least one scope is required/],
      ['a duplicate', () => file('dup.json', '[{"name":"a:read"},{"name":"a:read"}]'), /"a:read" is listed twice/],
    ])('refuses %s, naming the file and the problem', (_what, path, message) => {
      expect(() => loadScopeCatalog(path())).toThrow(message);
    });
  });
});
