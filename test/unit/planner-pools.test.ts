/**
 * The planner over several pools: per-pool targets and zones, the global cap shared fairly and
 * per-pool caps under it, images resolved by tag before a pool boots, rotation to a new launch
 * make-before-break, per-pool preserved limits, and the purge of expired records.
 */
import { describe, expect, it } from 'vitest';
import { launchNow, type Plan } from '../../lib/domain/planner.ts';
import { freshZoneStats, type PoolImage } from '../../lib/domain/pool.ts';
import { config, currentFleets, NOW, planOf, rec, SECOND } from '../support/pool-fixtures.ts';

const creates = (p: Plan) => p.decisions.filter((d) => d.changes[0]?.from === 'NEW');
const createdIn = (p: Plan) =>
  creates(p)
    .map((d) => `${d.changes[0]!.pool}/${d.changes[0]!.zone}`)
    .sort();
const reasonsOf = (p: Plan) => p.decisions.map((d) => d.reasons.join('+'));

describe('targets per pool and zone', () => {
  it('tops up each pool in each of its own zones', () => {
    const cfg = config({
      maximum_deploying_amphora_count: 10,
      pools: [
        { name: 'small', spare_amphora_pool_size: 2, availability_zones: ['az1', 'az2'] },
        { name: 'large', spare_amphora_pool_size: 1 },
      ],
    });
    const p = planOf([rec('READY', { pool: 'small', zone: 'az1' })], { config: cfg });
    expect(createdIn(p)).toEqual(['large/*', 'small/az1', 'small/az2', 'small/az2']);
    expect(p.spareTarget).toBe(5);
    expect(p.pools.map((x) => [x.pool, x.target, x.ready])).toEqual([
      ['small', 4, 1],
      ['large', 1, 0],
    ]);
  });

  it('puts each new amphora in its pool, its Octavia zone and the compute zone Nova gets', () => {
    const cfg = config({
      pools: [
        {
          name: 'edge',
          spare_amphora_pool_size: 1,
          availability_zones: [{ name: 'octavia-a', compute_zone: 'nova-a' }],
        },
      ],
    });
    const [d] = creates(planOf([], { config: cfg }));
    const record = d!.writes[0]!.kind === 'create' ? d!.writes[0]!.record : undefined;
    expect(record).toMatchObject({ pool: 'edge', zone: 'octavia-a', computeZone: 'nova-a' });
  });

  it('removes the spares of a pool that is no longer configured, and creates none there', () => {
    const cfg = config({ pools: [{ name: 'kept', spare_amphora_pool_size: 0 }] });
    const gone = [rec('READY', { pool: 'retired' }), rec('READY', { pool: 'retired' })];
    const p = planOf(gone, { config: cfg });
    expect(creates(p)).toEqual([]);
    expect(p.decisions.filter((d) => d.reasons.includes('SHRINK_EXCESS'))).toHaveLength(2);
  });
});

describe('the deploying cap, shared fairly', () => {
  it.each<[string, number, Record<string, number>, string[]]>([
    // [case, global cap, deploying per pool, expected creates (pool/zone)]
    ['one create each when the cap allows two', 2, {}, ['large/*', 'small/*']],
    ['the pool with fewer in creation first', 1, { small: 1 }, []],
    ['the idle pool gets the only free slot', 2, { small: 1 }, ['large/*']],
    ['alternating as slots free up', 3, { small: 1 }, ['large/*', 'large/*']],
  ])('%s', (_case, cap, deploying, expected) => {
    const cfg = config({
      maximum_deploying_amphora_count: cap,
      pools: [
        { name: 'small', spare_amphora_pool_size: 5 },
        { name: 'large', spare_amphora_pool_size: 5 },
      ],
    });
    const records = Object.entries(deploying).flatMap(([pool, n]) =>
      Array.from({ length: n }, () => rec('BOOTING', { pool, ageSeconds: 1 })),
    );
    expect(createdIn(planOf(records, { config: cfg }))).toEqual(expected);
  });

  it('keeps a pool within its own cap, leaving the rest of the global cap to the others', () => {
    const cfg = config({
      maximum_deploying_amphora_count: 6,
      pools: [
        { name: 'small', spare_amphora_pool_size: 5, maximum_deploying_amphora_count: 1 },
        { name: 'large', spare_amphora_pool_size: 5 },
      ],
    });
    const p = planOf([], { config: cfg });
    expect(createdIn(p)).toEqual([...Array(5).fill('large/*'), 'small/*']);
    expect(p.notes).toContainEqual({
      code: 'POOL_DEPLOYING_CAP_REACHED',
      pool: 'small',
      deploying: 1,
      cap: 1,
      unmet: 4,
    });
  });

  it('says when the global cap leaves pools wanting', () => {
    const cfg = config({
      maximum_deploying_amphora_count: 2,
      pools: [
        { name: 'small', spare_amphora_pool_size: 3 },
        { name: 'large', spare_amphora_pool_size: 3 },
      ],
    });
    expect(planOf([], { config: cfg }).notes).toContainEqual({
      code: 'DEPLOYING_CAP_REACHED',
      deploying: 2,
      cap: 2,
      unmet: 4,
    });
  });
});

describe('images by tag', () => {
  const cfg = config({
    image_refresh_interval: 300,
    task_timeout: 300,
    pools: [{ name: 'large', spare_amphora_pool_size: 1, openstack: { image_tag: 'amp' } }],
  });
  const resolved = (at: number, imageId = 'img-1'): PoolImage => ({
    pool: 'large',
    tag: 'amp',
    imageId,
    resolvedAt: at,
  });
  const resolve = (p: Plan) => p.decisions.filter((d) => d.reasons.includes('RESOLVE_IMAGE'));

  it('resolves a tag never resolved, and boots nothing until it is', () => {
    const p = planOf([], { config: cfg, meta: { images: [] } });
    expect(resolve(p)).toHaveLength(1);
    expect(resolve(p)[0]!.tasks.map((t) => t.task)).toEqual([
      expect.objectContaining({ type: 'RESOLVE_IMAGE', pool: 'large' }),
    ]);
    expect(resolve(p)[0]!.writes).toEqual([
      { kind: 'image-resolve-issued', pool: 'large', at: NOW },
    ]);
    expect(creates(p)).toEqual([]);
    expect(p.notes).toContainEqual({ code: 'IMAGE_UNRESOLVED', pool: 'large', tag: 'amp' });
  });

  it('does not resolve again while a resolution is in flight', () => {
    const p = planOf([], {
      config: cfg,
      meta: { images: [{ pool: 'large', issuedAt: NOW - 10 * SECOND }] },
    });
    expect(resolve(p)).toEqual([]);
  });

  it.each([
    ['fresh', NOW - 299 * SECOND, 0],
    ['as old as image_refresh_interval', NOW - 300 * SECOND, 1],
  ])('refreshes a resolution %s: %i task(s)', (_case, at, tasks) => {
    const images = [resolved(at)];
    const p = planOf([], {
      config: cfg,
      meta: { images, zones: currentFleets(cfg, images) },
    });
    expect(resolve(p)).toHaveLength(tasks);
  });

  it('boots a new amphora with the resolved image, and records it', () => {
    const images = [resolved(NOW)];
    const [d] = creates(planOf([], { config: cfg, meta: { images } }));
    const record = d!.writes[0]!.kind === 'create' ? d!.writes[0]!.record : undefined;
    expect(record?.launch?.imageId).toBe('img-1');
  });

  it('resolves at once when the configured tag changed, and says why the pool cannot boot', () => {
    const images = [{ ...resolved(NOW), tag: 'old-tag', error: 'no active image tagged amp' }];
    const p = planOf([], { config: cfg, meta: { images } });
    expect(resolve(p)).toHaveLength(1);
    expect(creates(p)).toEqual([]);
  });

  it.each([
    [59, 0],
    [60, 1],
  ])(
    'tries a failed resolution again after create_backoff_initial (%i s ago: %i task)',
    (ago, tasks) => {
      const images: PoolImage[] = [
        { pool: 'large', tag: 'amp', error: 'none yet', resolvedAt: NOW - ago * SECOND },
      ];
      expect(resolve(planOf([], { config: cfg, meta: { images } }))).toHaveLength(tasks);
    },
  );

  it('reports the resolution error of a tag no image carries', () => {
    const images: PoolImage[] = [
      { pool: 'large', tag: 'amp', error: 'no active image tagged amp', resolvedAt: NOW },
    ];
    expect(planOf([], { config: cfg, meta: { images } }).notes).toContainEqual({
      code: 'IMAGE_UNRESOLVED',
      pool: 'large',
      tag: 'amp',
      error: 'no active image tagged amp',
    });
  });
});

describe('rotation to a new launch, make-before-break', () => {
  const cfg = config({
    maximum_deploying_amphora_count: 4,
    pools: [
      {
        name: 'large',
        spare_amphora_pool_size: 2,
        rotation_budget: 1,
        openstack: { image_tag: 'amp', flavor_id: 'f' },
      },
    ],
  });
  const images = [{ pool: 'large', tag: 'amp', imageId: 'img-new', resolvedAt: NOW }];
  const spec = cfg.pools[0]!;
  const current = launchNow(spec, '*', { counts: {}, zones: [], images })!;
  const old = { ...current, imageId: 'img-old' };
  // The zone's fleet still has the old image: the planner must look at its READY spares.
  const meta = {
    images,
    zones: [{ ...freshZoneStats('large', '*'), fleet: old }],
    lastSweepAt: NOW,
  };
  const ready = (launch: typeof current, age = 600) =>
    rec('READY', { pool: 'large', launch, ageSeconds: age });

  it('creates one replacement within the budget and removes no stale spare yet', () => {
    const p = planOf([ready(old, 900), ready(old, 800)], { config: cfg, meta });
    expect(reasonsOf(p)).toEqual(
      ['ROTATE_STALE_LAUNCH', 'SWEEP_DUE'].filter((r) => r !== 'SWEEP_DUE'),
    );
    expect(creates(p)).toHaveLength(1);
    expect(p.decisions.some((d) => d.changes.some((c) => c.to === 'PENDING_DELETE'))).toBe(false);
    expect(p.notes).toContainEqual({
      code: 'ROTATING',
      pool: 'large',
      zone: '*',
      stale: 2,
      replacing: 1,
    });
  });

  it('removes the oldest stale spare once its replacement is READY, and starts the next', () => {
    const oldest = ready(old, 900);
    const p = planOf([oldest, ready(old, 800), ready(current, 10)], { config: cfg, meta });
    const removed = p.decisions.flatMap((d) =>
      d.changes.filter((c) => c.to === 'PENDING_DELETE').map((c) => c.amphoraId),
    );
    expect(removed).toEqual([oldest.id]);
    expect(creates(p)).toHaveLength(1);
  });

  it('never lets READY drop below what it was, nor below the target', () => {
    const records = [ready(old, 900), ready(old, 800)];
    const p = planOf(records, { config: cfg, meta });
    const readyAfter =
      records.length -
      p.decisions.flatMap((d) => d.changes.filter((c) => c.to === 'PENDING_DELETE')).length;
    expect(readyAfter).toBe(2);
  });

  it('notes the fleet current with the last stale spare’s removal, so no later cycle reads it again', () => {
    const last = ready(old, 900);
    const p = planOf([last, ready(current, 20), ready(current, 10)], { config: cfg, meta });
    const removal = p.decisions.find((d) => d.changes.some((c) => c.amphoraId === last.id))!;
    expect(removal.reasons).toEqual(['ROTATE_STALE_LAUNCH']);
    expect(removal.writes).toContainEqual({
      kind: 'fleet-current',
      pool: 'large',
      zone: '*',
      launch: current,
    });
  });

  it('rotates a changed flavor as it rotates a changed image', () => {
    const otherFlavor = { ...current, digest: 'ffffffff' };
    const p = planOf([ready(otherFlavor, 900), ready(otherFlavor, 800)], {
      config: cfg,
      meta: { images, zones: [{ ...freshZoneStats('large', '*'), fleet: otherFlavor }] },
    });
    expect(creates(p).map((d) => d.reasons)).toEqual([['ROTATE_STALE_LAUNCH']]);
  });

  it('never touches ALLOCATED amphorae nor legacy spares whose launch is unknown', () => {
    const legacy = rec('READY', { pool: 'large', ageSeconds: 900 });
    const p = planOf(
      [legacy, rec('READY', { pool: 'large' }), rec('ALLOCATED', { pool: 'large', launch: old })],
      { config: cfg, meta },
    );
    expect(creates(p)).toEqual([]);
    expect(p.decisions.some((d) => d.changes.some((c) => c.to === 'PENDING_DELETE'))).toBe(false);
  });
});

describe('preserved limits per pool', () => {
  const failed = (pool: string, age: number) => rec('ERROR', { pool, ageSeconds: age });
  const preserved = (pool: string, seq: number) =>
    rec('PRESERVED', {
      pool,
      preservation: {
        method: 'unplug',
        seq: `000000000001:${String(seq).padStart(6, '0')}`,
        queuedAt: NOW - 3600 * SECOND,
        preservedAt: NOW - 3600 * SECOND,
      },
    });

  it('keeps a pool within its own preserved cap under keep, removing its newcomer', () => {
    const cfg = config({
      maximum_preserved_amphora_count: 3,
      preservation_scheme: 'keep',
      pools: [{ name: 'small', maximum_preserved_amphora_count: 1 }, { name: 'large' }],
    });
    const p = planOf([preserved('small', 1), failed('small', 10), failed('large', 5)], {
      config: cfg,
    });
    expect(reasonsOf(p).sort()).toEqual(['KEEP_LIMIT_REACHED', 'PRESERVE_BELOW_LIMIT']);
  });

  it('cycles within a full pool: evicts that pool’s oldest, not another pool’s older one', () => {
    const cfg = config({
      maximum_preserved_amphora_count: 3,
      preservation_scheme: 'cycle',
      pools: [{ name: 'small', maximum_preserved_amphora_count: 1 }, { name: 'large' }],
    });
    const largeOldest = preserved('large', 1);
    const smallOnly = preserved('small', 2);
    const p = planOf([largeOldest, smallOnly, failed('small', 10)], { config: cfg });
    const evicted = p.decisions.flatMap((d) =>
      d.reasons.includes('CYCLE_EVICT_OLDEST')
        ? d.changes.filter((c) => c.to === 'PENDING_DELETE').map((c) => c.amphoraId)
        : [],
    );
    expect(evicted).toEqual([smallOnly.id]);
  });
});

describe('purge of expired records', () => {
  it('purges DELETED records past their expiry, and keeps the others', () => {
    const due = rec('DELETED', { expiresAt: NOW - SECOND });
    const kept = rec('DELETED', { expiresAt: NOW + SECOND });
    const p = planOf([due, kept]);
    const purge = p.decisions.find((d) => d.reasons.includes('PURGE_EXPIRED'));
    expect(purge?.writes).toEqual([{ kind: 'purge', record: due }]);
    expect(purge?.changes).toEqual([
      { amphoraId: due.id, pool: 'default', zone: '*', from: 'DELETED', to: 'PURGED' },
    ]);
    expect(p.decisions.filter((d) => d.reasons.includes('PURGE_EXPIRED'))).toHaveLength(1);
  });

  it('reads no expired record while nothing is DELETED', () => {
    const p = planOf([rec('READY')], { config: config({ spare_amphora_pool_size: 1 }) });
    expect(p.decisions).toEqual([]);
  });
});
