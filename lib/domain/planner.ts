/**
 * One planner cycle as a pure function (SPEC §4): a snapshot of the pool, the configuration and
 * the time in; decisions out, each a write group that commits atomically plus the tasks to send
 * once it has, and each with machine-readable reasons.
 *
 * Reading happens in two steps so that a cycle reads only what it needs: {@link readPlan}
 * turns the state counts into the lists to fetch, then {@link plan} decides.
 */
import type { HousekeeperConfig } from '../config/schema.ts';
import { poolZones } from '../config/schema.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  newAmphora,
  oldestFirst,
  type PendingTask,
  pendingTask,
  transition,
  update,
} from './amphora.ts';
import { type CreateAllowance, createAllowance } from './backoff.ts';
import type { PoolMeta, WriteGroup, WriteOp, ZoneStateCounts } from './pool.ts';
import { type OutgoingTask, TASK_SCHEMA_VERSION, taskMessageFor } from './tasks.ts';

/** The configuration the planner reads. */
export type PlannerConfig = Pick<
  HousekeeperConfig,
  | 'spare_amphora_pool_size'
  | 'maximum_deploying_amphora_count'
  | 'maximum_preserved_amphora_count'
  | 'preservation_scheme'
  | 'preservation_method'
  | 'availability_zones'
  | 'boot_timeout'
  | 'task_timeout'
  | 'create_backoff_initial'
  | 'create_backoff_max'
  | 'orphan_sweep_interval'
>;

/** Machine-readable reasons for decisions. */
export type ReasonCode =
  | 'TOP_UP'
  | 'SHRINK_EXCESS'
  | 'BOOT_TIMEOUT'
  | 'TASK_STUCK'
  | 'TASK_MISSING'
  | 'PRESERVATION_DISABLED'
  | 'NOTHING_TO_PRESERVE'
  | 'PRESERVE_BELOW_LIMIT'
  | 'KEEP_LIMIT_REACHED'
  | 'CYCLE_EVICT_OLDEST'
  | 'CYCLE_SUPERSEDED'
  | 'PRESERVED_OVER_LIMIT'
  | 'SWEEP_DUE';

/** Things the planner chose not to do, and why; for logs and the dry run. */
export type Note =
  | { readonly code: 'CREATE_BACKOFF'; readonly zone: string; readonly until: number }
  | {
      readonly code: 'DEPLOYING_CAP_REACHED';
      readonly deploying: number;
      readonly cap: number;
      readonly unmet: number;
    }
  | { readonly code: 'PRESERVE_WAITS_FOR_IN_FLIGHT'; readonly amphoraId: string }
  | { readonly code: 'NEEDS_OPERATOR'; readonly amphoraId: string; readonly failure: string };

/** One state change a decision makes, for display. */
export interface Change {
  readonly amphoraId: string;
  readonly zone: string;
  readonly from: AmphoraState | 'NEW';
  readonly to: AmphoraState;
}

/** One decision: an atomic write group and the tasks to send once it is applied. */
export interface Decision {
  readonly reasons: readonly ReasonCode[];
  readonly changes: readonly Change[];
  readonly writes: WriteGroup;
  readonly tasks: readonly OutgoingTask[];
}

/** Per-zone figures the cycle logs and publishes. */
export interface ZoneSummary {
  readonly zone: string;
  readonly target: number;
  readonly ready: number;
  readonly deploying: number;
  readonly toCreate: number;
  readonly toShrink: number;
}

/** Everything one cycle decided. */
export interface Plan {
  readonly decisions: readonly Decision[];
  readonly notes: readonly Note[];
  readonly zones: readonly ZoneSummary[];
  /** Target size of the spare pool over all zones. */
  readonly spareTarget: number;
  /** READY amphorae over all zones, before this cycle's decisions. */
  readonly spareReady: number;
  /** Record counts by state over all zones, as read. */
  readonly stateCounts: Readonly<Record<AmphoraState, number>>;
}

/** What a cycle reads after the counts. */
export interface ReadPlan {
  /** States to list in full (oldest first). */
  readonly states: readonly AmphoraState[];
  /** Oldest READY records to read per zone, for shrinking. */
  readonly readyOldest: ReadonlyArray<{ readonly zone: string; readonly limit: number }>;
  /** Whether to read the preserved queue in order. */
  readonly preservedQueue: boolean;
}

/** The input of one cycle. */
export interface PlannerInput {
  readonly config: PlannerConfig;
  readonly now: number;
  /** Fencing token of the lease the cycle runs under; orders the preserved queue. */
  readonly leaseToken: number;
  readonly counts: ZoneStateCounts;
  /** The records fetched per the read plan (duplicates allowed). */
  readonly records: readonly AmphoraRecord[];
  /** The preserved queue in order, when the read plan asked for it. */
  readonly preservedQueue: readonly AmphoraRecord[];
  readonly meta: PoolMeta;
  /** Makes ids for new amphorae and tasks. */
  readonly newId: () => string;
}

const TASK_FOR_STATE: Partial<Record<AmphoraState, PendingTask['type']>> = {
  PENDING_CREATE: 'CREATE',
  BOOTING: 'CHECK',
  PENDING_DELETE: 'REMOVE',
  PRESERVING: 'PRESERVE',
};

/** States the planner lists in full whenever they have any record. */
const LISTED_STATES: readonly AmphoraState[] = [
  'PENDING_CREATE',
  'BOOTING',
  'PENDING_DELETE',
  'ERROR',
  'PRESERVE',
  'PRESERVING',
];

/** Sum of counts of the given states in one zone. */
function zoneCount(counts: ZoneStateCounts, zone: string, states: readonly AmphoraState[]): number {
  const z = counts[zone];
  if (!z) return 0;
  return states.reduce((sum, s) => sum + (z[s] ?? 0), 0);
}

/** Sum of counts of one state over all zones. */
export function totalCount(counts: ZoneStateCounts, state: AmphoraState): number {
  return Object.values(counts).reduce((sum, z) => sum + (z[state] ?? 0), 0);
}

function targetOf(config: PlannerConfig, zone: string): number {
  return poolZones(config).includes(zone) ? config.spare_amphora_pool_size : 0;
}

function allZones(config: PlannerConfig, counts: ZoneStateCounts): string[] {
  const zones = poolZones(config);
  for (const zone of Object.keys(counts).sort()) if (!zones.includes(zone)) zones.push(zone);
  return zones;
}

/** Whether a record waits for an operator (a terminal failure the planner must not retry). */
export function needsOperator(record: AmphoraRecord): boolean {
  return (
    (record.state === 'PENDING_DELETE' && record.failure?.code === 'DELETE_FAILED') ||
    (record.state === 'PRESERVING' && record.failure?.code === 'PRESERVE_FAILED')
  );
}

/** The lists a cycle must read, given the counts. Steady state reads no list at all. */
export function readPlan(config: PlannerConfig, counts: ZoneStateCounts): ReadPlan {
  const states = LISTED_STATES.filter((s) => totalCount(counts, s) > 0);
  const readyOldest: Array<{ zone: string; limit: number }> = [];
  for (const zone of allZones(config, counts)) {
    const ready = zoneCount(counts, zone, ['READY']);
    const excess =
      ready + zoneCount(counts, zone, ['PENDING_CREATE', 'BOOTING']) - targetOf(config, zone);
    if (excess > 0 && ready > 0) readyOldest.push({ zone, limit: Math.min(excess, ready) });
  }
  const preserved = totalCount(counts, 'PRESERVING') + totalCount(counts, 'PRESERVED');
  // BOOTING counts too: a boot that times out this cycle becomes a candidate at once.
  const candidates =
    totalCount(counts, 'ERROR') + totalCount(counts, 'PRESERVE') + totalCount(counts, 'BOOTING');
  const preservedQueue =
    preserved > config.maximum_preserved_amphora_count ||
    (candidates > 0 && preserved > 0 && config.preservation_scheme === 'cycle');
  return { states, readyOldest, preservedQueue };
}

function queueSeq(token: number, index: number): string {
  return `${String(token).padStart(12, '0')}:${String(index).padStart(6, '0')}`;
}

interface Pending {
  reasons: ReasonCode[];
  ids: string[];
  sweepAt?: number;
}

/** Accumulates changes to working copies and merges those that touch the same record. */
class PlanBuilder {
  private readonly original = new Map<string, AmphoraRecord>();
  private readonly created = new Set<string>();
  readonly current = new Map<string, AmphoraRecord>();
  private readonly groups: Pending[] = [];
  private readonly groupOf = new Map<string, Pending>();

  constructor(records: readonly AmphoraRecord[]) {
    for (const r of records) {
      this.original.set(r.id, r);
      this.current.set(r.id, r);
    }
  }

  /** Records a decision over `next` records (replacing working copies); merges groups. */
  change(reason: ReasonCode, next: readonly AmphoraRecord[], created = false): void {
    const touched = new Set<Pending>();
    for (const r of next) {
      const g = this.groupOf.get(r.id);
      if (g) touched.add(g);
    }
    const group: Pending = { reasons: [], ids: [] };
    for (const g of touched) {
      group.reasons.push(...g.reasons);
      group.ids.push(...g.ids);
      this.groups.splice(this.groups.indexOf(g), 1);
    }
    if (!group.reasons.includes(reason)) group.reasons.push(reason);
    for (const r of next) {
      if (!group.ids.includes(r.id)) group.ids.push(r.id);
      if (created) this.created.add(r.id);
      this.current.set(r.id, r);
    }
    for (const id of group.ids) this.groupOf.set(id, group);
    this.groups.push(group);
  }

  sweep(at: number): void {
    this.groups.push({ reasons: ['SWEEP_DUE'], ids: [], sweepAt: at });
  }

  build(now: number, newId: () => string): Decision[] {
    return this.groups.map((g) => {
      const writes: WriteOp[] = [];
      const tasks: OutgoingTask[] = [];
      const changes: Change[] = [];
      for (const id of g.ids) {
        const record = this.current.get(id)!;
        const before = this.original.get(id);
        if (this.created.has(id)) writes.push({ kind: 'create', record });
        else writes.push({ kind: 'update', record, expectedVersion: before!.version });
        changes.push({
          amphoraId: id,
          zone: record.zone,
          from: before ? before.state : 'NEW',
          to: record.state,
        });
        if (record.task && record.task.issuedAt === now) {
          tasks.push({ task: taskMessageFor(record, newId()) });
        }
      }
      if (g.sweepAt !== undefined) {
        writes.push({ kind: 'sweep-issued', at: g.sweepAt });
        tasks.push({
          task: { v: TASK_SCHEMA_VERSION, type: 'SWEEP', taskId: newId(), issuedAt: now },
        });
      }
      return { reasons: g.reasons, changes, writes, tasks };
    });
  }
}

/** Decides one cycle. Pure, given a deterministic `newId`. */
export function plan(input: PlannerInput): Plan {
  const { config, now, counts } = input;
  const seen = new Map<string, AmphoraRecord>();
  for (const r of input.records) seen.set(r.id, r);
  for (const r of input.preservedQueue) seen.set(r.id, r);
  const b = new PlanBuilder([...seen.values()]);
  const notes: Note[] = [];
  const inState = (state: AmphoraState) =>
    [...b.current.values()].filter((r) => r.state === state).sort(oldestFirst);

  // 1. Expire: boots that ran past the timeout become ERROR.
  const expiredPerZone = new Map<string, number>();
  for (const r of inState('BOOTING')) {
    if (r.bootStartedAt !== undefined && now - r.bootStartedAt >= config.boot_timeout * 1000) {
      const message = `no ACTIVE server within boot_timeout (${config.boot_timeout} s)`;
      b.change('BOOT_TIMEOUT', [
        transition(r, 'ERROR', {
          now,
          reason: 'BOOT_TIMEOUT',
          patch: { failure: { code: 'BOOT_TIMEOUT', message, at: now } },
        }),
      ]);
      expiredPerZone.set(r.zone, (expiredPerZone.get(r.zone) ?? 0) + 1);
    }
  }

  // 2. Tasks that made no progress within task_timeout are re-issued; missing ones issued.
  for (const state of ['PENDING_CREATE', 'BOOTING', 'PENDING_DELETE', 'PRESERVING'] as const) {
    for (const r of inState(state)) {
      if (needsOperator(r)) {
        notes.push({ code: 'NEEDS_OPERATOR', amphoraId: r.id, failure: r.failure!.code });
        continue;
      }
      const type = TASK_FOR_STATE[state]!;
      if (!r.task) {
        b.change('TASK_MISSING', [update(r, { now, patch: { task: pendingTask(type, now) } })]);
      } else if (now - r.task.issuedAt >= config.task_timeout * 1000) {
        const task: PendingTask = {
          ...r.task,
          type,
          issuedAt: now,
          reissues: r.task.reissues + 1,
        };
        b.change('TASK_STUCK', [update(r, { now, patch: { task } })]);
      }
    }
  }

  // 3 + 4. Top up each zone within the deploying cap and the creation back-off; shrink excess.
  const zones = allZones(config, counts);
  const deployingAt = (zone: string) =>
    zoneCount(counts, zone, ['PENDING_CREATE', 'BOOTING']) - (expiredPerZone.get(zone) ?? 0);
  let deployingTotal = zones.reduce((sum, z) => sum + deployingAt(z), 0);
  const want = new Map<string, number>();
  const allowance = new Map<string, CreateAllowance>();
  for (const zone of poolZones(config)) {
    const deficit = Math.max(
      0,
      targetOf(config, zone) - zoneCount(counts, zone, ['READY']) - deployingAt(zone),
    );
    const stats = input.meta.zones.find((s) => s.zone === zone);
    const allow = createAllowance(stats, now, config);
    allowance.set(zone, allow);
    if (allow.closedUntil !== undefined && deficit > 0) {
      notes.push({ code: 'CREATE_BACKOFF', zone, until: allow.closedUntil });
    }
    want.set(zone, Math.min(deficit, Math.max(0, allow.window - deployingAt(zone))));
  }
  let headroom = Math.max(0, config.maximum_deploying_amphora_count - deployingTotal);
  const toCreate = new Map<string, number>(zones.map((z) => [z, 0]));
  while (headroom > 0) {
    const next = [...want.entries()]
      .filter(([, n]) => n > 0)
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0];
    if (!next) break;
    want.set(next[0], next[1] - 1);
    toCreate.set(next[0], (toCreate.get(next[0]) ?? 0) + 1);
    headroom -= 1;
    deployingTotal += 1;
  }
  const unmet = [...want.values()].reduce((a, n) => a + n, 0);
  if (unmet > 0) {
    notes.push({
      code: 'DEPLOYING_CAP_REACHED',
      deploying: deployingTotal,
      cap: config.maximum_deploying_amphora_count,
      unmet,
    });
  }
  const summaries: ZoneSummary[] = [];
  for (const zone of zones) {
    const n = toCreate.get(zone) ?? 0;
    for (let i = 0; i < n; i++) {
      b.change(
        'TOP_UP',
        [newAmphora({ id: input.newId(), zone, now, task: pendingTask('CREATE', now) })],
        true,
      );
    }
    const ready = zoneCount(counts, zone, ['READY']);
    const excess = ready + deployingAt(zone) - targetOf(config, zone);
    let shrunk = 0;
    if (excess > 0) {
      const oldest = inState('READY').filter((r) => r.zone === zone);
      for (const r of oldest.slice(0, Math.min(excess, ready))) {
        b.change('SHRINK_EXCESS', [
          transition(r, 'PENDING_DELETE', {
            now,
            reason: 'SHRINK_EXCESS',
            patch: { task: pendingTask('REMOVE', now) },
          }),
        ]);
        shrunk += 1;
      }
    }
    summaries.push({
      zone,
      target: targetOf(config, zone),
      ready,
      deploying: deployingAt(zone),
      toCreate: n,
      toShrink: shrunk,
    });
  }

  // 5. Deactivated amphorae: ERROR and PRESERVE, oldest first, are preserved or removed.
  planDeactivated(input, b, notes, inState);

  // 6. The orphan sweep, on its own cadence.
  const lastSweep = input.meta.lastSweepAt;
  if (lastSweep === undefined || now - lastSweep >= config.orphan_sweep_interval * 1000) {
    b.sweep(now);
  }

  const stateCounts = Object.fromEntries(
    AMPHORA_STATES.map((s) => [s, totalCount(counts, s)]),
  ) as Record<AmphoraState, number>;
  const decisions = b.build(now, input.newId);
  return {
    decisions,
    notes,
    zones: summaries,
    spareTarget: config.spare_amphora_pool_size * poolZones(config).length,
    spareReady: totalCount(counts, 'READY'),
    stateCounts,
  };
}

function planDeactivated(
  input: PlannerInput,
  b: PlanBuilder,
  notes: Note[],
  inState: (s: AmphoraState) => AmphoraRecord[],
): void {
  const { config, now } = input;
  const max = config.maximum_preserved_amphora_count;
  const remove = (r: AmphoraRecord, reason: ReasonCode) =>
    transition(r, 'PENDING_DELETE', { now, reason, patch: { task: pendingTask('REMOVE', now) } });
  let index = 0;
  const preserve = (r: AmphoraRecord, reason: ReasonCode) =>
    transition(r, 'PRESERVING', {
      now,
      reason,
      patch: {
        task: pendingTask('PRESERVE', now),
        preservation: {
          method: config.preservation_method,
          seq: queueSeq(input.leaseToken, index++),
          queuedAt: now,
        },
      },
    });

  // The preserved queue, oldest first; its size comes from the counts (the list may be partial).
  const queue = input.preservedQueue
    .map((r) => b.current.get(r.id) ?? r)
    .filter((r) => r.state === 'PRESERVING' || r.state === 'PRESERVED');
  let size = totalCount(input.counts, 'PRESERVING') + totalCount(input.counts, 'PRESERVED');

  // Over the limit (the limit was lowered): evict the oldest finished ones.
  while (size > max && queue[0] && (queue[0].state === 'PRESERVED' || needsOperator(queue[0]))) {
    b.change('PRESERVED_OVER_LIMIT', [remove(queue.shift()!, 'PRESERVED_OVER_LIMIT')]);
    size -= 1;
  }

  const candidates = [...inState('ERROR'), ...inState('PRESERVE')].sort(oldestFirst);
  let eligible: AmphoraRecord[] = [];
  for (const r of candidates) {
    if (max === 0) b.change('PRESERVATION_DISABLED', [remove(r, 'PRESERVATION_DISABLED')]);
    else if (!r.computeId) b.change('NOTHING_TO_PRESERVE', [remove(r, 'NOTHING_TO_PRESERVE')]);
    else eligible.push(r);
  }
  if (config.preservation_scheme === 'cycle' && eligible.length > max) {
    // Preserving these would evict them again within this very cycle: remove them directly.
    for (const r of eligible.slice(0, eligible.length - max)) {
      b.change('CYCLE_SUPERSEDED', [remove(r, 'CYCLE_SUPERSEDED')]);
    }
    eligible = eligible.slice(eligible.length - max);
  }
  for (let i = 0; i < eligible.length; i++) {
    const r = eligible[i]!;
    if (size < max) {
      b.change('PRESERVE_BELOW_LIMIT', [preserve(r, 'PRESERVE_BELOW_LIMIT')]);
      size += 1;
    } else if (config.preservation_scheme === 'keep') {
      b.change('KEEP_LIMIT_REACHED', [remove(r, 'KEEP_LIMIT_REACHED')]);
    } else {
      const oldest = queue[0];
      // A preservation that failed for good may be evicted like a finished one.
      const evictable = oldest?.state === 'PRESERVED' || (oldest && needsOperator(oldest));
      if (!oldest || !evictable) {
        // Strict FIFO: the oldest is still being preserved; the newcomers wait for it.
        for (const waiting of eligible.slice(i)) {
          notes.push({ code: 'PRESERVE_WAITS_FOR_IN_FLIGHT', amphoraId: waiting.id });
        }
        break;
      }
      queue.shift();
      b.change('CYCLE_EVICT_OLDEST', [
        remove(oldest, 'CYCLE_EVICT_OLDEST'),
        preserve(r, 'CYCLE_EVICT_OLDEST'),
      ]);
    }
  }
}
