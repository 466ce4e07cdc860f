/**
 * In-memory pool store, for unit tests and simulations only. It keeps the port's semantics
 * exactly (conditional writes, fenced atomic groups, lease expiry) so that tests written against
 * it hold for the DynamoDB store too; the shared store contract suite checks both.
 */
import {
  type AmphoraRecord,
  type AmphoraState,
  expiryTime,
  oldestFirst,
} from '../../domain/amphora.ts';
import { LeaseLostError, VersionConflictError } from '../../domain/errors.ts';
import { tallyByZoneAndState } from '../../domain/pool.ts';
import {
  type GroupResult,
  type Lease,
  MAX_GROUP_WRITES,
  type OrphanMark,
  type PoolMeta,
  type PoolStore,
  type WriteGroup,
  type ZoneCreateStats,
  type ZoneStateCounts,
} from '../../ports/pool-store.ts';

/** Counters of the store calls made, for tests that assert what a cycle wrote. */
export interface StoreCallCounts {
  reads: number;
  recordWrites: number;
  leaseWrites: number;
  metaWrites: number;
}

/** A pool store in process memory. */
export class MemoryPoolStore implements PoolStore {
  private readonly records = new Map<string, AmphoraRecord>();
  private lease: Lease | undefined;
  private tokenCounter = 0;
  private readonly zoneStats = new Map<string, ZoneCreateStats>();
  private lastSweepAt: number | undefined;
  private readonly marks = new Map<string, OrphanMark>();
  readonly calls: StoreCallCounts = { reads: 0, recordWrites: 0, leaseWrites: 0, metaWrites: 0 };

  async get(amphoraId: string): Promise<AmphoraRecord | undefined> {
    this.calls.reads += 1;
    const r = this.records.get(amphoraId);
    return r ? structuredClone(r) : undefined;
  }

  async getMany(amphoraIds: readonly string[]): Promise<AmphoraRecord[]> {
    this.calls.reads += 1;
    return [...new Set(amphoraIds)]
      .map((id) => this.records.get(id))
      .filter((r): r is AmphoraRecord => r !== undefined)
      .map((r) => structuredClone(r));
  }

  async listByState(
    state: AmphoraState,
    options: { zone?: string; limit?: number } = {},
  ): Promise<AmphoraRecord[]> {
    this.calls.reads += 1;
    return [...this.records.values()]
      .filter((r) => r.state === state && (options.zone === undefined || r.zone === options.zone))
      .sort(oldestFirst)
      .slice(0, Math.max(0, options.limit ?? Number.POSITIVE_INFINITY))
      .map((r) => structuredClone(r));
  }

  async listPreservedQueue(options: { limit?: number } = {}): Promise<AmphoraRecord[]> {
    this.calls.reads += 1;
    return [...this.records.values()]
      .filter((r) => (r.state === 'PRESERVING' || r.state === 'PRESERVED') && r.preservation)
      .sort((a, b) => (a.preservation!.seq < b.preservation!.seq ? -1 : 1))
      .slice(0, Math.max(0, options.limit ?? Number.POSITIVE_INFINITY))
      .map((r) => structuredClone(r));
  }

  async countByState(states: readonly AmphoraState[]): Promise<ZoneStateCounts> {
    this.calls.reads += 1;
    return tallyByZoneAndState(this.records.values(), states);
  }

  async create(record: AmphoraRecord): Promise<void> {
    const current = this.records.get(record.id);
    if (current) throw new VersionConflictError(record.id, 'absent', structuredClone(current));
    this.calls.recordWrites += 1;
    this.records.set(record.id, structuredClone(record));
  }

  async update(record: AmphoraRecord, expectedVersion: number): Promise<void> {
    const current = this.records.get(record.id);
    if (current?.version !== expectedVersion) {
      throw new VersionConflictError(
        record.id,
        expectedVersion,
        current ? structuredClone(current) : undefined,
      );
    }
    this.calls.recordWrites += 1;
    this.records.set(record.id, structuredClone(record));
  }

  async acquireLease(holder: string, now: number, ttlMs: number): Promise<Lease | undefined> {
    const held = this.lease;
    if (held && held.expiresAt > now && held.holder !== holder) return undefined;
    this.calls.leaseWrites += 1;
    const token =
      held && held.holder === holder && held.expiresAt > now ? held.token : ++this.tokenCounter;
    this.lease = { holder, token, expiresAt: now + ttlMs };
    return { ...this.lease };
  }

  async releaseLease(lease: Lease): Promise<void> {
    if (this.lease?.token !== lease.token || this.lease.holder !== lease.holder) return;
    this.calls.leaseWrites += 1;
    this.lease = { ...this.lease, expiresAt: 0 };
  }

  async commit(lease: Lease, groups: readonly WriteGroup[]): Promise<GroupResult[]> {
    for (const group of groups) {
      const ids = group.flatMap((op) => (op.kind === 'sweep-issued' ? [] : [op.record.id]));
      if (group.length > MAX_GROUP_WRITES || new Set(ids).size !== ids.length) {
        throw new RangeError(
          `a commit group writes each record at most once and holds at most ${MAX_GROUP_WRITES} writes`,
        );
      }
    }
    const results: GroupResult[] = [];
    for (const group of groups) {
      if (this.lease?.token !== lease.token || this.lease.holder !== lease.holder) {
        throw new LeaseLostError(lease.token);
      }
      const conflicts: string[] = [];
      for (const op of group) {
        if (op.kind === 'create' && this.records.has(op.record.id)) conflicts.push(op.record.id);
        if (
          op.kind === 'update' &&
          this.records.get(op.record.id)?.version !== op.expectedVersion
        ) {
          conflicts.push(op.record.id);
        }
      }
      if (conflicts.length > 0) {
        results.push({ status: 'conflict', amphoraIds: conflicts });
        continue;
      }
      for (const op of group) {
        if (op.kind === 'sweep-issued') {
          this.calls.metaWrites += 1;
          this.lastSweepAt = op.at;
        } else {
          this.calls.recordWrites += 1;
          this.records.set(op.record.id, structuredClone(op.record));
        }
      }
      results.push({ status: 'applied' });
    }
    return results;
  }

  async getPoolMeta(): Promise<PoolMeta> {
    this.calls.reads += 1;
    return {
      zones: [...this.zoneStats.values()].map((z) => ({ ...z })),
      ...(this.lastSweepAt !== undefined ? { lastSweepAt: this.lastSweepAt } : {}),
    };
  }

  async recordCreateOutcome(
    zone: string,
    outcome: 'success' | 'failure',
    at: number,
  ): Promise<void> {
    this.calls.metaWrites += 1;
    const prev = this.zoneStats.get(zone) ?? {
      zone,
      consecutiveFailures: 0,
      successesSinceFailure: 0,
      everFailed: false,
    };
    this.zoneStats.set(
      zone,
      outcome === 'success'
        ? { ...prev, consecutiveFailures: 0, successesSinceFailure: prev.successesSinceFailure + 1 }
        : {
            ...prev,
            consecutiveFailures: prev.consecutiveFailures + 1,
            successesSinceFailure: 0,
            lastFailureAt: at,
            everFailed: true,
          },
    );
  }

  async listOrphanMarks(): Promise<OrphanMark[]> {
    this.calls.reads += 1;
    return [...this.marks.values()].map((m) => ({ ...m }));
  }

  async putOrphanMark(mark: OrphanMark): Promise<void> {
    this.calls.metaWrites += 1;
    this.marks.set(mark.serverId, { ...mark });
  }

  async deleteOrphanMark(serverId: string): Promise<void> {
    if (this.marks.delete(serverId)) this.calls.metaWrites += 1;
  }

  // -- beyond the port: test and simulation helpers --------------------------------------------

  /** Every record, for assertions. */
  all(): AmphoraRecord[] {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  /** Drops DELETED records whose expiry has passed, as DynamoDB TTL does; returns their ids. */
  purgeExpired(now: number, expiryAgeMs: number): string[] {
    const purged: string[] = [];
    for (const r of this.records.values()) {
      if (r.state === 'DELETED' && expiryTime(r, expiryAgeMs) <= now) purged.push(r.id);
    }
    for (const id of purged) this.records.delete(id);
    return purged;
  }
}
