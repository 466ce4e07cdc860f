import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AMPHORA_STATES, type AmphoraRecord, type AmphoraState } from '../../lib/domain/amphora.ts';
import {
  allocatedGhosts,
  GHOST_WATCHED_STATES,
  type ListedServer,
  MISSING_SWEEPS,
  planGhosts,
} from '../../lib/domain/ghosts.ts';
import { NOW, rec } from '../support/pool-fixtures.ts';

const LATER = NOW + 600_000;

/** A server listed for `r` with `status`. */
function listed(r: AmphoraRecord, status = 'ACTIVE', fault?: string): ListedServer {
  return { id: r.computeId!, status, ...(fault ? { fault } : {}) };
}

/** Plans one sweep for one record; returns its change, if any. */
function sweepOnce(r: AmphoraRecord, servers: ListedServer[], now = NOW) {
  const changes = planGhosts({ records: [r], servers, now });
  expect(changes.length).toBeLessThanOrEqual(1);
  return changes[0];
}

/** Two sweeps in a row that both miss the server; returns the second's change. */
function sweepTwiceMissing(r: AmphoraRecord) {
  const first = sweepOnce(r, []);
  expect(first?.outcome).toBe('seen-missing');
  return sweepOnce(first!.next, [], LATER);
}

const booted = (state: AmphoraState) =>
  rec(
    state,
    state === 'BOOTING' ? { task: { type: 'CHECK', issuedAt: NOW, reissues: 0, polls: 1 } } : {},
  );

describe('ghosts: records whose server is gone', () => {
  it.each(GHOST_WATCHED_STATES.map((s) => [s]))(
    'a %s record whose server one sweep misses is only marked, never acted on',
    (state) => {
      const r = booted(state);
      const change = sweepOnce(r, []);
      expect(change).toMatchObject({ outcome: 'seen-missing' });
      expect(change!.next.state).toBe(state);
      expect(change!.next.missing).toEqual({ since: NOW, sweeps: 1 });
      expect(change!.next.version).toBe(r.version + 1);
    },
  );

  it.each([
    ['READY', 'ERROR', undefined],
    ['BOOTING', 'ERROR', undefined],
    ['PRESERVED', 'PENDING_DELETE', 'REMOVE'],
    ['PRESERVING', 'PENDING_DELETE', 'REMOVE'],
  ] as const)(
    'a %s record whose server two sweeps in a row miss becomes %s (SERVER_MISSING)',
    (state, to, task) => {
      const change = sweepTwiceMissing(booted(state));
      expect(change).toMatchObject({ outcome: 'ghost', code: 'SERVER_MISSING' });
      expect(change!.next.state).toBe(to);
      expect(change!.next.failure).toMatchObject({ code: 'SERVER_MISSING', at: LATER });
      expect(change!.next.failure!.message).toContain('missing from 2 sweeps in a row');
      expect(change!.next.task?.type).toBe(task);
      expect(change!.next.missing).toBeUndefined();
      expect(change!.next.history.at(-1)).toMatchObject({
        from: state,
        to,
        reason: 'SERVER_MISSING',
      });
    },
  );

  it('an ALLOCATED record whose server is gone stays ALLOCATED, marked for the operator', () => {
    const change = sweepTwiceMissing(rec('ALLOCATED'));
    expect(change).toMatchObject({ outcome: 'ghost', code: 'SERVER_MISSING' });
    expect(change!.next.state).toBe('ALLOCATED');
    expect(change!.next.missing).toEqual({ since: NOW, sweeps: MISSING_SWEEPS });
    expect(allocatedGhosts([change!.next]).map((r) => r.id)).toEqual([change!.next.id]);
  });

  it('a server seen again clears the mark of a sweep that missed it', () => {
    const r = rec('READY');
    const first = sweepOnce(r, [])!;
    const again = sweepOnce(first.next, [listed(r)], LATER);
    expect(again).toMatchObject({ outcome: 'cleared' });
    expect(again!.next.missing).toBeUndefined();
    expect(again!.next.state).toBe('READY');
  });

  it('writes nothing for a healthy record that was never missing', () => {
    const records = GHOST_WATCHED_STATES.map(booted);
    expect(planGhosts({ records, servers: records.map((r) => listed(r)), now: NOW })).toEqual([]);
  });

  it.each<[string, AmphoraRecord]>([
    ['a BOOTING record before its first check (its server may not be listed yet)', rec('BOOTING')],
    ['a record without a server id', rec('READY', { computeId: undefined })],
    ...AMPHORA_STATES.filter((s) => !GHOST_WATCHED_STATES.includes(s)).map(
      (s): [string, AmphoraRecord] => [`a ${s} record`, rec(s)],
    ),
  ])('leaves alone %s', (_name, r) => {
    expect(planGhosts({ records: [r], servers: [], now: NOW })).toEqual([]);
    expect(planGhosts({ records: [r], servers: [], now: LATER })).toEqual([]);
  });
});

describe('ghosts: records whose server is broken', () => {
  it.each([
    ['READY', 'ERROR', 'ERROR'],
    ['READY', 'SHUTOFF', 'ERROR'],
    ['READY', 'BUILD', 'ERROR'],
    ['BOOTING', 'ERROR', 'ERROR'],
  ] as const)(
    'a %s record whose server is %s becomes %s on the first sweep (SERVER_FAILED)',
    (state, status, to) => {
      const r = booted(state);
      const change = sweepOnce(r, [listed(r, status, 'No valid host')]);
      expect(change).toMatchObject({ outcome: 'ghost', code: 'SERVER_FAILED' });
      expect(change!.next.state).toBe(to);
      expect(change!.next.failure!.message).toContain(status);
    },
  );

  it.each([
    ['PRESERVED', 'SHUTOFF'],
    ['PRESERVED', 'ERROR'],
    ['PRESERVING', 'ERROR'],
    ['PRESERVING', 'SHUTOFF'],
    ['BOOTING', 'BUILD'],
    ['ALLOCATED', 'SHUTOFF'],
  ] as const)(
    'a %s record whose server is %s is left alone: normal there, or kept for diagnosis',
    (state, status) => {
      const r = booted(state);
      expect(sweepOnce(r, [listed(r, status)])).toBeUndefined();
    },
  );

  it('an ALLOCATED record whose server is in ERROR is reported at once, not moved', () => {
    const r = rec('ALLOCATED');
    const change = sweepOnce(r, [listed(r, 'ERROR')])!;
    expect(change).toMatchObject({ outcome: 'ghost', code: 'SERVER_FAILED' });
    expect(change.next.state).toBe('ALLOCATED');
    expect(change.next.missing).toEqual({ since: NOW, sweeps: 1, status: 'ERROR' });
    expect(allocatedGhosts([change.next])).toHaveLength(1);
  });
});

describe('ghosts: properties', () => {
  const stateArb = fc.constantFrom(...AMPHORA_STATES);
  const statusArb = fc.constantFrom('ACTIVE', 'ERROR', 'SHUTOFF', 'BUILD', 'gone');

  it('acts only on watched records and only after two misses or a broken server, and every move is legal', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(stateArb, fc.array(statusArb, { minLength: 1, maxLength: 4 })), {
          maxLength: 8,
        }),
        (cases) => {
          for (const [state, statuses] of cases) {
            let r = booted(state);
            let misses = 0;
            for (const [i, status] of statuses.entries()) {
              const servers = status === 'gone' ? [] : [listed(r, status)];
              const change = sweepOnce(r, servers, NOW + i * 600_000);
              const preserved = state === 'PRESERVED' || state === 'PRESERVING';
              const broken =
                (status === 'ERROR' && !preserved) ||
                (state === 'READY' && status !== 'ACTIVE' && status !== 'gone');
              misses = status === 'gone' ? misses + 1 : 0;
              if (!GHOST_WATCHED_STATES.includes(state)) {
                expect(change).toBeUndefined();
                break;
              }
              const acted = change?.outcome === 'ghost' && change.next.state !== state;
              if (acted) {
                expect(broken || misses >= MISSING_SWEEPS).toBe(true);
                expect(['ERROR', 'PENDING_DELETE']).toContain(change.next.state);
                break;
              }
              if (state !== 'ALLOCATED') expect(broken || misses >= MISSING_SWEEPS).toBe(false);
              if (change) r = change.next;
            }
          }
        },
      ),
    );
  });
});
