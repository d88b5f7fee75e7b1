import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The slow chaos suites (wire fuzzing of a server process) run with `npm run test:chaos`.
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/helpers/globalSetup.ts'],
    // Many servers run at once: every one (and every child process) takes a free metrics port.
    env: { METRICS_ADDRESS: '127.0.0.1:0' },
  },
});
