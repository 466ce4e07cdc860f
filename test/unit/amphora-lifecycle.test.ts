/**
 * The amphora lifecycle (SPEC §3): the only legal moves, what a transition does to a record,
 * bounded history, field updates, and the purge time of deleted records.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  canTransition,
  expiryTime,
  HISTORY_LIMIT,
  type HistoryEntry,
  isLive,
  newAmphora,
  normalizeRecord,
  type PendingTask,
  TRANSITIONS,
  transition,
  update,
} from '../../lib/domain/amphora.ts';
import { HousekeeperError, IllegalTransitionError } from '../../lib/domain/errors.ts';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const TASK: PendingTask = { type: 'CHECK', issuedAt: T0 + MINUTE, reissues: 1, polls: 2 };

/** A record in `state` with every optional field set, deep-frozen. */
function recordIn(state: AmphoraState, history: HistoryEntry[] = []): AmphoraRecord {
  return deepFreeze({
    id: 'amp-1',
    pool: 'large',
    zone: 'az1',
    computeZone: 'nova-1',
    launch: { imageId: 'img-1', flavorId: 'f-1', digest: '0123abcd' },
    state,
    version: 7,
    createdAt: T0,
    updatedAt: T0 + 2 * MINUTE,
    stateSince: T0 + MINUTE,
    computeId: 'srv-1',
    bootStartedAt: T0 + MINUTE,
    lastSeenAliveAt: T0 + 2 * MINUTE,
    task: TASK,
    preservation: { method: 'unplug', seq: '0001-0000', queuedAt: T0 + MINUTE },
    failure: { code: 'BOOT_FAILED', message: 'no valid host', at: T0 + MINUTE },
    history,
  });
}

function historyOf(n: number): HistoryEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    at: T0 + i,
    from: 'READY' as const,
    to: 'ALLOCATED' as const,
    reason: `h${i}`,
  }));
}

const ALL_PAIRS = AMPHORA_STATES.flatMap((from) =>
  AMPHORA_STATES.map((to) => [from, to] as [AmphoraState, AmphoraState]),
);
const LEGAL_PAIRS = ALL_PAIRS.filter(([from, to]) => TRANSITIONS[from].includes(to));
const ILLEGAL_PAIRS = ALL_PAIRS.filter(([from, to]) => !TRANSITIONS[from].includes(to));

/** The edges of the lifecycle diagram in SPEC §3, and the moves §4 and §5 describe. */
const SPEC_EDGES: Array<[AmphoraState, AmphoraState, string]> = [
  ['PENDING_CREATE', 'BOOTING', 'the server was requested'],
  ['BOOTING', 'READY', 'the server is ACTIVE'],
  ['READY', 'ALLOCATED', 'a spare is claimed'],
  ['ALLOCATED', 'PENDING_DELETE', 'an allocated amphora is handed back'],
  ['PENDING_DELETE', 'DELETED', 'the server was removed'],
  ['BOOTING', 'ERROR', 'boot failure or boot timeout'],
  ['READY', 'ERROR', 'a spare is reported failed'],
  ['ALLOCATED', 'ERROR', 'an allocated amphora is reported failed'],
  ['ERROR', 'PRESERVING', 'a failed amphora is preserved'],
  ['PRESERVE', 'PRESERVING', 'an operator asked for preservation'],
  ['PRESERVING', 'PRESERVED', 'preservation completed'],
  ['PRESERVED', 'PENDING_DELETE', 'cycle evicts the oldest preserved'],
  ['ERROR', 'PENDING_DELETE', 'keep removes the newcomer, or N = 0'],
  ['PRESERVE', 'PENDING_DELETE', 'keep removes the newcomer, or N = 0'],
  ['READY', 'PENDING_DELETE', 'the target was lowered: excess spares removed'],
  ['PENDING_CREATE', 'ERROR', 'the create failed'],
];

describe('the lifecycle table', () => {
  it.each(ALL_PAIRS)(
    'canTransition(%s, %s) is true exactly when TRANSITIONS lists it',
    (from, to) => {
      expect(canTransition(from, to)).toBe(TRANSITIONS[from].includes(to));
    },
  );

  it('lists only known states, and none twice', () => {
    for (const state of AMPHORA_STATES) {
      const targets = TRANSITIONS[state];
      expect(
        targets.every((t) => AMPHORA_STATES.includes(t)),
        state,
      ).toBe(true);
      expect(new Set(targets).size, state).toBe(targets.length);
    }
    expect(Object.keys(TRANSITIONS).sort()).toStrictEqual([...AMPHORA_STATES].sort());
  });

  it.each(SPEC_EDGES)('allows %s -> %s (%s)', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it('lets nothing leave DELETED, and nothing stay in place', () => {
    expect(TRANSITIONS.DELETED).toStrictEqual([]);
    for (const state of AMPHORA_STATES) expect(canTransition(state, state), state).toBe(false);
  });

  it.each(AMPHORA_STATES.filter((s) => s !== 'DELETED' && s !== 'PENDING_DELETE'))(
    'lets an operator hand back a %s amphora (-> PENDING_DELETE)',
    (state) => {
      expect(canTransition(state, 'PENDING_DELETE')).toBe(true);
    },
  );

  it('reaches DELETED only through PENDING_DELETE', () => {
    const into = AMPHORA_STATES.filter((s) => canTransition(s, 'DELETED'));
    expect(into).toStrictEqual(['PENDING_DELETE']);
  });

  it('only ERROR and PRESERVE enter preservation', () => {
    const into = AMPHORA_STATES.filter((s) => canTransition(s, 'PRESERVING'));
    expect(into.sort()).toStrictEqual(['ERROR', 'PRESERVE']);
  });
});

describe('transition', () => {
  it.each(ILLEGAL_PAIRS)('refuses %s -> %s with IllegalTransitionError', (from, to) => {
    // Prepare
    const record = recordIn(from);
    let result: AmphoraRecord | undefined;
    let caught: unknown;

    // Act
    try {
      result = transition(record, to, { now: T0 + 5 * MINUTE, reason: 'test' });
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(result).toBeUndefined();
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect(caught).toBeInstanceOf(HousekeeperError);
    const error = caught as IllegalTransitionError;
    expect({ amphoraId: error.amphoraId, from: error.from, to: error.to }).toStrictEqual({
      amphoraId: 'amp-1',
      from,
      to,
    });
    expect(error.message).toBe(`amphora amp-1: illegal transition ${from} -> ${to}`);
  });

  it.each(LEGAL_PAIRS)(
    'moves %s -> %s: one version up, one history entry, task cleared',
    (from, to) => {
      // Prepare
      const record = recordIn(from, historyOf(2));
      const now = T0 + 5 * MINUTE;

      // Act
      const next = transition(record, to, { now, reason: 'because' });

      // Assess
      const { task: _task, ...kept } = record;
      expect(next).toStrictEqual({
        ...kept,
        state: to,
        version: 8,
        updatedAt: now,
        stateSince: now,
        history: [...record.history, { at: now, from, to, reason: 'because' }],
      });
      expect('task' in next).toBe(false);
    },
  );

  it('sets the pending task the patch gives', () => {
    // Prepare
    const record = recordIn('PENDING_CREATE');
    const task: PendingTask = { type: 'CHECK', issuedAt: T0 + 9 * MINUTE, reissues: 0, polls: 0 };

    // Act
    const next = transition(record, 'BOOTING', {
      now: T0 + 9 * MINUTE,
      reason: 'server requested',
      patch: { task, bootStartedAt: T0 + 9 * MINUTE, computeId: 'srv-2' },
    });

    // Assess
    expect(next.task).toStrictEqual(task);
    expect(next.bootStartedAt).toBe(T0 + 9 * MINUTE);
    expect(next.computeId).toBe('srv-2');
    expect(next.failure).toStrictEqual(record.failure);
  });

  it.each<keyof AmphoraRecord & string>([
    'failure',
    'preservation',
    'computeId',
    'lastSeenAliveAt',
    'bootStartedAt',
  ])('clears %s when the patch sets it to undefined', (field) => {
    // Prepare
    const record = recordIn('ERROR');

    // Act
    const next = transition(record, 'PENDING_DELETE', {
      now: T0 + MINUTE * 3,
      reason: 'r',
      patch: { [field]: undefined },
    });

    // Assess
    expect(field in next).toBe(false);
    expect(field in record).toBe(true);
  });

  it('keeps at most HISTORY_LIMIT entries, dropping the oldest', () => {
    // Prepare
    const record = recordIn('READY', historyOf(HISTORY_LIMIT));

    // Act
    const next = transition(record, 'ALLOCATED', { now: T0 + MINUTE, reason: 'newest' });

    // Assess
    expect(next.history).toHaveLength(HISTORY_LIMIT);
    expect(next.history[0]!.reason).toBe('h1');
    expect(next.history.at(-1)).toStrictEqual({
      at: T0 + MINUTE,
      from: 'READY',
      to: 'ALLOCATED',
      reason: 'newest',
    });
  });

  it.each([0, 1, HISTORY_LIMIT - 1, HISTORY_LIMIT, HISTORY_LIMIT + 5])(
    'with %s entries before, keeps the newest min(n + 1, limit)',
    (n) => {
      // Prepare
      const before = historyOf(n);

      // Act
      const next = transition(recordIn('READY', before), 'ERROR', { now: T0, reason: 'new' });

      // Assess
      const expected = [...before.map((h) => h.reason), 'new'].slice(-HISTORY_LIMIT);
      expect(next.history.map((h) => h.reason)).toStrictEqual(expected);
    },
  );

  it('holds its invariants for any legal move, record and time (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...LEGAL_PAIRS),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.nat(HISTORY_LIMIT + 3),
        fc.integer({ min: T0, max: T0 + 365 * 24 * 60 * MINUTE }),
        fc.option(fc.constantFrom<PendingTask['type']>('CREATE', 'CHECK', 'REMOVE', 'PRESERVE'), {
          nil: undefined,
        }),
        ([from, to], version, historyLength, now, newTaskType) => {
          // Prepare
          const record = deepFreeze({ ...recordIn(from, historyOf(historyLength)), version });
          const patch = newTaskType
            ? { task: { type: newTaskType, issuedAt: now, reissues: 0, polls: 0 } }
            : undefined;

          // Act
          const next = transition(record, to, { now, reason: 'p', ...(patch ? { patch } : {}) });

          // Assess
          expect(next.version).toBe(version + 1);
          expect(next.state).toBe(to);
          expect(next.stateSince).toBe(now);
          expect(next.updatedAt).toBe(now);
          expect(next.history).toHaveLength(Math.min(historyLength + 1, HISTORY_LIMIT));
          expect(next.history.at(-1)).toStrictEqual({ at: now, from, to, reason: 'p' });
          expect(next.task).toStrictEqual(patch?.task);
          expect(next.id).toBe(record.id);
          expect(next.createdAt).toBe(record.createdAt);
          expect(record.state).toBe(from);
          expect(record.version).toBe(version);
        },
      ),
    );
  });
});

describe('update', () => {
  it('changes the patched fields, one version up, and leaves state, stateSince and history alone', () => {
    // Prepare
    const record = recordIn('BOOTING', historyOf(3));
    const now = T0 + 10 * MINUTE;

    // Act
    const next = update(record, { now, patch: { lastSeenAliveAt: now, computeId: 'srv-9' } });

    // Assess
    expect(next).toStrictEqual({
      ...record,
      version: 8,
      updatedAt: now,
      lastSeenAliveAt: now,
      computeId: 'srv-9',
    });
    expect(next.history).toStrictEqual(record.history);
  });

  it('keeps the pending task unless the patch changes it', () => {
    // Act
    const next = update(recordIn('BOOTING'), { now: T0, patch: {} });

    // Assess
    expect(next.task).toStrictEqual(TASK);
    expect(next.version).toBe(8);
  });

  it.each<keyof AmphoraRecord & string>(['task', 'failure', 'preservation', 'computeId'])(
    'clears %s when the patch sets it to undefined',
    (field) => {
      // Act
      const next = update(recordIn('ERROR'), { now: T0, patch: { [field]: undefined } });

      // Assess
      expect(field in next).toBe(false);
      expect(next.state).toBe('ERROR');
    },
  );
});

describe('newAmphora', () => {
  it('is a PENDING_CREATE record at version 1 with no history', () => {
    expect(newAmphora({ id: 'a-1', pool: 'small', zone: 'az2', now: T0 })).toStrictEqual({
      id: 'a-1',
      pool: 'small',
      zone: 'az2',
      state: 'PENDING_CREATE',
      version: 1,
      createdAt: T0,
      updatedAt: T0,
      stateSince: T0,
      history: [],
    });
  });

  it('carries the task it was created with', () => {
    // Prepare
    const task: PendingTask = { type: 'CREATE', issuedAt: T0, reissues: 0, polls: 0 };

    // Act
    const record = newAmphora({ id: 'a-1', pool: 'default', zone: '*', now: T0, task });

    // Assess
    expect(record.task).toStrictEqual(task);
  });

  it('carries the compute zone and the launch the planner chose', () => {
    const launch = { imageId: 'img-2', flavorId: 'f', digest: 'abcdef01' };
    const record = newAmphora({
      id: 'a-1',
      pool: 'large',
      zone: 'octavia-a',
      computeZone: 'nova-a',
      launch,
      now: T0,
    });
    expect(record).toMatchObject({
      pool: 'large',
      zone: 'octavia-a',
      computeZone: 'nova-a',
      launch,
    });
  });
});

describe('records written before pools', () => {
  it('read as the pool default, and keep a pool they have', () => {
    const { pool: _pool, ...legacy } = newAmphora({ id: 'old', pool: 'x', zone: '*', now: T0 });
    expect(normalizeRecord(legacy).pool).toBe('default');
    expect(normalizeRecord({ ...legacy, pool: 'large' }).pool).toBe('large');
  });
});

describe('isLive', () => {
  it.each(AMPHORA_STATES)('%s', (state) => {
    expect(isLive({ state })).toBe(state !== 'DELETED');
  });
});

describe('expiryTime: never purge before last seen alive + the age (zombie rule)', () => {
  const AGE = 7 * 24 * 60 * MINUTE;

  it.each<[string, { deletedAt?: number; lastSeenAliveAt?: number }, number]>([
    ['deleted, never seen alive', { deletedAt: T0 }, T0 + AGE],
    ['seen alive before deletion', { deletedAt: T0, lastSeenAliveAt: T0 - MINUTE }, T0 + AGE],
    [
      'seen alive after deletion (a zombie)',
      { deletedAt: T0, lastSeenAliveAt: T0 + MINUTE },
      T0 + MINUTE + AGE,
    ],
    ['seen alive at the deletion instant', { deletedAt: T0, lastSeenAliveAt: T0 }, T0 + AGE],
    ['only seen alive', { lastSeenAliveAt: T0 }, T0 + AGE],
  ])('%s', (_, record, expected) => {
    expect(expiryTime(record, AGE)).toBe(expected);
  });

  it('is the later of deletedAt and lastSeenAliveAt, plus the age (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 42 }),
        fc.integer({ min: 0, max: 2 ** 42 }),
        fc.integer({ min: 0, max: 365 * 24 * 60 * MINUTE }),
        (deletedAt, lastSeenAliveAt, age) => {
          const at = expiryTime({ deletedAt, lastSeenAliveAt }, age);
          expect(at).toBe(Math.max(deletedAt, lastSeenAliveAt) + age);
          expect(at).toBeGreaterThanOrEqual(lastSeenAliveAt + age);
          expect(at).toBeGreaterThanOrEqual(deletedAt + age);
        },
      ),
    );
  });
});
