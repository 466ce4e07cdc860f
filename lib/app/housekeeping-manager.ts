/**
 * The seed's `HousekeepingManager` surface. Creation and removal are *scheduled* (recorded and
 * enqueued for the executors), never executed inline; the planner cycle is this manager's loop.
 */
import { poolZones } from '../config/schema.ts';
import { type AmphoraState, newAmphora, pendingTask } from '../domain/amphora.ts';
import { LeaseLostError } from '../domain/errors.ts';
import { totalCount } from '../domain/planner.ts';
import { taskMessageFor } from '../domain/tasks.ts';
import { deactivateMany } from './operator-actions.ts';
import { type CycleReport, type PlannerDeps, runPlannerCycle } from './run-planner-cycle.ts';

/** Manages the spare amphora pool: monitors it and schedules creation and removal. */
export class HousekeepingManager {
  private readonly deps: PlannerDeps;

  constructor(deps: PlannerDeps) {
    this.deps = deps;
  }

  /** The target capacity of the spare pool (over every zone). */
  getSpareAmphoraSize(): number {
    return this.deps.config.spare_amphora_pool_size * poolZones(this.deps.config).length;
  }

  /** The number of READY amphorae in the spare pool. */
  async getReadySpareAmphoraCount(): Promise<number> {
    return totalCount(await this.deps.store.countByState(['READY']), 'READY');
  }

  /**
   * Schedules the creation of up to `numToCreate` amphorae, spread over the zones, within the
   * deploying cap (so that the cap holds at every instant). Runs under the planner lease.
   * @returns the ids scheduled: fewer than asked when the cap leaves less room.
   * @throws RangeError for a count below 1; LeaseLostError when a planner holds the lease.
   */
  async createAmphora(numToCreate = 1): Promise<string[]> {
    if (!Number.isInteger(numToCreate) || numToCreate < 1) {
      throw new RangeError(`numToCreate = ${numToCreate}: must be a whole number of at least 1`);
    }
    const { store, clock, config, newId } = this.deps;
    const lease = await store.acquireLease(
      this.deps.holder,
      clock.now(),
      config.planner_lease_ttl * 1000,
    );
    if (!lease) throw new LeaseLostError(0, 'the planner lease is held: try again shortly');
    try {
      const pooled: AmphoraState[] = ['PENDING_CREATE', 'BOOTING', 'READY'];
      const counts = await store.countByState(pooled);
      const deploying = totalCount(counts, 'PENDING_CREATE') + totalCount(counts, 'BOOTING');
      const room = Math.max(0, config.maximum_deploying_amphora_count - deploying);
      // Amphorae per zone (spares and deploying), growing as this call adds some.
      const size = new Map(
        poolZones(config).map((zone) => [
          zone,
          pooled.reduce((sum, s) => sum + (counts[zone]?.[s] ?? 0), 0),
        ]),
      );
      const now = clock.now();
      const records = [];
      for (let i = 0; i < Math.min(numToCreate, room); i++) {
        // Each one goes to the zone with the fewest amphorae so far.
        const [zone] = [...size].sort((a, b) => a[1] - b[1])[0]!;
        size.set(zone, size.get(zone)! + 1);
        records.push(
          newAmphora({
            id: newId(),
            zone,
            now,
            task: pendingTask('CREATE', now),
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
