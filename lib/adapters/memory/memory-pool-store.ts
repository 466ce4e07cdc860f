/**
 * In-memory pool store, for unit tests and simulations only. It keeps the port's semantics
 * exactly (conditional writes, counters moved with each transition, fenced atomic groups, lease
 * expiry) so that tests written against it hold for the DynamoDB store too; the shared store
 * contract suites check both.
 */
import { type AmphoraRecord, type AmphoraState, oldestFirst } from '../../domain/amphora.ts';
import { LeaseLostError, VersionConflictError } from '../../domain/errors.ts';
import {
  addCount,
  type CloudHealth,
  type CountsBuilder,
  type CreateOutcome,
  type CycleSummary,
  counterDeltas,
  freshZoneStats,
  type PoolCounts,
  type PoolImage,
  type PoolState,
  tally,
  withCreateOutcome,
  withoutZeros,
  type ZoneCreateStats,
} from '../../domain/pool.ts';
import {
  type Expected,
  type GroupResult,
  type Lease,
  type LeaseRelease,
  MAX_GROUP_WRITES,
  type OrphanMark,
  type PoolStore,
  type WriteGroup,
  type WriteOp,
} from '../../ports/pool-store.ts';

/** Counters of the store calls made, for tests that assert what a cycle wrote. */
export interface StoreCallCounts {
  reads: number;
  recordWrites: number;
  leaseWrites: number;
  metaWrites: number;
}

type Counters = Map<string, Map<string, Partial<Record<AmphoraState, number>>>>;

/** A pool store in process memory. */
export class MemoryPoolStore implements PoolStore {
  private readonly records = new Map<string, AmphoraRecord>();
  private lease: Lease | undefined;
  /** A planner run was asked for since the last acquisition (see requestRun). */
  private runRequestedAt: number | undefined;
  private last: CycleSummary | undefined;
  /** The last token whose holder confirmed its sends. */
  private sentThrough: number | undefined;
  private tokenCounter = 0;
  private readonly counters: Counters = new Map();
  private readonly zoneStats = new Map<string, ZoneCreateStats>();
  private readonly images = new Map<string, PoolImage>();
  private lastSweepAt: number | undefined;
  private cloud: CloudHealth | undefined;
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

  async findByIdPrefix(prefix: string, limit: number): Promise<AmphoraRecord[]> {
    if (prefix === '') throw new RangeError('an id prefix needs at least one character');
    this.calls.reads += 1;
    return [...this.records.values()]
      .filter((r) => r.id.startsWith(prefix))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, Math.max(0, limit))
      .map((r) => structuredClone(r));
  }

  async listByState(
    pool: string,
    state: AmphoraState,
    options: { zone?: string; limit?: number } = {},
  ): Promise<AmphoraRecord[]> {
    this.calls.reads += 1;
    return [...this.records.values()]
      .filter(
        (r) =>
          r.pool === pool &&
          r.state === state &&
          (options.zone === undefined || r.zone === options.zone),
      )
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

  async listExpired(now: number, limit: number): Promise<AmphoraRecord[]> {
    this.calls.reads += 1;
    return [...this.records.values()]
      .filter((r) => r.state === 'DELETED' && r.expiresAt !== undefined && r.expiresAt <= now)
      .sort((a, b) => a.expiresAt! - b.expiresAt! || (a.id < b.id ? -1 : 1))
      .slice(0, Math.max(0, limit))
      .map((r) => structuredClone(r));
  }

  async create(record: AmphoraRecord): Promise<void> {
    const current = this.records.get(record.id);
    if (current) throw new VersionConflictError(record.id, 'absent', structuredClone(current));
    this.calls.recordWrites += 1;
    this.apply({ kind: 'create', record });
  }

  async update(
    record: AmphoraRecord,
    expected: Expected,
    effects: { readonly createOutcome?: CreateOutcome } = {},
  ): Promise<void> {
    const current = this.records.get(record.id);
    if (current?.version !== expected.version || current.state !== expected.state) {
      throw new VersionConflictError(
        record.id,
        expected.version,
        current ? structuredClone(current) : undefined,
      );
    }
    this.calls.recordWrites += 1;
    this.apply({
      kind: 'update',
      record,
      expectedVersion: expected.version,
      expectedState: current.state,
    });
    if (effects.createOutcome) {
      const key = zoneKey(record.pool, record.zone);
      const stats = this.zoneStats.get(key) ?? freshZoneStats(record.pool, record.zone);
      this.zoneStats.set(key, withCreateOutcome(stats, effects.createOutcome, record.updatedAt));
    }
  }

  async acquireLease(holder: string, now: number, ttlMs: number): Promise<Lease | undefined> {
    const held = this.lease;
    if (held && held.expiresAt > now && held.holder !== holder) return undefined;
    this.calls.leaseWrites += 1;
    const renewal = held !== undefined && held.holder === holder && held.expiresAt > now;
    const token = renewal ? held.token : ++this.tokenCounter;
    this.lease = { holder, token, expiresAt: now + ttlMs };
    this.runRequestedAt = undefined;
    const sent = this.sentThrough;
    return { ...this.lease, ...(sent !== undefined ? { sentThrough: sent } : {}) };
  }

  async releaseLease(lease: Lease, sent = false, summary?: CycleSummary): Promise<LeaseRelease> {
    if (this.lease?.token !== lease.token || this.lease.holder !== lease.holder) {
      return { requested: false };
    }
    this.calls.leaseWrites += 1;
    this.lease = { ...this.lease, expiresAt: 0 };
    if (sent) this.sentThrough = Math.max(this.sentThrough ?? 0, lease.token);
    if (summary) this.last = structuredClone(summary);
    return { requested: this.runRequestedAt !== undefined };
  }

  async lastCycle(): Promise<CycleSummary | undefined> {
    this.calls.reads += 1;
    return this.last && structuredClone(this.last);
  }

  async requestRun(now: number, staleBefore?: number): Promise<boolean> {
    this.calls.leaseWrites += 1;
    const stale = staleBefore !== undefined && (this.runRequestedAt ?? 0) < staleBefore;
    if (this.runRequestedAt !== undefined && !stale) return false;
    this.runRequestedAt = now;
    return true;
  }

  async commit(lease: Lease, groups: readonly WriteGroup[]): Promise<GroupResult[]> {
    for (const group of groups) {
      const ids = group.flatMap((op) => ('record' in op ? [op.record.id] : []));
      if (ids.length > MAX_GROUP_WRITES || new Set(ids).size !== ids.length) {
        throw new RangeError(
          `a commit group writes each record at most once and holds at most ${MAX_GROUP_WRITES} record writes`,
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
        const stored = 'record' in op ? this.records.get(op.record.id) : undefined;
        if (op.kind === 'create' && stored) conflicts.push(op.record.id);
        if (
          (op.kind === 'update' &&
            (stored?.version !== op.expectedVersion || stored.state !== op.expectedState)) ||
          (op.kind === 'purge' && stored?.version !== op.record.version)
        ) {
          conflicts.push(op.record.id);
        }
      }
      if (conflicts.length > 0) {
        results.push({ status: 'conflict', amphoraIds: conflicts });
        continue;
      }
      for (const op of group) {
        if ('record' in op) this.calls.recordWrites += 1;
        else this.calls.metaWrites += 1;
        this.apply(op);
      }
      results.push({ status: 'applied' });
    }
    return results;
  }

  async getPoolState(): Promise<PoolState> {
    this.calls.reads += 1;
    return {
      counts: this.countsNow(),
      zones: [...this.zoneStats.values()].map((z) => structuredClone(z)),
      images: [...this.images.values()].map((i) => ({ ...i })),
      ...(this.lastSweepAt !== undefined ? { lastSweepAt: this.lastSweepAt } : {}),
      ...(this.cloud !== undefined ? { cloud: structuredClone(this.cloud) } : {}),
    };
  }

  async getCloudHealth(): Promise<CloudHealth | undefined> {
    this.calls.reads += 1;
    return this.cloud && structuredClone(this.cloud);
  }

  async putCloudHealth(health: CloudHealth, ifProbeAt?: number | null): Promise<boolean> {
    this.calls.metaWrites += 1;
    if (ifProbeAt !== undefined) {
      const stored = this.cloud === undefined ? null : (this.cloud.probeAt ?? null);
      if (stored !== ifProbeAt) return false;
    }
    this.cloud = structuredClone(health);
    return true;
  }

  async recordImage(image: PoolImage): Promise<void> {
    this.calls.metaWrites += 1;
    const issuedAt = this.images.get(image.pool)?.issuedAt;
    this.images.set(image.pool, {
      ...(issuedAt !== undefined ? { issuedAt } : {}),
      ...image,
    });
  }

  async repairCounts(): Promise<PoolCounts> {
    this.calls.reads += 1;
    this.calls.metaWrites += 1;
    this.counters.clear();
    for (const r of this.records.values()) this.move(r.pool, r.zone, r.state, 1);
    return this.countsNow();
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

  /** Deletes a record behind the counters' back, as a DynamoDB TTL purge would (a drift). */
  dropBehindCounters(amphoraId: string): void {
    this.records.delete(amphoraId);
  }

  /** A full recount of the records, to compare with the counters. */
  recount(): PoolCounts {
    return tally(this.records.values());
  }

  // -- internals ---------------------------------------------------------------------------------

  private apply(op: WriteOp): void {
    for (const d of counterDeltas(op)) this.move(d.pool, d.zone, d.state, d.delta);
    switch (op.kind) {
      case 'create':
      case 'update':
        this.records.set(op.record.id, structuredClone(op.record));
        return;
      case 'purge':
        this.records.delete(op.record.id);
        return;
      case 'sweep-issued':
        this.lastSweepAt = op.at;
        return;
      case 'image-resolve-issued':
        this.images.set(op.pool, {
          ...(this.images.get(op.pool) ?? { pool: op.pool }),
          issuedAt: op.at,
        });
        return;
      case 'fleet-current': {
        const key = zoneKey(op.pool, op.zone);
        const stats = this.zoneStats.get(key) ?? freshZoneStats(op.pool, op.zone);
        this.zoneStats.set(key, { ...stats, fleet: { ...op.launch } });
        return;
      }
    }
  }

  private move(pool: string, zone: string, state: AmphoraState, delta: number): void {
    const zones = this.counters.get(pool) ?? new Map();
    this.counters.set(pool, zones);
    const states = zones.get(zone) ?? {};
    zones.set(zone, states);
    states[state] = (states[state] ?? 0) + delta;
  }

  /** The counters, synchronously (with `all()`, an atomic snapshot for simulations). */
  countsNow(): PoolCounts {
    const out: CountsBuilder = {};
    for (const [pool, zones] of this.counters) {
      for (const [zone, states] of zones) {
        for (const [state, n] of Object.entries(states)) {
          addCount(out, { pool, zone, state: state as AmphoraState }, n);
        }
      }
    }
    return withoutZeros(out);
  }
}

function zoneKey(pool: string, zone: string): string {
  return `${pool}\u0000${zone}`;
}
