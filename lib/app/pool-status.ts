/**
 * Use case: the pool as an operator sees it — spares against target per pool and zone, every state's
 * count, the preserved queue in order and the amphorae that wait for an operator.
 */
import type { AmphoraRecord, AmphoraState } from '../domain/amphora.ts';
import { allocatedGhosts } from '../domain/ghosts.ts';
import { currentImage, needsOperator } from '../domain/planner.ts';
import { countOf, stateTotals } from '../domain/pool.ts';
import { poolTarget, type Settings } from '../domain/settings.ts';
import type { LeaseStore, PoolStateStore, RecordStore } from '../ports/pool-store.ts';

/** A record as shown to operators. */
export interface AmphoraView {
  readonly id: string;
  readonly pool: string;
  readonly zone: string;
  readonly state: AmphoraState;
  readonly computeId?: string;
  readonly since: string;
  readonly failure?: string;
  readonly preservation?: string;
}

/** One zone of a pool, as shown. */
export interface ZoneStatus {
  readonly zone: string;
  readonly computeZone?: string;
  readonly ready: number;
  readonly target: number;
  readonly deploying: number;
  /** Creates that failed since the last one that reached READY (quota, a bad image, …), if any. */
  readonly createFailures?: { readonly inARow: number; readonly lastAt?: string };
}

/** A preserved (or preserving) amphora, in its place in the queue. */
export interface PreservedView extends AmphoraView {
  /** 1 is the oldest: the first evicted under the `cycle` scheme. */
  readonly position: number;
  readonly queuedAt: string;
  readonly preservedAt?: string;
}

/** An amphora that waits for an operator, with the exact commands that help. */
export interface OperatorView extends AmphoraView {
  readonly commands: readonly string[];
}

/** An ALLOCATED amphora whose server a sweep found gone or broken: the load balancer's problem. */
export interface GhostView extends AmphoraView {
  readonly missingSince: string;
  /** The server's status when it is listed but broken; absent when it is gone. */
  readonly serverStatus?: string;
  readonly commands: readonly string[];
}

/** One pool, as shown. */
export interface PoolView {
  readonly pool: string;
  readonly ready: number;
  readonly target: number;
  readonly deploying: number;
  /** Its own deploying cap, when it has one. */
  readonly deployingCap?: number;
  /** The image its new amphorae boot, when known. */
  readonly imageId?: string;
  /** Why its image tag could not be resolved, when it could not. */
  readonly imageError?: string;
  readonly zones: readonly ZoneStatus[];
}

/** The pool status. */
export interface PoolStatus {
  readonly spares: { readonly ready: number; readonly target: number };
  readonly deploying: { readonly count: number; readonly cap: number };
  readonly preserved: { readonly count: number; readonly max: number; readonly scheme: string };
  readonly pools: readonly PoolView[];
  readonly states: Readonly<Record<AmphoraState, number>>;
  readonly preservedQueue: readonly PreservedView[];
  readonly needsOperator: readonly OperatorView[];
  readonly allocatedGhosts: readonly GhostView[];
  /** The last planner cycle: when it ended and what it did (absent before the first). */
  readonly lastCycle?: {
    readonly at: string;
    readonly outcome: 'applied' | 'failed';
    readonly decisions: number;
    readonly tasksSent: number;
    readonly error?: string;
  };
  /** Present while the cloud refuses (the breaker is open): why nothing is happening. */
  readonly cloud?: {
    readonly refusing: true;
    readonly kind: string;
    readonly since: string;
    readonly nextProbe: string;
    readonly error?: string;
  };
  /**
   * While the cloud does not refuse: refusals seen since the last success (too few to open the
   * breaker), and when it last recovered from refusing, as the executors recorded them.
   */
  readonly cloudRecent?: {
    readonly refusalsInARow: number;
    readonly kind?: string;
    readonly error?: string;
    readonly recoveredAt?: string;
  };
}

/** The id as the CLI's commands take it (a unique prefix is enough). */
function shortId(id: string): string {
  return id.slice(0, 8);
}

/** The commands that help an amphora whose task was given up. */
export function remedies(v: Pick<AmphoraView, 'id' | 'state'>): string[] {
  const id = shortId(v.id);
  return v.state === 'PRESERVING'
    ? [`housekeeper retry ${id}`, `housekeeper deactivate ${id}`]
    : [`housekeeper retry ${id}`];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** One record for display. */
export function viewOf(r: AmphoraRecord): AmphoraView {
  return {
    id: r.id,
    pool: r.pool,
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
export async function poolStatus(
  store: Pick<RecordStore, 'listByState' | 'listPreservedQueue'> &
    Pick<PoolStateStore, 'getPoolState'> &
    Pick<LeaseStore, 'lastCycle'>,
  config: Settings,
): Promise<PoolStatus> {
  const [state, last] = await Promise.all([store.getPoolState(), store.lastCycle()]);
  const counts = state.counts;
  const states = stateTotals(counts);
  const queue = await store.listPreservedQueue();
  const removing = await Promise.all(
    Object.keys(counts)
      .filter((pool) => countOf(counts, ['PENDING_DELETE'], { pool }) > 0)
      .map((pool) => store.listByState(pool, 'PENDING_DELETE')),
  );
  const allocated = await Promise.all(
    Object.keys(counts)
      .filter((pool) => countOf(counts, ['ALLOCATED'], { pool }) > 0)
      .map((pool) => store.listByState(pool, 'ALLOCATED')),
  );
  const ghosts = allocatedGhosts(allocated.flat());
  const blocked = [...removing.flat(), ...queue.filter((r) => r.state === 'PRESERVING')].filter(
    needsOperator,
  );
  const deploying: AmphoraState[] = ['PENDING_CREATE', 'BOOTING'];
  const pools: PoolView[] = config.pools.map((spec) => {
    const image = currentImage(spec, state.images);
    return {
      pool: spec.name,
      ready: countOf(counts, ['READY'], { pool: spec.name }),
      target: poolTarget(spec),
      deploying: countOf(counts, deploying, { pool: spec.name }),
      ...(spec.maximum_deploying_amphora_count !== undefined
        ? { deployingCap: spec.maximum_deploying_amphora_count }
        : {}),
      ...(image.imageId !== undefined ? { imageId: image.imageId } : {}),
      ...(image.error !== undefined ? { imageError: image.error } : {}),
      zones: spec.zones.map((z) => {
        const stats = state.zones.find((s) => s.pool === spec.name && s.zone === z.name);
        return {
          zone: z.name,
          ...(z.compute_zone !== undefined ? { computeZone: z.compute_zone } : {}),
          ready: countOf(counts, ['READY'], { pool: spec.name, zone: z.name }),
          target: spec.spare_amphora_pool_size,
          deploying: countOf(counts, deploying, { pool: spec.name, zone: z.name }),
          ...(stats && stats.consecutiveFailures > 0
            ? {
                createFailures: {
                  inARow: stats.consecutiveFailures,
                  ...(stats.lastFailureAt !== undefined
                    ? { lastAt: iso(stats.lastFailureAt) }
                    : {}),
                },
              }
            : {}),
        };
      }),
    };
  });
  return {
    spares: {
      ready: states.READY,
      target: pools.reduce((a, p) => a + p.target, 0),
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
    pools,
    states,
    preservedQueue: queue.map((r, i) => ({
      ...viewOf(r),
      position: i + 1,
      queuedAt: iso(r.preservation?.queuedAt ?? r.stateSince),
      ...(r.preservation?.preservedAt !== undefined
        ? { preservedAt: iso(r.preservation.preservedAt) }
        : {}),
    })),
    needsOperator: blocked.map((r) => ({ ...viewOf(r), commands: remedies(r) })),
    allocatedGhosts: ghosts.map((r) => ({
      ...viewOf(r),
      missingSince: iso(r.missing!.since),
      ...(r.missing?.status !== undefined ? { serverStatus: r.missing.status } : {}),
      // The load balancer's server is gone: hand the amphora back, so that its record is removed.
      commands: [`housekeeper deactivate ${shortId(r.id)}`],
    })),
    ...(last
      ? {
          lastCycle: {
            at: new Date(last.at).toISOString(),
            outcome: last.outcome,
            decisions: last.decisions,
            tasksSent: last.tasksSent,
            ...(last.error !== undefined ? { error: last.error } : {}),
          },
        }
      : {}),
    ...(state.cloud?.state === 'refusing'
      ? {
          cloud: {
            refusing: true as const,
            kind: state.cloud.kind ?? 'Unavailable',
            since: new Date(state.cloud.since ?? 0).toISOString(),
            nextProbe: new Date(state.cloud.probeAt ?? 0).toISOString(),
            ...(state.cloud.lastError !== undefined ? { error: state.cloud.lastError } : {}),
          },
        }
      : {}),
    ...(state.cloud &&
    state.cloud.state !== 'refusing' &&
    (state.cloud.failures > 0 || state.cloud.recoveredAt !== undefined)
      ? {
          cloudRecent: {
            refusalsInARow: state.cloud.failures,
            ...(state.cloud.failures > 0 && state.cloud.kind !== undefined
              ? { kind: state.cloud.kind }
              : {}),
            ...(state.cloud.failures > 0 && state.cloud.lastError !== undefined
              ? { error: state.cloud.lastError }
              : {}),
            ...(state.cloud.recoveredAt !== undefined
              ? { recoveredAt: iso(state.cloud.recoveredAt) }
              : {}),
          },
        }
      : {}),
  };
}

/**
 * One line summarising the pool, for the local run's per-cycle output: spares, creations and
 * preserved always, the other states when there are any (so that it fits 80 columns).
 */
export function statusLine(s: PoolStatus): string {
  const st = s.states;
  const others: Array<[string, number]> = [
    ['ALLOCATED', st.ALLOCATED],
    ['ERROR', st.ERROR + st.PRESERVE],
    ['removing', st.PENDING_DELETE],
  ];
  return [
    `READY ${st.READY}/${s.spares.target}`,
    `deploying ${s.deploying.count}/${s.deploying.cap}`,
    `preserved ${s.preserved.count}/${s.preserved.max}`,
    ...others.filter(([, n]) => n > 0).map(([name, n]) => `${name} ${n}`),
  ].join('  ');
}
