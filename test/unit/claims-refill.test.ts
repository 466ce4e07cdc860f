import { describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore } from '../../lib/adapters/memory/memory-idempotency-store.ts';
import { handleApiRequest } from '../../lib/api/handler.ts';
import { consumeBatch } from '../../lib/app/consume-messages.ts';
import { requestPlannerRun, runRequestedCycles } from '../../lib/app/run-planner-cycle.ts';
import { countOf } from '../../lib/domain/pool.ts';
import { decodeTask } from '../../lib/domain/tasks.ts';
import type { PlannerWake } from '../../lib/ports/planner-wake.ts';
import { refillWorld } from '../support/refill-world.ts';

const TARGET = 6;
const CAP = 2;
const BOOT = 20;
const INTERVAL = 60;

/** A pool filled to target, with an API over it whose wake is `wake(plannerDeps)`. */
async function world(wakeWith: (run: () => Promise<unknown>) => PlannerWake) {
  const { clock, store, queue, source, common, executor, planner } = refillWorld({
    target: TARGET,
    cap: CAP,
    boot: BOOT,
    interval: INTERVAL,
  });
  // Deploying, after every write that can change it.
  let peakDeploying = 0;
  const deploying = async () =>
    countOf((await store.getPoolState()).counts, ['PENDING_CREATE', 'BOOTING']);
  for (const method of ['create', 'update', 'commit'] as const) {
    const original = store[method].bind(store) as (...a: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const result = await original(...args);
      peakDeploying = Math.max(peakDeploying, await deploying());
      return result;
    };
  }
  const pending: Promise<unknown>[] = [];
  const wake = wakeWith(() => {
    const run = requestPlannerRun(planner());
    pending.push(run);
    return run;
  });
  const api = { ...common, idempotency: new MemoryIdempotencyStore(), wake };
  const count = async (state: 'READY' | 'ALLOCATED') =>
    countOf((await store.getPoolState()).counts, [state]);
  /** Simulated seconds: the schedule ticks, executors drain, finished boots wake the planner. */
  const run = async (seconds: number, until?: () => Promise<boolean>) => {
    for (let s = 0; s < seconds; s++) {
      if (Math.floor(clock.now() / 1000) % INTERVAL === 0) await runRequestedCycles(planner());
      for (;;) {
        const reports = await consumeBatch(executor, source, {
          max: 10,
        });
        if (reports.length === 0) break;
        if (reports.some((r) => r.wakesPlanner)) await requestPlannerRun(planner());
      }
      await Promise.all(pending.splice(0));
      if (until && (await until())) return clock.now();
      clock.advance(1000);
    }
    return clock.now();
  };
  const claim = (key: string) =>
    handleApiRequest(api, {
      method: 'POST',
      path: '/claims',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: '{}',
    });
  // Start on a tick, and fill.
  clock.set(Math.ceil(clock.now() / (INTERVAL * 1000)) * INTERVAL * 1000);
  await run(3600, async () => (await count('READY')) === TARGET);
  peakDeploying = 0;
  return { clock, queue, claim, run, count, peak: () => peakDeploying, pending };
}

describe('claims refill the pool through the API', () => {
  it('a burst that takes every spare refills to target with deploying never above the cap', async () => {
    // Prepare
    const w = await world((run) => ({ wake: async () => void run() }));
    const start = w.clock.now();
    const sentBefore = w.queue.sent.length;

    // Act: every spare claimed at once, then the pool left to refill.
    const responses = await Promise.all(
      Array.from({ length: TARGET }, (_, i) => w.claim(`burst-${i}`)),
    );
    await Promise.all(w.pending.splice(0));
    const createsAtOnce = w.queue.sent
      .slice(sentBefore)
      .filter((m) => decodeTask(m.body).type === 'CREATE').length;
    const full = await w.run(3600, async () => (await w.count('READY')) === TARGET);

    // Assess
    expect(responses.map((r) => r.status)).toStrictEqual(Array(TARGET).fill(200));
    expect(new Set(responses.map((r) => JSON.parse(r.body).id)).size).toBe(TARGET);
    expect(await w.count('ALLOCATED')).toBe(TARGET);
    expect(w.peak()).toBe(CAP);
    // The wake sent the first replacements at once, in the claims' own second: a full cap.
    expect(createsAtOnce).toBe(CAP);
    // ceil(TARGET / CAP) boot rounds, none of them waiting for a tick (+1 s per round's CHECK).
    expect((full - start) / 1000).toBeLessThanOrEqual(Math.ceil(TARGET / CAP) * (BOOT + 1));
  });

  it('falls back to the schedule when the wake fails, and loses nothing', async () => {
    // Prepare: a wake that always fails (the planner cannot be invoked).
    const w = await world(() => ({
      wake: async () => {
        throw new Error('planner invoke refused');
      },
    }));
    const sentBefore = w.queue.sent.length;
    w.clock.advance(1000); // just past a tick: the next one is INTERVAL - 1 s away

    // Act
    const response = await w.claim('after-a-tick');
    await w.run(INTERVAL - 2);
    const beforeTick = w.queue.sent.length;
    await w.run(3600, async () => (await w.count('READY')) === TARGET);

    // Assess: the claim stands; nothing is sent until the tick, whose cycle refills.
    expect(response.status).toBe(200);
    expect(beforeTick).toBe(sentBefore);
    expect(await w.count('ALLOCATED')).toBe(1);
    expect(await w.count('READY')).toBe(TARGET);
    expect(w.queue.sent.length).toBeGreaterThan(beforeTick);
  });
});
