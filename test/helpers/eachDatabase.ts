import { describe } from 'vitest';

import { DATABASE_KINDS, type DatabaseKind } from './testDatabase.js';

/**
 * Declares `suite` once per database: always SQLite, and MySQL when TEST_MYSQL_URL is set. Without it the
 * MySQL copy is declared skipped, so the run lists every MySQL case it did not execute.
 */
export function describeEachDatabase(name: string, suite: (kind: DatabaseKind) => void): void {
  describe(`${name} [sqlite]`, () => suite('sqlite'));
  if (DATABASE_KINDS.includes('mysql')) describe(`${name} [mysql]`, () => suite('mysql'));
  else describe.skip(`${name} [mysql] (skipped: TEST_MYSQL_URL is not set)`, () => suite('mysql'));
}
