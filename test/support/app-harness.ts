/** Planner-side use cases on in-memory adapters, with a call log to check the order of effects. */
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue } from '../../lib/adapters/memory/memory-task-queue.ts';
import type { PlannerDeps } from '../../lib/app/run-planner-cycle.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import { decodeTask } from '../../lib/domain/tasks.ts';
import { seededIds, seededRandom } from '../../lib/local/random.ts';
import { silentLogger } from '../../lib/ports/telemetry.ts';
import { RecordingMetrics } from './executor-harness.ts';

/** Planner dependencies over fresh in-memory adapters. */
export function plannerHarness(rawConfig: Record<string, unknown> = {}, holder = 'planner-1') {
  const clock = new ManualClock();
  const store = new MemoryPoolStore();
  const queue = new MemoryTaskQueue(clock);
  const metrics = new RecordingMetrics();
  const gauges = metrics.gauges;
  const log: string[] = [];
  const deps: PlannerDeps = {
    store,
    queue,
    clock,
    newId: seededIds(seededRandom(1)),
    config: parseConfig(rawConfig),
    holder,
    logger: silentLogger,
    metrics,
  };
  return {
    clock,
    store,
    queue,
    metrics,
    gauges,
    log,
    deps,
    sent: () => queue.sent.map((s) => decodeTask(s.body)),
  };
}
