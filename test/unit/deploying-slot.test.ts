import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AMPHORA_STATES,
  type AmphoraState,
  DEPLOYING_STATES,
  freesDeployingSlot,
} from '../../lib/domain/amphora.ts';

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
