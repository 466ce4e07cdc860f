/**
 * The idempotency store contract: one suite, run against every IdempotencyStore adapter (in
 * memory, and DynamoDB on DynamoDB Local).
 */
import { describe, expect, it } from 'vitest';
import type { BeginRequest, IdempotencyStore } from '../../lib/ports/idempotency-store.ts';

/** What an adapter's test setup gives the contract suite. */
export interface IdempotencyStoreHarness {
  /** A new, empty store. */
  fresh(): Promise<IdempotencyStore>;
}

const T0 = Date.UTC(2026, 0, 1);
const STALE = 60_000;
const TTL = 3_600_000;

function begin(key: string, token: string, fields: Partial<BeginRequest> = {}): BeginRequest {
  return { key, requestHash: 'h1', token, now: T0, staleAfterMs: STALE, ttlMs: TTL, ...fields };
}

/** Defines the contract tests for one adapter. */
export function describeIdempotencyStoreContract(
  name: string,
  harness: () => Promise<IdempotencyStoreHarness>,
): void {
  describe(`idempotency store contract: ${name}`, () => {
    const fresh = async () => (await harness()).fresh();

    it('starts the first request with a key and hands later ones its record', async () => {
      const store = await fresh();
      expect(await store.begin(begin('k', 't1'))).toEqual({ started: true });
      const again = await store.begin(begin('k', 't2', { requestHash: 'h2', now: T0 + 10 }));
      expect(again).toEqual({
        started: false,
        existing: {
          key: 'k',
          requestHash: 'h1',
          status: 'IN_PROGRESS',
          token: 't1',
          startedAt: T0,
          expiresAt: T0 + TTL,
        },
      });
    });

    it('keeps the response its runner completes it with, and replays it', async () => {
      const store = await fresh();
      await store.begin(begin('k', 't1'));
      const body = JSON.stringify({ id: 'amp-1', note: 'ünïcødé ✓' });
      expect(await store.complete('k', 't1', { status: 200, body }, T0 + 5, TTL)).toBe(true);
      const again = await store.begin(begin('k', 't2', { now: T0 + 10 }));
      expect(again).toMatchObject({
        started: false,
        existing: { status: 'COMPLETED', response: { status: 200, body }, expiresAt: T0 + 5 + TTL },
      });
    });

    it.each([
      ['another token', 't-other'],
      ['the runner of a record that is gone', 't1'],
    ])('refuses to complete for %s', async (what, token) => {
      const store = await fresh();
      await store.begin(begin('k', 't1'));
      if (what.includes('gone')) await store.abandon('k', 't1');
      expect(await store.complete('k', token, { status: 200, body: '{}' }, T0, TTL)).toBe(false);
      if (!what.includes('gone')) {
        expect(await store.begin(begin('k', 't3'))).toMatchObject({
          started: false,
          existing: { status: 'IN_PROGRESS', token: 't1' },
        });
      }
    });

    it('frees a key its runner abandons, and only its runner', async () => {
      const store = await fresh();
      await store.begin(begin('k', 't1'));
      await store.abandon('k', 't-other');
      expect((await store.begin(begin('k', 't2'))).started).toBe(false);
      await store.abandon('k', 't1');
      expect(await store.begin(begin('k', 't2'))).toEqual({ started: true });
    });

    it('never abandons a completed record', async () => {
      const store = await fresh();
      await store.begin(begin('k', 't1'));
      await store.complete('k', 't1', { status: 200, body: '{}' }, T0, TTL);
      await store.abandon('k', 't1');
      expect(await store.begin(begin('k', 't2'))).toMatchObject({
        started: false,
        existing: { status: 'COMPLETED' },
      });
    });

    it.each<[string, number, boolean]>([
      ['just before the stale bound', T0 + STALE - 1, false],
      ['at the stale bound', T0 + STALE, true],
      ['well after it', T0 + 10 * STALE, true],
    ])('takes over an IN_PROGRESS record %s: %s', async (_, now, taken) => {
      const store = await fresh();
      await store.begin(begin('k', 't1'));
      const outcome = await store.begin(begin('k', 't2', { now, requestHash: 'h2' }));
      expect(outcome.started).toBe(taken);
      if (taken) {
        // The dead run, if it wakes up, can no longer complete or free the key.
        expect(await store.complete('k', 't1', { status: 200, body: '{}' }, now, TTL)).toBe(false);
        await store.abandon('k', 't1');
        expect(await store.begin(begin('k', 't3', { now }))).toMatchObject({
          started: false,
          existing: { token: 't2', requestHash: 'h2' },
        });
      }
    });

    it('never takes over a COMPLETED record before it expires, and frees it after', async () => {
      const store = await fresh();
      await store.begin(begin('k', 't1'));
      await store.complete('k', 't1', { status: 200, body: '{}' }, T0, TTL);
      expect((await store.begin(begin('k', 't2', { now: T0 + TTL - 1 }))).started).toBe(false);
      expect(await store.begin(begin('k', 't2', { now: T0 + TTL }))).toEqual({ started: true });
    });

    it('lets exactly one of many concurrent begins with one key run', async () => {
      const store = await fresh();
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.begin(begin('race', `t${i}`))),
      );
      expect(outcomes.filter((o) => o.started)).toHaveLength(1);
      const tokens = new Set(outcomes.flatMap((o) => (o.started ? [] : [o.existing.token])));
      expect(tokens.size).toBe(1);
    });

    it('keeps keys apart, whatever characters they hold', async () => {
      const store = await fresh();
      const keys = ['a', 'A', 'arn:aws:iam::1:role/x k#1', 'arn:aws:iam::1:role/y k#1', 'a%23'];
      for (const key of keys)
        expect(await store.begin(begin(key, `t-${key}`))).toEqual({ started: true });
      for (const key of keys) {
        expect(await store.begin(begin(key, 'later'))).toMatchObject({
          started: false,
          existing: { key, token: `t-${key}` },
        });
      }
    });
  });
}
