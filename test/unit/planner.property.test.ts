import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { poolZones } from '../../lib/config/schema.ts';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import { plan } from '../../lib/domain/planner.ts';
import type { PoolMeta } from '../../lib/domain/pool.ts';
import { applyPlan, config, NOW, rec, SECOND, STATES, snapshot } from '../support/pool-fixtures.ts';

const configArb = fc
  .record({
    spare_amphora_pool_size: fc.integer({ min: 0, max: 8 }),
    availability_zones: fc.constantFrom([], ['az1'], ['az1', 'az2'], ['az1', 'az2', 'az3']),
    maximum_deploying_amphora_count: fc.integer({ min: 1, max: 6 }),
    maximum_preserved_amphora_count: fc.integer({ min: 0, max: 4 }),
    preservation_scheme: fc.constantFrom('keep', 'cycle'),
    preservation_method: fc.constantFrom('unplug', 'snapshot'),
    boot_timeout: fc.integer({ min: 60, max: 900 }),
    task_timeout: fc.integer({ min: 180, max: 900 }),
  })
  .map((raw) => config(raw));

const recordArb = fc.record({
  state: fc.constantFrom(...STATES),
  zone: fc.constantFrom('*', 'az1', 'az2', 'retired'),
  ageSeconds: fc.integer({ min: 0, max: 2_000 }),
  taskAgeSeconds: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }),
  hasServer: fc.boolean(),
  blocked: fc.boolean(),
  seq: fc.integer({ min: 0, max: 999 }),
  version: fc.integer({ min: 1, max: 50 }),
});

function toRecord(
  r: {
    state: (typeof STATES)[number];
    zone: string;
    ageSeconds: number;
    taskAgeSeconds: number | undefined;
    hasServer: boolean;
    blocked: boolean;
    seq: number;
    version: number;
  },
  i: number,
): AmphoraRecord {
  const base = rec(r.state, {
    id: `r-${String(i).padStart(3, '0')}`,
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
  return {
    ...base,
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
  };
}

const worldArb = fc.record({
  config: configArb,
  records: fc.array(recordArb, { maxLength: 30 }).map((rs) => rs.map(toRecord)),
  failures: fc.integer({ min: 0, max: 3 }),
  failedAgo: fc.integer({ min: 0, max: 700 }),
  successes: fc.integer({ min: 0, max: 4 }),
});

function metaOf(w: {
  failures: number;
  failedAgo: number;
  successes: number;
  config: ReturnType<typeof config>;
}): PoolMeta {
  return {
    zones: poolZones(w.config).map((zone) => ({
      zone,
      consecutiveFailures: w.failures,
      lastFailureAt: NOW - w.failedAgo * SECOND,
      successesSinceFailure: w.failures > 0 ? 0 : w.successes,
      everFailed: w.failures > 0 || w.successes > 0,
    })),
    lastSweepAt: NOW - 10 * SECOND,
  };
}

const deploying = (rs: readonly AmphoraRecord[]) =>
  rs.filter((r) => r.state === 'PENDING_CREATE' || r.state === 'BOOTING').length;
const preserved = (rs: readonly AmphoraRecord[]) =>
  rs.filter((r) => r.state === 'PRESERVING' || r.state === 'PRESERVED').length;

describe('planner properties', () => {
  it('applying a plan and planning again at the same instant decides nothing new', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const meta = metaOf(w);
        const first = plan(snapshot(w.records, { config: w.config, meta }));
        const after = applyPlan(w.records, first, meta);
        const second = plan(snapshot(after.records, { config: w.config, meta: after.meta }));
        expect(second.decisions.map((d) => d.reasons)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('never creates past the deploying cap nor past the target', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const meta = metaOf(w);
        const p = plan(snapshot(w.records, { config: w.config, meta }));
        const after = applyPlan(w.records, p, meta).records;
        const created = after.length - w.records.length;
        if (created > 0) {
          expect(deploying(after)).toBeLessThanOrEqual(w.config.maximum_deploying_amphora_count);
          for (const zone of poolZones(w.config)) {
            const pool = after.filter(
              (r) => r.zone === zone && ['READY', 'PENDING_CREATE', 'BOOTING'].includes(r.state),
            ).length;
            const createdHere = p.decisions.filter(
              (d) => d.reasons.includes('TOP_UP') && d.changes[0]!.zone === zone,
            ).length;
            if (createdHere > 0) expect(pool).toBeLessThanOrEqual(w.config.spare_amphora_pool_size);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never grows the preserved set past its limit, and never touches a record twice', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const meta = metaOf(w);
        const p = plan(snapshot(w.records, { config: w.config, meta }));
        const after = applyPlan(w.records, p, meta).records;
        expect(preserved(after)).toBeLessThanOrEqual(
          Math.max(preserved(w.records), w.config.maximum_preserved_amphora_count),
        );
        const touched = p.decisions.flatMap((d) => d.changes.map((c) => c.amphoraId));
        expect(new Set(touched).size).toBe(touched.length);
        for (const d of p.decisions) {
          for (const write of d.writes) {
            if (write.kind !== 'update') continue;
            const before = w.records.find((r) => r.id === write.record.id)!;
            expect(write.expectedVersion).toBe(before.version);
            expect(write.record.version).toBeGreaterThan(before.version);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('sends each task against the version its write produces', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(snapshot(w.records, { config: w.config, meta: metaOf(w) }));
        for (const d of p.decisions) {
          for (const { task } of d.tasks) {
            if (task.type === 'SWEEP') continue;
            const write = d.writes.find(
              (x) => x.kind !== 'sweep-issued' && x.record.id === task.amphoraId,
            );
            expect(write && write.kind !== 'sweep-issued' ? write.record.version : undefined).toBe(
              task.version,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
