import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: the slow suites under test/chaos (wire fuzzing of a server process), kept out of
 * `npm test`. Set TEST_MYSQL_URL to run the MySQL copies too, as CI does.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/globalSetup.ts'],
    env: { METRICS_ADDRESS: '127.0.0.1:0' },
  },
});
