/**
 * The wake the API function uses in AWS: a run request marked on the lease item, and a planner
 * run started elsewhere only by the first request since the last cycle read the pool.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { RemotePlannerWake } from '../../lib/app/remote-planner-wake.ts';
import { RUN_REQUEST_STALE_MS } from '../../lib/app/run-planner-cycle.ts';

function world(failing = false) {
  const store = new MemoryPoolStore();
  const clock = new ManualClock();
  let starts = 0;
  const wake = new RemotePlannerWake({
    store,
    clock,
    start: async () => {
      starts += 1;
      if (failing) throw new Error('Invoke refused (test)');
    },
  });
  return { store, clock, wake, starts: () => starts };
}

describe('the remote planner wake', () => {
  it('starts one run for a burst of 50 wakes before any cycle reads the pool', async () => {
    const w = world();
    await Promise.all(Array.from({ length: 50 }, () => w.wake.wake()));
    expect(w.starts()).toBe(1);
  });

  it('starts another run once a cycle has taken the lease (and so served the requests)', async () => {
    const w = world();
    await w.wake.wake();
    const lease = await w.store.acquireLease('planner', w.clock.now(), 30_000);
    expect(lease).toBeDefined();
    await w.wake.wake();
    expect(w.starts()).toBe(2);
  });

  it('does not start a second run while the first request is pending and fresh', async () => {
    const w = world();
    await w.wake.wake();
    w.clock.advance(RUN_REQUEST_STALE_MS - 1);
    await w.wake.wake();
    expect(w.starts()).toBe(1);
  });

  it('starts again when the pending request went stale (its run never happened)', async () => {
    const w = world();
    await w.wake.wake();
    w.clock.advance(RUN_REQUEST_STALE_MS + 1);
    await w.wake.wake();
    expect(w.starts()).toBe(2);
  });

  it('rethrows a failed start and leaves the request marked for the next cycle', async () => {
    const w = world(true);
    await expect(w.wake.wake()).rejects.toThrow('Invoke refused');
    // The mark stays: the scheduled cycle's acquisition sees a requested run.
    const fresh = w.clock.now();
    expect(await w.store.requestRun(fresh, fresh - RUN_REQUEST_STALE_MS)).toBe(false);
  });
});
