import { describe, expect, it } from 'vitest';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import { backoffDelayMs, createAllowance } from '../../lib/domain/backoff.ts';
import { type Plan, PURGE_PER_CYCLE, plan, readPlan } from '../../lib/domain/planner.ts';
import { config, MINUTE, NOW, planOf, rec, SECOND, snapshot } from '../support/pool-fixtures.ts';

/** The pool state a cycle would read for `records`. */
const stateOf = (records: readonly AmphoraRecord[], cfg: ReturnType<typeof config>) =>
  snapshot(records, { config: cfg }).state;

const many = (n: number, make: (i: number) => AmphoraRecord) =>
  Array.from({ length: n }, (_, i) => make(i));

function creates(p: Plan) {
  return p.decisions.filter((d) => d.reasons.includes('TOP_UP'));
}

function changesFor(p: Plan, reason: string) {
  return p.decisions.filter((d) => d.reasons.includes(reason as never)).flatMap((d) => d.changes);
}

describe('top-up', () => {
  it.each([
    // target, ready, pendingCreate, booting, cap, expected creates
    [5, 0, 0, 0, 2, 2],
    [5, 3, 0, 0, 2, 2],
    [5, 4, 0, 0, 2, 1],
    [5, 5, 0, 0, 2, 0],
    [5, 6, 0, 0, 2, 0],
    [5, 0, 1, 1, 2, 0],
    [5, 0, 1, 0, 2, 1],
    [5, 2, 2, 0, 4, 1],
    [5, 2, 0, 2, 4, 1],
    [0, 0, 0, 0, 3, 0],
    [3, 0, 0, 3, 1, 0],
    [10, 0, 0, 0, 10, 10],
  ])(
    'target %i with %i READY, %i PENDING_CREATE and %i BOOTING under cap %i creates %i',
    (target, ready, pending, booting, cap, expected) => {
      const records = [
        ...many(ready, () => rec('READY')),
        ...many(pending, () => rec('PENDING_CREATE', { ageSeconds: 5 })),
        ...many(booting, () => rec('BOOTING', { ageSeconds: 5 })),
      ];
      const p = planOf(records, {
        config: config({ spare_amphora_pool_size: target, maximum_deploying_amphora_count: cap }),
      });
      expect(creates(p)).toHaveLength(expected);
    },
  );

  it('creates PENDING_CREATE records at version 1, each with its CREATE task', () => {
    const p = planOf([], { config: config({ spare_amphora_pool_size: 2 }) });
    const [first, second] = creates(p);
    expect(first!.writes).toEqual([
      {
        kind: 'create',
        record: expect.objectContaining({
          state: 'PENDING_CREATE',
          version: 1,
          zone: '*',
          task: { type: 'CREATE', issuedAt: NOW, reissues: 0, polls: 0, token: 7 },
        }),
      },
    ]);
    const record = (first!.writes[0] as { record: AmphoraRecord }).record;
    expect(first!.tasks).toEqual([
      {
        task: expect.objectContaining({
          type: 'CREATE',
          amphoraId: record.id,
          version: 1,
          issuedAt: NOW,
        }),
      },
    ]);
    expect(second!.changes[0]!.amphoraId).not.toBe(record.id);
  });

  it('tops up each zone to its own target, sharing the deploying cap fairly', () => {
    const cfg = config({
      spare_amphora_pool_size: 2,
      availability_zones: ['az1', 'az2'],
      maximum_deploying_amphora_count: 3,
    });
    const zonesOf = (p: Plan) =>
      creates(p)
        .map((d) => d.changes[0]!.zone)
        .sort();
    expect(zonesOf(planOf([], { config: cfg }))).toEqual(['az1', 'az1', 'az2']);
    expect(
      zonesOf(
        planOf([rec('READY', { zone: 'az1' }), rec('READY', { zone: 'az1' })], { config: cfg }),
      ),
    ).toEqual(['az2', 'az2']);
    expect(
      zonesOf(
        planOf([rec('READY', { zone: 'az1' }), rec('BOOTING', { zone: 'az2', ageSeconds: 1 })], {
          config: cfg,
        }),
      ),
    ).toEqual(['az1', 'az2']);
  });

  it('counts deploying amphorae of unconfigured zones toward the cap', () => {
    const p = planOf([rec('BOOTING', { zone: 'retired', ageSeconds: 1 })], {
      config: config({ spare_amphora_pool_size: 3, maximum_deploying_amphora_count: 2 }),
    });
    expect(creates(p)).toHaveLength(1);
  });

  it('notes the unmet demand when the deploying cap holds creation back', () => {
    const p = planOf([], {
      config: config({ spare_amphora_pool_size: 5, maximum_deploying_amphora_count: 2 }),
    });
    expect(p.notes).toContainEqual({
      code: 'DEPLOYING_CAP_REACHED',
      deploying: 2,
      cap: 2,
      unmet: 3,
    });
  });
});

describe('shrink when the target drops', () => {
  it('removes the oldest READY spares first', () => {
    const ready = [
      rec('READY', { ageSeconds: 10 }),
      rec('READY', { ageSeconds: 500 }),
      rec('READY', { ageSeconds: 300 }),
    ];
    const p = planOf(ready, { config: config({ spare_amphora_pool_size: 1 }) });
    const removed = changesFor(p, 'SHRINK_EXCESS');
    expect(removed.map((c) => c.amphoraId)).toEqual([ready[1]!.id, ready[2]!.id]);
    expect(removed.every((c) => c.from === 'READY' && c.to === 'PENDING_DELETE')).toBe(true);
    const tasks = p.decisions.flatMap((d) => d.tasks.map((t) => t.task.type));
    expect(tasks).toEqual(['REMOVE', 'REMOVE']);
  });

  it('never removes ALLOCATED amphorae', () => {
    const p = planOf([...many(4, () => rec('ALLOCATED')), rec('READY')], {
      config: config({ spare_amphora_pool_size: 0 }),
    });
    const removed = changesFor(p, 'SHRINK_EXCESS');
    expect(removed).toHaveLength(1);
    expect(removed[0]!.from).toBe('READY');
  });

  it('counts deploying amphorae as part of the pool, without cancelling them', () => {
    const records = [
      rec('READY', { ageSeconds: 100 }),
      rec('READY', { ageSeconds: 50 }),
      rec('READY', { ageSeconds: 10 }),
      rec('BOOTING', { ageSeconds: 5 }),
      rec('BOOTING', { ageSeconds: 5 }),
    ];
    const p = planOf(records, { config: config({ spare_amphora_pool_size: 3 }) });
    expect(changesFor(p, 'SHRINK_EXCESS').map((c) => c.amphoraId)).toEqual([
      records[0]!.id,
      records[1]!.id,
    ]);
    expect(p.decisions.flatMap((d) => d.changes).some((c) => c.from === 'BOOTING')).toBe(false);
  });

  it('empties a zone that is no longer configured', () => {
    const p = planOf(
      [rec('READY', { zone: 'old' }), rec('READY', { zone: 'old' }), rec('READY', { zone: 'az1' })],
      {
        config: config({ spare_amphora_pool_size: 1, availability_zones: ['az1'] }),
      },
    );
    expect(changesFor(p, 'SHRINK_EXCESS').map((c) => c.zone)).toEqual(['old', 'old']);
  });
});

describe('creation back-off', () => {
  const settings = { create_backoff_initial: 60, create_backoff_max: 600 };

  it.each([
    [0, 0],
    [1, 60_000],
    [2, 120_000],
    [3, 240_000],
    [4, 480_000],
    [5, 600_000],
    [50, 600_000],
  ])(
    'waits the initial delay doubled per consecutive failure, capped: %i failures → %i ms',
    (failures, ms) => {
      expect(backoffDelayMs(failures, settings)).toBe(ms);
    },
  );

  it.each([
    ['never failed: unlimited', undefined, Number.POSITIVE_INFINITY, undefined],
    [
      '2 failures, 30 s ago: closed until 120 s after',
      {
        consecutiveFailures: 2,
        lastFailureAt: NOW - 30 * SECOND,
        successesSinceFailure: 0,
        everFailed: true,
      },
      0,
      NOW + 90 * SECOND,
    ],
    [
      '2 failures, 120 s ago: one probe',
      {
        consecutiveFailures: 2,
        lastFailureAt: NOW - 120 * SECOND,
        successesSinceFailure: 0,
        everFailed: true,
      },
      1,
      undefined,
    ],
    [
      'recovered, 1 success: window 2',
      {
        consecutiveFailures: 0,
        lastFailureAt: NOW - MINUTE,
        successesSinceFailure: 1,
        everFailed: true,
      },
      2,
      undefined,
    ],
    [
      'recovered, 3 successes: window 8',
      {
        consecutiveFailures: 0,
        lastFailureAt: NOW - MINUTE,
        successesSinceFailure: 3,
        everFailed: true,
      },
      8,
      undefined,
    ],
  ] as const)('%s', (_name, stats, window, closedUntil) => {
    const allowance = createAllowance(
      stats ? { pool: 'default', zone: '*', ...stats } : undefined,
      NOW,
      settings,
    );
    expect(allowance.window).toBe(window);
    expect(allowance.closedUntil).toBe(closedUntil);
  });

  const cfg = config({
    spare_amphora_pool_size: 10,
    maximum_deploying_amphora_count: 10,
    create_backoff_initial: 60,
  });
  const failed = (lastFailureAt: number, consecutiveFailures = 1) => ({
    zones: [
      {
        pool: 'default',
        zone: '*',
        consecutiveFailures,
        lastFailureAt,
        successesSinceFailure: 0,
        everFailed: true,
      },
    ],
    lastSweepAt: NOW,
  });

  it('creates nothing while the zone is backing off, and says until when', () => {
    const p = planOf([], { config: cfg, meta: failed(NOW - 10 * SECOND) });
    expect(creates(p)).toHaveLength(0);
    expect(p.notes).toContainEqual({
      code: 'CREATE_BACKOFF',
      pool: 'default',
      zone: '*',
      until: NOW + 50 * SECOND,
    });
  });

  it('probes with a single create once the delay has passed', () => {
    expect(creates(planOf([], { config: cfg, meta: failed(NOW - 61 * SECOND) }))).toHaveLength(1);
  });

  it('grows the window with each success, counting what is already in flight', () => {
    const meta = {
      zones: [
        {
          pool: 'default',
          zone: '*',
          consecutiveFailures: 0,
          lastFailureAt: NOW - MINUTE,
          successesSinceFailure: 2,
          everFailed: true,
        },
      ],
      lastSweepAt: NOW,
    };
    expect(creates(planOf([], { config: cfg, meta }))).toHaveLength(4);
    expect(
      creates(planOf([rec('BOOTING', { ageSeconds: 1 })], { config: cfg, meta })),
    ).toHaveLength(3);
  });

  it.each([
    // [what limits, stats, in flight, creates, window, unmet]
    [
      'a probe after the back-off',
      { consecutiveFailures: 1, successesSinceFailure: 0 },
      0,
      1,
      1,
      9,
    ],
    [
      'a window of 4 after 2 successes, 1 already booting',
      { consecutiveFailures: 0, successesSinceFailure: 2 },
      1,
      3,
      4,
      6,
    ],
  ])(
    'plan shows a note when the slow-start window limits creates: %s',
    (_, stats, booting, made, window, unmet) => {
      const meta = {
        zones: [
          {
            pool: 'default',
            zone: '*',
            lastFailureAt: NOW - 61 * SECOND,
            everFailed: true,
            ...stats,
          },
        ],
        lastSweepAt: NOW,
      };
      const inFlight = Array.from({ length: booting }, () => rec('BOOTING', { ageSeconds: 1 }));
      const p = planOf(inFlight, { config: cfg, meta });
      expect(creates(p)).toHaveLength(made);
      expect(p.notes).toContainEqual({
        code: 'CREATE_SLOW_START',
        pool: 'default',
        zone: '*',
        window,
        unmet,
      });
    },
  );

  it('backs off one zone without holding the others back', () => {
    const zoned = config({
      spare_amphora_pool_size: 1,
      availability_zones: ['az1', 'az2'],
      maximum_deploying_amphora_count: 4,
    });
    const meta = {
      zones: [
        {
          pool: 'default',
          zone: 'az1',
          consecutiveFailures: 3,
          lastFailureAt: NOW,
          successesSinceFailure: 0,
          everFailed: true,
        },
      ],
      lastSweepAt: NOW,
    };
    expect(creates(planOf([], { config: zoned, meta })).map((d) => d.changes[0]!.zone)).toEqual([
      'az2',
    ]);
  });
});

const TASK_OF = {
  PENDING_CREATE: 'CREATE',
  BOOTING: 'CHECK',
  PENDING_DELETE: 'REMOVE',
  PRESERVING: 'PRESERVE',
} as const;

describe('expiry of boots and stuck tasks', () => {
  const cfg = config({
    boot_timeout: 600,
    task_timeout: 900,
    spare_amphora_pool_size: 1,
    maximum_deploying_amphora_count: 1,
  });

  it('asks the cloud once before failing a boot past boot_timeout: a final CHECK, not ERROR', () => {
    const old = rec('BOOTING', { ageSeconds: 600, version: 4 });
    const p = planOf([old], { config: cfg });

    const [d] = p.decisions;
    expect(d!.reasons).toEqual(['BOOT_TIMEOUT_CHECK']);
    const record = (d!.writes[0] as { record: AmphoraRecord }).record;
    expect(record).toMatchObject({ state: 'BOOTING', version: 5 });
    expect(record.task).toMatchObject({ type: 'CHECK', issuedAt: NOW, final: true });
    expect(d!.tasks.map((t) => [t.task.type, (t.task as { version: number }).version])).toEqual([
      ['CHECK', 5],
    ]);
    // the boot still holds its deploying slot until the cloud has answered
    expect(creates(p)).toHaveLength(0);
  });

  it('asks only once: a final CHECK in flight within task_timeout is waited for', () => {
    const asked = rec('BOOTING', {
      ageSeconds: 1_000,
      task: { type: 'CHECK', issuedAt: NOW - 899 * SECOND, reissues: 0, polls: 6, final: true },
    });
    expect(planOf([asked], { config: cfg }).decisions).toEqual([]);
  });

  it('fails a boot whose final CHECK went unanswered for task_timeout, freeing its slot', () => {
    const asked = rec('BOOTING', {
      ageSeconds: 1_600,
      task: { type: 'CHECK', issuedAt: NOW - 900 * SECOND, reissues: 0, polls: 6, final: true },
    });
    const p = planOf([asked], { config: cfg });
    const expired = p.decisions.find((d) => d.reasons.includes('BOOT_TIMEOUT'))!;
    const record = (expired.writes[0] as { record: AmphoraRecord }).record;
    expect(record.failure?.code).toBe('BOOT_TIMEOUT');
    expect(record.failure?.message).toMatch(/no answer to the status check/);
    expect(record.history.map((h) => [h.from, h.to, h.reason])[0]).toEqual([
      'BOOTING',
      'ERROR',
      'BOOT_TIMEOUT',
    ]);
    expect(creates(p)).toHaveLength(1);
  });

  it('leaves a boot within boot_timeout alone', () => {
    expect(planOf([rec('BOOTING', { ageSeconds: 599 })], { config: cfg }).decisions).toEqual([]);
  });

  it('expires and disposes of an unanswered boot in one write group with one conditional write', () => {
    const old = rec('BOOTING', {
      ageSeconds: 1_700,
      version: 9,
      task: { type: 'CHECK', issuedAt: NOW - 901 * SECOND, reissues: 0, polls: 3, final: true },
    });
    const p = planOf([old], { config: config({ boot_timeout: 600, task_timeout: 900 }) });
    expect(p.decisions).toHaveLength(1);
    const [d] = p.decisions;
    expect(d!.reasons).toEqual(['BOOT_TIMEOUT', 'PRESERVATION_DISABLED']);
    expect(d!.writes).toEqual([
      {
        kind: 'update',
        expectedVersion: 9,
        expectedState: 'BOOTING',
        record: expect.objectContaining({ state: 'PENDING_DELETE', version: 11 }),
      },
    ]);
    expect(d!.tasks.map((t) => [t.task.type, (t.task as { version: number }).version])).toEqual([
      ['REMOVE', 11],
    ]);
  });

  it.each([
    // state, where it ends, failure code
    ['PENDING_CREATE', 'ERROR', 'TASK_EXHAUSTED'],
    ['BOOTING', 'ERROR', 'TASK_EXHAUSTED'],
    ['PENDING_DELETE', 'PENDING_DELETE', 'DELETE_FAILED'],
    ['PRESERVING', 'PENDING_DELETE', 'TASK_EXHAUSTED'],
  ] as const)(
    'bounds re-issues: a %s task issued task_max_attempts times without progress ends in %s (%s)',
    (state, to, code) => {
      const stuck = rec(state, {
        ageSeconds: 10,
        bootStartedAt: NOW - 10 * SECOND,
        task: {
          type: TASK_OF[state],
          issuedAt: NOW - 900 * SECOND,
          reissues: 4,
          polls: 0,
        },
      });
      const p = planOf([stuck], { config: config({ task_timeout: 900, task_max_attempts: 5 }) });
      const d = p.decisions.find((x) => x.reasons.includes('TASK_EXHAUSTED'))!;
      const record = (d.writes[0] as { record: AmphoraRecord }).record;
      expect(record.failure?.code).toBe(code);
      if (to === state) expect(record.state).toBe(state);
      else {
        expect(record.history.find((h) => h.reason === 'TASK_EXHAUSTED')).toMatchObject({
          from: state,
          to,
        });
      }
    },
  );

  it('re-issues a stuck task below the bound', () => {
    const stuck = rec('PENDING_DELETE', {
      task: { type: 'REMOVE', issuedAt: NOW - 900 * SECOND, reissues: 3, polls: 0 },
    });
    const p = planOf([stuck], { config: config({ task_timeout: 900, task_max_attempts: 5 }) });
    expect(p.decisions.map((d) => d.reasons)).toEqual([['TASK_STUCK']]);
  });

  it('fails a preservation past preservation_timeout: removed, its leftovers with it', () => {
    const stuck = rec('PRESERVING', {
      ageSeconds: 3_600,
      preservation: {
        method: 'snapshot',
        seq: 's',
        queuedAt: NOW - 3_600 * SECOND,
        imageId: 'img-1',
      },
      task: { type: 'PRESERVE', issuedAt: NOW - 10 * SECOND, reissues: 0, polls: 200 },
    });
    const p = planOf([stuck], { config: config({ preservation_timeout: 3_600 }) });
    const d = p.decisions.find((x) => x.reasons.includes('PRESERVE_TIMEOUT'))!;
    const record = (d.writes[0] as { record: AmphoraRecord }).record;
    expect(record).toMatchObject({
      state: 'PENDING_DELETE',
      failure: { code: 'PRESERVE_TIMEOUT' },
      preservation: { imageId: 'img-1' },
      task: { type: 'REMOVE' },
    });
    expect(d.tasks.map((t) => t.task.type)).toEqual(['REMOVE']);
  });

  it('leaves a preservation within preservation_timeout alone', () => {
    const young = rec('PRESERVING', {
      ageSeconds: 3_599,
      task: { type: 'PRESERVE', issuedAt: NOW - 10 * SECOND, reissues: 0, polls: 200 },
    });
    expect(planOf([young], { config: config({ preservation_timeout: 3_600 }) }).decisions).toEqual(
      [],
    );
  });

  it.each([
    ['PENDING_CREATE', 'CREATE'],
    ['BOOTING', 'CHECK'],
    ['PENDING_DELETE', 'REMOVE'],
    ['PRESERVING', 'PRESERVE'],
  ] as const)(
    're-issues the %s task (%s) that made no progress within task_timeout',
    (state, type) => {
      const stuck = rec(state, {
        ageSeconds: 10,
        version: 4,
        bootStartedAt: NOW - 10 * SECOND,
        task: { type, issuedAt: NOW - 900 * SECOND, reissues: 1, polls: 3 },
      });
      const p = planOf([stuck], {
        config: config({ task_timeout: 900, maximum_preserved_amphora_count: 1 }),
      });
      const d = p.decisions.find((x) => x.reasons.includes('TASK_STUCK'))!;
      const record = (d.writes[0] as { record: AmphoraRecord }).record;
      expect(record.state).toBe(state);
      expect(record.version).toBe(5);
      expect(record.task).toEqual({ type, issuedAt: NOW, reissues: 2, polls: 3, token: 7 });
      expect(d.tasks).toEqual([
        { task: expect.objectContaining({ type, amphoraId: stuck.id, version: 5 }) },
      ]);
    },
  );

  it('does not re-issue a task younger than task_timeout', () => {
    const fresh = rec('PENDING_DELETE', {
      task: { type: 'REMOVE', issuedAt: NOW - 899 * SECOND, reissues: 0, polls: 0 },
    });
    expect(planOf([fresh], { config: config({ task_timeout: 900 }) }).decisions).toEqual([]);
  });

  it('issues the task of a record that has none (e.g. handed back without one)', () => {
    const bare = rec('PENDING_DELETE', { task: undefined });
    const p = planOf([bare]);
    expect(p.decisions.map((d) => d.reasons)).toEqual([['TASK_MISSING']]);
    expect(p.decisions[0]!.tasks[0]!.task.type).toBe('REMOVE');
  });

  it.each([
    ['PENDING_DELETE', 'DELETE_FAILED'],
    ['PRESERVING', 'PRESERVE_FAILED'],
  ] as const)('leaves a %s record with %s to the operator, saying so', (state, code) => {
    const blocked = rec(state, {
      task: {
        type: state === 'PRESERVING' ? 'PRESERVE' : 'REMOVE',
        issuedAt: NOW - 10_000 * SECOND,
        reissues: 0,
        polls: 0,
      },
      failure: { code, message: 'x', at: NOW },
    });
    const p = planOf([blocked], { config: config({ maximum_preserved_amphora_count: 1 }) });
    expect(p.decisions).toEqual([]);
    expect(p.notes).toContainEqual({
      code: 'NEEDS_OPERATOR',
      amphoraId: blocked.id,
      failure: code,
    });
  });
});

describe('deactivated amphorae', () => {
  const outcome = (p: Plan) =>
    p.decisions
      .flatMap((d) => d.changes.map((c) => `${c.amphoraId}:${c.to}:${d.reasons.join('+')}`))
      .sort();

  it('removes every ERROR and PRESERVE amphora when maximum_preserved_amphora_count is 0', () => {
    const a = rec('ERROR');
    const b = rec('PRESERVE');
    expect(
      outcome(planOf([a, b], { config: config({ maximum_preserved_amphora_count: 0 }) })),
    ).toEqual([
      `${a.id}:PENDING_DELETE:PRESERVATION_DISABLED`,
      `${b.id}:PENDING_DELETE:PRESERVATION_DISABLED`,
    ]);
  });

  it('keep: preserves the oldest while there is room, then removes newcomers', () => {
    const [old, mid, young] = [
      rec('ERROR', { ageSeconds: 300 }),
      rec('PRESERVE', { ageSeconds: 200 }),
      rec('ERROR', { ageSeconds: 100 }),
    ];
    const p = planOf([young, old, mid], {
      config: config({ maximum_preserved_amphora_count: 2, preservation_scheme: 'keep' }),
    });
    expect(outcome(p)).toEqual(
      [
        `${old!.id}:PRESERVING:PRESERVE_BELOW_LIMIT`,
        `${mid!.id}:PRESERVING:PRESERVE_BELOW_LIMIT`,
        `${young!.id}:PENDING_DELETE:KEEP_LIMIT_REACHED`,
      ].sort(),
    );
  });

  it('keep: with the preserved set full, removes every newcomer and keeps the preserved', () => {
    const kept = [rec('PRESERVED'), rec('PRESERVED')];
    const newcomer = rec('ERROR');
    const p = planOf([...kept, newcomer], {
      config: config({ maximum_preserved_amphora_count: 2, preservation_scheme: 'keep' }),
    });
    expect(outcome(p)).toEqual([`${newcomer.id}:PENDING_DELETE:KEEP_LIMIT_REACHED`]);
  });

  it('cycle: evicts the oldest preserved (by queue order) and preserves the newcomer together', () => {
    const older = rec('PRESERVED', {
      ageSeconds: 10,
      preservation: { method: 'unplug', seq: '000000000002:000000', queuedAt: NOW },
    });
    const oldest = rec('PRESERVED', {
      ageSeconds: 5,
      preservation: { method: 'unplug', seq: '000000000001:000000', queuedAt: NOW },
    });
    const newcomer = rec('ERROR');
    const p = planOf([older, oldest, newcomer], {
      config: config({ maximum_preserved_amphora_count: 2, preservation_scheme: 'cycle' }),
    });
    expect(p.decisions).toHaveLength(1);
    expect(p.decisions[0]!.reasons).toEqual(['CYCLE_EVICT_OLDEST']);
    expect(p.decisions[0]!.changes).toEqual([
      { amphoraId: oldest.id, pool: 'default', zone: '*', from: 'PRESERVED', to: 'PENDING_DELETE' },
      { amphoraId: newcomer.id, pool: 'default', zone: '*', from: 'ERROR', to: 'PRESERVING' },
    ]);
  });

  it('cycle: with more newcomers than room, removes the ones that would be evicted at once', () => {
    const c = [
      rec('ERROR', { ageSeconds: 30 }),
      rec('ERROR', { ageSeconds: 20 }),
      rec('ERROR', { ageSeconds: 10 }),
    ];
    const p = planOf(c, {
      config: config({ maximum_preserved_amphora_count: 2, preservation_scheme: 'cycle' }),
    });
    expect(outcome(p)).toEqual(
      [
        `${c[0]!.id}:PENDING_DELETE:CYCLE_SUPERSEDED`,
        `${c[1]!.id}:PRESERVING:PRESERVE_BELOW_LIMIT`,
        `${c[2]!.id}:PRESERVING:PRESERVE_BELOW_LIMIT`,
      ].sort(),
    );
  });

  it('cycle: a newcomer waits while the oldest preserved is still being preserved', () => {
    const inFlight = rec('PRESERVING', {
      ageSeconds: 1,
      task: { type: 'PRESERVE', issuedAt: NOW, reissues: 0, polls: 0 },
    });
    const newcomer = rec('ERROR');
    const p = planOf([inFlight, newcomer], {
      config: config({ maximum_preserved_amphora_count: 1, preservation_scheme: 'cycle' }),
    });
    expect(p.decisions).toEqual([]);
    expect(p.notes).toContainEqual({
      code: 'PRESERVE_WAITS_FOR_IN_FLIGHT',
      amphoraId: newcomer.id,
    });
  });

  it('cycle: evicts an oldest preservation that failed for good', () => {
    const failed = rec('PRESERVING', {
      failure: { code: 'PRESERVE_FAILED', message: 'x', at: NOW },
    });
    const newcomer = rec('ERROR');
    const p = planOf([failed, newcomer], {
      config: config({ maximum_preserved_amphora_count: 1, preservation_scheme: 'cycle' }),
    });
    expect(outcome(p)).toEqual(
      [
        `${failed.id}:PENDING_DELETE:CYCLE_EVICT_OLDEST`,
        `${newcomer.id}:PRESERVING:CYCLE_EVICT_OLDEST`,
      ].sort(),
    );
  });

  it.each(['keep', 'cycle'] as const)(
    '%s: trims the oldest preserved when the limit was lowered',
    (scheme) => {
      const q = [1, 2, 3].map((i) =>
        rec('PRESERVED', {
          preservation: { method: 'unplug', seq: `00000000000${i}:000000`, queuedAt: NOW },
        }),
      );
      const p = planOf(q, {
        config: config({ maximum_preserved_amphora_count: 1, preservation_scheme: scheme }),
      });
      expect(outcome(p)).toEqual([
        `${q[0]!.id}:PENDING_DELETE:PRESERVED_OVER_LIMIT`,
        `${q[1]!.id}:PENDING_DELETE:PRESERVED_OVER_LIMIT`,
      ]);
    },
  );

  it('removes a spare whose server the sweeps found gone (SERVER_MISSING) instead of preserving it, and boots its replacement in the same cycle', () => {
    const ghost = rec('ERROR', {
      failure: { code: 'SERVER_MISSING', message: 'missing from 2 sweeps', at: NOW },
    });
    const p = planOf([ghost], {
      config: config({ maximum_preserved_amphora_count: 3, spare_amphora_pool_size: 1 }),
    });
    expect(outcome(p)).toContain(`${ghost.id}:PENDING_DELETE:NOTHING_TO_PRESERVE`);
    expect(p.decisions.flatMap((d) => d.writes).filter((w) => w.kind === 'create')).toHaveLength(1);
    expect(outcome(p).filter((o) => o.includes('PRESERVING'))).toEqual([]);
  });

  it('preserves a spare whose server Nova put in ERROR (SERVER_FAILED): there is something to diagnose', () => {
    const broken = rec('ERROR', {
      failure: { code: 'SERVER_FAILED', message: 'server is ERROR', at: NOW },
    });
    const p = planOf([broken], { config: config({ maximum_preserved_amphora_count: 3 }) });
    expect(outcome(p)).toEqual([`${broken.id}:PRESERVING:PRESERVE_BELOW_LIMIT`]);
  });

  it('removes a failed amphora that never had a server: nothing to preserve', () => {
    const empty = rec('ERROR', { computeId: undefined });
    expect(
      outcome(planOf([empty], { config: config({ maximum_preserved_amphora_count: 3 }) })),
    ).toEqual([`${empty.id}:PENDING_DELETE:NOTHING_TO_PRESERVE`]);
  });

  it('queues preserved amphorae in age order, with the configured method, under the lease token', () => {
    const [a, b] = [rec('ERROR', { ageSeconds: 20 }), rec('ERROR', { ageSeconds: 10 })];
    const p = planOf([b, a], {
      config: config({ maximum_preserved_amphora_count: 5, preservation_method: 'snapshot' }),
      leaseToken: 42,
    });
    const preserved = p.decisions
      .flatMap((d) => d.writes)
      .map((w) => (w as { record: AmphoraRecord }).record);
    expect(preserved.map((r) => [r.id, r.preservation])).toEqual([
      [a.id, { method: 'snapshot', seq: '000000000042:000000', queuedAt: NOW }],
      [b.id, { method: 'snapshot', seq: '000000000042:000001', queuedAt: NOW }],
    ]);
    expect(preserved.every((r) => r.task?.type === 'PRESERVE')).toBe(true);
  });
});

describe('orphan sweep cadence', () => {
  const cfg = config({ orphan_sweep_interval: 600 });
  it.each([
    ['never swept', undefined, true],
    ['swept 599 s ago', NOW - 599 * SECOND, false],
    ['swept 600 s ago', NOW - 600 * SECOND, true],
  ])('%s → sweep issued: %s', (_n, lastSweepAt, due) => {
    const p = planOf([], {
      config: cfg,
      meta: { zones: [], ...(lastSweepAt !== undefined ? { lastSweepAt } : {}) },
    });
    const sweep = p.decisions.filter((d) => d.reasons.includes('SWEEP_DUE'));
    expect(sweep.length).toBe(due ? 1 : 0);
    if (due) {
      expect(sweep[0]!.writes).toEqual([{ kind: 'sweep-issued', at: NOW }]);
      expect(sweep[0]!.tasks.map((t) => t.task.type)).toEqual(['SWEEP']);
    }
  });
});

describe('steady state', () => {
  it('at target with nothing to do, reads no list and decides nothing', () => {
    const records = [
      ...many(3, () => rec('READY')),
      rec('ALLOCATED'),
      rec('DELETED'),
      rec('PRESERVED'),
    ];
    const cfg = config({ spare_amphora_pool_size: 3, maximum_preserved_amphora_count: 1 });
    expect(readPlan(cfg, stateOf(records, cfg))).toEqual({
      lists: [],
      preservedQueue: false,
      expired: PURGE_PER_CYCLE,
    });
    const p = planOf(records, { config: cfg });
    expect(p.decisions).toEqual([]);
    expect(p.spareReady).toBe(3);
    expect(p.spareTarget).toBe(3);
    expect(p.stateCounts).toMatchObject({
      READY: 3,
      ALLOCATED: 1,
      DELETED: 1,
      PRESERVED: 1,
      ERROR: 0,
    });
  });
});

describe('readPlan', () => {
  it('lists only the actionable states that have records, and the oldest READY needed to shrink', () => {
    const records = [rec('ERROR'), rec('BOOTING'), ...many(4, () => rec('READY', { zone: 'az1' }))];
    const cfg = config({ spare_amphora_pool_size: 2, availability_zones: ['az1'] });
    expect(readPlan(cfg, stateOf(records, cfg))).toEqual({
      lists: [
        { pool: 'default', state: 'BOOTING' },
        { pool: 'default', state: 'ERROR' },
        { pool: 'default', state: 'READY', zone: 'az1', limit: 2 },
      ],
      preservedQueue: false,
      expired: 0,
    });
  });

  it('reads the preserved queue only when eviction may be needed', () => {
    const cycle = config({ maximum_preserved_amphora_count: 1, preservation_scheme: 'cycle' });
    const keep = config({ maximum_preserved_amphora_count: 1, preservation_scheme: 'keep' });
    const full = [rec('PRESERVED'), rec('ERROR')];
    expect(readPlan(cycle, stateOf(full, cycle)).preservedQueue).toBe(true);
    expect(readPlan(keep, stateOf(full, keep)).preservedQueue).toBe(false);
    expect(readPlan(keep, stateOf([rec('PRESERVED'), rec('PRESERVED')], keep)).preservedQueue).toBe(
      true,
    );
  });
});

describe('while the cloud refuses (the breaker is open)', () => {
  const cfg = config({
    spare_amphora_pool_size: 3,
    maximum_deploying_amphora_count: 3,
    maximum_preserved_amphora_count: 1,
    boot_timeout: 600,
    task_timeout: 900,
  });
  const refusing = {
    state: 'refusing' as const,
    kind: 'Unauthorized' as const,
    since: NOW - 120 * SECOND,
    lastError: 'The request you have made requires authentication.',
    probeAt: NOW + 30 * SECOND,
    failures: 1,
    probes: 0,
  };
  /** A pool with something for every step: a deficit, a failure, a stuck task, an old boot. */
  const busy = () => [
    rec('ERROR'),
    rec('PENDING_DELETE', {
      task: { type: 'REMOVE', issuedAt: NOW - 2_000 * SECOND, reissues: 0, polls: 0 },
    }),
    rec('BOOTING', { ageSeconds: 700 }),
    rec('DELETED', { expiresAt: NOW - SECOND }),
  ];

  it('decides no cloud work: no create, boot expiry, re-issue, preservation or sweep', () => {
    const p = planOf(busy(), { config: cfg, meta: { cloud: refusing } });

    expect(p.decisions.flatMap((d) => d.reasons)).toEqual(['PURGE_EXPIRED']);
    expect(p.notes).toContainEqual({
      code: 'CLOUD_REFUSING',
      kind: 'Unauthorized',
      since: refusing.since,
      probeAt: refusing.probeAt,
      error: refusing.lastError,
    });
  });

  it('sends one probe (a sweep) once the probe is due, writing nothing for it', () => {
    const due = { ...refusing, probeAt: NOW };
    const p = planOf(busy(), { config: cfg, meta: { cloud: due } });
    const probe = p.decisions.find((d) => d.reasons.includes('CLOUD_PROBE'))!;

    expect(probe.writes).toEqual([]);
    expect(probe.tasks.map((t) => t.task.type)).toEqual(['SWEEP']);
    expect(p.decisions.flatMap((d) => d.reasons).sort()).toEqual(['CLOUD_PROBE', 'PURGE_EXPIRED']);
  });

  it('after recovery, re-issues at once the tasks it may have dropped, without counting them', () => {
    const dropped = rec('PENDING_CREATE', {
      task: { type: 'CREATE', issuedAt: NOW - 100 * SECOND, reissues: 1, polls: 0 },
    });
    const later = rec('PENDING_DELETE', {
      task: { type: 'REMOVE', issuedAt: NOW - 5 * SECOND, reissues: 0, polls: 0 },
    });
    const recovered = { state: 'ok' as const, failures: 0, recoveredAt: NOW - 10 * SECOND };
    const p = planOf([dropped, later], { config: cfg, meta: { cloud: recovered } });
    const again = p.decisions.filter((d) => d.reasons.includes('TASK_AFTER_OUTAGE'));

    expect(again.map((d) => d.changes[0]!.amphoraId)).toEqual([dropped.id]);
    const record = (again[0]!.writes[0] as { record: AmphoraRecord }).record;
    expect(record.task).toMatchObject({ type: 'CREATE', issuedAt: NOW, reissues: 1 });
    expect(again[0]!.tasks.map((t) => t.task.type)).toEqual(['CREATE']);
  });

  it('plans as usual when the cloud is healthy', () => {
    const p = planOf(busy(), { config: cfg, meta: { cloud: { state: 'ok', failures: 0 } } });
    const reasons = new Set(p.decisions.flatMap((d) => d.reasons));
    for (const r of ['TOP_UP', 'BOOT_TIMEOUT_CHECK', 'TASK_STUCK', 'PURGE_EXPIRED', 'SWEEP_DUE']) {
      expect(reasons).toContain(r);
    }
  });
});

describe('lost sends: a cycle that never confirmed its sends', () => {
  const pending = (token: number | undefined) =>
    rec('PENDING_CREATE', {
      ageSeconds: 30,
      task: {
        type: 'CREATE',
        issuedAt: NOW - 30 * SECOND,
        reissues: 0,
        polls: 0,
        ...(token !== undefined ? { token } : {}),
      },
    });
  const planWith = (records: AmphoraRecord[], sentThrough: number | undefined) =>
    plan({
      ...snapshot(records, { config: config({ spare_amphora_pool_size: 1 }), leaseToken: 7 }),
      ...(sentThrough !== undefined ? { sentThrough } : {}),
    });

  it.each([
    ['issued by cycle 6, confirmed only through 5', 6, 5, true],
    ['issued by cycle 6, never any confirmation', 6, undefined, true],
    ['issued by cycle 6, confirmed through 6', 6, 6, false],
    ['issued by cycle 4, confirmed through 6 (it was sent)', 4, 6, false],
    ['issued by an executor (no token)', undefined, 5, false],
  ] as const)('a task %s is sent again at once: %s', (_name, token, sentThrough, resent) => {
    const r = pending(token);
    const p = planWith([r], sentThrough);
    const again = p.decisions.filter((d) => d.reasons.includes('TASK_UNSENT'));
    expect(again.map((d) => d.changes[0]!.amphoraId)).toEqual(resent ? [r.id] : []);
    if (resent) {
      const record = (again[0]!.writes[0] as { record: AmphoraRecord }).record;
      // Not a re-issue: the bound on re-issues is not spent; the new send carries this cycle.
      expect(record.task).toMatchObject({ type: 'CREATE', issuedAt: NOW, reissues: 0, token: 7 });
      expect(again[0]!.tasks.map((t) => t.task.type)).toEqual(['CREATE']);
    }
  });

  it('stamps every task a cycle issues with its lease token', () => {
    const p = planWith([], undefined);
    const created = p.decisions
      .flatMap((d) => d.writes)
      .flatMap((w) => (w.kind === 'create' ? [w.record] : []));
    expect(created).toHaveLength(1);
    expect(created[0]!.task).toMatchObject({ type: 'CREATE', token: 7 });
  });
});
