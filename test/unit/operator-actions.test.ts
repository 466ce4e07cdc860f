import { describe, expect, it } from 'vitest';
import {
  claimSpare,
  DEACTIVATED_RESULTS,
  deactivate,
  deactivateMany,
  flagFailed,
  requestPreservation,
  resolveAmphora,
  retryFailed,
} from '../../lib/app/operator-actions.ts';
import {
  AmphoraNotFoundError,
  IllegalTransitionError,
  OperatorActionError,
} from '../../lib/domain/errors.ts';
import { remedyOf } from '../../lib/local/format.ts';
import { plannerHarness } from '../support/app-harness.ts';
import { NOW, rec } from '../support/pool-fixtures.ts';

describe('claiming a spare', () => {
  it('takes the oldest READY spare, in the zone asked for', async () => {
    const h = plannerHarness();
    const young = rec('READY', { zone: 'az1', ageSeconds: 10 });
    const old = rec('READY', { zone: 'az1', ageSeconds: 500 });
    const other = rec('READY', { zone: 'az2', ageSeconds: 900 });
    for (const r of [young, old, other]) await h.store.create(r);

    const claimed = await claimSpare(h.deps, { zone: 'az1' });

    expect(claimed).toMatchObject({ id: old.id, state: 'ALLOCATED', version: old.version + 1 });
    expect((await h.store.get(old.id))!.state).toBe('ALLOCATED');
  });

  it('never hands one spare to two concurrent claims', async () => {
    const h = plannerHarness();
    for (let i = 0; i < 3; i++) await h.store.create(rec('READY'));

    const claims = await Promise.all([
      claimSpare(h.deps),
      claimSpare(h.deps),
      claimSpare(h.deps),
      claimSpare(h.deps),
    ]);

    const got = claims.filter((c) => c !== undefined).map((c) => c.id);
    expect(got).toHaveLength(3);
    expect(new Set(got).size).toBe(3);
    expect(claims.filter((c) => c === undefined)).toHaveLength(1);
  });

  it('returns nothing when no spare is ready', async () => {
    expect(await claimSpare(plannerHarness().deps)).toBeUndefined();
  });
});

describe('handing back, flagging and preserving', () => {
  it('hands an amphora back for removal and schedules its REMOVE', async () => {
    const h = plannerHarness();
    const r = rec('ALLOCATED');
    await h.store.create(r);

    const after = await deactivate(h.deps, r.id);

    expect(after).toMatchObject({ state: 'PENDING_DELETE', task: { type: 'REMOVE' } });
    expect(h.sent()).toEqual([
      expect.objectContaining({ type: 'REMOVE', amphoraId: r.id, version: after.version }),
    ]);
  });

  it('flags a failed amphora ERROR with the reporter’s message', async () => {
    const h = plannerHarness();
    const r = rec('ALLOCATED');
    await h.store.create(r);

    expect(await flagFailed(h.deps, r.id, 'health check failed')).toMatchObject({
      state: 'ERROR',
      failure: { code: 'REPORTED', message: 'health check failed' },
    });
  });

  it('asks for preservation by moving the amphora to PRESERVE', async () => {
    const h = plannerHarness();
    const r = rec('READY');
    await h.store.create(r);

    expect((await requestPreservation(h.deps, r.id)).state).toBe('PRESERVE');
    expect(h.sent()).toEqual([]);
  });

  it.each([
    ['hand back', (d: never, id: string) => deactivate(d, id), 'DELETED'],
    ['flag', (d: never, id: string) => flagFailed(d, id, 'x'), 'PENDING_DELETE'],
    ['preserve', (d: never, id: string) => requestPreservation(d, id), 'PRESERVED'],
  ] as const)(
    'refuses to %s an amphora in %s with IllegalTransitionError',
    async (_name, action, state) => {
      const h = plannerHarness();
      const r = rec(state);
      await h.store.create(r);

      await expect(action(h.deps as never, r.id)).rejects.toBeInstanceOf(IllegalTransitionError);
      expect(await h.store.get(r.id)).toEqual(r);
    },
  );

  it('reports an unknown amphora id', async () => {
    await expect(deactivate(plannerHarness().deps, 'missing')).rejects.toBeInstanceOf(
      AmphoraNotFoundError,
    );
  });
});

describe('retrying what needs an operator', () => {
  it('clears DELETE_FAILED and sends the REMOVE again', async () => {
    const h = plannerHarness();
    const r = rec('PENDING_DELETE', {
      failure: { code: 'DELETE_FAILED', message: 'stuck', at: NOW },
    });
    await h.store.create(r);

    const after = await retryFailed(h.deps, r.id);

    expect(after.failure).toBeUndefined();
    expect(h.sent()).toEqual([expect.objectContaining({ type: 'REMOVE', version: after.version })]);
  });

  it('refuses to retry an amphora that is not waiting for an operator', async () => {
    const h = plannerHarness();
    const r = rec('READY');
    await h.store.create(r);

    await expect(retryFailed(h.deps, r.id)).rejects.toBeInstanceOf(OperatorActionError);
  });
});

describe('the remedy status suggests for DELETE_FAILED does something', () => {
  it.each([
    // [record, what deactivate answers, whether that is a refusal]
    [
      'a DELETE_FAILED removal',
      rec('PENDING_DELETE', { failure: { code: 'DELETE_FAILED', message: 'x', at: NOW } }),
      'delete-failed',
      true,
    ],
    ['a removal under way', rec('PENDING_DELETE'), 'already-removing', false],
    ['a DELETED amphora', rec('DELETED'), 'already-deleted', false],
    [
      'a PRESERVE_FAILED preservation',
      rec('PRESERVING', { failure: { code: 'PRESERVE_FAILED', message: 'x', at: NOW } }),
      'scheduled',
      false,
    ],
  ])('deactivate on %s answers what it did', async (_, record, result, refused) => {
    const h = plannerHarness();
    await h.store.create(record);
    expect(await deactivateMany(h.deps, [record.id])).toEqual([{ amphoraId: record.id, result }]);
    expect(DEACTIVATED_RESULTS.includes(result)).toBe(!refused);
  });

  it.each([
    ['PENDING_DELETE', '`housekeeper retry 12345678` tries the removal again'],
    [
      'PRESERVING',
      '`housekeeper retry 12345678` preserves it again, `housekeeper deactivate 12345678` removes it',
    ],
  ] as const)(
    'status suggests, for a %s waiting for an operator, only what works',
    (state, remedy) => {
      expect(remedyOf({ id: '12345678-aaaa-bbbb', state })).toBe(remedy);
    },
  );
});

describe('the 8-character ids that npm start prints are accepted', () => {
  const ids = [
    '3b2d254d-1111-4000-8000-000000000001',
    '3b2d254d-2222-4000-8000-000000000002',
    '77aa0000-3333-4000-8000-000000000003',
  ];

  async function store() {
    const h = plannerHarness();
    for (const id of ids) await h.store.create(rec('READY', { id }));
    return h.store;
  }

  it.each([
    ['a full id', ids[0]!, ids[0]!],
    ['a unique 8-character prefix', '77aa0000', ids[2]!],
    ['a unique longer prefix', '3b2d254d-2', ids[1]!],
  ])('resolves %s', async (_, given, id) => {
    expect((await resolveAmphora(await store(), given)).id).toBe(id);
  });

  it('refuses an ambiguous prefix by listing the matches', async () => {
    await expect(resolveAmphora(await store(), '3b2d254d')).rejects.toThrow(
      `amphora id prefix 3b2d254d is ambiguous: it matches 2 amphorae: ${ids[0]} (READY), ${ids[1]} (READY)`,
    );
  });

  it.each(['ffff', ''])('refuses a prefix that matches nothing: %j', async (given) => {
    await expect(resolveAmphora(await store(), given)).rejects.toBeInstanceOf(AmphoraNotFoundError);
  });
});
