/**
 * The pool store contract: one suite, run against every PoolStore adapter (in memory, and
 * DynamoDB on DynamoDB Local). An adapter that passes it can serve the planner and executors.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  oldestFirst,
  transition,
} from '../../lib/domain/amphora.ts';
import { LeaseLostError, VersionConflictError } from '../../lib/domain/errors.ts';
import { withoutZeros } from '../../lib/domain/pool.ts';
import {
  type Lease,
  MAX_GROUP_WRITES,
  type PoolCounts,
  type PoolStore,
  type WriteGroup,
} from '../../lib/ports/pool-store.ts';
import { rec } from '../support/pool-fixtures.ts';

/** What an adapter's test setup gives the contract suite. */
export interface PoolStoreHarness {
  /** A new, empty store. */
  fresh(): Promise<PoolStore>;
  /** Runs of the properties that need a fresh store per run (fewer for slow stores). */
  readonly propertyRuns: number;
  /** Deletes a record behind the counters' back, as a TTL purge does: a drift to repair. */
  dropBehindCounters(store: PoolStore, amphoraId: string): Promise<void>;
  cleanup(): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 1);
const TTL = 1_000;

/** The record as it would be read back; `rec` sets no undefined fields, so this is the same. */
function at(state: AmphoraState, id: string, fields: Partial<AmphoraRecord> = {}): AmphoraRecord {
  return rec(state, { id, stateSince: T0, updatedAt: T0, ...fields });
}

/** The expected counters, computed here independently of any adapter (a test oracle). */
function tally(records: readonly AmphoraRecord[]): PoolCounts {
  const counts: Record<string, Record<string, Partial<Record<AmphoraState, number>>>> = {};
  for (const r of records) {
    const pool = counts[r.pool] ?? {};
    const zone = pool[r.zone] ?? {};
    zone[r.state] = (zone[r.state] ?? 0) + 1;
    pool[r.zone] = zone;
    counts[r.pool] = pool;
  }
  return counts;
}

async function conflictOf(call: Promise<unknown>): Promise<VersionConflictError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof VersionConflictError) return error;
    throw error;
  }
  throw new Error('expected a VersionConflictError, but the write succeeded');
}

/** The lease rules, written independently of any adapter. */
class LeaseModel {
  private holder: string | undefined;
  private token = 0;
  private expiresAt = 0;

  acquire(holder: string, now: number, ttl: number): Lease | undefined {
    const live = this.holder !== undefined && this.expiresAt > now;
    if (live && this.holder !== holder) return undefined;
    if (!live) this.token += 1;
    this.holder = holder;
    this.expiresAt = now + ttl;
    return { holder, token: this.token, expiresAt: this.expiresAt };
  }

  release(lease: Lease): void {
    if (lease.holder === this.holder && lease.token === this.token) this.expiresAt = 0;
  }
}

/** Registers the contract suite for one pool store adapter. */
export function describePoolStoreContract(
  name: string,
  setup: () => Promise<PoolStoreHarness>,
): void {
  describe(`pool store contract: ${name}`, () => {
    let h: PoolStoreHarness;

    beforeAll(async () => {
      h = await setup();
    });

    afterAll(async () => {
      await h?.cleanup();
    });

    describe('records', () => {
      it('returns undefined for an id never stored', async () => {
        const store = await h.fresh();
        expect(await store.get('nope')).toBeUndefined();
      });

      it('reads back a created record with every field intact', async () => {
        // Prepare
        const store = await h.fresh();
        const full: AmphoraRecord = {
          id: 'full-1',
          pool: 'large',
          zone: 'az-1',
          computeZone: 'nova-az-1',
          launch: { imageId: 'img-2', flavorId: 'flavor-2', digest: '0123abcd' },
          state: 'PRESERVING',
          version: 7,
          createdAt: T0,
          updatedAt: T0 + 5,
          stateSince: T0 + 4,
          computeId: 'srv-1',
          bootStartedAt: T0 + 1,
          lastSeenAliveAt: T0 + 3,
          task: { type: 'PRESERVE', issuedAt: T0 + 4, reissues: 2, polls: 1 },
          preservation: {
            method: 'snapshot',
            seq: '000000000003:000001',
            queuedAt: T0 + 4,
            preservedAt: T0 + 5,
            imageId: 'img-1',
          },
          failure: {
            code: 'BOOT_TIMEOUT',
            message: 'no boot in 600 s: "quoted", ünïcode',
            at: T0 + 2,
          },
          deletedAt: T0 + 6,
          expiresAt: T0 + 7,
          history: [
            { at: T0 + 2, from: 'BOOTING', to: 'ERROR', reason: 'BOOT_TIMEOUT' },
            { at: T0 + 4, from: 'ERROR', to: 'PRESERVING', reason: 'PRESERVE' },
          ],
        };

        // Act
        await store.create(full);

        // Assess
        expect(await store.get('full-1')).toStrictEqual(full);
      });

      it('refuses to create an id that exists, reporting the stored record', async () => {
        // Prepare
        const store = await h.fresh();
        const stored = at('READY', 'a');
        await store.create(stored);

        // Act
        const error = await conflictOf(store.create(at('BOOTING', 'a')));

        // Assess
        expect(error.amphoraId).toBe('a');
        expect(error.expectedVersion).toBe('absent');
        expect(error.current).toStrictEqual(stored);
        expect(await store.get('a')).toStrictEqual(stored);
      });

      it('replaces a record updated at its stored version', async () => {
        // Prepare
        const store = await h.fresh();
        const stored = at('BOOTING', 'a', { version: 3 });
        await store.create(stored);
        const next = transition(stored, 'READY', { now: T0 + 10, reason: 'BOOTED' });

        // Act
        await store.update(next, { version: 3, state: 'BOOTING' });

        // Assess
        expect(await store.get('a')).toStrictEqual(next);
      });

      it.each([
        ['a stale version', true, 2],
        ['a version ahead of the stored one', true, 4],
        ['a record never stored', false, 3],
      ])('refuses an update at %s and changes nothing', async (_case, exists, expected) => {
        // Prepare
        const store = await h.fresh();
        const stored = at('BOOTING', 'a', { version: 3 });
        if (exists) await store.create(stored);
        const next = transition(stored, 'READY', { now: T0 + 10, reason: 'BOOTED' });

        // Act
        const error = await conflictOf(store.update(next, { version: expected, state: 'BOOTING' }));

        // Assess
        expect(error.expectedVersion).toBe(expected);
        expect(error.current).toStrictEqual(exists ? stored : undefined);
        expect(await store.get('a')).toStrictEqual(exists ? stored : undefined);
      });

      it('lets exactly one of two concurrent updates at one version win', async () => {
        // Prepare
        const store = await h.fresh();
        const stored = at('READY', 'a', { version: 5 });
        await store.create(stored);
        const claim = transition(stored, 'ALLOCATED', { now: T0 + 1, reason: 'CLAIMED' });
        const fail = transition(stored, 'ERROR', { now: T0 + 1, reason: 'REPORTED' });

        // Act
        const outcomes = await Promise.allSettled([
          store.update(claim, { version: 5, state: 'READY' }),
          store.update(fail, { version: 5, state: 'READY' }),
        ]);

        // Assess
        const won = outcomes.findIndex((o) => o.status === 'fulfilled');
        const lost = outcomes.find((o) => o.status === 'rejected')?.reason as unknown;
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        expect(lost).toBeInstanceOf(VersionConflictError);
        const winner = won === 0 ? claim : fail;
        expect(await store.get('a')).toStrictEqual(winner);
        expect((lost as VersionConflictError).current).toStrictEqual(winner);
      });

      it('lets exactly one of two claims of the one READY spare allocate it', async () => {
        // Prepare
        const store = await h.fresh();
        await store.create(at('READY', 'spare', { version: 2 }));
        const claim = async (who: string) => {
          const [spare] = await store.listByState('default', 'READY', { limit: 1 });
          if (!spare) return undefined;
          const next = transition(spare, 'ALLOCATED', { now: T0 + 1, reason: `CLAIMED by ${who}` });
          await store.update(next, spare);
          return who;
        };

        // Act
        const outcomes = await Promise.allSettled([claim('a'), claim('b')]);

        // Assess
        const winners = outcomes.filter((o) => o.status === 'fulfilled' && o.value !== undefined);
        expect(winners).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(VersionConflictError);
        }
        const allocated = await store.get('spare');
        expect(allocated?.state).toBe('ALLOCATED');
        expect(allocated?.version).toBe(3);
      });

      it('getMany returns each stored record among the ids once, beyond one batch', async () => {
        // Prepare
        const store = await h.fresh();
        const records = Array.from({ length: 130 }, (_, i) => at('READY', `r-${i}`));
        await Promise.all(records.map((r) => store.create(r)));
        const ids = [...records.map((r) => r.id), 'unknown-1', 'r-7', 'r-7', 'unknown-2'];

        // Act
        const found = await store.getMany(ids);

        // Assess
        expect(found.map((r) => r.id).sort()).toStrictEqual(records.map((r) => r.id).sort());
        expect(found.find((r) => r.id === 'r-42')).toStrictEqual(records[42]);
      });

      it('getMany of no ids returns none', async () => {
        const store = await h.fresh();
        expect(await store.getMany([])).toStrictEqual([]);
      });
    });

    describe('lists and counts', () => {
      it('lists one state oldest stateSince first, ties broken by id', async () => {
        // Prepare
        const store = await h.fresh();
        await Promise.all([
          store.create(at('ERROR', 'c', { stateSince: T0 + 2 })),
          store.create(at('ERROR', 'b', { stateSince: T0 + 1 })),
          store.create(at('ERROR', 'a', { stateSince: T0 + 2 })),
          store.create(at('ERROR', 'd', { stateSince: T0 + 10_000_000 })),
          store.create(at('READY', 'e', { stateSince: T0 })),
        ]);

        // Act
        const listed = await store.listByState('default', 'ERROR');

        // Assess
        expect(listed.map((r) => r.id)).toStrictEqual(['b', 'a', 'c', 'd']);
        expect(listed[0]).toStrictEqual(at('ERROR', 'b', { stateSince: T0 + 1 }));
      });

      it.each<[string, { zone?: string; limit?: number }, string[]]>([
        ['every zone', {}, ['z1-old', 'z2-old', 'z1-mid', 'z2-new', 'z1-new']],
        ['every zone, at most 2', { limit: 2 }, ['z1-old', 'z2-old']],
        ['one zone', { zone: 'az-1' }, ['z1-old', 'z1-mid', 'z1-new']],
        ['one zone, at most 2', { zone: 'az-1', limit: 2 }, ['z1-old', 'z1-mid']],
        ['a zone with none', { zone: 'az-3' }, []],
        ['a limit of 0', { limit: 0 }, []],
        ['a limit above the count', { zone: 'az-2', limit: 10 }, ['z2-old', 'z2-new']],
      ])('lists READY in %s', async (_case, options, ids) => {
        // Prepare
        const store = await h.fresh();
        await Promise.all([
          store.create(at('READY', 'z1-old', { zone: 'az-1', stateSince: T0 + 1 })),
          store.create(at('READY', 'z1-mid', { zone: 'az-1', stateSince: T0 + 3 })),
          store.create(at('READY', 'z1-new', { zone: 'az-1', stateSince: T0 + 5 })),
          store.create(at('READY', 'z2-old', { zone: 'az-2', stateSince: T0 + 2 })),
          store.create(at('READY', 'z2-new', { zone: 'az-2', stateSince: T0 + 4 })),
          store.create(at('ALLOCATED', 'z1-gone', { zone: 'az-1', stateSince: T0 })),
        ]);

        // Act
        const listed = await store.listByState('default', 'READY', options);

        // Assess
        expect(listed.map((r) => r.id)).toStrictEqual(ids);
      });

      it('counts by pool, zone and state in its counters, every state but none at zero', async () => {
        // Prepare
        const store = await h.fresh();
        await Promise.all([
          store.create(at('READY', 'a', { zone: 'az-1' })),
          store.create(at('READY', 'b', { zone: 'az-1' })),
          store.create(at('READY', 'c', { zone: 'az-2' })),
          store.create(at('BOOTING', 'd', { zone: 'az-2' })),
          store.create(at('DELETED', 'e', { zone: 'az-1' })),
          store.create(at('READY', 'f', { pool: 'large', zone: 'az-1' })),
        ]);

        // Act
        const { counts } = await store.getPoolState();

        // Assess
        expect(counts).toStrictEqual({
          default: { 'az-1': { READY: 2, DELETED: 1 }, 'az-2': { READY: 1, BOOTING: 1 } },
          large: { 'az-1': { READY: 1 } },
        });
      });

      it('counts nothing in an empty store', async () => {
        const store = await h.fresh();
        expect((await store.getPoolState()).counts).toStrictEqual({});
      });

      it('moves a record between lists and counters when its state changes', async () => {
        // Prepare
        const store = await h.fresh();
        const ready = at('READY', 'a', { zone: 'az-1' });
        await store.create(ready);

        // Act
        await store.update(transition(ready, 'ERROR', { now: T0 + 1, reason: 'REPORTED' }), ready);

        // Assess
        expect(await store.listByState('default', 'READY')).toStrictEqual([]);
        expect(await store.listByState('default', 'READY', { zone: 'az-1' })).toStrictEqual([]);
        expect((await store.listByState('default', 'ERROR')).map((r) => r.id)).toStrictEqual(['a']);
        expect((await store.getPoolState()).counts).toStrictEqual({
          default: { 'az-1': { ERROR: 1 } },
        });
      });

      it('keeps the counters of an update that changes no state, and of one that loses its race', async () => {
        // Prepare
        const store = await h.fresh();
        const booting = at('BOOTING', 'a', { version: 3 });
        await store.create(booting);

        // Act
        const polled = { ...booting, version: 4, updatedAt: T0 + 5 };
        await store.update(polled, booting);
        await conflictOf(
          store.update(transition(booting, 'READY', { now: T0 + 6, reason: 'BOOTED' }), booting),
        );

        // Assess
        expect((await store.getPoolState()).counts).toStrictEqual({
          default: { '*': { BOOTING: 1 } },
        });
        expect(await store.get('a')).toStrictEqual(polled);
      });

      it('refuses an update whose expected state is not the stored one, writing nothing', async () => {
        const store = await h.fresh();
        const ready = at('READY', 'a', { version: 3 });
        await store.create(ready);
        const next = transition(ready, 'ERROR', { now: T0 + 1, reason: 'REPORTED' });
        await conflictOf(store.update(next, { version: 3, state: 'BOOTING' }));
        expect(await store.get('a')).toStrictEqual(ready);
        expect((await store.getPoolState()).counts).toStrictEqual({
          default: { '*': { READY: 1 } },
        });
      });

      it('keeps pools apart: one pool’s lists never show another’s records', async () => {
        const store = await h.fresh();
        await store.create(at('READY', 'small-1', { pool: 'small' }));
        await store.create(at('READY', 'large-1', { pool: 'large' }));
        expect((await store.listByState('small', 'READY')).map((r) => r.id)).toStrictEqual([
          'small-1',
        ]);
        expect((await store.listByState('large', 'READY')).map((r) => r.id)).toStrictEqual([
          'large-1',
        ]);
        expect(await store.listByState('default', 'READY')).toStrictEqual([]);
      });

      it('finds records by a unique id prefix, by id, at most `limit`, and refuses an empty prefix', async () => {
        // Prepare
        const store = await h.fresh();
        const ids = ['ab12', 'ab34', 'ab35', 'cd56', 'zz'];
        await Promise.all(ids.map((id) => store.create(at('READY', id))));

        // Act + Assess
        expect((await store.findByIdPrefix('ab3', 10)).map((r) => r.id)).toStrictEqual([
          'ab34',
          'ab35',
        ]);
        expect((await store.findByIdPrefix('ab', 2)).map((r) => r.id)).toStrictEqual([
          'ab12',
          'ab34',
        ]);
        expect((await store.findByIdPrefix('cd56', 10)).map((r) => r.id)).toStrictEqual(['cd56']);
        expect(await store.findByIdPrefix('q', 10)).toStrictEqual([]);
        await expect(store.findByIdPrefix('', 10)).rejects.toThrow(RangeError);
      });

      it('lists the DELETED records past their expiry, soonest first, and no others', async () => {
        // Prepare
        const store = await h.fresh();
        await Promise.all([
          store.create(at('DELETED', 'late', { expiresAt: T0 + 30 })),
          store.create(at('DELETED', 'first', { expiresAt: T0 + 10 })),
          store.create(at('DELETED', 'now', { expiresAt: T0 + 20 })),
          store.create(at('DELETED', 'future', { expiresAt: T0 + 21 })),
          store.create(at('READY', 'live', { expiresAt: T0 })),
        ]);

        // Act
        const due = await store.listExpired(T0 + 20, 10);
        const one = await store.listExpired(T0 + 100, 1);

        // Assess
        expect(due.map((r) => r.id)).toStrictEqual(['first', 'now']);
        expect(one.map((r) => r.id)).toStrictEqual(['first']);
      });

      it('agrees with a model of any pool (property)', async () => {
        const states = ['READY', 'ERROR', 'PRESERVED', 'DELETED'] as const;
        // Zone names with the characters a store might use as separators or escapes.
        const zones = ['az-1', 'az:2', 'az%3A2', '*'] as const;
        const pool = fc.uniqueArray(
          fc.record({
            id: fc.stringMatching(/^[a-f0-9]{1,3}$/),
            state: fc.constantFrom(...states),
            zone: fc.constantFrom(...zones),
            since: fc.integer({ min: 0, max: 4 }),
          }),
          { selector: (r) => r.id, maxLength: 12 },
        );
        const query = fc.record({
          state: fc.constantFrom(...states),
          zone: fc.option(fc.constantFrom(...zones), { nil: undefined }),
          limit: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        });
        await fc.assert(
          fc.asyncProperty(pool, query, async (specs, q) => {
            // Prepare
            const store = await h.fresh();
            const records = specs.map((s) =>
              at(s.state, s.id, { zone: s.zone, stateSince: T0 + s.since }),
            );
            await Promise.all(records.map((r) => store.create(r)));
            const expected = records
              .filter((r) => r.state === q.state && (q.zone === undefined || r.zone === q.zone))
              .sort(oldestFirst)
              .slice(0, q.limit ?? records.length);

            // Act
            const listed = await store.listByState('default', q.state, {
              ...(q.zone !== undefined ? { zone: q.zone } : {}),
              ...(q.limit !== undefined ? { limit: q.limit } : {}),
            });
            const { counts } = await store.getPoolState();

            // Assess
            expect(listed.map((r) => r.id)).toStrictEqual(expected.map((r) => r.id));
            expect(counts).toStrictEqual(tally(records));
          }),
          { numRuns: h.propertyRuns },
        );
      });
    });

    describe('preserved queue', () => {
      const preserved = (id: string, seq: string, state: AmphoraState = 'PRESERVED') =>
        at(state, id, {
          preservation: { method: 'unplug', seq, queuedAt: T0 },
        });

      it('lists PRESERVING and PRESERVED records by queue position, and nothing else', async () => {
        // Prepare
        const store = await h.fresh();
        await Promise.all([
          store.create(preserved('third', '000000000002:000000')),
          store.create(preserved('first', '000000000001:000000', 'PRESERVING')),
          store.create(preserved('second', '000000000001:000001')),
          store.create(at('ERROR', 'error')),
          store.create(
            at('PENDING_DELETE', 'evicted', {
              preservation: { method: 'unplug', seq: '000000000000:000000', queuedAt: T0 },
            }),
          ),
        ]);

        // Act
        const queue = await store.listPreservedQueue();
        const head = await store.listPreservedQueue({ limit: 2 });

        // Assess
        expect(queue.map((r) => r.id)).toStrictEqual(['first', 'second', 'third']);
        expect(head.map((r) => r.id)).toStrictEqual(['first', 'second']);
        expect(queue[0]).toStrictEqual(preserved('first', '000000000001:000000', 'PRESERVING'));
      });

      it('evicts strictly oldest first under concurrent evictors, keeping the queue in order', async () => {
        // Prepare
        const store = await h.fresh();
        const seq = (i: number) => `000000000001:${String(i).padStart(6, '0')}`;
        await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.create(preserved(`p${i}`, seq(i)))),
        );
        const evictOldest = async (): Promise<string> => {
          for (;;) {
            const [oldest] = await store.listPreservedQueue({ limit: 1 });
            if (!oldest) throw new Error('queue empty');
            const next = transition(oldest, 'PENDING_DELETE', { now: T0 + 1, reason: 'EVICTED' });
            try {
              await store.update(next, oldest);
              return oldest.id;
            } catch (error) {
              if (!(error instanceof VersionConflictError)) throw error;
            }
          }
        };

        // Act: four evictors race while two newcomers join the queue
        const [evicted] = await Promise.all([
          Promise.all([evictOldest(), evictOldest(), evictOldest(), evictOldest()]),
          store.create(preserved('p8', seq(8), 'PRESERVING')),
          store.create(preserved('p9', seq(9), 'PRESERVING')),
        ]);

        // Assess
        expect([...evicted].sort()).toStrictEqual(['p0', 'p1', 'p2', 'p3']);
        const queue = await store.listPreservedQueue();
        expect(queue.map((r) => r.id)).toStrictEqual(['p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
        expect(
          (await store.listByState('default', 'PENDING_DELETE')).map((r) => r.id).sort(),
        ).toStrictEqual(['p0', 'p1', 'p2', 'p3']);
      });
    });

    describe('planner lease', () => {
      type Step =
        | {
            acquire: [holder: string, now: number];
            expect: 'refused' | { token: number; expiresAt: number };
          }
        | { release: number };

      it.each<[string, Step[]]>([
        [
          'refuses another holder while the lease is live',
          [
            { acquire: ['a', T0], expect: { token: 1, expiresAt: T0 + TTL } },
            { acquire: ['b', T0 + TTL - 1], expect: 'refused' },
          ],
        ],
        [
          'renews the live holder with the same token and a later expiry',
          [
            { acquire: ['a', T0], expect: { token: 1, expiresAt: T0 + TTL } },
            { acquire: ['a', T0 + 500], expect: { token: 1, expiresAt: T0 + 500 + TTL } },
          ],
        ],
        [
          'gives an expired lease to the next holder with the next token',
          [
            { acquire: ['a', T0], expect: { token: 1, expiresAt: T0 + TTL } },
            { acquire: ['b', T0 + TTL], expect: { token: 2, expiresAt: T0 + 2 * TTL } },
          ],
        ],
        [
          'gives the holder a new token once its own lease has expired',
          [
            { acquire: ['a', T0], expect: { token: 1, expiresAt: T0 + TTL } },
            { acquire: ['a', T0 + TTL], expect: { token: 2, expiresAt: T0 + 2 * TTL } },
          ],
        ],
        [
          'gives a released lease to the next holder with the next token',
          [
            { acquire: ['a', T0], expect: { token: 1, expiresAt: T0 + TTL } },
            { release: 0 },
            { acquire: ['b', T0 + 1], expect: { token: 2, expiresAt: T0 + 1 + TTL } },
          ],
        ],
        [
          'ignores the release of a lease that was taken over',
          [
            { acquire: ['a', T0], expect: { token: 1, expiresAt: T0 + TTL } },
            { acquire: ['b', T0 + 2 * TTL], expect: { token: 2, expiresAt: T0 + 3 * TTL } },
            { release: 0 },
            { acquire: ['c', T0 + 2 * TTL + 1], expect: 'refused' },
          ],
        ],
      ])('%s', async (_case, steps) => {
        // Prepare
        const store = await h.fresh();
        const leases: Lease[] = [];
        let first: number | undefined;

        for (const step of steps) {
          if ('release' in step) {
            // Act
            await store.releaseLease(leases[step.release]!);
            continue;
          }
          // Act
          const [holder, now] = step.acquire;
          const lease = await store.acquireLease(holder, now, TTL);

          // Assess: tokens are compared relative to the store's first one
          if (step.expect === 'refused') {
            expect(lease).toBeUndefined();
            continue;
          }
          expect(lease).toBeDefined();
          first ??= lease!.token - step.expect.token + 1;
          expect(lease).toStrictEqual({
            holder,
            token: first + step.expect.token - 1,
            expiresAt: step.expect.expiresAt,
          });
          leases.push(lease!);
        }
      });

      it('follows the lease rules for any sequence of acquisitions and releases (property)', async () => {
        const step = fc.oneof(
          fc.record({
            holder: fc.constantFrom('a', 'b', 'c'),
            advance: fc.integer({ min: 0, max: 1_500 }),
          }),
          fc.record({ release: fc.nat() }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
            // Prepare
            const store = await h.fresh();
            const model = new LeaseModel();
            const granted: Lease[] = [];
            let now = T0;
            let offset: number | undefined;

            for (const s of steps) {
              if ('release' in s) {
                const lease = granted[s.release % Math.max(1, granted.length)];
                if (!lease) continue;
                // Act
                await store.releaseLease(lease);
                model.release({ ...lease, token: lease.token - offset! });
                continue;
              }
              now += s.advance;
              // Act
              const got = await store.acquireLease(s.holder, now, TTL);
              const want = model.acquire(s.holder, now, TTL);

              // Assess
              if (want === undefined) {
                expect(got).toBeUndefined();
                continue;
              }
              expect(got).toBeDefined();
              offset ??= got!.token - want.token;
              expect(got).toStrictEqual({ ...want, token: want.token + offset });
              granted.push(got!);
            }
          }),
          { numRuns: h.propertyRuns },
        );
      });

      it('tells the next holder the newest token whose cycle confirmed its sends', async () => {
        // Prepare
        const store = await h.fresh();
        const first = (await store.acquireLease('p1', T0, TTL))!;
        expect(first.sentThrough).toBeUndefined();
        await store.releaseLease(first, true);

        // Act: a cycle that confirms, then one that does not (it crashed or its send failed).
        const second = (await store.acquireLease('p2', T0 + 1, TTL))!;
        await store.releaseLease(second);
        const third = (await store.acquireLease('p3', T0 + 2, TTL))!;
        // A holder that never releases: its lease expires.
        const fourth = (await store.acquireLease('p4', T0 + 3 + TTL, TTL))!;

        // Assess
        expect(second).toMatchObject({ token: first.token + 1, sentThrough: first.token });
        expect(third).toMatchObject({ token: second.token + 1, sentThrough: first.token });
        expect(fourth).toMatchObject({ token: third.token + 1, sentThrough: first.token });
        await store.releaseLease(fourth, true);
        expect(await store.acquireLease('p5', T0 + 4 + TTL, TTL)).toMatchObject({
          sentThrough: fourth.token,
        });
      });

      it('coalesces run requests until the next acquisition, and tells the holder of those made during its cycle', async () => {
        // Prepare
        const store = await h.fresh();

        // Act: two requests before any cycle, a cycle, then one request during the next.
        const firstRequest = await store.requestRun(T0);
        const coalesced = await store.requestRun(T0 + 1);
        const one = (await store.acquireLease('p1', T0 + 2, TTL))!;
        const releasedQuiet = await store.releaseLease(one, true);
        const two = (await store.acquireLease('p2', T0 + 3, TTL))!;
        const duringCycle = await store.requestRun(T0 + 4);
        const again = await store.requestRun(T0 + 5);
        const releasedAsked = await store.releaseLease(two, true);
        const three = (await store.acquireLease('p3', T0 + 6, TTL))!;
        const releasedServed = await store.releaseLease(three, true);

        // Assess
        expect([firstRequest, coalesced]).toStrictEqual([true, false]);
        expect(releasedQuiet).toStrictEqual({ requested: false });
        expect([duringCycle, again]).toStrictEqual([true, false]);
        expect(releasedAsked).toStrictEqual({ requested: true });
        // The acquisition after it served the request: it is cleared, and the token moved on.
        expect(three.token).toBe(two.token + 1);
        expect(releasedServed).toStrictEqual({ requested: false });
        expect(await store.requestRun(T0 + 7)).toBe(true);
      });

      it('lets a request replace a pending one older than its staleBefore, and coalesces into a fresh one', async () => {
        // Prepare: a request whose run never came (no acquisition cleared it).
        const store = await h.fresh();
        expect(await store.requestRun(T0)).toBe(true);

        // Act
        const freshEnough = await store.requestRun(T0 + 5, T0);
        const stale = await store.requestRun(T0 + 20, T0 + 10);
        const afterReplacement = await store.requestRun(T0 + 21, T0 + 11);

        // Assess: T0 is not before T0 (coalesced); T0 is before T0 + 10 (replaced, at T0 + 20).
        expect([freshEnough, stale, afterReplacement]).toStrictEqual([false, true, false]);
      });

      it('keeps the summary of the last cycle that released its lease with one', async () => {
        // Prepare
        const store = await h.fresh();
        expect(await store.lastCycle()).toBeUndefined();
        const one = (await store.acquireLease('p1', T0, TTL))!;
        const summary = {
          at: T0 + 5,
          token: one.token,
          outcome: 'failed' as const,
          decisions: 0,
          tasksSent: 0,
          error: 'Error: DynamoDB said no',
        };

        // Act: one cycle with a summary, then a dry run without one.
        await store.releaseLease(one, false, summary);
        const dry = (await store.acquireLease('p2', T0 + 6, TTL))!;
        await store.releaseLease(dry);

        // Assess
        expect(await store.lastCycle()).toStrictEqual(summary);
      });

      it('reports no request to a holder whose lease was taken over', async () => {
        // Prepare
        const store = await h.fresh();
        const stale = (await store.acquireLease('p1', T0, TTL))!;
        await store.acquireLease('p2', T0 + TTL + 1, TTL);
        await store.requestRun(T0 + TTL + 2);

        // Act
        const released = await store.releaseLease(stale, true);

        // Assess: the request stays for the live holder.
        expect(released).toStrictEqual({ requested: false });
        expect(await store.requestRun(T0 + TTL + 3)).toBe(false);
      });

      it('grants a free lease to exactly one of several racing planners', async () => {
        // Prepare
        const store = await h.fresh();
        const holders = ['p1', 'p2', 'p3', 'p4', 'p5'];

        // Act
        const leases = await Promise.all(holders.map((p) => store.acquireLease(p, T0, TTL)));

        // Assess
        const granted = leases.filter((l) => l !== undefined);
        expect(granted).toHaveLength(1);
        expect(await store.acquireLease('late', T0 + 1, TTL)).toBeUndefined();
      });
    });

    describe('fenced commit', () => {
      it('applies each group atomically and reports every group in order', async () => {
        // Prepare
        const store = await h.fresh();
        const stale = at('ERROR', 'stale', { version: 4 });
        const fine = at('PENDING_DELETE', 'fine', { version: 2 });
        const taken = at('READY', 'taken');
        await Promise.all([store.create(stale), store.create(fine), store.create(taken)]);
        const lease = (await store.acquireLease('planner', T0, TTL))!;
        const created = at('PENDING_CREATE', 'new-1', { version: 1 });
        const notCreated = at('PENDING_CREATE', 'new-2', { version: 1 });
        const removed = transition(fine, 'DELETED', { now: T0 + 1, reason: 'REMOVED' });

        // Act
        const results = await store.commit(lease, [
          [{ kind: 'create', record: created }],
          [
            { kind: 'create', record: notCreated },
            {
              kind: 'update',
              record: transition(stale, 'PRESERVING', { now: T0 + 1, reason: 'PRESERVE' }),
              expectedVersion: 3,
              expectedState: 'ERROR',
            },
            { kind: 'create', record: at('PENDING_CREATE', 'taken') },
            { kind: 'sweep-issued', at: T0 + 100 },
          ],
          [
            {
              kind: 'update',
              record: removed,
              expectedVersion: 2,
              expectedState: 'PENDING_DELETE',
            },
            { kind: 'sweep-issued', at: T0 + 1 },
            { kind: 'sweep-issued', at: T0 + 2 },
          ],
          [],
        ]);

        // Assess
        expect(results).toStrictEqual([
          { status: 'applied' },
          { status: 'conflict', amphoraIds: ['stale', 'taken'] },
          { status: 'applied' },
          { status: 'applied' },
        ]);
        expect(await store.get('new-1')).toStrictEqual(created);
        expect(await store.get('new-2')).toBeUndefined();
        expect(await store.get('stale')).toStrictEqual(stale);
        expect(await store.get('taken')).toStrictEqual(taken);
        expect(await store.get('fine')).toStrictEqual(removed);
        expect((await store.getPoolState()).lastSweepAt).toBe(T0 + 2);
      });

      it('returns no results for no groups', async () => {
        const store = await h.fresh();
        const lease = (await store.acquireLease('planner', T0, TTL))!;
        expect(await store.commit(lease, [])).toStrictEqual([]);
      });

      it('refuses a planner whose lease expired and was taken over, writing nothing', async () => {
        // Prepare
        const store = await h.fresh();
        const ready = at('READY', 'a');
        await store.create(ready);
        const old = (await store.acquireLease('old', T0, TTL))!;
        const current = (await store.acquireLease('new', T0 + TTL + 1, TTL))!;
        const groups = [
          [{ kind: 'create', record: at('PENDING_CREATE', 'b', { version: 1 }) }],
          [
            {
              kind: 'update',
              record: transition(ready, 'PENDING_DELETE', { now: T0 + 1, reason: 'EXCESS' }),
              expectedVersion: ready.version,
              expectedState: 'READY',
            },
          ],
          [{ kind: 'sweep-issued', at: T0 + 1 }],
        ] as const;

        // Act
        const stale = store.commit(old, groups);

        // Assess
        await expect(stale).rejects.toBeInstanceOf(LeaseLostError);
        await expect(stale).rejects.toMatchObject({ token: old.token });
        expect(await store.get('b')).toBeUndefined();
        expect(await store.get('a')).toStrictEqual(ready);
        expect((await store.getPoolState()).lastSweepAt).toBeUndefined();
        expect(await store.commit(current, groups)).toStrictEqual([
          { status: 'applied' },
          { status: 'applied' },
          { status: 'applied' },
        ]);
      });

      it('lets exactly one of a planner commit and an executor update of one record win', async () => {
        // Prepare
        const store = await h.fresh();
        const booting = at('BOOTING', 'a', { version: 4 });
        await store.create(booting);
        const lease = (await store.acquireLease('planner', T0, TTL))!;
        const timeout = transition(booting, 'ERROR', { now: T0 + 1, reason: 'BOOT_TIMEOUT' });
        const ready = transition(booting, 'READY', { now: T0 + 1, reason: 'BOOTED' });

        // Act
        const [committed, updated] = await Promise.allSettled([
          store.commit(lease, [
            [{ kind: 'update', record: timeout, expectedVersion: 4, expectedState: 'BOOTING' }],
          ]),
          store.update(ready, { version: 4, state: 'BOOTING' }),
        ]);

        // Assess
        const plannerWon =
          committed.status === 'fulfilled' && committed.value[0]?.status === 'applied';
        expect(plannerWon).toBe(updated.status === 'rejected');
        if (!plannerWon) {
          expect(committed).toStrictEqual({
            status: 'fulfilled',
            value: [{ status: 'conflict', amphoraIds: ['a'] }],
          });
        }
        expect(await store.get('a')).toStrictEqual(plannerWon ? timeout : ready);
      });
    });

    describe('pool state', () => {
      it('has no counters, zone statistics, images or sweep time when new', async () => {
        const store = await h.fresh();
        expect(await store.getPoolState()).toStrictEqual({ counts: {}, zones: [], images: [] });
      });

      it('keeps the cloud’s health, read alone and with the pool state', async () => {
        const store = await h.fresh();
        expect(await store.getCloudHealth()).toBeUndefined();
        const refusing = {
          state: 'refusing' as const,
          kind: 'Unauthorized' as const,
          since: T0,
          lastError: 'The request you have made requires authentication.',
          probeAt: T0 + 30_000,
          failures: 1,
          probes: 0,
        };
        expect(await store.putCloudHealth(refusing)).toBe(true);
        expect(await store.getCloudHealth()).toStrictEqual(refusing);
        expect((await store.getPoolState()).cloud).toStrictEqual(refusing);
      });

      it('lets exactly one of several executors claim a due probe, by the probeAt it read', async () => {
        const store = await h.fresh();
        const open = { state: 'refusing' as const, since: T0, probeAt: T0 + 30_000, failures: 1 };
        expect(await store.putCloudHealth(open, null)).toBe(true);
        expect(await store.putCloudHealth(open, null)).toBe(false);
        const claims = await Promise.all(
          [1, 2, 3, 4].map((i) =>
            store.putCloudHealth({ ...open, probeAt: T0 + 60_000 + i }, T0 + 30_000),
          ),
        );
        expect(claims.filter(Boolean)).toHaveLength(1);
        const winner = claims.indexOf(true) + 1;
        expect((await store.getCloudHealth())?.probeAt).toBe(T0 + 60_000 + winner);
      });

      /** A BOOTING record that ends its create with `outcome` at `when`, through update. */
      const endCreate = async (
        store: PoolStore,
        id: string,
        zone: string,
        outcome: 'success' | 'failure',
        when: number,
      ) => {
        const booting = at('BOOTING', id, { zone, version: 2 });
        await store.create(booting);
        const next = transition(booting, outcome === 'success' ? 'READY' : 'ERROR', {
          now: when,
          reason: outcome,
        });
        await store.update(next, booting, { createOutcome: outcome });
      };

      it.each<[string, Array<['success' | 'failure', number]>, object]>([
        [
          'failures in a row',
          [
            ['failure', T0 + 1],
            ['failure', T0 + 2],
          ],
          {
            consecutiveFailures: 2,
            lastFailureAt: T0 + 2,
            successesSinceFailure: 0,
            everFailed: true,
          },
        ],
        [
          'successes with no failure ever',
          [
            ['success', T0 + 1],
            ['success', T0 + 2],
          ],
          { consecutiveFailures: 0, successesSinceFailure: 2, everFailed: false },
        ],
        [
          'successes after a failure',
          [
            ['failure', T0 + 1],
            ['success', T0 + 2],
            ['success', T0 + 3],
          ],
          {
            consecutiveFailures: 0,
            lastFailureAt: T0 + 1,
            successesSinceFailure: 2,
            everFailed: true,
          },
        ],
        [
          'a failure after successes',
          [
            ['success', T0 + 1],
            ['failure', T0 + 2],
          ],
          {
            consecutiveFailures: 1,
            lastFailureAt: T0 + 2,
            successesSinceFailure: 0,
            everFailed: true,
          },
        ],
      ])(
        'counts a create’s end in its zone’s statistics, in the same write: %s',
        async (_case, outcomes, stats) => {
          // Prepare
          const store = await h.fresh();
          await endCreate(store, 'o-1', 'other', 'success', T0);

          // Act
          let i = 0;
          for (const [outcome, when] of outcomes) {
            await endCreate(store, `z-${i++}`, 'az-1', outcome, when);
          }

          // Assess
          const state = await store.getPoolState();
          const zones = [...state.zones].sort((a, b) => (a.zone < b.zone ? -1 : 1));
          expect(zones).toStrictEqual([
            { pool: 'default', zone: 'az-1', ...stats },
            {
              pool: 'default',
              zone: 'other',
              consecutiveFailures: 0,
              successesSinceFailure: 1,
              everFailed: false,
            },
          ]);
        },
      );

      it('counts every one of many concurrent outcomes, and every transition', async () => {
        // Prepare
        const store = await h.fresh();

        // Act
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            endCreate(store, `c-${i}`, 'az-1', 'failure', T0 + i),
          ),
        );

        // Assess
        const state = await store.getPoolState();
        expect(state.zones[0]?.consecutiveFailures).toBe(20);
        expect(state.zones[0]?.everFailed).toBe(true);
        expect(state.counts).toStrictEqual({ default: { 'az-1': { ERROR: 20 } } });
      });

      it('keeps a pool’s resolved image, its issue time and the zone’s fleet', async () => {
        // Prepare
        const store = await h.fresh();
        const lease = (await store.acquireLease('planner', T0, TTL))!;
        const launch = { imageId: 'img-9', digest: 'abcd0123' };

        // Act
        await store.commit(lease, [
          [{ kind: 'image-resolve-issued', pool: 'large', at: T0 + 1 }],
          [{ kind: 'fleet-current', pool: 'large', zone: 'az-1', launch }],
        ]);
        await store.recordImage({
          pool: 'large',
          tag: 'amp',
          imageId: 'img-9',
          resolvedAt: T0 + 2,
        });
        await store.recordImage({
          pool: 'small',
          tag: 'amp',
          ownerId: 'p-1',
          error: 'no active image tagged amp',
          resolvedAt: T0 + 3,
        });

        // Assess
        const state = await store.getPoolState();
        const images = [...state.images].sort((a, b) => (a.pool < b.pool ? -1 : 1));
        expect(images).toStrictEqual([
          { pool: 'large', tag: 'amp', imageId: 'img-9', resolvedAt: T0 + 2, issuedAt: T0 + 1 },
          {
            pool: 'small',
            tag: 'amp',
            ownerId: 'p-1',
            error: 'no active image tagged amp',
            resolvedAt: T0 + 3,
          },
        ]);
        expect(state.zones.find((z) => z.pool === 'large')?.fleet).toStrictEqual(launch);
        // A later success replaces the error and keeps nothing stale of it.
        await store.recordImage({
          pool: 'small',
          tag: 'amp',
          imageId: 'img-1',
          resolvedAt: T0 + 4,
        });
        const small = (await store.getPoolState()).images.find((i) => i.pool === 'small');
        expect(small).toStrictEqual({
          pool: 'small',
          tag: 'amp',
          imageId: 'img-1',
          resolvedAt: T0 + 4,
        });
      });

      it('purges an expired DELETED record in a commit, with its counter', async () => {
        // Prepare
        const store = await h.fresh();
        const gone = at('DELETED', 'gone', { expiresAt: T0, version: 6 });
        await store.create(gone);
        await store.create(at('DELETED', 'kept', { expiresAt: T0 }));
        const lease = (await store.acquireLease('planner', T0, TTL))!;

        // Act
        const results = await store.commit(lease, [
          [{ kind: 'purge', record: gone }],
          [{ kind: 'purge', record: { ...at('DELETED', 'kept'), version: 99 } }],
        ]);

        // Assess
        expect(results).toStrictEqual([
          { status: 'applied' },
          { status: 'conflict', amphoraIds: ['kept'] },
        ]);
        expect(await store.get('gone')).toBeUndefined();
        expect((await store.getPoolState()).counts).toStrictEqual({
          default: { '*': { DELETED: 1 } },
        });
      });

      it('rebuilds counters that drifted from the records, and changes nothing when they agree', async () => {
        // Prepare
        const store = await h.fresh();
        await Promise.all([
          store.create(at('DELETED', 'purged-by-ttl', { zone: 'az-1' })),
          store.create(at('DELETED', 'kept', { zone: 'az-1' })),
          store.create(at('READY', 'r', { pool: 'large' })),
        ]);
        await h.dropBehindCounters(store, 'purged-by-ttl');
        expect((await store.getPoolState()).counts.default?.['az-1']?.DELETED).toBe(2);

        // Act
        const repaired = await store.repairCounts();
        const again = await store.repairCounts();

        // Assess
        const want = { default: { 'az-1': { DELETED: 1 } }, large: { '*': { READY: 1 } } };
        expect(repaired).toStrictEqual(want);
        expect(again).toStrictEqual(want);
        expect((await store.getPoolState()).counts).toStrictEqual(want);
      });

      it('keeps the counters equal to a full recount after any history of writes, races and replays (property)', async () => {
        const step = fc.oneof(
          fc.record({
            op: fc.constant('create' as const),
            id: fc.integer({ min: 0, max: 7 }),
            pool: fc.constantFrom('default', 'large'),
            zone: fc.constantFrom('az-1', 'az:2'),
          }),
          fc.record({
            op: fc.constant('move' as const),
            id: fc.integer({ min: 0, max: 7 }),
            to: fc.constantFrom(...AMPHORA_STATES),
            stale: fc.boolean(),
            outcome: fc.constantFrom(undefined, 'success' as const, 'failure' as const),
          }),
          fc.record({ op: fc.constant('race' as const), id: fc.integer({ min: 0, max: 7 }) }),
          fc.record({
            op: fc.constant('commit' as const),
            id: fc.integer({ min: 0, max: 7 }),
            to: fc.constantFrom('PENDING_DELETE', 'DELETED', 'ERROR') as fc.Arbitrary<AmphoraState>,
            replay: fc.boolean(),
          }),
          fc.record({ op: fc.constant('purge' as const), id: fc.integer({ min: 0, max: 7 }) }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
            // Prepare
            const store = await h.fresh();
            const lease = (await store.acquireLease('planner', T0, 1_000_000))!;
            const ids = new Set<string>();
            const tolerate = async (write: Promise<unknown>) => {
              await write.catch((error: unknown) => {
                if (!(error instanceof VersionConflictError)) throw error;
              });
            };

            // Act
            for (const s of steps) {
              const id = `p-${s.id}`;
              const stored =
                s.op === 'purge'
                  ? (await store.getMany([...ids])).find((r) => r.state === 'DELETED')
                  : await store.get(id);
              if (s.op === 'create') {
                ids.add(id);
                await tolerate(
                  store.create(at('PENDING_CREATE', id, { pool: s.pool, zone: s.zone })),
                );
              } else if (!stored) {
              } else if (s.op === 'move') {
                const next = { ...stored, state: s.to, version: stored.version + 1 };
                const expected = s.stale ? { ...stored, version: stored.version - 1 } : stored;
                await tolerate(
                  store.update(next, expected, s.outcome ? { createOutcome: s.outcome } : {}),
                );
              } else if (s.op === 'race') {
                // Two writers of one version: exactly one may move the counters.
                const a = { ...stored, state: 'ERROR' as const, version: stored.version + 1 };
                const b = { ...stored, state: 'READY' as const, version: stored.version + 1 };
                await Promise.all([
                  tolerate(store.update(a, stored)),
                  tolerate(store.update(b, stored)),
                ]);
              } else if (s.op === 'commit') {
                const group: WriteGroup = [
                  {
                    kind: 'update',
                    record: { ...stored, state: s.to, version: stored.version + 1 },
                    expectedVersion: stored.version,
                    expectedState: stored.state,
                  },
                ];
                // A replayed commit (a crash after it, a rerun) conflicts and moves nothing.
                await store.commit(lease, s.replay ? [group, group] : [group]);
              } else if (stored.state === 'DELETED') {
                await store.commit(lease, [[{ kind: 'purge', record: stored }]]);
              }
            }

            // Assess
            const records = await store.getMany([...ids]);
            expect((await store.getPoolState()).counts).toStrictEqual(withoutZeros(tally(records)));
          }),
          { numRuns: h.propertyRuns },
        );
      });
    });

    describe('orphan marks', () => {
      it('lists, replaces by server id and deletes marks; deleting an absent one does nothing', async () => {
        // Prepare
        const store = await h.fresh();
        const first = { serverId: 's-1', firstSeenAt: T0, lastSeenAt: T0, sightings: 1 };
        const other = {
          serverId: 's-2',
          amphoraId: 'gone',
          firstSeenAt: T0,
          lastSeenAt: T0,
          sightings: 1,
        };
        await store.putOrphanMark(first);
        await store.putOrphanMark(other);

        // Act
        const again = { ...first, lastSeenAt: T0 + 60_000, sightings: 2 };
        await store.putOrphanMark(again);
        await store.deleteOrphanMark('s-2');
        await store.deleteOrphanMark('never-marked');

        // Assess
        expect(await store.listOrphanMarks()).toStrictEqual([again]);
      });
    });

    describe('limits stated by the port', () => {
      it.each<[string, () => WriteGroup]>([
        [
          'more writes than one transaction holds',
          () =>
            Array.from({ length: MAX_GROUP_WRITES + 1 }, (_, i) => ({
              kind: 'create' as const,
              record: rec('PENDING_CREATE', { id: `n${i}` }),
            })),
        ],
        [
          'two writes of one record',
          () => [
            { kind: 'create', record: rec('PENDING_CREATE', { id: 'twice' }) },
            {
              kind: 'update',
              record: rec('BOOTING', { id: 'twice' }),
              expectedVersion: 3,
              expectedState: 'PENDING_CREATE',
            },
          ],
        ],
      ])('refuses a commit with a group of %s before writing any group', async (_case, bad) => {
        // Prepare
        const store = await h.fresh();
        const lease = (await store.acquireLease('planner', T0, 1_000))!;
        const fine: WriteGroup = [
          { kind: 'create', record: rec('PENDING_CREATE', { id: 'fine' }) },
        ];

        // Act
        const commit = store.commit(lease, [fine, bad()]);

        // Assess
        await expect(commit).rejects.toThrow(RangeError);
        expect(await store.get('fine')).toBeUndefined();
      });

      it('returns no record for a limit of 0 or below', async () => {
        // Prepare
        const store = await h.fresh();
        await store.create(rec('READY', { id: 'r1', preservation: undefined }));

        // Act + Assess
        expect(await store.listByState('default', 'READY', { limit: 0 })).toEqual([]);
        expect(await store.listByState('default', 'READY', { limit: -2 })).toEqual([]);
        expect(await store.listPreservedQueue({ limit: -1 })).toEqual([]);
      });
    });
  });
}
