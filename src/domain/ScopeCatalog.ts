import { invalidArgument } from './AppError.js';

/** One grantable scope. */
export interface ScopeDefinition {
  readonly name: string;
  readonly resource: string;
  readonly action: string;
  readonly description: string;
  /** `*:read` scopes: the only ones a Read-Only Admin may grant. */
  readonly readOnly: boolean;
}

const SCOPE_NAME = /^[a-z][a-z0-9_-]{0,39}:[a-z][a-z0-9_-]{0,39}$/;
const DEFAULT_RESOURCES = ['tickets', 'comments', 'users', 'teams', 'customers', 'attachments', 'dashboard'];
const DEFAULT_ACTIONS: Record<string, string> = {
  read: 'Read',
  write: 'Create and change',
  delete: 'Delete',
};
/** At most this many scopes in one request field. */
export const MAX_SCOPES_PER_REQUEST = 64;

/** The set of scopes keys may hold. Immutable after construction. */
export class ScopeCatalog {
  private readonly byName: ReadonlyMap<string, ScopeDefinition>;

  constructor(definitions: readonly ScopeDefinition[]) {
    const byName = new Map<string, ScopeDefinition>();
    for (const definition of definitions) {
      if (!SCOPE_NAME.test(definition.name))
        throw new Error(`scope catalog: "${definition.name}" is not resource:action`);
      if (byName.has(definition.name)) throw new Error(`scope catalog: "${definition.name}" is listed twice`);
      byName.set(definition.name, definition);
    }
    if (byName.size === 0) throw new Error('scope catalog: at least one scope is required');
    this.byName = new Map([...byName.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** The product's default catalog: 7 resources × read/write/delete. */
  static default(): ScopeCatalog {
    return new ScopeCatalog(
      DEFAULT_RESOURCES.flatMap((resource) =>
        Object.entries(DEFAULT_ACTIONS).map(([action, verb]) =>
          scopeDefinition(resource, action, `${verb} ${resource}`),
        ),
      ),
    );
  }

  /** Every scope, sorted by name. */
  list(): readonly ScopeDefinition[] {
    return [...this.byName.values()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  isReadOnly(name: string): boolean {
    return this.byName.get(name)?.readOnly === true;
  }

  /**
   * Validates a requested scope list and returns it sorted without duplicates. Unknown names are
   * INVALID_ARGUMENT starting "Invalid scope", naming them and the valid ones.
   */
  normalize(requested: readonly string[], field: string, options: { allowEmpty: boolean }): string[] {
    if (requested.length > MAX_SCOPES_PER_REQUEST) {
      throw invalidArgument(`${field}: at most ${MAX_SCOPES_PER_REQUEST} scopes allowed, got ${requested.length}`);
    }
    if (requested.length === 0 && !options.allowEmpty) {
      throw invalidArgument(`${field}: at least one scope is required; valid scopes: ${this.names().join(', ')}`);
    }
    const unknown = [...new Set(requested.filter((name) => !this.byName.has(name)))];
    if (unknown.length > 0) {
      throw invalidArgument(
        `Invalid scope${unknown.length > 1 ? 's' : ''} in ${field}: ${unknown.map(quote).join(', ')}; valid scopes: ${this.names().join(', ')}`,
      );
    }
    return [...new Set(requested)].sort();
  }

  private names(): string[] {
    return [...this.byName.keys()];
  }
}

/** Builds a definition from its parts; `readOnly` follows from the action. */
export function scopeDefinition(resource: string, action: string, description: string): ScopeDefinition {
  return { name: `${resource}:${action}`, resource, action, description, readOnly: action === 'read' };
}

function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}
