import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { configOf } from '../../cdk/app.ts';

describe('the CDK app', () => {
  it('refuses a bad configuration at synth, naming every bad field, value and rule', () => {
    const app = new App({
      context: { housekeeper: { housekeeping_interval: 90, maximum_deploying_amphora_count: 0 } },
    });
    expect(() => configOf(app)).toThrow(
      'invalid configuration (2 problems):\n' +
        '  - housekeeping_interval = 90: must be a multiple of 60 seconds: an EventBridge rate counts whole minutes\n' +
        '  - maximum_deploying_amphora_count = 0: must be at least 1',
    );
  });

  it('accepts the configuration as a JSON string from `-c housekeeper=...`', () => {
    const app = new App({ context: { housekeeper: '{"spare_amphora_pool_size": 3}' } });
    expect(configOf(app).pools[0]!.spare_amphora_pool_size).toBe(3);
  });
});
