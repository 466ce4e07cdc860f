/**
 * The local run: the scheduled planner and the executors in one process, on whatever stack
 * they are given (in-memory adapters, or the DynamoDB and SQS emulators), with the noop driver
 * by default. A timer stands in for the EventBridge schedule; a poller for the SQS event source.
 */
import { consumeBatch } from '../app/consume-messages.ts';
import type { ExecutionReport } from '../app/execute-task.ts';
import { claimSpare, deactivate, flagFailed } from '../app/operator-actions.ts';
import { type PoolStatus, poolStatus } from '../app/pool-status.ts';
import {
  type CycleReport,
  type PlannerDeps,
  requestPlannerRun,
  runRequestedCycles,
} from '../app/run-planner-cycle.ts';
import type { HousekeeperConfig } from '../config/schema.ts';
import type { AmphoraRecord } from '../domain/amphora.ts';
import type { AmphoraDriver } from '../ports/amphora-driver.ts';
import type { Clock, IdSource } from '../ports/clock.ts';
import type { PoolStore } from '../ports/pool-store.ts';
import type { MessageSource, TaskQueue } from '../ports/task-queue.ts';
import type { Logger, Metrics } from '../ports/telemetry.ts';

/** Everything a local run needs, wired by `functions/`. */
export interface LocalStack {
  readonly config: HousekeeperConfig;
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  readonly source: MessageSource;
  readonly driver: AmphoraDriver;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Options of a local run. */
export interface LocalRunOptions {
  /** Stop after this many planner cycles; run until aborted when absent. */
  readonly cycles?: number;
  /** Seconds between planner runs (stands in for housekeeping_interval locally). */
  readonly plannerEverySeconds: number;
  /** Simulated load balancers claiming, handing back and reporting failed amphorae. */
  readonly workload?: { readonly random: () => number };
  readonly signal?: AbortSignal;
  readonly onCycle?: (n: number, report: CycleReport | Error, status: PoolStatus) => void;
  readonly onTask?: (report: ExecutionReport) => void;
  /** A planner run that a finished boot asked for, between the scheduled ones. */
  readonly onRequestedCycle?: (report: CycleReport) => void;
  /** The queue starts empty though records may wait on tasks (its messages did not persist). */
  readonly freshQueue?: boolean;
}

function plannerDeps(stack: LocalStack, n: number | string): PlannerDeps {
  return { ...stack, holder: `local-planner-${process.pid}-${n}` };
}

/** The history reasons of the simulated workload's moves, so that `show` tells them apart. */
export const WORKLOAD = {
  claimed: 'WORKLOAD_CLAIMED',
  deactivated: 'WORKLOAD_DEACTIVATED',
  reportedFailed: 'WORKLOAD_REPORTED_FAILED',
} as const;

/** Whether an ALLOCATED record was claimed by the simulated workload (its last move says so). */
export function claimedByWorkload(record: AmphoraRecord): boolean {
  return record.history.at(-1)?.reason === WORKLOAD.claimed;
}

/** One step of the simulated workload; exported for tests. */
export async function workloadStep(stack: LocalStack, random: () => number): Promise<void> {
  const ops = {
    store: stack.store,
    queue: stack.queue,
    clock: stack.clock,
    newId: stack.newId,
    config: stack.config,
  };
  const pools = stack.config.pools.map((p) => p.name);
  const pool = pools[Math.floor(random() * pools.length)]!;
  // Only what the workload claimed itself: an operator's claim is never handed back for them.
  const allocated = (await stack.store.listByState(pool, 'ALLOCATED', { limit: 50 })).filter(
    claimedByWorkload,
  );
  const pick = () => allocated[Math.floor(random() * allocated.length)];
  try {
    if (random() < 0.3) await claimSpare(ops, { pool, reason: WORKLOAD.claimed });
    if (allocated.length > 0 && random() < 0.3) {
      await deactivate(ops, pick()!.id, WORKLOAD.deactivated);
    } else if (allocated.length > 0 && random() < 0.25) {
      await flagFailed(
        ops,
        pick()!.id,
        'simulated load balancer reported a failure',
        WORKLOAD.reportedFailed,
      );
    }
  } catch (error) {
    // A simulated load balancer losing a race is normal; the next step tries again.
    stack.logger.debug('workload step lost a race', { error: String(error) });
  }
}

/** Runs planner cycles and executors until `cycles` are done or the signal aborts. */
export async function runLocal(stack: LocalStack, options: LocalRunOptions): Promise<PoolStatus> {
  const periodMs = options.plannerEverySeconds * 1000;
  for (let n = 1; options.cycles === undefined || n <= options.cycles; n++) {
    if (options.signal?.aborted) break;
    let report: CycleReport | Error;
    try {
      // The scheduled run; it runs again while boots finished during it (bounded).
      const reports = await runRequestedCycles(plannerDeps(stack, n), {
        reissuePendingTasks: n === 1 && options.freshQueue === true,
      });
      report = reports[0]!;
      for (const extra of reports.slice(1)) options.onRequestedCycle?.(extra);
    } catch (error) {
      report = error instanceof Error ? error : new Error(String(error));
      stack.logger.error('planner cycle failed', { error: report.message });
    }
    const until = stack.clock.now() + periodMs;
    while (stack.clock.now() < until && !options.signal?.aborted) {
      let reports: ExecutionReport[];
      try {
        reports = await consumeBatch(stack, stack.source, {
          max: 10,
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        // Stopping aborts the long poll in flight; nothing was received, so nothing is lost.
        if (options.signal?.aborted) break;
        throw error;
      }
      for (const r of reports) options.onTask?.(r);
      if (reports.some((r) => r.wakesPlanner)) {
        // A boot ended and freed its deploying slot: plan now, as the executor Lambda does.
        try {
          const ran = await requestPlannerRun(plannerDeps(stack, `${n}-requested`));
          for (const extra of ran) options.onRequestedCycle?.(extra);
        } catch (error) {
          stack.logger.warn('the planner run a finished boot asked for failed', {
            error: String(error),
          });
        }
      }
      if (reports.length === 0) {
        await stack.clock
          .sleep(Math.min(200, Math.max(1, until - stack.clock.now())), options.signal)
          .catch(() => {});
      }
    }
    if (options.workload) await workloadStep(stack, options.workload.random);
    options.onCycle?.(n, report, await poolStatus(stack.store, stack.config));
  }
  return poolStatus(stack.store, stack.config);
}
