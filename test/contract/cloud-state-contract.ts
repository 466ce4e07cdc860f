/**
 * The simulated-cloud store contract: one suite, run against every CloudStateStore adapter (in
 * memory, and DynamoDB on DynamoDB Local), so the noop driver behaves the same on either.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudStateStore } from '../../lib/ports/cloud-state.ts';

/** What an adapter's test setup gives the contract suite. */
export interface CloudStateHarness {
  /** A new, empty store. */
  fresh(): Promise<CloudStateStore>;
  cleanup(): Promise<void>;
}

/** Registers the contract suite for one cloud state adapter. */
export function describeCloudStateContract(
  name: string,
  setup: () => Promise<CloudStateHarness>,
): void {
  describe(`cloud state contract: ${name}`, () => {
    let h: CloudStateHarness;

    beforeAll(async () => {
      h = await setup();
    });

    afterAll(async () => {
      await h?.cleanup();
    });

    it('returns undefined for a key never written', async () => {
      const store = await h.fresh();
      expect(await store.get('server/none')).toBeUndefined();
    });

    it.each<
      [string, number | 'absent' | undefined, number | 'absent', boolean, number | undefined]
    >([
      ['creates an absent key at version 1', undefined, 'absent', true, 1],
      ['refuses to create a key that exists', 1, 'absent', false, 1],
      ['replaces a value at its stored version, one version up', 1, 1, true, 2],
      ['refuses a stale version', 2, 1, false, 2],
      ['refuses a version for a key never written', undefined, 1, false, undefined],
    ])('put %s', async (_case, stored, expected, written, version) => {
      // Prepare
      const store = await h.fresh();
      for (let v = 1; stored !== undefined && v <= (stored as number); v++) {
        await store.put('k', { v }, v === 1 ? 'absent' : v - 1);
      }

      // Act
      const ok = await store.put('k', { v: 'new' }, expected);

      // Assess
      expect(ok).toBe(written);
      const entry = await store.get('k');
      expect(entry?.version).toBe(version);
      if (written) expect(entry?.value).toStrictEqual({ v: 'new' });
      else if (stored !== undefined) expect(entry?.value).toStrictEqual({ v: stored });
    });

    it.each<[string, boolean, number | undefined, boolean]>([
      ['deletes a present key', true, undefined, true],
      ['deletes a present key at its version', true, 1, true],
      ['keeps a key asked at another version', true, 2, false],
      ['reports an absent key as not deleted', false, undefined, false],
      ['reports an absent key asked at a version as not deleted', false, 1, false],
    ])('delete %s', async (_case, present, expected, deleted) => {
      // Prepare
      const store = await h.fresh();
      if (present) await store.put('k', 'value', 'absent');

      // Act
      const gone = await store.delete('k', expected);

      // Assess: a deletion hands back what it deleted
      expect(gone).toStrictEqual(deleted ? { key: 'k', value: 'value', version: 1 } : undefined);
      expect((await store.get('k')) !== undefined).toBe(present && !deleted);
    });

    it('lists the entries under a prefix in key order, and every entry for an empty prefix', async () => {
      // Prepare
      const store = await h.fresh();
      for (const key of ['server/b', 'image/x', 'server/a', 'server', 'servers/c', 'fault/1']) {
        await store.put(key, { key }, 'absent');
      }
      await store.put('server/a', { key: 'server/a', again: true }, 1);

      // Act
      const servers = await store.list('server/');
      const all = await store.list('');

      // Assess
      expect(servers).toStrictEqual([
        { key: 'server/a', value: { key: 'server/a', again: true }, version: 2 },
        { key: 'server/b', value: { key: 'server/b' }, version: 1 },
      ]);
      expect(all.map((e) => e.key)).toStrictEqual([
        'fault/1',
        'image/x',
        'server',
        'server/a',
        'server/b',
        'servers/c',
      ]);
    });

    it('lets exactly one of several concurrent writers at one version win', async () => {
      // Prepare
      const store = await h.fresh();
      await store.put('server/1', { status: 'BUILD' }, 'absent');

      // Act
      const results = await Promise.all(
        ['ACTIVE', 'ERROR', 'DELETED', 'SHUTOFF'].map((status) =>
          store.put('server/1', { status }, 1),
        ),
      );

      // Assess
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = ['ACTIVE', 'ERROR', 'DELETED', 'SHUTOFF'][results.indexOf(true)];
      expect(await store.get('server/1')).toStrictEqual({
        key: 'server/1',
        value: { status: winner },
        version: 2,
      });
    });

    it('keeps any JSON value and any key exactly (property)', async () => {
      const store = await h.fresh();
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.string({ minLength: 1, maxLength: 20 }),
          fc.jsonValue(),
          async (key, raw) => {
            // Prepare: -0 is not JSON, so compare with the value JSON can carry
            const value = JSON.parse(JSON.stringify(raw)) as unknown;
            const unique = `p${n++}/${key}`;

            // Act
            const written = await store.put(unique, value, 'absent');

            // Assess
            expect(written).toBe(true);
            expect(await store.get(unique)).toStrictEqual({ key: unique, value, version: 1 });
          },
        ),
        { numRuns: 60 },
      );
    });
  });
}
