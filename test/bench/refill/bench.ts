/**
 * Refill from empty (issue 12, item 4): how many boot rounds a pool of target T with a deploying
 * cap C takes to fill, against the limit ceil(T/C).
 *
 * The real planner and executor use cases run on the in-memory store and queue with the noop
 * driver, on a manual clock that this loop moves one second at a time, so a run is exact and
 * takes well under a second of wall time. Each boot takes BOOT seconds and is seen by its first
 * CHECK (check_initial_delay = BOOT), so one boot round is BOOT seconds. Every tick of the
 * schedule (housekeeping_interval = INTERVAL) runs a planner cycle; between ticks the queue is
 * drained every second, and a task that freed a deploying slot asks for a planner run the way
 * the executor Lambda and the local run do (`requestPlannerRun`).
 *
 * For contrast, the same run with that request switched off (schedule only) shows what the
 * next tick costs. Rounds are time-to-full / BOOT, rounded up.
 *
 *   npm run bench:refill    # BENCH_REFILL_BOOT=40 BENCH_REFILL_INTERVAL=60
 *
 * Exits with 1 when a pair with the request takes more than ceil(T/C) rounds.
 */
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../../lib/adapters/memory/manual-clock.ts';
import { MemoryCloudState } from '../../../lib/adapters/memory/memory-cloud-state.ts';
import { MemoryPoolStore } from '../../../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue, memorySource } from '../../../lib/adapters/memory/memory-task-queue.ts';
import { consumeBatch } from '../../../lib/app/consume-messages.ts';
import type { ExecutorDeps } from '../../../lib/app/execute-task.ts';
import {
  type PlannerDeps,
  requestPlannerRun,
  runRequestedCycles,
} from '../../../lib/app/run-planner-cycle.ts';
import { parseConfig } from '../../../lib/config/schema.ts';
import { NoopDriver } from '../../../lib/drivers/noop/noop-driver.ts';
import { noMetrics, silentLogger } from '../../../lib/ports/telemetry.ts';
import { runMain } from '../run-main.ts';

const BOOT = Number(process.env.BENCH_REFILL_BOOT ?? 40);
const INTERVAL = Number(process.env.BENCH_REFILL_INTERVAL ?? 60);
const PAIRS: ReadonlyArray<readonly [number, number]> = [
  [20, 5],
  [10, 2],
  [7, 3],
];
/** Simulated seconds after which a run is given up (it would mean the pool never fills). */
const LIMIT_SECONDS = 3600;

async function refill(target: number, cap: number, requested: boolean): Promise<number> {
  const clock = new ManualClock();
  const store = new MemoryPoolStore();
  const queue = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 30 });
  const source = memorySource(queue);
  const config = parseConfig({
    spare_amphora_pool_size: target,
    maximum_deploying_amphora_count: cap,
    housekeeping_interval: INTERVAL,
    check_initial_delay: BOOT,
    check_max_delay: BOOT,
  });
  const driver = new NoopDriver(
    { state: new MemoryCloudState(), clock, newId: randomUUID, random: () => 0.5 },
    config.ownership_tag,
    { bootSeconds: BOOT, bootFailureRate: 0 },
  );
  const common = { store, queue, clock, newId: randomUUID, config, logger: silentLogger };
  const executor: ExecutorDeps = { ...common, driver, metrics: noMetrics };
  let holders = 0;
  const planner = (): PlannerDeps => ({
    ...common,
    metrics: noMetrics,
    holder: `bench-${++holders}`,
  });
  const start = clock.now();
  const ready = async () =>
    Object.values((await store.getPoolState()).counts.default ?? {}).reduce(
      (n, zone) => n + (zone.READY ?? 0),
      0,
    );
  for (let second = 0; second <= LIMIT_SECONDS; second++) {
    if (second % INTERVAL === 0) await runRequestedCycles(planner());
    for (;;) {
      const reports = await consumeBatch(executor, source, { max: 10 });
      if (reports.length === 0) break;
      if (requested && reports.some((r) => r.wakesPlanner)) await requestPlannerRun(planner());
    }
    if ((await ready()) >= target) return (clock.now() - start) / 1000;
    clock.advance(1000);
  }
  throw new Error(`T=${target} C=${cap}: not full after ${LIMIT_SECONDS} s`);
}

async function main(): Promise<number> {
  const rows: string[][] = [
    [
      'T',
      'C',
      'ceil(T/C)',
      'rounds (requested run)',
      'seconds',
      'rounds (schedule only)',
      'seconds',
      'result',
    ],
  ];
  let failed = false;
  for (const [target, cap] of PAIRS) {
    const limit = Math.ceil(target / cap);
    const withRun = await refill(target, cap, true);
    const scheduleOnly = await refill(target, cap, false);
    const rounds = Math.ceil(withRun / BOOT);
    const ok = rounds <= limit;
    failed ||= !ok;
    rows.push([
      String(target),
      String(cap),
      String(limit),
      String(rounds),
      String(withRun),
      String(Math.ceil(scheduleOnly / BOOT)),
      String(scheduleOnly),
      ok ? 'ok' : 'FAIL',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  process.stdout.write(
    `Refill from empty: boot ${BOOT} s (seen by its first CHECK), schedule every ${INTERVAL} s, noop driver on the in-memory adapters\n\n${[line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')}\n`,
  );
  if (failed) process.stdout.write('\nFAIL\n');
  return failed ? 1 : 0;
}

runMain(main);
