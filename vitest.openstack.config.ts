import { defineConfig } from 'vitest/config';

/** The real-OpenStack tier: starts the loopback cloud when it is not up, then runs against it. */
export default defineConfig({
  test: {
    include: ['test/openstack/**/*.test.ts'],
    globalSetup: ['test/openstack/global-setup.ts'],
    // One cloud on two cores: files in parallel would only measure contention.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
