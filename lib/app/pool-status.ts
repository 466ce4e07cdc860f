/**
 * Use case: the pool as an operator sees it — spares against target per zone, every state's
 * count, the preserved queue in order and the amphorae that wait for an operator.
 */
import type { HousekeeperConfig } from '../config/schema.ts';
import { poolZones } from '../config/schema.ts';
import { AMPHORA_STATES, type AmphoraRecord, type AmphoraState } from '../domain/amphora.ts';
import { needsOperator, totalCount } from '../domain/planner.ts';
import type { PoolStore } from '../ports/pool-store.ts';

/** A record as shown to operators. */
export interface AmphoraView {
  readonly id: string;
  readonly zone: string;
  readonly state: AmphoraState;
  readonly computeId?: string;
  readonly since: string;
  readonly failure?: string;
  readonly preservation?: string;
}

/** The pool status. */
export interface PoolStatus {
  readonly spares: { readonly ready: number; readonly target: number };
  readonly deploying: { readonly count: number; readonly cap: number };
  readonly preserved: { readonly count: number; readonly max: number; readonly scheme: string };
  readonly zones: ReadonlyArray<{
    readonly zone: string;
    readonly ready: number;
    readonly target: number;
  }>;
  readonly states: Readonly<Record<AmphoraState, number>>;
  readonly preservedQueue: readonly AmphoraView[];
  readonly needsOperator: readonly AmphoraView[];
}

/** One record for display. */
export function viewOf(r: AmphoraRecord): AmphoraView {
  return {
    id: r.id,
    zone: r.zone,
    state: r.state,
    ...(r.computeId ? { computeId: r.computeId } : {}),
    since: new Date(r.stateSince).toISOString(),
    ...(r.failure ? { failure: `${r.failure.code}: ${r.failure.message}` } : {}),
    ...(r.preservation
      ? {
          preservation: `${r.preservation.method}${r.preservation.imageId ? ` image ${r.preservation.imageId}` : ''} (queue ${r.preservation.seq})`,
        }
      : {}),
  };
}

/** Reads the pool status from the store. */
export async function poolStatus(store: PoolStore, config: HousekeeperConfig): Promise<PoolStatus> {
  const counts = await store.countByState(AMPHORA_STATES);
  const states = Object.fromEntries(
    AMPHORA_STATES.map((s) => [s, totalCount(counts, s)]),
  ) as Record<AmphoraState, number>;
  const queue = await store.listPreservedQueue();
  const blocked = [
    ...(await store.listByState('PENDING_DELETE')),
    ...queue.filter((r) => r.state === 'PRESERVING'),
  ].filter(needsOperator);
  const zones = poolZones(config).map((zone) => ({
    zone,
    ready: counts[zone]?.READY ?? 0,
    target: config.spare_amphora_pool_size,
  }));
  return {
    spares: {
      ready: states.READY,
      target: config.spare_amphora_pool_size * zones.length,
    },
    deploying: {
      count: states.PENDING_CREATE + states.BOOTING,
      cap: config.maximum_deploying_amphora_count,
    },
    preserved: {
      count: states.PRESERVING + states.PRESERVED,
      max: config.maximum_preserved_amphora_count,
      scheme: config.preservation_scheme,
    },
    zones,
    states,
    preservedQueue: queue.map(viewOf),
    needsOperator: blocked.map(viewOf),
  };
}

/** One line summarising the pool, for the local run's per-cycle output. */
export function statusLine(s: PoolStatus): string {
  const st = s.states;
  return [
    `READY ${st.READY}/${s.spares.target}`,
    `deploying ${s.deploying.count}/${s.deploying.cap}`,
    `ALLOCATED ${st.ALLOCATED}`,
    `ERROR ${st.ERROR + st.PRESERVE}`,
    `preserved ${s.preserved.count}/${s.preserved.max}`,
    `removing ${st.PENDING_DELETE}`,
    `DELETED ${st.DELETED}`,
  ].join('  ');
}
