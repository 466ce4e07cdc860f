/**
 * A pool refilling on a manual clock: the real planner and executor use cases on the in-memory
 * adapters with the noop driver, where each boot takes `boot` seconds and is seen by its first
 * CHECK (check_initial_delay = boot), and the schedule ticks every `interval` seconds. Shared by
 * the refill bench and the claims refill tests.
 */
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryCloudState } from '../../lib/adapters/memory/memory-cloud-state.ts';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue, memorySource } from '../../lib/adapters/memory/memory-task-queue.ts';
import type { ExecutorDeps } from '../../lib/app/execute-task.ts';
import type { PlannerDeps } from '../../lib/app/run-planner-cycle.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import { NoopDriver } from '../../lib/drivers/noop/noop-driver.ts';
import { noMetrics, silentLogger } from '../../lib/ports/telemetry.ts';

export interface RefillShape {
  readonly target: number;
  readonly cap: number;
  /** Seconds a boot takes. */
  readonly boot: number;
  /** Seconds between scheduled cycles (housekeeping_interval). */
  readonly interval: number;
}

/** Fresh adapters and use-case dependencies for a pool of this shape. */
export function refillWorld(shape: RefillShape) {
  const clock = new ManualClock();
  const store = new MemoryPoolStore();
  const queue = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 30 });
  const source = memorySource(queue);
  const config = parseConfig({
    spare_amphora_pool_size: shape.target,
    maximum_deploying_amphora_count: shape.cap,
    housekeeping_interval: shape.interval,
    check_initial_delay: shape.boot,
    check_max_delay: shape.boot,
  });
  const driver = new NoopDriver(
    { state: new MemoryCloudState(), clock, newId: randomUUID, random: () => 0.5 },
    config.ownership_tag,
    { bootSeconds: shape.boot, bootFailureRate: 0 },
  );
  const common = { store, queue, clock, newId: randomUUID, config, logger: silentLogger };
  const executor: ExecutorDeps = { ...common, driver, metrics: noMetrics };
  let holders = 0;
  const planner = (): PlannerDeps => ({ ...common, metrics: noMetrics, holder: `p-${++holders}` });
  return { clock, store, queue, source, config, common, executor, planner };
}
