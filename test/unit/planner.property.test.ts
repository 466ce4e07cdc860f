/**
 * Planner properties over several pools with random configurations, records, back-off and
 * images: replanning is a no-op, the global and per-pool caps hold, no pool starves another,
 * rotation never drops READY below the target, and every write and task matches its record.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import { launchNow, plan } from '../../lib/domain/planner.ts';
import { freshZoneStats, type PoolState } from '../../lib/domain/pool.ts';
import { poolDeployingCap, poolPreservedCap } from '../../lib/domain/settings.ts';
import {
  applyPlan,
  config,
  type MetaInput,
  NOW,
  rec,
  SECOND,
  STATES,
  snapshot,
} from '../support/pool-fixtures.ts';

const POOLS = ['small', 'large', 'edge'] as const;

const poolArb = (name: string) =>
  fc.record(
    {
      name: fc.constant(name),
      spare_amphora_pool_size: fc.integer({ min: 0, max: 6 }),
      availability_zones: fc.constantFrom([], ['az1'], ['az1', 'az2']),
      maximum_deploying_amphora_count: fc.integer({ min: 1, max: 4 }),
      maximum_preserved_amphora_count: fc.integer({ min: 0, max: 2 }),
      rotation_budget: fc.integer({ min: 1, max: 3 }),
      openstack: fc.constantFrom({ image_tag: `${name}-img` }, { image_id: `${name}-fixed` }, {}),
    },
    { requiredKeys: ['name', 'spare_amphora_pool_size', 'availability_zones', 'openstack'] },
  );

const configArb = fc
  .record({
    pools: fc
      .subarray([...POOLS], { minLength: 1 })
      .chain((names) => fc.tuple(...names.map(poolArb))),
    maximum_deploying_amphora_count: fc.integer({ min: 1, max: 8 }),
    maximum_preserved_amphora_count: fc.integer({ min: 0, max: 4 }),
    preservation_scheme: fc.constantFrom('keep', 'cycle'),
    preservation_method: fc.constantFrom('unplug', 'snapshot'),
    boot_timeout: fc.integer({ min: 60, max: 900 }),
    task_timeout: fc.integer({ min: 180, max: 900 }),
  })
  .map((raw) => {
    // Per-pool caps sit under the global ones.
    const pools = raw.pools.map((p) => ({
      ...p,
      ...(p.maximum_deploying_amphora_count !== undefined
        ? {
            maximum_deploying_amphora_count: Math.min(
              p.maximum_deploying_amphora_count,
              raw.maximum_deploying_amphora_count,
            ),
          }
        : {}),
      ...(p.maximum_preserved_amphora_count !== undefined
        ? {
            maximum_preserved_amphora_count: Math.min(
              p.maximum_preserved_amphora_count,
              raw.maximum_preserved_amphora_count,
            ),
          }
        : {}),
    }));
    return config({ ...raw, pools });
  });

const recordArb = fc.record({
  state: fc.constantFrom(...STATES),
  pool: fc.constantFrom(...POOLS, 'retired'),
  zone: fc.constantFrom('*', 'az1', 'az2', 'gone'),
  ageSeconds: fc.integer({ min: 0, max: 2_000 }),
  taskAgeSeconds: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }),
  hasServer: fc.boolean(),
  blocked: fc.boolean(),
  seq: fc.integer({ min: 0, max: 999 }),
  version: fc.integer({ min: 1, max: 50 }),
  /** The image it was booted with: the pool's old one, its current one, or none (legacy). */
  image: fc.constantFrom('old', 'current', 'legacy'),
});

type RecordInput = typeof recordArb extends fc.Arbitrary<infer T> ? T : never;

function toRecord(r: RecordInput, i: number, cfg: ReturnType<typeof config>, state: PoolState) {
  const base = rec(r.state, {
    id: `r-${String(i).padStart(3, '0')}`,
    pool: r.pool,
    zone: r.zone,
    ageSeconds: r.ageSeconds,
    version: r.version,
  });
  const taskType = {
    PENDING_CREATE: 'CREATE',
    BOOTING: 'CHECK',
    PENDING_DELETE: 'REMOVE',
    PRESERVING: 'PRESERVE',
  } as const;
  const type = taskType[r.state as keyof typeof taskType];
  const spec = cfg.pools.find((p) => p.name === r.pool);
  const current = spec ? launchNow(spec, r.zone, state) : undefined;
  const launch =
    r.image === 'legacy' || !current
      ? undefined
      : r.image === 'current'
        ? current
        : { ...current, imageId: 'an-old-image' };
  return {
    ...base,
    ...(launch ? { launch } : {}),
    ...(r.hasServer || !['ERROR', 'PRESERVE'].includes(r.state) ? {} : { computeId: undefined }),
    ...(type
      ? {
          task:
            r.taskAgeSeconds === undefined
              ? undefined
              : { type, issuedAt: NOW - r.taskAgeSeconds * SECOND, reissues: 0, polls: 0 },
        }
      : {}),
    ...(r.blocked && r.state === 'PENDING_DELETE'
      ? { failure: { code: 'DELETE_FAILED' as const, message: 'x', at: NOW } }
      : {}),
    ...(r.blocked && r.state === 'PRESERVING'
      ? { failure: { code: 'PRESERVE_FAILED' as const, message: 'x', at: NOW } }
      : {}),
    ...(base.preservation
      ? {
          preservation: {
            ...base.preservation,
            seq: `000000000001:${String(r.seq).padStart(6, '0')}:${i}`,
          },
        }
      : {}),
    ...(r.state === 'DELETED' ? { expiresAt: NOW - (r.ageSeconds - 1000) * SECOND } : {}),
  } as AmphoraRecord;
}

const worldArb = fc
  .record({
    config: configArb,
    records: fc.array(recordArb, { maxLength: 40 }),
    failures: fc.integer({ min: 0, max: 3 }),
    failedAgo: fc.integer({ min: 0, max: 700 }),
    successes: fc.integer({ min: 0, max: 4 }),
    /** Whether each zone's fleet is known current (else READY spares are read for staleness). */
    fleetKnown: fc.boolean(),
    /** Whether the image tags are resolved. */
    resolved: fc.boolean(),
  })
  .map((w) => {
    const images = w.resolved
      ? w.config.pools
          .filter((p) => p.launch.image_tag !== undefined)
          .map((p) => ({
            pool: p.name,
            tag: p.launch.image_tag!,
            imageId: `${p.name}-current`,
            resolvedAt: NOW - 10 * SECOND,
          }))
      : [];
    const stateForLaunch: PoolState = { counts: {}, zones: [], images };
    const meta: MetaInput = {
      images,
      zones: w.config.pools.flatMap((p) =>
        p.zones.map((z) => {
          const fleet = w.fleetKnown ? launchNow(p, z.name, stateForLaunch) : undefined;
          return {
            ...freshZoneStats(p.name, z.name),
            consecutiveFailures: w.failures,
            lastFailureAt: NOW - w.failedAgo * SECOND,
            successesSinceFailure: w.failures > 0 ? 0 : w.successes,
            everFailed: w.failures > 0 || w.successes > 0,
            ...(fleet ? { fleet } : {}),
          };
        }),
      ),
      lastSweepAt: NOW - 10 * SECOND,
    };
    const records = w.records.map((r, i) => toRecord(r, i, w.config, stateForLaunch));
    return { ...w, meta, records };
  });

const DEPLOYING = ['PENDING_CREATE', 'BOOTING'];
const inPool = (rs: readonly AmphoraRecord[], pool: string, states: readonly string[]) =>
  rs.filter((r) => r.pool === pool && states.includes(r.state)).length;
const count = (rs: readonly AmphoraRecord[], states: readonly string[]) =>
  rs.filter((r) => states.includes(r.state)).length;

describe('planner properties, several pools', () => {
  it('applying a plan and planning again at the same instant decides nothing new', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const first = plan(snapshot(w.records, { config: w.config, meta: w.meta }));
        const after = applyPlan(w.records, first, w.meta);
        const second = plan(snapshot(after.records, { config: w.config, meta: after.meta }));
        expect(second.decisions.map((d) => d.reasons)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('never creates past the global cap, a pool’s own cap, or the target plus the rotation budget', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(snapshot(w.records, { config: w.config, meta: w.meta }));
        const after = applyPlan(w.records, p, w.meta).records;
        if (after.length <= w.records.length) return;
        expect(count(after, DEPLOYING)).toBeLessThanOrEqual(
          w.config.maximum_deploying_amphora_count,
        );
        for (const spec of w.config.pools) {
          const created = p.decisions.filter(
            (d) => d.changes[0]?.from === 'NEW' && d.changes[0].pool === spec.name,
          ).length;
          if (created === 0) continue;
          expect(inPool(after, spec.name, DEPLOYING)).toBeLessThanOrEqual(
            poolDeployingCap(w.config, spec.name),
          );
          for (const zone of spec.zones) {
            const here = after.filter(
              (r) =>
                r.pool === spec.name &&
                r.zone === zone.name &&
                ['READY', ...DEPLOYING].includes(r.state),
            ).length;
            expect(here).toBeLessThanOrEqual(spec.spare_amphora_pool_size + spec.rotation_budget);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('shares the deploying cap fairly: a pool left wanting never has two fewer in creation than one that got a create', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        // Without back-off or slow start, only the caps limit creation.
        fc.pre(w.failures === 0 && w.successes === 0 && w.resolved);
        const p = plan(snapshot(w.records, { config: w.config, meta: w.meta }));
        const after = applyPlan(w.records, p, w.meta).records;
        const got = new Set(
          p.decisions.flatMap((d) => (d.reasons.includes('TOP_UP') ? [d.changes[0]!.pool] : [])),
        );
        const inFlight = (pool: string) => inPool(after, pool, DEPLOYING);
        for (const spec of w.config.pools) {
          const wanting = spec.zones.some(
            (z) =>
              spec.spare_amphora_pool_size -
                after.filter(
                  (r) =>
                    r.pool === spec.name &&
                    r.zone === z.name &&
                    ['READY', ...DEPLOYING].includes(r.state),
                ).length >
              0,
          );
          const ownCapFull = inFlight(spec.name) >= poolDeployingCap(w.config, spec.name);
          if (!wanting || ownCapFull) continue;
          for (const other of got) {
            if (other === spec.name) continue;
            expect(inFlight(other)).toBeLessThanOrEqual(inFlight(spec.name) + 1);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rotation never drops a zone’s READY spares below its target', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(snapshot(w.records, { config: w.config, meta: w.meta }));
        const after = applyPlan(w.records, p, w.meta).records;
        for (const d of p.decisions) {
          const removal = d.changes.find(
            (c) => d.reasons.includes('ROTATE_STALE_LAUNCH') && c.to === 'PENDING_DELETE',
          );
          if (!removal) continue;
          const target =
            w.config.pools.find((x) => x.name === removal.pool)?.spare_amphora_pool_size ?? 0;
          const ready = after.filter(
            (r) => r.pool === removal.pool && r.zone === removal.zone && r.state === 'READY',
          ).length;
          expect(ready).toBeGreaterThanOrEqual(target);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never grows the preserved set past its limits (global and per pool), and never touches a record twice', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(snapshot(w.records, { config: w.config, meta: w.meta }));
        const after = applyPlan(w.records, p, w.meta).records;
        const PRESERVED = ['PRESERVING', 'PRESERVED'];
        expect(count(after, PRESERVED)).toBeLessThanOrEqual(
          Math.max(count(w.records, PRESERVED), w.config.maximum_preserved_amphora_count),
        );
        for (const spec of w.config.pools) {
          expect(inPool(after, spec.name, PRESERVED)).toBeLessThanOrEqual(
            Math.max(
              inPool(w.records, spec.name, PRESERVED),
              poolPreservedCap(w.config, spec.name),
            ),
          );
        }
        const touched = p.decisions.flatMap((d) => d.changes.map((c) => c.amphoraId));
        expect(new Set(touched).size).toBe(touched.length);
        for (const d of p.decisions) {
          for (const write of d.writes) {
            if (write.kind !== 'update') continue;
            const before = w.records.find((r) => r.id === write.record.id)!;
            expect(write.expectedVersion).toBe(before.version);
            expect(write.expectedState).toBe(before.state);
            expect(write.record.version).toBeGreaterThan(before.version);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('sends each record task against the version its write produces', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(snapshot(w.records, { config: w.config, meta: w.meta }));
        for (const d of p.decisions) {
          for (const { task } of d.tasks) {
            if (!('amphoraId' in task)) continue;
            const write = d.writes.find((x) => 'record' in x && x.record.id === task.amphoraId);
            expect(write && 'record' in write ? write.record.version : undefined).toBe(
              task.version,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
