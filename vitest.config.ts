import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real-OpenStack and deploy tiers have their own configs (npm run test:openstack, test:deploy).
    exclude: ['test/openstack/**', 'test/deploy/**', 'node_modules/**'],
    // fauxqs loads node:sqlite, whose ExperimentalWarning is noise in the test output.
    execArgv: ['--disable-warning=ExperimentalWarning'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
