/**
 * The pool store, split by concern: amphora records (with the state counters kept in the same
 * transaction as each transition), the planner lease and its fenced commits, the pool state
 * (counters, creation statistics, resolved images, the sweep schedule) and orphan marks. A
 * consumer takes only the parts it uses; adapters (in-memory, DynamoDB) implement them all and
 * pass one contract suite per part.
 *
 * Every record write is conditional on the version the writer read; a lost race raises
 * `VersionConflictError`. Planner writes are also fenced by the lease token: once another
 * planner has taken the lease, a stale planner's commit raises `LeaseLostError`.
 */
import type { AmphoraRecord, AmphoraState } from '../domain/amphora.ts';
import type {
  CloudHealth,
  CreateOutcome,
  CycleSummary,
  GroupResult,
  Lease,
  OrphanMark,
  PoolCounts,
  PoolImage,
  PoolState,
  WriteGroup,
} from '../domain/pool.ts';

export type {
  CloudHealth,
  CreateOutcome,
  GroupResult,
  Lease,
  OrphanMark,
  PoolCounts,
  PoolImage,
  PoolState,
  WriteGroup,
  WriteOp,
  ZoneCreateStats,
} from '../domain/pool.ts';

/**
 * Most record writes in one commit group. A DynamoDB transaction holds 100 items: the lease
 * check, each record, and the counter item of each (pool, zone) the group touches.
 */
export const MAX_GROUP_WRITES = 49;

/** The state a record was in when the writer read it: what its conditional write expects. */
export interface Expected {
  readonly version: number;
  readonly state: AmphoraState;
}

/** Amphora records, and the counters that follow them. */
export interface RecordStore {
  /** One record, or `undefined`. */
  get(amphoraId: string): Promise<AmphoraRecord | undefined>;
  /** The records that exist among `amphoraIds` (any order). */
  getMany(amphoraIds: readonly string[]): Promise<AmphoraRecord[]>;
  /** Records whose id starts with `prefix` (at least one character), at most `limit`, by id. */
  findByIdPrefix(prefix: string, limit: number): Promise<AmphoraRecord[]>;
  /**
   * Records of one pool in one state, oldest `stateSince` first (ties by id), optionally of one
   * zone, at most `limit` of them. Reads only the pages it needs.
   */
  listByState(
    pool: string,
    state: AmphoraState,
    options?: { readonly zone?: string; readonly limit?: number },
  ): Promise<AmphoraRecord[]>;
  /** The preserved queue (PRESERVING and PRESERVED, every pool) in queue order, oldest first. */
  listPreservedQueue(options?: { readonly limit?: number }): Promise<AmphoraRecord[]>;
  /** DELETED records whose `expiresAt` is at or before `now`, soonest first, at most `limit`. */
  listExpired(now: number, limit: number): Promise<AmphoraRecord[]>;
  /** Inserts a new record and counts it. @throws VersionConflictError when the id exists. */
  create(record: AmphoraRecord): Promise<void>;
  /**
   * Replaces a record if the stored one is as `expected`, moving its counters in the same
   * write when the state changes, and counting a create's end in its zone's statistics.
   * @throws VersionConflictError (with the stored record as `current` when known) otherwise.
   */
  update(
    record: AmphoraRecord,
    expected: Expected,
    effects?: { readonly createOutcome?: CreateOutcome },
  ): Promise<void>;
}

/** The planner lease and the commits it fences. */
/** What a lease's release learned. */
export interface LeaseRelease {
  /** A planner run was requested while the lease was held: the holder should run again. */
  readonly requested: boolean;
}

export interface LeaseStore {
  /**
   * Takes the planner lease if it is free, expired or already held by `holder`. A new holder
   * gets the next fencing token; `undefined` when someone else holds a live lease.
   */
  acquireLease(holder: string, now: number, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Gives the lease up early, keeping its token counter. No-op when no longer held. `sent`
   * confirms that every task the cycle committed was sent: without it, the next holder is told
   * (`Lease.unsent`) and sends them again. `summary` is kept for `status` (the same write).
   */
  releaseLease(lease: Lease, sent?: boolean, summary?: CycleSummary): Promise<LeaseRelease>;
  /** What the last cycle that released its lease with a summary did (for `status`). */
  lastCycle(): Promise<CycleSummary | undefined>;
  /**
   * Asks for a planner run soon (a boot finished, a spare was claimed): marks the lease item.
   * The next acquisition clears the mark, so every request made before a cycle read the pool is
   * served by that cycle, and a request made during a cycle is seen by its release.
   * @param staleBefore a pending request made before this (epoch ms) counts as unserved: this
   * one replaces it and returns true, so a request whose run never happened is not waited on.
   * @returns true for the first request since the last acquisition (its caller should start a
   * run), or when the pending one is stale; false when one is already pending (coalesced).
   */
  requestRun(now: number, staleBefore?: number): Promise<boolean>;
  /**
   * Applies write groups, each atomically (records, their counters and pool-state notes) and
   * each fenced by the lease. A group writes each record at most once and holds at most
   * {@link MAX_GROUP_WRITES} record writes; a group beyond that is a `RangeError` before
   * anything is written.
   * @returns one result per group, in order.
   * @throws LeaseLostError when the lease has passed to another holder (no group applied after).
   */
  commit(lease: Lease, groups: readonly WriteGroup[]): Promise<GroupResult[]>;
}

/** The pool state the planner reads every cycle, and what executors note in it. */
export interface PoolStateStore {
  /** Counters, creation statistics, resolved images and the sweep schedule, in one read. */
  getPoolState(): Promise<PoolState>;
  /** The cloud's health as executors last recorded it, in one small read. */
  getCloudHealth(): Promise<CloudHealth | undefined>;
  /**
   * Records the cloud's health. With `ifProbeAt`, only if the stored health still has that
   * `probeAt` (`null`: no stored health at all): so that of several executors that find a probe
   * due, one wins it.
   * @returns whether it was written.
   */
  putCloudHealth(health: CloudHealth, ifProbeAt?: number | null): Promise<boolean>;
  /** Records the outcome of resolving a pool's image tag. */
  recordImage(image: PoolImage): Promise<void>;
  /**
   * Rebuilds the counters from the records themselves (after a drift: a TTL purge, a manual
   * edit). Safe to run while the service runs: a counter that moved meanwhile is recounted.
   * @returns the counters as rebuilt.
   */
  repairCounts(): Promise<PoolCounts>;
}

/** Marks of servers that carry our tag but have no live record. */
export interface OrphanMarkStore {
  /** Every orphan mark. */
  listOrphanMarks(): Promise<OrphanMark[]>;
  /** Inserts or replaces an orphan mark. */
  putOrphanMark(mark: OrphanMark): Promise<void>;
  /** Removes an orphan mark; no-op when absent. */
  deleteOrphanMark(serverId: string): Promise<void>;
}

/** The whole pool store, as adapters implement it. */
export interface PoolStore extends RecordStore, LeaseStore, PoolStateStore, OrphanMarkStore {}
