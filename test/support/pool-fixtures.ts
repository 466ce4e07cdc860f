/** Builders for records, snapshots and plans in planner and executor tests. */
import { parseConfig } from '../../lib/config/schema.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  oldestFirst,
  type PendingTask,
} from '../../lib/domain/amphora.ts';
import { type PlannerInput, plan, readPlan } from '../../lib/domain/planner.ts';
import { type PoolMeta, tallyByZoneAndState, type ZoneStateCounts } from '../../lib/domain/pool.ts';

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

/** Counts of records by zone and state, as the store would return them. */
export function countsOf(records: readonly AmphoraRecord[]): ZoneStateCounts {
  return tallyByZoneAndState(records);
}

/** A test configuration: parsed, with defaults, overridden by `raw`. */
export function config(raw: Record<string, unknown> = {}) {
  return parseConfig(raw);
}

/**
 * The planner input a cycle would build from `records` in the store: counts of everything, then
 * only the lists that readPlan asks for (so tests exercise readPlan too).
 */
export function snapshot(
  records: readonly AmphoraRecord[],
  options: {
    config?: ReturnType<typeof config>;
    now?: number;
    meta?: PoolMeta;
    leaseToken?: number;
  } = {},
): PlannerInput {
  const cfg = options.config ?? config();
  const counts = countsOf(records);
  const rp = readPlan(cfg, counts);
  const listed = records.filter((r) => rp.states.includes(r.state));
  const ready = rp.readyOldest.flatMap(({ zone, limit }) =>
    records
      .filter((r) => r.state === 'READY' && r.zone === zone)
      .sort(oldestFirst)
      .slice(0, limit),
  );
  const queue = rp.preservedQueue
    ? records
        .filter((r) => r.state === 'PRESERVING' || r.state === 'PRESERVED')
        .sort((a, b) => (a.preservation!.seq < b.preservation!.seq ? -1 : 1))
    : [];
  let id = 0;
  return {
    config: cfg,
    now: options.now ?? NOW,
    leaseToken: options.leaseToken ?? 7,
    counts,
    records: [...listed, ...ready],
    preservedQueue: queue,
    meta: options.meta ?? { zones: [], lastSweepAt: NOW - 60 * SECOND },
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

/** The records as they stand after every write of a plan was applied. */
export function applyPlan(
  records: readonly AmphoraRecord[],
  p: ReturnType<typeof plan>,
  meta: PoolMeta,
): { records: AmphoraRecord[]; meta: PoolMeta } {
  const byId = new Map(records.map((r) => [r.id, r]));
  let lastSweepAt = meta.lastSweepAt;
  for (const d of p.decisions) {
    for (const w of d.writes) {
      if (w.kind === 'sweep-issued') lastSweepAt = w.at;
      else byId.set(w.record.id, w.record);
    }
  }
  return {
    records: [...byId.values()],
    meta: { ...meta, ...(lastSweepAt !== undefined ? { lastSweepAt } : {}) },
  };
}

/** Every state, for tables. */
export const STATES = AMPHORA_STATES;
