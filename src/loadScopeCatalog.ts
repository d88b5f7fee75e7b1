import { readFileSync } from 'node:fs';

import { ScopeCatalog, scopeDefinition } from './domain/ScopeCatalog.js';

/**
 * The built-in catalog, or the one in `file`: a JSON array of `{ "name": "resource:action",
 * "description": "…" }`. Throws with the file name and the problem when it is unusable.
 */
export function loadScopeCatalog(file: string): ScopeCatalog {
  if (file === '') return ScopeCatalog.default();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`SCOPES_FILE ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`SCOPES_FILE ${file}: expected a JSON array of {name, description}`);
  try {
    return new ScopeCatalog(
      parsed.map((entry: unknown, index) => {
        const { name, description } = (entry ?? {}) as { name?: unknown; description?: unknown };
        if (typeof name !== 'string' || !name.includes(':'))
          throw new Error(`entry ${index}: name must be "resource:action"`);
        const [resource = '', action = ''] = name.split(':');
        return scopeDefinition(resource, action, typeof description === 'string' ? description : name);
      }),
    );
  } catch (error) {
    throw new Error(`SCOPES_FILE ${file}: ${(error as Error).message}`);
  }
}
