/**
 * The pool store: amphora records, the planner lease, per-zone creation statistics, the
 * sweep schedule and orphan marks. Adapters: in-memory (unit tests) and DynamoDB.
 *
 * Every record write is conditional on the version the writer read; a lost race raises
 * `VersionConflictError`. Planner writes are also fenced by the lease token: once another
 * planner has taken the lease, a stale planner's commit raises `LeaseLostError`.
 */
import type { AmphoraRecord, AmphoraState } from '../domain/amphora.ts';
import type {
  GroupResult,
  Lease,
  OrphanMark,
  PoolMeta,
  WriteGroup,
  ZoneStateCounts,
} from '../domain/pool.ts';

export type {
  GroupResult,
  Lease,
  OrphanMark,
  PoolMeta,
  WriteGroup,
  WriteOp,
  ZoneCreateStats,
  ZoneStateCounts,
} from '../domain/pool.ts';

/** Most writes in one commit group. */
export const MAX_GROUP_WRITES = 99;

/** The pool store port. */
export interface PoolStore {
  /** One record, or `undefined`. */
  get(amphoraId: string): Promise<AmphoraRecord | undefined>;
  /** The records that exist among `amphoraIds` (any order). */
  getMany(amphoraIds: readonly string[]): Promise<AmphoraRecord[]>;
  /**
   * Records in one state, oldest `stateSince` first (ties by id), optionally of one zone, at
   * most `limit` of them. Reads only the pages it needs.
   */
  listByState(
    state: AmphoraState,
    options?: { readonly zone?: string; readonly limit?: number },
  ): Promise<AmphoraRecord[]>;
  /** The preserved queue (PRESERVING and PRESERVED) in queue order, oldest first. */
  listPreservedQueue(options?: { readonly limit?: number }): Promise<AmphoraRecord[]>;
  /** Counts of records by zone and state, for the given states. */
  countByState(states: readonly AmphoraState[]): Promise<ZoneStateCounts>;
  /** Inserts a new record. @throws VersionConflictError when the id exists. */
  create(record: AmphoraRecord): Promise<void>;
  /**
   * Replaces a record if the stored one is at `expectedVersion`.
   * @throws VersionConflictError (with the stored record as `current` when known) otherwise.
   */
  update(record: AmphoraRecord, expectedVersion: number): Promise<void>;

  /**
   * Takes the planner lease if it is free, expired or already held by `holder`. A new holder
   * gets the next fencing token; `undefined` when someone else holds a live lease.
   */
  acquireLease(holder: string, now: number, ttlMs: number): Promise<Lease | undefined>;
  /** Gives the lease up early, keeping its token counter. No-op when no longer held. */
  releaseLease(lease: Lease): Promise<void>;
  /**
   * Applies write groups, each atomically and each fenced by the lease. A group writes each
   * record at most once and holds at most {@link MAX_GROUP_WRITES} writes (a DynamoDB
   * transaction's 100 items, less the lease check); a group beyond that is a `RangeError`
   * before anything is written.
   * @returns one result per group, in order.
   * @throws LeaseLostError when the lease has passed to another holder (no group applied after).
   */
  commit(lease: Lease, groups: readonly WriteGroup[]): Promise<GroupResult[]>;

  /** Creation statistics of every zone that has any, and the sweep schedule. */
  getPoolMeta(): Promise<PoolMeta>;
  /** Counts a create that reached READY (`success`) or failed (`failure`) in a zone. */
  recordCreateOutcome(zone: string, outcome: 'success' | 'failure', at: number): Promise<void>;

  /** Every orphan mark. */
  listOrphanMarks(): Promise<OrphanMark[]>;
  /** Inserts or replaces an orphan mark. */
  putOrphanMark(mark: OrphanMark): Promise<void>;
  /** Removes an orphan mark; no-op when absent. */
  deleteOrphanMark(serverId: string): Promise<void>;
}
