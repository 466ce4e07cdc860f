/** The deployment contract: the numbers the stack and the runtime derive from one configuration. */
import { describe, expect, it } from 'vitest';
import {
  DLQ_RETENTION_SECONDS,
  METRICS,
  plannerTimeoutSeconds,
  queueSettings,
} from '../../lib/config/deployment.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import { localTaskQueueOptions } from '../../lib/local/emulators.ts';

describe('the deployment contract', () => {
  it.each([
    // [interval, lease ttl, planner timeout]
    [60, 300, 50],
    [600, 300, 120],
    [600, 45, 35],
    [60, 30, 20],
  ])(
    'keeps the planner timeout below the interval %i s and the lease TTL %i s: %i s',
    (interval, ttl, expected) => {
      const config = parseConfig({ housekeeping_interval: interval, planner_lease_ttl: ttl });
      const timeout = plannerTimeoutSeconds(config);
      expect(timeout).toBe(expected);
      expect(timeout).toBeLessThan(interval);
      expect(timeout).toBeLessThan(ttl);
    },
  );

  it.each([1, 5, 12])(
    'gives the local run’s queue the deployed redrive bound: task_max_attempts %i deliveries',
    (attempts) => {
      const config = parseConfig({ task_max_attempts: attempts });
      expect(localTaskQueueOptions(config).maxReceiveCount).toBe(
        queueSettings(config).maxReceiveCount,
      );
      expect(localTaskQueueOptions(config).maxReceiveCount).toBe(attempts);
    },
  );

  it('derives the queue from the retry policy and the executor timeout', () => {
    const config = parseConfig({
      task_max_attempts: 7,
      executor_timeout: 90,
      executor_batch_size: 20,
      executor_batch_window: 2,
      executor_max_concurrency: 3,
    });
    expect(queueSettings(config)).toStrictEqual({
      visibilityTimeoutSeconds: 540,
      maxReceiveCount: 7,
      deadLetterRetentionSeconds: DLQ_RETENTION_SECONDS,
      batchSize: 20,
      maxBatchingWindowSeconds: 2,
      maximumConcurrency: 3,
    });
    expect(DLQ_RETENTION_SECONDS).toBe(14 * 86_400);
  });

  it('names every metric after its key, so an alarm and the code can only use the same name', () => {
    for (const [key, m] of Object.entries(METRICS)) expect(m.name).toBe(key);
  });
});
