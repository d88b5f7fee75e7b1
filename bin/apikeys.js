#!/usr/bin/env node
// The `apikeys` admin CLI. Runs the compiled CLI (dist/, made by `npm run build`) when it exists, else
// the TypeScript sources through tsx (a dev dependency), so `npx apikeys` works in a fresh clone after
// `npm ci`. APIKEYS_CLI_FROM_SOURCE=1 forces the sources (the tests use it, so a stale dist/ is never
// what they exercise).
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
if (process.env.APIKEYS_CLI_FROM_SOURCE !== '1' && existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { tsImport } = await import('tsx/esm/api');
  await tsImport('../src/cli/main.ts', import.meta.url);
}
