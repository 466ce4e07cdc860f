/**
 * Use case: one planner cycle (SPEC §4). Takes the lease, reads what the pure planner needs,
 * decides, writes the record transitions (fenced by the lease) and only then sends the tasks of
 * the groups that were applied, so that a rerun after a crash issues nothing twice.
 */
import { METRICS } from '../config/deployment.ts';
import type { HousekeeperConfig } from '../config/schema.ts';
import { AMPHORA_STATES, type AmphoraRecord } from '../domain/amphora.ts';
import { type Plan, plan, readPlan } from '../domain/planner.ts';
import type { GroupResult } from '../domain/pool.ts';
import type { Clock, IdSource } from '../ports/clock.ts';
import type { PoolStore } from '../ports/pool-store.ts';
import type { TaskQueue } from '../ports/task-queue.ts';
import type { Logger, Metrics } from '../ports/telemetry.ts';

/** What a planner cycle needs. */
export interface PlannerDeps {
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly config: HousekeeperConfig;
  /** Identifies this planner in the lease (e.g. the Lambda request id). */
  readonly holder: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The outcome of one cycle. */
export type CycleReport =
  | { readonly status: 'lease-busy' }
  | {
      readonly status: 'planned' | 'applied';
      readonly plan: Plan;
      /** Per decision: whether its writes were applied (always empty for a dry run). */
      readonly results: readonly GroupResult[];
      readonly tasksSent: number;
      readonly leaseToken: number;
    };

/** Options of one cycle. */
export interface CycleOptions {
  /** Decide and report, but write and send nothing. */
  readonly dryRun?: boolean;
  /**
   * Re-issue every pending task now instead of after task_timeout: for a queue known to have
   * lost its messages (a fresh local queue, a purged one). Duplicates are harmless: a task
   * re-issued bumps its record's version, so any older message for it is stale.
   */
  readonly reissuePendingTasks?: boolean;
}

/** Reads the pool as the planner needs it and returns the plan, without writing anything. */
async function readAndPlan(
  deps: PlannerDeps,
  leaseToken: number,
  options: CycleOptions,
): Promise<Plan> {
  const { store } = deps;
  const config = options.reissuePendingTasks ? { ...deps.config, task_timeout: 0 } : deps.config;
  const [counts, meta] = await Promise.all([
    store.countByState(AMPHORA_STATES),
    store.getPoolMeta(),
  ]);
  const rp = readPlan(config, counts);
  const [preservedQueue, ...lists] = await Promise.all([
    rp.preservedQueue ? store.listPreservedQueue() : Promise.resolve([]),
    ...rp.states.map((s) => store.listByState(s)),
    ...rp.readyOldest.map((r) => store.listByState('READY', { zone: r.zone, limit: r.limit })),
  ]);
  return plan({
    config,
    now: deps.clock.now(),
    leaseToken,
    counts,
    records: lists.flat() as AmphoraRecord[],
    preservedQueue: preservedQueue ?? [],
    meta,
    newId: deps.newId,
  });
}

/** The pool dimension of the single pool (several pools arrive with the pools change). */
const POOL = 'default';

function publish(deps: PlannerDeps, p: Plan): void {
  const m = deps.metrics;
  const c = p.stateCounts;
  m.count(METRICS.PlannerRun.name);
  m.gauge(METRICS.SparePoolSize.name, p.spareReady, { Pool: POOL });
  m.gauge(METRICS.SparePoolTarget.name, p.spareTarget, { Pool: POOL });
  m.gauge(METRICS.SpareDeficit.name, Math.max(0, p.spareTarget - p.spareReady));
  m.gauge(METRICS.DeployingCount.name, c.PENDING_CREATE + c.BOOTING);
  m.gauge(METRICS.DeployingCap.name, deps.config.maximum_deploying_amphora_count);
  m.gauge(METRICS.PreservedCount.name, c.PRESERVING + c.PRESERVED);
  m.gauge(METRICS.PreservedMax.name, deps.config.maximum_preserved_amphora_count);
  m.gauge(
    METRICS.AmphoraeNeedingOperator.name,
    p.notes.filter((n) => n.code === 'NEEDS_OPERATOR').length,
  );
  for (const [state, n] of Object.entries(p.stateCounts)) {
    m.gauge(METRICS.AmphoraCount.name, n, { Pool: POOL, State: state });
  }
  deps.logger.info('spare pool', {
    spareReady: p.spareReady,
    spareTarget: p.spareTarget,
    stateCounts: p.stateCounts,
    zones: p.zones,
  });
}

/**
 * Runs one planner cycle. With `dryRun` it decides and reports but writes and sends nothing
 * (it still takes the lease, so that it sees a consistent pool); see {@link CycleOptions}.
 * @throws whatever the store or queue throws: a planner error must reach the alarms.
 */
export async function runPlannerCycle(
  deps: PlannerDeps,
  options: CycleOptions = {},
): Promise<CycleReport> {
  const ttl = deps.config.planner_lease_ttl * 1000;
  const lease = await deps.store.acquireLease(deps.holder, deps.clock.now(), ttl);
  if (!lease) {
    deps.logger.info('planner lease is held by another planner; skipping this cycle');
    deps.metrics.count(METRICS.PlannerLeaseBusy.name);
    return { status: 'lease-busy' };
  }
  try {
    const p = await readAndPlan(deps, lease.token, options);
    publish(deps, p);
    for (const note of p.notes) deps.logger.info('planner note', { ...note });
    if (options.dryRun) {
      return { status: 'planned', plan: p, results: [], tasksSent: 0, leaseToken: lease.token };
    }
    const results =
      p.decisions.length > 0
        ? await deps.store.commit(
            lease,
            p.decisions.map((d) => d.writes),
          )
        : [];
    const tasks = p.decisions.flatMap((d, i) => (results[i]?.status === 'applied' ? d.tasks : []));
    p.decisions.forEach((d, i) => {
      const result = results[i];
      deps.logger.info('planner decision', {
        reasons: d.reasons,
        changes: d.changes,
        result: result?.status,
      });
      if (result?.status === 'conflict') deps.metrics.count(METRICS.PlannerWriteConflict.name);
    });
    if (tasks.length > 0) await deps.queue.send(tasks);
    deps.metrics.count(METRICS.PlannerDecisions.name, p.decisions.length);
    deps.metrics.count(METRICS.TasksSent.name, tasks.length);
    return {
      status: 'applied',
      plan: p,
      results,
      tasksSent: tasks.length,
      leaseToken: lease.token,
    };
  } finally {
    // A failed release must not hide the cycle's own error; the lease expires on its own.
    await deps.store.releaseLease(lease).catch((error: unknown) => {
      deps.logger.warn('could not release the planner lease', { error: String(error) });
    });
  }
}
