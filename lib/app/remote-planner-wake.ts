/**
 * The planner wake of a process that does not plan itself (the API function): it marks the run
 * request on the lease item, and only the first request since the last cycle read the pool
 * starts a planner run elsewhere (in AWS, an asynchronous invocation of the planner function).
 * Later requests are served by that run, or by the lease holder at its release, so a burst of
 * claims starts a few runs, not one each. A start that fails leaves the request marked: it turns
 * stale after {@link RUN_REQUEST_STALE_MS}, when the next request starts a run again, and the
 * scheduled cycle serves it meanwhile.
 */
import type { Clock } from '../ports/clock.ts';
import type { PlannerStarter, PlannerWake } from '../ports/planner-wake.ts';
import type { LeaseStore } from '../ports/pool-store.ts';
import { RUN_REQUEST_STALE_MS } from './run-planner-cycle.ts';

/** A coalescing wake over a {@link PlannerStarter}. */
export class RemotePlannerWake implements PlannerWake {
  private readonly store: Pick<LeaseStore, 'requestRun'>;
  private readonly clock: Clock;
  private readonly start: PlannerStarter;

  constructor(deps: {
    readonly store: Pick<LeaseStore, 'requestRun'>;
    readonly clock: Clock;
    readonly start: PlannerStarter;
  }) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.start = deps.start;
  }

  /**
   * Marks the request, and starts a run when it is the first (or the pending one is stale).
   * @throws what the starter throws (the request stays marked; the API logs it and carries on).
   */
  async wake(): Promise<void> {
    const now = this.clock.now();
    if (!(await this.store.requestRun(now, now - RUN_REQUEST_STALE_MS))) return;
    await this.start();
  }
}
