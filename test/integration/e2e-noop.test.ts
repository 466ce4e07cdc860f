/**
 * The whole service end to end through the operator CLI only (issue 11, item 5, noop tier):
 * each scenario starts from a fresh `.local/` on the emulators, drives the local stack with
 * `housekeeper local`, and checks what an operator sees with `status`, `list` and `show`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cliIn, workFolders, writeConfig } from '../support/cli-e2e.ts';

const folders = workFolders();

afterEach(() => folders.cleanup());

/** A fresh working folder with its config file: a new pool, as a newcomer starts one. */
function freshPool(config: Record<string, unknown>) {
  const dir = folders.make();
  writeConfig(dir, config);
  const { housekeeper } = cliIn(dir);
  const json = async (...args: string[]) => {
    const r = await housekeeper(...args, '--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const cycles = async (n: number) => {
    const r = await housekeeper(
      'local',
      '--cycles',
      String(n),
      '--every',
      '3',
      '--no-workload',
      '--config',
      'config.json',
    );
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  return { housekeeper, json, cycles };
}

interface Listed {
  id: string;
  state: string;
  createdAt: string;
  history: Array<{ at: string; from: string; to: string }>;
}

/** The most amphorae that were deploying (PENDING_CREATE or BOOTING) at any one instant. */
function mostDeployingAtOnce(records: readonly Listed[]): number {
  const events = records.flatMap((r) => {
    const left = r.history.find((h) => h.from === 'BOOTING' || h.from === 'PENDING_CREATE');
    const done = r.history.filter((h) => h.to !== 'BOOTING' && h.to !== 'PENDING_CREATE').at(0);
    const start = Date.parse(r.createdAt);
    const end = done ? Date.parse(done.at) : left ? Number.POSITIVE_INFINITY : start;
    return [
      { at: start, d: 1 },
      { at: end, d: -1 },
    ];
  });
  // At the same instant, an end comes before a start: the slot was freed, then reused.
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of events) {
    now += e.d;
    most = Math.max(most, now);
  }
  return most;
}

const NOOP = { noop: { boot_seconds: 1, boot_failure_rate: 0 } };

describe('the service end to end through the CLI (noop driver, emulators)', () => {
  it('fills the pool within the deploying cap, in one interval: each finished boot starts the next', async () => {
    const pool = freshPool({
      ...NOOP,
      spare_amphora_pool_size: 4,
      maximum_deploying_amphora_count: 2,
    });

    const local = await pool.cycles(2);

    expect(local.code, local.stderr).toBe(0);
    // Two boot rounds (4 spares, 2 at a time) inside the first 3 s interval.
    expect(local.stderr).toMatch(/cycle {3}1 {2}READY 4\/4/);
    const records = (await pool.json('list')) as Listed[];
    expect(records.map((r) => r.state)).toStrictEqual(['READY', 'READY', 'READY', 'READY']);
    expect(mostDeployingAtOnce(records)).toBe(2);
  }, 180_000);

  it('refills after claims, and removes what is handed back', async () => {
    const pool = freshPool({ ...NOOP, spare_amphora_pool_size: 2 });
    await pool.cycles(1);

    const claimed = [await pool.json('claim'), await pool.json('claim')] as Array<{ id: string }>;
    expect((await pool.json('status')).spares).toStrictEqual({ ready: 0, target: 2 });
    await pool.cycles(1);
    const refilled = await pool.json('status');
    const handBack = await pool.housekeeper('deactivate', ...claimed.map((c) => c.id.slice(0, 8)));
    await pool.cycles(1);

    expect(refilled.spares).toStrictEqual({ ready: 2, target: 2 });
    expect(refilled.states.ALLOCATED).toBe(2);
    expect(handBack.code, handBack.stderr).toBe(0);
    for (const { id } of claimed) {
      expect((await pool.json('show', id)).state).toBe('DELETED');
    }
    expect((await pool.json('status')).states).toMatchObject({ READY: 2, ALLOCATED: 0 });
  }, 180_000);

  it.each([
    ['cycle', 2, 'keeps the two newest of three failures', [1, 2]],
    ['keep', 2, 'keeps the first two and removes the third', [0, 1]],
    ['cycle', 0, 'with no room removes all three', []],
  ] as const)(
    'preservation_scheme %s, maximum_preserved_amphora_count %i %s',
    async (scheme, max, _, kept) => {
      const pool = freshPool({
        ...NOOP,
        spare_amphora_pool_size: 3,
        preservation_scheme: scheme,
        maximum_preserved_amphora_count: max,
      });
      await pool.cycles(1);
      const claimed: string[] = [];
      for (let i = 0; i < 3; i++) claimed.push(((await pool.json('claim')) as { id: string }).id);

      // Three failures, one after another, each preserved (or not) before the next.
      for (const id of claimed) {
        const flagged = await pool.housekeeper(
          'flag',
          id,
          '--reason',
          'e2e: health monitor failed',
        );
        expect(flagged.code, flagged.stderr).toBe(0);
        await pool.cycles(1);
      }

      const status = await pool.json('status');
      const preserved = (status.preservedQueue as Array<{ id: string }>).map((v) => v.id);
      expect(preserved).toStrictEqual(kept.map((i) => claimed[i]));
      for (const [i, id] of claimed.entries()) {
        if (kept.includes(i as never)) continue;
        expect((await pool.json('show', id)).state).toMatch(/^(PENDING_DELETE|DELETED)$/);
      }
    },
    240_000,
  );
});
