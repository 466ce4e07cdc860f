/** Builders for records, snapshots and plans in planner and executor tests. */
import { parseConfig } from '../../lib/config/schema.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  oldestFirst,
  type PendingTask,
} from '../../lib/domain/amphora.ts';
import { launchNow, type PlannerInput, plan, readPlan } from '../../lib/domain/planner.ts';
import {
  freshZoneStats,
  type PoolCounts,
  type PoolState,
  tally,
  withoutZeros,
} from '../../lib/domain/pool.ts';

/** A fixed "now" for pure tests. */
export const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

let serial = 0;

/** A record in `state`, `ageSeconds` old in that state, with sensible fields for the state. */
export function rec(
  state: AmphoraState,
  fields: Partial<AmphoraRecord> & { ageSeconds?: number } = {},
): AmphoraRecord {
  serial += 1;
  const { ageSeconds = 60, ...rest } = fields;
  const since = NOW - ageSeconds * SECOND;
  const id = rest.id ?? `amp-${String(serial).padStart(4, '0')}`;
  const base: AmphoraRecord = {
    id,
    pool: 'default',
    zone: '*',
    state,
    version: 3,
    createdAt: since - 10 * MINUTE,
    updatedAt: since,
    stateSince: since,
    history: [],
  };
  const task = (type: PendingTask['type']): PendingTask => ({
    type,
    issuedAt: since,
    reissues: 0,
    polls: 0,
  });
  const byState: Partial<Record<AmphoraState, Partial<AmphoraRecord>>> = {
    PENDING_CREATE: { task: task('CREATE') },
    BOOTING: { computeId: `srv-${id}`, bootStartedAt: since, task: task('CHECK') },
    READY: { computeId: `srv-${id}` },
    ALLOCATED: { computeId: `srv-${id}` },
    ERROR: { computeId: `srv-${id}` },
    PRESERVE: { computeId: `srv-${id}` },
    PENDING_DELETE: { computeId: `srv-${id}`, task: task('REMOVE') },
    PRESERVING: {
      computeId: `srv-${id}`,
      task: task('PRESERVE'),
      preservation: {
        method: 'unplug',
        seq: `000000000001:${String(serial).padStart(6, '0')}`,
        queuedAt: since,
      },
    },
    PRESERVED: {
      computeId: `srv-${id}`,
      preservation: {
        method: 'unplug',
        seq: `000000000001:${String(serial).padStart(6, '0')}`,
        queuedAt: since,
        preservedAt: since,
      },
    },
    DELETED: { deletedAt: since },
  };
  return { ...base, ...byState[state], ...rest } as AmphoraRecord;
}

/** Counts of records by pool, zone and state, as the counters hold them. */
export function countsOf(records: readonly AmphoraRecord[]): PoolCounts {
  return withoutZeros(tally(records));
}

/** Pool state beyond the counters, as tests set it up. */
export type MetaInput = Partial<Omit<PoolState, 'counts'>>;

/** A test configuration: parsed, with defaults, overridden by `raw`. */
export function config(raw: Record<string, unknown> = {}) {
  return parseConfig(raw);
}

/** Zone statistics saying that every zone's spares have the pool's current launch. */
export function currentFleets(cfg: ReturnType<typeof config>, images: PoolState['images'] = []) {
  const state: PoolState = { counts: {}, zones: [], images };
  return cfg.pools.flatMap((p) =>
    p.zones.flatMap((z) => {
      const launch = launchNow(p, z.name, state);
      return launch ? [{ ...freshZoneStats(p.name, z.name), fleet: launch }] : [];
    }),
  );
}

/**
 * The planner input a cycle would build from `records` in the store: the counters, then only
 * the lists that readPlan asks for (so tests exercise readPlan too).
 */
export function snapshot(
  records: readonly AmphoraRecord[],
  options: {
    config?: ReturnType<typeof config>;
    now?: number;
    meta?: MetaInput;
    leaseToken?: number;
  } = {},
): PlannerInput {
  const cfg = options.config ?? config();
  const now = options.now ?? NOW;
  const state: PoolState = {
    counts: countsOf(records),
    // Unless a test sets the zones' state, every zone's fleet is known to be current.
    zones: options.meta?.zones ?? currentFleets(cfg),
    images: options.meta?.images ?? [],
    ...(options.meta
      ? options.meta.lastSweepAt !== undefined
        ? { lastSweepAt: options.meta.lastSweepAt }
        : {}
      : { lastSweepAt: now - 60 * SECOND }),
    ...(options.meta?.cloud ? { cloud: options.meta.cloud } : {}),
  };
  const rp = readPlan(cfg, state);
  const listed = rp.lists.flatMap((l) =>
    records
      .filter(
        (r) =>
          r.pool === l.pool && r.state === l.state && (l.zone === undefined || r.zone === l.zone),
      )
      .sort(oldestFirst)
      .slice(0, l.limit ?? Number.POSITIVE_INFINITY),
  );
  const queue = rp.preservedQueue
    ? records
        .filter((r) => r.state === 'PRESERVING' || r.state === 'PRESERVED')
        .sort((a, b) => (a.preservation!.seq < b.preservation!.seq ? -1 : 1))
    : [];
  const expired = records
    .filter((r) => r.state === 'DELETED' && r.expiresAt !== undefined && r.expiresAt <= now)
    .sort((a, b) => a.expiresAt! - b.expiresAt!)
    .slice(0, rp.expired);
  let id = 0;
  return {
    settings: cfg,
    now,
    leaseToken: options.leaseToken ?? 7,
    state,
    records: listed,
    preservedQueue: queue,
    expired,
    newId: () => `new-${String(++id).padStart(3, '0')}`,
  };
}

/** Plans `records` and returns the plan. */
export function planOf(
  records: readonly AmphoraRecord[],
  options: Parameters<typeof snapshot>[1] = {},
) {
  return plan(snapshot(records, options));
}

/** The records and pool state as they stand after every write of a plan was applied. */
export function applyPlan(
  records: readonly AmphoraRecord[],
  p: ReturnType<typeof plan>,
  meta: MetaInput,
): { records: AmphoraRecord[]; meta: MetaInput } {
  const byId = new Map(records.map((r) => [r.id, r]));
  let lastSweepAt = meta.lastSweepAt;
  const images = [...(meta.images ?? [])];
  const zones = [...(meta.zones ?? [])];
  for (const d of p.decisions) {
    for (const w of d.writes) {
      switch (w.kind) {
        case 'sweep-issued':
          lastSweepAt = w.at;
          break;
        case 'image-resolve-issued': {
          const i = images.findIndex((x) => x.pool === w.pool);
          const next = { ...(images[i] ?? { pool: w.pool }), issuedAt: w.at };
          if (i >= 0) images[i] = next;
          else images.push(next);
          break;
        }
        case 'fleet-current': {
          const i = zones.findIndex((z) => z.pool === w.pool && z.zone === w.zone);
          const next = { ...(zones[i] ?? freshZoneStats(w.pool, w.zone)), fleet: w.launch };
          if (i >= 0) zones[i] = next;
          else zones.push(next);
          break;
        }
        case 'purge':
          byId.delete(w.record.id);
          break;
        default:
          byId.set(w.record.id, w.record);
      }
    }
  }
  return {
    records: [...byId.values()],
    meta: { ...meta, images, zones, ...(lastSweepAt !== undefined ? { lastSweepAt } : {}) },
  };
}

/** Every state, for tables. */
export const STATES = AMPHORA_STATES;
