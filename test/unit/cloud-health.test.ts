import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterRefusal,
  afterSuccess,
  type CloudHealth,
  claimProbe,
  droppedByBreaker,
  gate,
  isRefusing,
  UNAVAILABLE_TO_OPEN,
} from '../../lib/domain/cloud-health.ts';

const settings = { create_backoff_initial: 30, create_backoff_max: 300 };
const T0 = 1_800_000_000_000;
const refusal = (kind: 'Unauthorized' | 'Unavailable', probe = false) => ({
  kind,
  message: `${kind} from Nova`,
  probe,
});

describe('the cloud breaker', () => {
  it('opens on the first Unauthorized, with the first probe one initial back-off away', () => {
    const h = afterRefusal(undefined, refusal('Unauthorized'), T0, settings);
    expect(h).toStrictEqual({
      state: 'refusing',
      kind: 'Unauthorized',
      since: T0,
      lastError: 'Unauthorized from Nova',
      probeAt: T0 + 30_000,
      failures: 1,
      probes: 0,
    });
  });

  it(`opens on the ${UNAVAILABLE_TO_OPEN}rd Unavailable in a row, not before`, () => {
    let h: CloudHealth | undefined;
    for (let i = 1; i < UNAVAILABLE_TO_OPEN; i++) {
      h = afterRefusal(h, refusal('Unavailable'), T0 + i, settings);
      expect(h?.state).toBe('ok');
      expect(gate(h, T0 + i)).toBe('go');
    }
    h = afterRefusal(h, refusal('Unavailable'), T0 + 10, settings);
    expect(h?.state).toBe('refusing');
    expect(gate(h, T0 + 10)).toBe('drop');
  });

  it('a success between Unavailable answers resets the run', () => {
    let h = afterRefusal(undefined, refusal('Unavailable'), T0, settings);
    h = afterRefusal(h, refusal('Unavailable'), T0 + 1, settings);
    h = afterSuccess(h, T0 + 2) ?? h;
    expect(h).toStrictEqual({ state: 'ok', failures: 0 });
    h = afterRefusal(h, refusal('Unavailable'), T0 + 3, settings);
    expect(h?.state).toBe('ok');
  });

  it.each([
    // refused probes so far, seconds to the next probe
    [1, 60],
    [2, 120],
    [3, 240],
    [4, 300],
    [10, 300],
  ])('after %i refused probes the next is %i s away (doubling, capped)', (n, seconds) => {
    let h = afterRefusal(undefined, refusal('Unauthorized'), T0, settings);
    let now = T0;
    for (let i = 0; i < n; i++) {
      now = h?.probeAt ?? now;
      h = afterRefusal(h, refusal('Unauthorized', true), now, settings);
    }
    expect(h?.probes).toBe(n);
    expect((h?.probeAt ?? 0) - now).toBe(seconds * 1000);
  });

  it('a refusal that is not the probe, while open, changes nothing (tasks in flight when it opened)', () => {
    const open = afterRefusal(undefined, refusal('Unauthorized'), T0, settings);
    expect(afterRefusal(open, refusal('Unauthorized'), T0 + 1, settings)).toBeUndefined();
    expect(afterRefusal(open, refusal('Unavailable'), T0 + 1, settings)).toBeUndefined();
  });

  it.each([
    ['before probeAt', 29_999, 'drop'],
    ['at probeAt', 30_000, 'probe'],
    ['after probeAt', 90_000, 'probe'],
  ] as const)('gates cloud work %s: %s', (_when, offset, expected) => {
    const open = afterRefusal(undefined, refusal('Unauthorized'), T0, settings);
    expect(gate(open, T0 + offset)).toBe(expected);
  });

  it('lets everything through while closed', () => {
    expect(gate(undefined, T0)).toBe('go');
    expect(gate({ state: 'ok', failures: 2 }, T0)).toBe('go');
  });

  it('claiming a probe moves the next one interval out, so the others drop', () => {
    const open = afterRefusal(undefined, refusal('Unauthorized'), T0, settings) as CloudHealth;
    const claimed = claimProbe(open, T0 + 30_000, settings);
    expect(claimed.probeAt).toBe(T0 + 60_000);
    expect(gate(claimed, T0 + 30_001)).toBe('drop');
  });

  it('closes on the first success, recording when, so dropped tasks can be re-issued', () => {
    const open = afterRefusal(undefined, refusal('Unauthorized'), T0, settings);
    const closed = afterSuccess(open, T0 + 45_000);
    expect(closed).toStrictEqual({ state: 'ok', failures: 0, recoveredAt: T0 + 45_000 });
    expect(isRefusing(closed)).toBe(false);
    expect(droppedByBreaker(closed, T0 + 44_999)).toBe(true);
    expect(droppedByBreaker(closed, T0 + 45_000)).toBe(false);
    expect(droppedByBreaker(undefined, T0)).toBe(false);
  });

  it('writes nothing on a success when the cloud was already healthy', () => {
    expect(afterSuccess(undefined, T0)).toBeUndefined();
    expect(afterSuccess({ state: 'ok', failures: 0, recoveredAt: T0 }, T0 + 1)).toBeUndefined();
  });

  it('keeps the last recovery time through later refusals', () => {
    const h = afterRefusal(
      { state: 'ok', failures: 0, recoveredAt: T0 },
      refusal('Unauthorized'),
      T0 + 5,
      settings,
    );
    expect(h?.recoveredAt).toBe(T0);
  });

  it('never lets two probes through within the shortest interval, whatever the history (property)', () => {
    const step = fc.oneof(
      fc.record({
        op: fc.constant('refuse' as const),
        kind: fc.constantFrom('Unauthorized' as const, 'Unavailable' as const),
      }),
      fc.record({ op: fc.constant('succeed' as const) }),
      fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 400_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let h: CloudHealth | undefined;
        let now = T0;
        let lastProbe = Number.NEGATIVE_INFINITY;
        let probing = false;
        for (const s of steps) {
          if (s.op === 'tick') {
            now += s.ms;
            const g = gate(h, now);
            if (g === 'probe' && h) {
              expect(now - lastProbe).toBeGreaterThanOrEqual(
                settings.create_backoff_initial * 1000,
              );
              h = claimProbe(h, now, settings);
              lastProbe = now;
              probing = true;
            }
          } else if (s.op === 'refuse') {
            h = afterRefusal(h, { kind: s.kind, message: 'x', probe: probing }, now, settings) ?? h;
            probing = false;
            if (h?.state === 'refusing') expect(h.probeAt).toBeGreaterThan(now);
          } else {
            h = afterSuccess(h, now) ?? h;
            probing = false;
          }
        }
      }),
    );
  });
});
