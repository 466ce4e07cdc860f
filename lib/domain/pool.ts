/**
 * Plain data the planner reads and writes besides amphora records: the state counters, the
 * lease, write groups, per-zone creation statistics, resolved images and orphan marks. The
 * pool store port keeps them.
 */
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  type LaunchRecord,
} from './amphora.ts';

/** Record counts of one zone by state. States with no record may be absent. */
export type StateCounts = Readonly<Partial<Record<AmphoraState, number>>>;

/** Record counts by zone, then by state. */
export type ZoneStateCounts = Readonly<Record<string, StateCounts>>;

/** Record counts by pool, then zone, then state: the counters kept with every transition. */
export type PoolCounts = Readonly<Record<string, ZoneStateCounts>>;

/** What the last planner cycle did, kept with the lease for `status`. */
export interface CycleSummary {
  /** When it ended (epoch ms). */
  readonly at: number;
  /** The lease token it held. */
  readonly token: number;
  readonly outcome: 'applied' | 'failed';
  readonly decisions: number;
  readonly tasksSent: number;
  /** Why it failed. */
  readonly error?: string;
}

/** The planner lease. `token` is a fencing token: it grows by one at every acquisition. */
export interface Lease {
  readonly holder: string;
  readonly token: number;
  readonly expiresAt: number;
  /**
   * The newest token whose cycle confirmed that every task it committed was sent (absent when
   * none ever did). Records whose task a newer, earlier cycle issued (it crashed, or its send
   * failed, after committing; or it was a dry run) may hold a task that was never sent: the
   * planner sends them again (issue 7: lost sends).
   */
  readonly sentThrough?: number;
}

/** One write of a planner commit. */
export type WriteOp =
  /** Insert a new record; conflicts when the id exists. */
  | { readonly kind: 'create'; readonly record: AmphoraRecord }
  /** Replace a record; conflicts unless the stored one is at `expectedVersion` (in `expectedState`). */
  | {
      readonly kind: 'update';
      readonly record: AmphoraRecord;
      readonly expectedVersion: number;
      readonly expectedState: AmphoraState;
    }
  /** Delete a DELETED record past its expiry (Octavia's purge); conflicts unless at that version. */
  | { readonly kind: 'purge'; readonly record: AmphoraRecord }
  /** Note that an orphan sweep was issued at `at` (the sweep cadence). */
  | { readonly kind: 'sweep-issued'; readonly at: number }
  /** Note that a pool's image tag resolution was issued at `at`. */
  | { readonly kind: 'image-resolve-issued'; readonly pool: string; readonly at: number }
  /** Note that every READY and deploying amphora of a zone has `launch`: no rotation is due. */
  | {
      readonly kind: 'fleet-current';
      readonly pool: string;
      readonly zone: string;
      readonly launch: LaunchRecord;
    };

/** Writes that succeed or fail together. */
export type WriteGroup = readonly WriteOp[];

/** Outcome of one write group. */
export type GroupResult =
  | { readonly status: 'applied' }
  | { readonly status: 'conflict'; readonly amphoraIds: readonly string[] };

/** Creation statistics of one zone of one pool: the input of the creation back-off. */
export interface ZoneCreateStats {
  readonly pool: string;
  readonly zone: string;
  /** Creates that failed since the last one that reached READY. */
  readonly consecutiveFailures: number;
  readonly lastFailureAt?: number;
  /** Creates that reached READY since the last failure (the slow-start window grows with it). */
  readonly successesSinceFailure: number;
  /** Whether any create in this zone ever failed (slow start applies only after a failure). */
  readonly everFailed: boolean;
  /** The launch every READY spare of the zone is known to have; another one means rotation. */
  readonly fleet?: LaunchRecord;
}

/** What a create's end does to its zone's statistics. */
export type CreateOutcome = 'success' | 'failure';

/** The newest image carrying a pool's tag, as an executor last resolved it. */
export interface PoolImage {
  readonly pool: string;
  /** The tag (and owner) it was resolved for: a changed tag makes it stale at once. */
  readonly tag?: string;
  readonly ownerId?: string;
  readonly imageId?: string;
  readonly resolvedAt?: number;
  /** Why the last resolution failed (no image with the tag, ...), when it did. */
  readonly error?: string;
  /** When the planner last issued a resolution. */
  readonly issuedAt?: number;
}

/**
 * Whether the cloud accepts the service's calls (the breaker of issue 7): `refusing` after an
 * Unauthorized (or a run of Unavailable) from any task, until a call succeeds again. While it
 * refuses, the planner sends no cloud work but one probe per back-off interval.
 */
export interface CloudHealth {
  readonly state: 'ok' | 'refusing';
  /** The error class the cloud answered with. */
  readonly kind?: 'Unauthorized' | 'Unavailable';
  /** When the cloud started refusing. */
  readonly since?: number;
  /** The last refusal's message (safe to show: drivers never put secrets in messages). */
  readonly lastError?: string;
  /** When the next probe may be sent. */
  readonly probeAt?: number;
  /** Refusals in a row, reset by a success: opens the breaker on a run of Unavailable. */
  readonly failures: number;
  /** Probes refused since the breaker opened: the probe interval doubles with each. */
  readonly probes?: number;
  /** When the cloud last recovered: tasks dropped while it refused are re-issued after this. */
  readonly recoveredAt?: number;
}

/** Pool-wide state the planner reads each cycle, in one request. */
export interface PoolState {
  /** The cloud's health as the executors last saw it; absent until a refusal was ever seen. */
  readonly cloud?: CloudHealth;
  /** Counters by pool, zone and state, kept in the same transaction as each transition. */
  readonly counts: PoolCounts;
  readonly zones: readonly ZoneCreateStats[];
  readonly images: readonly PoolImage[];
  /** When the last orphan sweep was issued. */
  readonly lastSweepAt?: number;
}

/** A server that carries our tag but has no live record, as seen by sweeps. */
export interface OrphanMark {
  readonly serverId: string;
  readonly amphoraId?: string;
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
  /** How many sweeps have seen it orphaned. */
  readonly sightings: number;
}

/** Mutable counts by pool, zone and state, as they are built. */
export type CountsBuilder = Record<string, Record<string, Partial<Record<AmphoraState, number>>>>;

/** Adds `n` to one count of a builder. */
export function addCount(
  counts: CountsBuilder,
  where: { readonly pool: string; readonly zone: string; readonly state: AmphoraState },
  n: number,
): void {
  const zones = counts[where.pool] ?? {};
  counts[where.pool] = zones;
  const states = zones[where.zone] ?? {};
  zones[where.zone] = states;
  states[where.state] = (states[where.state] ?? 0) + n;
}

/** Counts records by pool, zone and state (a full recount: what the counters must equal). */
export function tally(records: Iterable<AmphoraRecord>): PoolCounts {
  const counts: CountsBuilder = {};
  for (const r of records) addCount(counts, r, 1);
  return counts;
}

/** A counter that disagrees with the records listed for its pool, zone and state. */
export interface CountDrift {
  readonly pool: string;
  readonly zone: string;
  readonly state: AmphoraState;
  readonly counted: number;
  readonly listed: number;
}

/**
 * Where the counters disagree with a complete listing of some states' records: every pool and
 * zone either side knows, for each of `states` only (the other states were not listed).
 */
export function countDrift(
  counts: PoolCounts,
  listed: Iterable<AmphoraRecord>,
  states: readonly AmphoraState[],
): CountDrift[] {
  const actual = tally(listed);
  const drift: CountDrift[] = [];
  const keys = new Set<string>();
  for (const side of [counts, actual]) {
    for (const [pool, zones] of Object.entries(side)) {
      for (const zone of Object.keys(zones)) keys.add(JSON.stringify([pool, zone]));
    }
  }
  for (const key of [...keys].sort()) {
    const [pool, zone] = JSON.parse(key) as [string, string];
    for (const state of states) {
      const counted = counts[pool]?.[zone]?.[state] ?? 0;
      const n = actual[pool]?.[zone]?.[state] ?? 0;
      if (counted !== n) drift.push({ pool, zone, state, counted, listed: n });
    }
  }
  return drift;
}

/** The same counts with zeros and empty zones and pools left out, for comparisons. */
export function withoutZeros(counts: PoolCounts): PoolCounts {
  const out: CountsBuilder = {};
  for (const [pool, zones] of Object.entries(counts)) {
    for (const [zone, states] of Object.entries(zones)) {
      for (const state of AMPHORA_STATES) {
        const n = states[state] ?? 0;
        if (n !== 0) addCount(out, { pool, zone, state }, n);
      }
    }
  }
  return out;
}

/** Count of `states` in one pool (and one zone, when given). */
export function countOf(
  counts: PoolCounts,
  states: readonly AmphoraState[],
  where: { readonly pool?: string; readonly zone?: string } = {},
): number {
  let n = 0;
  for (const [pool, zones] of Object.entries(counts)) {
    if (where.pool !== undefined && pool !== where.pool) continue;
    for (const [zone, byState] of Object.entries(zones)) {
      if (where.zone !== undefined && zone !== where.zone) continue;
      for (const s of states) n += byState[s] ?? 0;
    }
  }
  return n;
}

/** Every state's count over all pools. */
export function stateTotals(
  counts: PoolCounts,
  pool?: string,
): Readonly<Record<AmphoraState, number>> {
  return Object.fromEntries(
    AMPHORA_STATES.map((s) => [s, countOf(counts, [s], pool !== undefined ? { pool } : {})]),
  ) as Record<AmphoraState, number>;
}

/** The (pool, zone) pairs that hold any record. */
export function countedZones(counts: PoolCounts): Array<{ pool: string; zone: string }> {
  return Object.entries(counts).flatMap(([pool, zones]) =>
    Object.keys(zones).map((zone) => ({ pool, zone })),
  );
}

/**
 * The counter changes of one write: -1 on the state a record leaves, +1 on the one it enters,
 * keyed `pool`, `zone`, `state`. A write that keeps the state changes no counter.
 */
export function counterDeltas(
  op: WriteOp,
): Array<{ pool: string; zone: string; state: AmphoraState; delta: number }> {
  switch (op.kind) {
    case 'create':
      return [{ pool: op.record.pool, zone: op.record.zone, state: op.record.state, delta: 1 }];
    case 'update':
      if (op.expectedState === op.record.state) return [];
      return [
        { pool: op.record.pool, zone: op.record.zone, state: op.expectedState, delta: -1 },
        { pool: op.record.pool, zone: op.record.zone, state: op.record.state, delta: 1 },
      ];
    case 'purge':
      return [{ pool: op.record.pool, zone: op.record.zone, state: op.record.state, delta: -1 }];
    default:
      return [];
  }
}

/** A zone's creation statistics before any create ended. */
export function freshZoneStats(pool: string, zone: string): ZoneCreateStats {
  return { pool, zone, consecutiveFailures: 0, successesSinceFailure: 0, everFailed: false };
}

/** A zone's creation statistics after one create ended with `outcome` at `at`. */
export function withCreateOutcome(
  stats: ZoneCreateStats,
  outcome: CreateOutcome,
  at: number,
): ZoneCreateStats {
  return outcome === 'success'
    ? { ...stats, consecutiveFailures: 0, successesSinceFailure: stats.successesSinceFailure + 1 }
    : {
        ...stats,
        consecutiveFailures: stats.consecutiveFailures + 1,
        successesSinceFailure: 0,
        lastFailureAt: at,
        everFailed: true,
      };
}
