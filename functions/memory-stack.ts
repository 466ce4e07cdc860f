/** Wires a local stack on the in-memory adapters (one process, nothing persisted). */
import { randomUUID } from 'node:crypto';
import { MemoryCloudState } from '../lib/adapters/memory/memory-cloud-state.ts';
import { MemoryPoolStore } from '../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue, memorySource } from '../lib/adapters/memory/memory-task-queue.ts';
import { systemClock } from '../lib/adapters/system-clock.ts';
import type { HousekeeperConfig } from '../lib/config/schema.ts';
import { NoopCloudControl } from '../lib/drivers/noop/noop-driver.ts';
import type { LocalStack } from '../lib/local/local-runner.ts';
import type { Logger } from '../lib/ports/telemetry.ts';
import { noMetrics } from '../lib/ports/telemetry.ts';
import { noopDriverFor } from './noop-driver.ts';

/** A stack whose store, queue and simulated cloud live in this process only. */
export function memoryStack(
  config: HousekeeperConfig,
  logger: Logger,
  random: () => number = Math.random,
): LocalStack & { control: NoopCloudControl } {
  const clock = systemClock;
  const queue = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 30 });
  const cloud = new MemoryCloudState();
  const driver = noopDriverFor(config, cloud, random);
  return {
    config,
    store: new MemoryPoolStore(),
    queue,
    source: memorySource(queue),
    driver,
    clock,
    newId: randomUUID,
    logger,
    metrics: noMetrics,
    control: new NoopCloudControl(cloud, randomUUID),
  };
}
