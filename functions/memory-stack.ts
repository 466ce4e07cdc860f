/** Wires a local stack on the in-memory adapters (one process, nothing persisted). */
import { randomUUID } from 'node:crypto';
import { MemoryCloudState } from '../lib/adapters/memory/memory-cloud-state.ts';
import { MemoryIdempotencyStore } from '../lib/adapters/memory/memory-idempotency-store.ts';
import { MemoryPoolStore } from '../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue, memorySource } from '../lib/adapters/memory/memory-task-queue.ts';
import { systemClock } from '../lib/adapters/system-clock.ts';
import type { HousekeeperConfig } from '../lib/config/schema.ts';
import type { NoopCloudControl } from '../lib/drivers/noop/noop-driver.ts';
import type { LocalStack } from '../lib/local/local-runner.ts';
import type { IdempotencyStore } from '../lib/ports/idempotency-store.ts';
import type { DeadLetterQueue } from '../lib/ports/task-queue.ts';
import type { Logger } from '../lib/ports/telemetry.ts';
import { noMetrics } from '../lib/ports/telemetry.ts';
import { driverFor } from './local-stack.ts';

/**
 * A stack whose store, queue and (noop driver) simulated cloud live in this process only. With
 * `driver: openstack` its executors drive the real cloud named by the `OS_*` variables or
 * clouds.yaml, as the emulator stack's do.
 * @throws ConfigError when the openstack driver's credentials are missing or bad.
 */
export function memoryStack(
  config: HousekeeperConfig,
  logger: Logger,
  env: Readonly<Record<string, string | undefined>>,
  random: () => number = Math.random,
): LocalStack & {
  control?: NoopCloudControl;
  deadLetters: DeadLetterQueue;
  idempotency: IdempotencyStore;
} {
  const clock = systemClock;
  const queue = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 30 });
  const { driver, control } = driverFor(config, new MemoryCloudState(), logger, env, random);
  return {
    config,
    store: new MemoryPoolStore(),
    idempotency: new MemoryIdempotencyStore(),
    queue,
    deadLetters: queue.deadLetterQueue(),
    source: memorySource(queue),
    driver,
    clock,
    newId: randomUUID,
    logger,
    metrics: noMetrics,
    ...(control ? { control } : {}),
  };
}
