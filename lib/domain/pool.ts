/**
 * Plain data the planner reads and writes besides amphora records: counts, the lease, write
 * groups, per-zone creation statistics and orphan marks. The pool store port stores them.
 */
import { AMPHORA_STATES, type AmphoraRecord, type AmphoraState } from './amphora.ts';

/** Record counts by zone, then by state. States with no record may be absent. */
export type ZoneStateCounts = Readonly<
  Record<string, Readonly<Partial<Record<AmphoraState, number>>>>
>;

/** The planner lease. `token` is a fencing token: it grows by one at every acquisition. */
export interface Lease {
  readonly holder: string;
  readonly token: number;
  readonly expiresAt: number;
}

/** One write of a planner commit. */
export type WriteOp =
  /** Insert a new record; conflicts when the id exists. */
  | { readonly kind: 'create'; readonly record: AmphoraRecord }
  /** Replace a record; conflicts unless the stored version is `expectedVersion`. */
  | { readonly kind: 'update'; readonly record: AmphoraRecord; readonly expectedVersion: number }
  /** Note that an orphan sweep was issued at `at` (the sweep cadence). */
  | { readonly kind: 'sweep-issued'; readonly at: number };

/** Writes that succeed or fail together. */
export type WriteGroup = readonly WriteOp[];

/** Outcome of one write group. */
export type GroupResult =
  | { readonly status: 'applied' }
  | { readonly status: 'conflict'; readonly amphoraIds: readonly string[] };

/** Creation statistics of one zone: the input of the creation back-off. */
export interface ZoneCreateStats {
  readonly zone: string;
  /** Creates that failed since the last one that reached READY. */
  readonly consecutiveFailures: number;
  readonly lastFailureAt?: number;
  /** Creates that reached READY since the last failure (the slow-start window grows with it). */
  readonly successesSinceFailure: number;
  /** Whether any create in this zone ever failed (slow start applies only after a failure). */
  readonly everFailed: boolean;
}

/** Pool-wide state the planner reads each cycle besides the records. */
export interface PoolMeta {
  readonly zones: readonly ZoneCreateStats[];
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

/** Counts records by zone and state, for the given states (all by default). */
export function tallyByZoneAndState(
  records: Iterable<AmphoraRecord>,
  states: readonly AmphoraState[] = AMPHORA_STATES,
): ZoneStateCounts {
  const counts: Record<string, Partial<Record<AmphoraState, number>>> = {};
  for (const r of records) {
    if (!states.includes(r.state)) continue;
    const zone = counts[r.zone] ?? {};
    zone[r.state] = (zone[r.state] ?? 0) + 1;
    counts[r.zone] = zone;
  }
  return counts;
}
