/**
 * Use case: one planner cycle (SPEC §4). Takes the lease, reads what the pure planner needs,
 * decides, writes the record transitions (fenced by the lease) and only then sends the tasks of
 * the groups that were applied, so that a rerun after a crash issues nothing twice.
 */
import { METRICS } from '../config/deployment.ts';
import type { AmphoraRecord } from '../domain/amphora.ts';
import { type Plan, PURGE_PER_CYCLE, plan, readPlan } from '../domain/planner.ts';
import { type CycleSummary, type GroupResult, type Lease, stateTotals } from '../domain/pool.ts';
import type { Settings } from '../domain/settings.ts';
import type { Clock, IdSource } from '../ports/clock.ts';
import type { LeaseStore, PoolStateStore, RecordStore } from '../ports/pool-store.ts';
import type { TaskQueue } from '../ports/task-queue.ts';
import type { Logger, Metrics } from '../ports/telemetry.ts';

/** What a planner cycle needs. */
export interface PlannerDeps {
  readonly store: RecordStore & LeaseStore & Pick<PoolStateStore, 'getPoolState'>;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly config: Settings;
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
      /** A run was requested while this cycle held the lease: another cycle should follow. */
      readonly requested: boolean;
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
async function readAndPlan(deps: PlannerDeps, lease: Lease, options: CycleOptions): Promise<Plan> {
  const { store } = deps;
  const settings = options.reissuePendingTasks ? { ...deps.config, task_timeout: 0 } : deps.config;
  const now = deps.clock.now();
  // The expiry read does not depend on the counters, so it runs beside them: a steady cycle is
  // then three round trips (lease, reads, release), not four. Its result is used only when the
  // counters say there are DELETED records.
  const [state, due] = await Promise.all([
    store.getPoolState(),
    store.listExpired(now, PURGE_PER_CYCLE),
  ]);
  const rp = readPlan(settings, state);
  const expired = rp.expired > 0 ? due.slice(0, rp.expired) : [];
  const [preservedQueue, ...lists] = await Promise.all([
    rp.preservedQueue ? store.listPreservedQueue() : Promise.resolve([]),
    ...rp.lists.map((l) =>
      store.listByState(l.pool, l.state, {
        ...(l.zone !== undefined ? { zone: l.zone } : {}),
        ...(l.limit !== undefined ? { limit: l.limit } : {}),
      }),
    ),
  ]);
  return plan({
    settings,
    now,
    leaseToken: lease.token,
    ...(lease.sentThrough !== undefined ? { sentThrough: lease.sentThrough } : {}),
    state,
    records: lists.flat() as AmphoraRecord[],
    preservedQueue: preservedQueue ?? [],
    expired,
    newId: deps.newId,
  });
}

function publish(deps: PlannerDeps, p: Plan): void {
  const m = deps.metrics;
  const c = p.stateCounts;
  m.count(METRICS.PlannerRun.name);
  let deficit = 0;
  for (const pool of p.pools) {
    m.gauge(METRICS.SparePoolSize.name, pool.ready, { Pool: pool.pool });
    m.gauge(METRICS.SparePoolTarget.name, pool.target, { Pool: pool.pool });
    deficit += Math.max(0, pool.target - pool.ready);
  }
  m.gauge(METRICS.SpareDeficit.name, deficit);
  m.gauge(METRICS.DeployingCount.name, c.PENDING_CREATE + c.BOOTING);
  m.gauge(METRICS.DeployingCap.name, deps.config.maximum_deploying_amphora_count);
  m.gauge(METRICS.PreservedCount.name, c.PRESERVING + c.PRESERVED);
  m.gauge(METRICS.PreservedMax.name, deps.config.maximum_preserved_amphora_count);
  m.gauge(
    METRICS.AmphoraeNeedingOperator.name,
    p.notes.filter((n) => n.code === 'NEEDS_OPERATOR').length,
  );
  const refusing = p.notes.find((n) => n.code === 'CLOUD_REFUSING');
  m.gauge(METRICS.CloudAuthFailing.name, refusing?.kind === 'Unauthorized' ? 1 : 0);
  m.gauge(METRICS.CloudUnavailable.name, refusing?.kind === 'Unavailable' ? 1 : 0);
  if (refusing) {
    deps.logger.warn('the cloud refuses: no cloud work this cycle', { ...refusing });
  }
  // Every state of every pool, zeros included, so that a dashboard line drops to 0 visibly.
  const pools = new Set([...p.pools.map((x) => x.pool), ...Object.keys(p.counts)]);
  for (const pool of pools) {
    for (const [state, n] of Object.entries(stateTotals(p.counts, pool))) {
      m.gauge(METRICS.AmphoraCount.name, n, { Pool: pool, State: state });
    }
  }
  deps.logger.info('spare pool', {
    spareReady: p.spareReady,
    spareTarget: p.spareTarget,
    stateCounts: p.stateCounts,
    pools: p.pools,
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
  // Set once every task this cycle committed was sent; a dry run confirms nothing.
  let sent = false;
  const released = async (summary?: Omit<CycleSummary, 'at' | 'token'>): Promise<boolean> => {
    // A failed release must not hide the cycle's own error; the lease expires on its own.
    try {
      const kept = summary && { ...summary, at: deps.clock.now(), token: lease.token };
      return (await deps.store.releaseLease(lease, sent, kept)).requested;
    } catch (error) {
      deps.logger.warn('could not release the planner lease', { error: String(error) });
      return false;
    }
  };
  // Every path releases the lease exactly once (`released` never throws).
  try {
    const p = await readAndPlan(deps, lease, options);
    publish(deps, p);
    for (const note of p.notes) deps.logger.info('planner note', { ...note });
    if (options.dryRun) {
      const requested = await released();
      return {
        status: 'planned',
        plan: p,
        results: [],
        tasksSent: 0,
        leaseToken: lease.token,
        requested,
      };
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
    sent = true;
    deps.metrics.count(METRICS.PlannerDecisions.name, p.decisions.length);
    deps.metrics.count(METRICS.TasksSent.name, tasks.length);
    const requested = await released({
      outcome: 'applied',
      decisions: p.decisions.length,
      tasksSent: tasks.length,
    });
    return {
      status: 'applied',
      plan: p,
      results,
      tasksSent: tasks.length,
      leaseToken: lease.token,
      requested,
    };
  } catch (error) {
    await released({ outcome: 'failed', decisions: 0, tasksSent: 0, error: String(error) });
    throw error;
  }
}

/**
 * The most cycles one run makes back to back while runs keep being requested: enough for a
 * burst of claims arriving over a few seconds (each cycle serves every request made before it
 * read the pool), and a bound on the time an executor or API invocation spends planning.
 */
export const MAX_CYCLES_PER_RUN = 10;

/**
 * A run request older than this that no cycle has served (its run failed to start, crashed, or
 * stopped at {@link MAX_CYCLES_PER_RUN}) no longer coalesces: the next request starts a run.
 * Longer than a cycle takes, so a run in progress is not doubled by it.
 */
export const RUN_REQUEST_STALE_MS = 10_000;

/**
 * Runs a cycle, then another while runs were requested during the one before (a boot finished,
 * a spare was claimed), up to {@link MAX_CYCLES_PER_RUN}. A request left over after the last is
 * still marked, so the next run serves it: the schedule's, or the next request's.
 * @returns every cycle's report, in order.
 */
export async function runRequestedCycles(
  deps: PlannerDeps,
  options: CycleOptions = {},
): Promise<CycleReport[]> {
  const reports: CycleReport[] = [];
  for (let n = 0; n < MAX_CYCLES_PER_RUN; n++) {
    const report = await runPlannerCycle(
      deps,
      n === 0 ? options : { ...options, reissuePendingTasks: false },
    );
    reports.push(report);
    if (report.status === 'lease-busy' || !report.requested) break;
  }
  return reports;
}

/**
 * Asks for a planner run now, coalesced: the first request since the last cycle read the pool
 * starts one here, in this process; later ones only mark it, and the run in progress (or the
 * lease's holder, at its release) serves them.
 * @returns the cycles this request ran (none when it was coalesced or the lease was busy).
 */
export async function requestPlannerRun(deps: PlannerDeps): Promise<CycleReport[]> {
  const now = deps.clock.now();
  if (!(await deps.store.requestRun(now, now - RUN_REQUEST_STALE_MS))) {
    deps.metrics.count(METRICS.PlannerRunCoalesced.name);
    return [];
  }
  const reports = await runRequestedCycles(deps);
  return reports.filter((r) => r.status !== 'lease-busy');
}
