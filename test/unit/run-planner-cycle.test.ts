import { describe, expect, it } from 'vitest';
import { poolStatus } from '../../lib/app/pool-status.ts';
import {
  MAX_CYCLES_PER_RUN,
  RUN_REQUEST_STALE_MS,
  requestPlannerRun,
  runPlannerCycle,
  runRequestedCycles,
} from '../../lib/app/run-planner-cycle.ts';
import { LeaseLostError } from '../../lib/domain/errors.ts';
import { formatStatus } from '../../lib/local/format.ts';
import { plannerHarness } from '../support/app-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

describe('a planner cycle', () => {
  it('skips the cycle, reading nothing, while another planner holds the lease', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    await h.store.acquireLease('someone-else', h.clock.now(), 60_000);
    const reads = h.store.calls.reads;

    expect(await runPlannerCycle(h.deps)).toEqual({ status: 'lease-busy' });
    expect(h.store.calls.reads).toBe(reads);
    expect(h.sent()).toEqual([]);
  });

  it('writes the record transitions first and only then sends their tasks', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    const order: string[] = [];
    const commit = h.store.commit.bind(h.store);
    h.store.commit = async (...args) => {
      order.push('commit');
      return commit(...args);
    };
    const send = h.queue.send.bind(h.queue);
    h.queue.send = async (tasks) => {
      order.push(`send ${tasks.length}`);
      return send(tasks);
    };

    const report = await runPlannerCycle(h.deps);

    expect(report.status).toBe('applied');
    expect(order).toEqual(['commit', 'send 3']);
    expect(
      h
        .sent()
        .map((t) => t.type)
        .sort(),
    ).toEqual(['CREATE', 'CREATE', 'SWEEP']);
    expect(h.store.all().map((r) => r.state)).toEqual(['PENDING_CREATE', 'PENDING_CREATE']);
  });

  it('sends no task for a decision whose write lost its race, and still sends the others', async () => {
    const h = plannerHarness({ maximum_preserved_amphora_count: 0 });
    const a = rec('ERROR');
    const b = rec('ERROR');
    await h.store.create(a);
    await h.store.create(b);
    const listByState = h.store.listByState.bind(h.store);
    h.store.listByState = async (...args) => {
      const result = await listByState(...args);
      // An executor or operator moves `a` after the planner read it.
      const current = (await h.store.get(a.id))!;
      if (current.version === a.version)
        await h.store.update({ ...current, version: current.version + 1 }, current);
      return result;
    };

    const report = await runPlannerCycle(h.deps);

    // The zone's fleet note and the sweep apply; of the two removals, the one that raced is a conflict.
    expect(
      report.status === 'applied' &&
        report.plan.decisions.map((d, i) => [d.reasons[0], report.results[i]!.status]),
    ).toEqual([
      ['FLEET_CURRENT', 'applied'],
      ['PRESERVATION_DISABLED', 'conflict'],
      ['PRESERVATION_DISABLED', 'applied'],
      ['SWEEP_DUE', 'applied'],
    ]);
    expect(
      h
        .sent()
        .filter((t) => t.type === 'REMOVE')
        .map((t) => (t as { amphoraId: string }).amphoraId),
    ).toEqual([b.id]);
  });

  it('decides but writes and sends nothing in a dry run', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 3 });

    const report = await runPlannerCycle(h.deps, { dryRun: true });

    expect(report.status === 'planned' && report.plan.decisions.map((d) => d.reasons)).toEqual([
      ['TOP_UP'],
      ['TOP_UP'],
      ['FLEET_CURRENT'],
      ['SWEEP_DUE'],
    ]);
    expect(h.store.calls.recordWrites).toBe(0);
    expect(h.store.calls.metaWrites).toBe(0);
    expect(h.sent()).toEqual([]);
    expect(await h.store.acquireLease('next', h.clock.now(), 1000)).toBeDefined();
  });

  it('publishes the spare pool size and the count of every state', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 3 });
    await h.store.create(rec('READY'));
    await h.store.create(rec('ALLOCATED'));

    await runPlannerCycle(h.deps);

    expect(h.gauges).toContainEqual({
      name: 'SparePoolSize',
      value: 1,
      dimensions: { Pool: 'default' },
    });
    expect(h.gauges).toContainEqual({
      name: 'SparePoolTarget',
      value: 3,
      dimensions: { Pool: 'default' },
    });
    expect(h.gauges).toContainEqual({ name: 'SpareDeficit', value: 2 });
    const states = h.gauges.filter((g) => g.name === 'AmphoraCount');
    expect(states).toHaveLength(10);
    expect(states).toContainEqual({
      name: 'AmphoraCount',
      value: 1,
      dimensions: { Pool: 'default', State: 'ALLOCATED' },
    });
  });

  it('writes nothing but the lease and sends nothing in a steady-state cycle', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    await h.store.create(rec('READY'));
    await h.store.create(rec('READY'));
    await runPlannerCycle(h.deps); // issues the first sweep
    const before = { ...h.store.calls, sent: h.queue.sent.length };

    const report = await runPlannerCycle(h.deps);

    expect(report.status === 'applied' && report.plan.decisions).toEqual([]);
    expect({ ...h.store.calls, sent: h.queue.sent.length }).toEqual({
      ...before,
      // One read of the pool state, with every counter in it, and beside it the expiry index
      // (nothing is due); no record is listed.
      reads: before.reads + 2,
      leaseWrites: before.leaseWrites + 2,
    });
  });

  it('re-sends on the next cycle the tasks that a crash between its writes and its sends lost, creating nothing twice', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    h.queue.send = async () => {
      throw new Error('crash before sending');
    };
    await expect(runPlannerCycle(h.deps)).rejects.toThrow('crash before sending');
    const created = h.store.all();
    expect(created.map((r) => r.state)).toEqual(['PENDING_CREATE', 'PENDING_CREATE']);
    h.queue.send = Object.getPrototypeOf(h.queue).send.bind(h.queue);

    const next = await runPlannerCycle(h.deps);

    // The same two records, not two more; each gets its CREATE now, not after task_timeout.
    expect(h.store.all().map((r) => r.id)).toEqual(created.map((r) => r.id));
    const creates = h.sent().filter((t) => t.type === 'CREATE');
    expect(creates.map((t) => ('amphoraId' in t ? t.amphoraId : '')).sort()).toEqual(
      created.map((r) => r.id).sort(),
    );
    expect(next.status === 'applied' && next.plan.decisions.flatMap((d) => d.reasons)).toEqual([
      'TASK_UNSENT',
      'TASK_UNSENT',
    ]);

    // Sent and confirmed: a third cycle sends nothing again.
    await runPlannerCycle(h.deps);
    expect(h.sent().filter((t) => t.type === 'CREATE')).toHaveLength(2);
  });

  it('confirms its sends in the lease release it writes anyway: a cycle that sent tasks writes no marker of its own', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    const before = h.store.calls.leaseWrites;

    await runPlannerCycle(h.deps);

    expect(h.store.calls.leaseWrites - before).toBe(2);
    expect((await h.store.acquireLease('next', h.clock.now(), 1_000))!.sentThrough).toBe(1);
  });

  it('rethrows a storage failure so that alarms fire, and releases the lease', async () => {
    const h = plannerHarness();
    h.store.getPoolState = async () => {
      throw new Error('DynamoDB unavailable');
    };

    await expect(runPlannerCycle(h.deps)).rejects.toThrow('DynamoDB unavailable');
    expect(await h.store.acquireLease('next', h.clock.now(), 1000)).toBeDefined();
  });

  it('stops when fenced out: a planner whose lease was taken over writes nothing', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2, planner_lease_ttl: 60 });
    const commit = h.store.commit.bind(h.store);
    h.store.commit = async (lease, groups) => {
      h.clock.advance(61_000);
      await h.store.acquireLease('planner-2', h.clock.now(), 60_000);
      return commit(lease, groups);
    };

    await expect(runPlannerCycle(h.deps)).rejects.toBeInstanceOf(LeaseLostError);
    expect(h.store.all()).toEqual([]);
    expect(h.sent()).toEqual([]);
  });

  it('re-issues every pending task at once after the queue lost its messages', async () => {
    const h = plannerHarness({ task_timeout: 900 });
    const waiting = rec('PENDING_DELETE', {
      task: { type: 'REMOVE', issuedAt: h.clock.now() - 1_000, reissues: 0, polls: 0 },
    });
    await h.store.create(waiting);

    await runPlannerCycle(h.deps);
    expect(h.sent().filter((t) => t.type === 'REMOVE')).toEqual([]);

    await runPlannerCycle(h.deps, { reissuePendingTasks: true });
    expect(h.sent().filter((t) => t.type === 'REMOVE')).toEqual([
      expect.objectContaining({ amphoraId: waiting.id, version: waiting.version + 1 }),
    ]);
  });
});

describe('the last cycle, kept for status', () => {
  it('keeps what an applied cycle did, in its lease release', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });

    const report = await runPlannerCycle(h.deps);

    if (report.status !== 'applied') throw new Error(`cycle was ${report.status}`);
    expect(report.tasksSent).toBeGreaterThan(0);
    expect(await h.store.lastCycle()).toStrictEqual({
      at: h.clock.now(),
      token: report.leaseToken,
      outcome: 'applied',
      decisions: report.plan.decisions.length,
      tasksSent: report.tasksSent,
    });
  });

  it('shows the last run in status: none before the first cycle, then what it did', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 1 });
    const before = formatStatus(await poolStatus(h.store, h.deps.config), 'memory');

    await runPlannerCycle(h.deps);
    const after = await poolStatus(h.store, h.deps.config);

    expect(before).toContain('last planner run: none yet');
    expect(after.lastCycle).toMatchObject({ at: new Date(h.clock.now()).toISOString() });
    expect(formatStatus(after, 'memory')).toContain(
      `last planner run: ${new Date(h.clock.now()).toISOString()}, ${after.lastCycle?.decisions} decision(s), ${after.lastCycle?.tasksSent} task(s) sent`,
    );
  });

  it('keeps why a cycle failed, and rethrows', async () => {
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    h.store.getPoolState = async () => {
      throw new Error('DynamoDB said no');
    };

    await expect(runPlannerCycle(h.deps)).rejects.toThrow('DynamoDB said no');

    expect(await h.store.lastCycle()).toMatchObject({
      outcome: 'failed',
      error: 'Error: DynamoDB said no',
    });
  });
});

describe('planner runs requested between ticks', () => {
  it('runs again when a run was requested while its cycle held the lease, and stops when none was', async () => {
    // Prepare: a request arrives during the first cycle's reads (a boot finished meanwhile).
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    const getPoolState = h.store.getPoolState.bind(h.store);
    let cycles = 0;
    h.store.getPoolState = async () => {
      cycles += 1;
      if (cycles === 1) await h.store.requestRun(h.clock.now());
      return getPoolState();
    };

    // Act
    const reports = await runRequestedCycles(h.deps);

    // Assess
    expect(reports.map((r) => r.status === 'applied' && r.requested)).toStrictEqual([true, false]);
  });

  it('stops after MAX_CYCLES_PER_RUN cycles however often runs are requested, and leaves the request for the next run', async () => {
    // Prepare: every cycle sees a new request.
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    const getPoolState = h.store.getPoolState.bind(h.store);
    h.store.getPoolState = async () => {
      await h.store.requestRun(h.clock.now());
      return getPoolState();
    };

    // Act
    const reports = await runRequestedCycles(h.deps);

    // Assess
    expect(reports).toHaveLength(MAX_CYCLES_PER_RUN);
    expect(await h.store.requestRun(h.clock.now())).toBe(false);
  });

  it('starts one run for the first request and folds the requests that follow into it', async () => {
    // Prepare: a planner holds the lease (a scheduled cycle is running).
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    const scheduled = (await h.store.acquireLease('scheduled', h.clock.now(), 60_000))!;

    // Act: a burst of 50 finished boots, each asking for a run.
    const burst = await Promise.all(Array.from({ length: 50 }, () => requestPlannerRun(h.deps)));
    const release = await h.store.releaseLease(scheduled, true);

    // Assess: the one that got through found the lease busy; the others were folded into it;
    // the holder learns of the request at its release, and no request was lost.
    expect(burst.flat()).toStrictEqual([]);
    expect(h.metrics.total('PlannerRunCoalesced')).toBe(49);
    expect(release).toStrictEqual({ requested: true });
  });

  it('serves a burst of requests with a few cycles, not one per request', async () => {
    // Prepare
    const h = plannerHarness({ spare_amphora_pool_size: 2 });

    // Act: 50 requests, one after another while the first one's run is in progress.
    const runs = await Promise.all(Array.from({ length: 50 }, () => requestPlannerRun(h.deps)));

    // Assess: every cycle that ran in any process counts, not only the reports returned.
    const cycles = h.metrics.total('PlannerRun');
    expect(runs.flat()).toHaveLength(cycles);
    expect(cycles).toBeGreaterThanOrEqual(1);
    expect(cycles).toBeLessThanOrEqual(3);
  });

  it('starts a run for a request when the pending one is older than RUN_REQUEST_STALE_MS (its run never came)', async () => {
    // Prepare: a request whose run failed to start (e.g. the wake's invoke failed).
    const h = plannerHarness({ spare_amphora_pool_size: 2 });
    await h.store.requestRun(h.clock.now());
    const soon = await requestPlannerRun(h.deps);

    // Act
    h.clock.advance(RUN_REQUEST_STALE_MS + 1);
    const later = await requestPlannerRun(h.deps);

    // Assess: coalesced into the pending request at first; once it is stale, a run starts.
    expect(soon).toStrictEqual([]);
    expect(later.map((r) => r.status)).toStrictEqual(['applied']);
  });
});
