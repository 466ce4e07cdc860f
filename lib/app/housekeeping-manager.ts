/**
 * The seed's `HousekeepingManager` surface, per pool. Creation and removal are *scheduled*
 * (recorded and enqueued for the executors), never executed inline; the planner cycle is this
 * manager's loop.
 */
import { newAmphora, pendingTask } from '../domain/amphora.ts';
import { LeaseLostError } from '../domain/errors.ts';
import { launchNow } from '../domain/planner.ts';
import { countOf } from '../domain/pool.ts';
import { computeZoneOf, poolDeployingCap, poolOf, poolTarget } from '../domain/settings.ts';
import { taskMessageFor } from '../domain/tasks.ts';
import type { PoolStateStore, RecordStore } from '../ports/pool-store.ts';
import { choosePool, deactivateMany } from './operator-actions.ts';
import { type CycleReport, type PlannerDeps, runPlannerCycle } from './run-planner-cycle.ts';

/** Manages the spare amphora pools: monitors them and schedules creation and removal. */
export class HousekeepingManager {
  private readonly deps: PlannerDeps & {
    readonly store: RecordStore & Pick<PoolStateStore, 'getPoolState'>;
  };

  constructor(deps: PlannerDeps) {
    this.deps = deps;
  }

  /** The target capacity of one pool's spares (over its zones), or of every pool. */
  getSpareAmphoraSize(pool?: string): number {
    const pools = this.deps.config.pools.filter((p) => pool === undefined || p.name === pool);
    return pools.reduce((sum, p) => sum + poolTarget(p), 0);
  }

  /** The number of READY amphorae of one pool, or of every pool. */
  async getReadySpareAmphoraCount(pool?: string): Promise<number> {
    const { counts } = await this.deps.store.getPoolState();
    return countOf(counts, ['READY'], pool !== undefined ? { pool } : {});
  }

  /**
   * Schedules the creation of up to `numToCreate` amphorae of a pool (the only one when not
   * named), spread over its zones, within the global and the pool's deploying cap (so that the
   * caps hold at every instant). Runs under the planner lease.
   * @returns the ids scheduled: fewer than asked when the caps leave less room, none while the
   * pool's image tag is unresolved.
   * @throws RangeError for a count below 1; OperatorActionError for an unknown pool;
   * LeaseLostError when a planner holds the lease.
   */
  async createAmphora(
    numToCreate = 1,
    options: { readonly pool?: string } = {},
  ): Promise<string[]> {
    if (!Number.isInteger(numToCreate) || numToCreate < 1) {
      throw new RangeError(`numToCreate = ${numToCreate}: must be a whole number of at least 1`);
    }
    const { store, clock, config, newId } = this.deps;
    const pool = choosePool(config, options.pool);
    const spec = poolOf(config, pool)!;
    const lease = await store.acquireLease(
      this.deps.holder,
      clock.now(),
      config.planner_lease_ttl * 1000,
    );
    if (!lease) throw new LeaseLostError(0, 'the planner lease is held: try again shortly');
    try {
      const state = await store.getPoolState();
      const counts = state.counts;
      const deploying = ['PENDING_CREATE', 'BOOTING'] as const;
      const room = Math.max(
        0,
        Math.min(
          config.maximum_deploying_amphora_count - countOf(counts, deploying),
          poolDeployingCap(config, pool) - countOf(counts, deploying, { pool }),
        ),
      );
      // Amphorae per zone (spares and deploying), growing as this call adds some.
      const size = new Map(
        spec.zones.map((z) => [
          z.name,
          countOf(counts, [...deploying, 'READY'], { pool, zone: z.name }),
        ]),
      );
      const now = clock.now();
      const records = [];
      for (let i = 0; i < Math.min(numToCreate, room); i++) {
        // Each one goes to the zone with the fewest amphorae so far.
        const [zone] = [...size].sort((a, b) => a[1] - b[1])[0]!;
        const launch = launchNow(spec, zone, state);
        if (!launch) break;
        size.set(zone, size.get(zone)! + 1);
        const computeZone = computeZoneOf(spec.zones.find((z) => z.name === zone));
        records.push(
          newAmphora({
            id: newId(),
            pool,
            zone,
            now,
            task: pendingTask('CREATE', now),
            launch,
            ...(computeZone !== undefined ? { computeZone } : {}),
          }),
        );
      }
      const results = await store.commit(
        lease,
        records.map((record) => [{ kind: 'create', record }]),
      );
      const scheduled = records.filter((_, i) => results[i]?.status === 'applied');
      await this.deps.queue.send(scheduled.map((r) => ({ task: taskMessageFor(r, newId()) })));
      return scheduled.map((r) => r.id);
    } finally {
      await store.releaseLease(lease);
    }
  }

  /** Schedules the removal of the given amphorae; one result per id. */
  removeAmphora(amphoraIds: readonly string[]) {
    return deactivateMany(this.deps, amphoraIds);
  }

  /** Runs one cycle of the housekeeping loop (the planner). */
  runCycle(options: { readonly dryRun?: boolean } = {}): Promise<CycleReport> {
    return runPlannerCycle(this.deps, options);
  }
}
