import { describe, expect, it } from 'vitest';
import { HousekeepingManager } from '../../lib/app/housekeeping-manager.ts';
import { LeaseLostError } from '../../lib/domain/errors.ts';
import { plannerHarness } from '../support/app-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

describe('HousekeepingManager (the seed’s surface)', () => {
  it.each([
    [{ spare_amphora_pool_size: 4 }, 4],
    [{ spare_amphora_pool_size: 4, availability_zones: ['az1', 'az2', 'az3'] }, 12],
    [{ spare_amphora_pool_size: 0 }, 0],
  ])('getSpareAmphoraSize() is the target over every zone (%j → %i)', (config, size) => {
    expect(new HousekeepingManager(plannerHarness(config).deps).getSpareAmphoraSize()).toBe(size);
  });

  it('getReadySpareAmphoraCount() counts READY amphorae only', async () => {
    const h = plannerHarness();
    for (const state of ['READY', 'READY', 'ALLOCATED', 'BOOTING', 'ERROR'] as const)
      await h.store.create(rec(state));
    expect(await new HousekeepingManager(h.deps).getReadySpareAmphoraCount()).toBe(2);
  });

  it('createAmphora(n) schedules creations: records and CREATE tasks, nothing booted inline', async () => {
    const h = plannerHarness({
      maximum_deploying_amphora_count: 5,
      availability_zones: ['az1', 'az2'],
    });

    const ids = await new HousekeepingManager(h.deps).createAmphora(3);

    expect(ids).toHaveLength(3);
    const records = h.store.all();
    expect(records.map((r) => r.state)).toEqual([
      'PENDING_CREATE',
      'PENDING_CREATE',
      'PENDING_CREATE',
    ]);
    expect(records.map((r) => r.zone).sort()).toEqual(['az1', 'az1', 'az2']);
    expect(
      h
        .sent()
        .map((t) => [t.type, (t as { amphoraId: string }).amphoraId])
        .sort(),
    ).toEqual(ids.map((id) => ['CREATE', id]).sort());
  });

  it('createAmphora(n) stays within the deploying cap, scheduling fewer when it must', async () => {
    const h = plannerHarness({ maximum_deploying_amphora_count: 3 });
    await h.store.create(rec('BOOTING'));

    expect(await new HousekeepingManager(h.deps).createAmphora(5)).toHaveLength(2);
    expect(await new HousekeepingManager(h.deps).createAmphora(1)).toEqual([]);
  });

  it.each([0, -1, 1.5, Number.NaN])('createAmphora(%s) is refused', async (n) => {
    await expect(new HousekeepingManager(plannerHarness().deps).createAmphora(n)).rejects.toThrow(
      `numToCreate = ${n}: must be a whole number of at least 1`,
    );
  });

  it('createAmphora refuses while a planner holds the lease, creating nothing', async () => {
    const h = plannerHarness();
    await h.store.acquireLease('planner-x', h.clock.now(), 60_000);

    await expect(new HousekeepingManager(h.deps).createAmphora(1)).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(h.store.all()).toEqual([]);
  });

  it('removeAmphora(ids) schedules each removal and reports per id', async () => {
    const h = plannerHarness();
    const ready = rec('READY');
    const removing = rec('PENDING_DELETE');
    for (const r of [ready, removing]) await h.store.create(r);

    const results = await new HousekeepingManager(h.deps).removeAmphora([
      ready.id,
      removing.id,
      'nope',
    ]);

    expect(results).toEqual([
      { amphoraId: ready.id, result: 'scheduled' },
      { amphoraId: removing.id, result: 'already-removing' },
      { amphoraId: 'nope', result: 'amphora nope does not exist' },
    ]);
    expect((await h.store.get(ready.id))!.state).toBe('PENDING_DELETE');
    expect(h.sent().map((t) => t.type)).toEqual(['REMOVE']);
  });
});
