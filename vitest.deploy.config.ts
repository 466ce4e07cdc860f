import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Files in name order: Tier 1 reads back the deployment before Tier 2 changes it. */
class ByName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}

/**
 * The deploy tier (Tier 1 and 2): a real `cdk deploy` into a fresh moto, read back, and the
 * deployed code run under the Lambda runtime interface client. One deployment per run, shared
 * by the files, which run one after the other.
 */
export default defineConfig({
  test: {
    include: ['test/deploy/**/*.test.ts'],
    globalSetup: ['test/deploy/global-setup.ts'],
    fileParallelism: false,
    sequence: { sequencer: ByName },
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
