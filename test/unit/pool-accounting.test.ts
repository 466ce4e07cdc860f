import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  DEPLOYING_STATES,
  freesDeployingSlot,
} from '../../lib/domain/amphora.ts';
import { type CountDrift, countDrift, type PoolCounts, tally } from '../../lib/domain/pool.ts';
import { rec } from '../support/pool-fixtures.ts';

describe('which transitions free a deploying slot (and so wake the planner)', () => {
  it.each<[AmphoraState, AmphoraState, boolean]>([
    ['BOOTING', 'READY', true],
    ['BOOTING', 'ERROR', true],
    ['PENDING_CREATE', 'ERROR', true],
    ['PENDING_CREATE', 'PENDING_DELETE', true],
    ['PENDING_CREATE', 'BOOTING', false],
    ['BOOTING', 'BOOTING', false],
    ['READY', 'ALLOCATED', false],
    ['ERROR', 'PRESERVING', false],
  ])('%s → %s frees a slot: %s', (from, to, frees) => {
    expect(freesDeployingSlot(from, to)).toBe(frees);
  });

  it('frees a slot exactly when the deploying count drops (property)', () => {
    const state = fc.constantFrom(...AMPHORA_STATES);
    fc.assert(
      fc.property(state, state, (from, to) => {
        const held = (s: AmphoraState) => (DEPLOYING_STATES.includes(s) ? 1 : 0);
        expect(freesDeployingSlot(from, to)).toBe(held(to) < held(from));
      }),
    );
  });
});

describe('counter drift against a complete listing', () => {
  const r = (id: string, state: AmphoraState, zone = 'az1', pool = 'default') =>
    rec(state, { id, zone, pool });

  it.each<[string, PoolCounts, AmphoraRecord[], CountDrift[]]>([
    [
      'none when they agree',
      { default: { az1: { READY: 2 } } },
      [r('a', 'READY'), r('b', 'READY')],
      [],
    ],
    [
      'a record deleted behind the counters',
      { default: { az1: { READY: 2 } } },
      [r('a', 'READY')],
      [{ pool: 'default', zone: 'az1', state: 'READY', counted: 2, listed: 1 }],
    ],
    [
      'a record the counters never saw, in a zone they do not know',
      {},
      [r('a', 'BOOTING', 'az2', 'small')],
      [{ pool: 'small', zone: 'az2', state: 'BOOTING', counted: 0, listed: 1 }],
    ],
    [
      'states that were not listed are not compared',
      { default: { az1: { DELETED: 40, READY: 1 } } },
      [r('a', 'READY')],
      [],
    ],
  ])('%s', (_, counts, listed, drift) => {
    expect(countDrift(counts, listed, ['READY', 'BOOTING'])).toStrictEqual(drift);
  });

  it('finds no drift between a full recount and its own records (property)', () => {
    const state = fc.constantFrom(...AMPHORA_STATES);
    const record = fc.record({
      state,
      zone: fc.constantFrom('az1', 'az2'),
      pool: fc.constantFrom('default', 'small'),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 30 }), (specs) => {
        const records = specs.map((x, i) => r(`a-${i}`, x.state, x.zone, x.pool));
        expect(countDrift(tally(records), records, AMPHORA_STATES)).toStrictEqual([]);
      }),
    );
  });
});
