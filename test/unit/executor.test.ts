import { describe, expect, it } from 'vitest';
import { serverName } from '../../lib/domain/amphora.ts';
import {
  AmphoraDriverError,
  DeleteFailedError,
  NotImplementedError,
  ServerBusyError,
  UnauthorizedError,
  UnavailableError,
} from '../../lib/domain/errors.ts';
import { NoopDriver } from '../../lib/drivers/noop/noop-driver.ts';
import { amphoraTag } from '../../lib/ports/amphora-driver.ts';
import { bootRequest } from '../support/boot.ts';
import { executorHarness } from '../support/executor-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

function pendingCreate(now: number, version = 1) {
  return rec('PENDING_CREATE', {
    version,
    stateSince: now,
    task: { type: 'CREATE', issuedAt: now, reissues: 0, polls: 0 },
  });
}

describe('CREATE', () => {
  it('boots a server and moves the record to BOOTING, then schedules a delayed CHECK', async () => {
    const h = executorHarness({ config: { check_initial_delay: 20 } });
    const r = await h.given(pendingCreate(h.clock.now()));

    const report = await h.run(h.taskFor(r));

    expect(report).toMatchObject({ disposition: { kind: 'ack' }, outcome: 'booted' });
    const after = await h.record(r.id);
    const [server] = await h.noop.listServers({ amphoraId: r.id });
    expect(server!.name).toBe(serverName(r.id));
    expect(after).toMatchObject({
      state: 'BOOTING',
      version: 2,
      computeId: server!.id,
      bootStartedAt: h.clock.now(),
    });
    expect(h.sent()).toEqual([
      expect.objectContaining({ type: 'CHECK', amphoraId: r.id, version: 2, delaySeconds: 20 }),
    ]);
  });

  it('adopts the server an earlier attempt already booted instead of booting a second', async () => {
    const h = executorHarness();
    const r = await h.given(pendingCreate(h.clock.now()));
    const earlier = await h.noop.createServer(bootRequest(r.id, '*'));
    h.noop.calls.length = 0;

    const report = await h.run(h.taskFor(r));

    expect(report.outcome).toBe('adopted');
    expect(h.ops()).toEqual(['listServers']);
    expect((await h.record(r.id)).computeId).toBe(earlier.id);
    expect(await h.control.serverIds()).toEqual([earlier.id]);
  });

  it('acknowledges a stale CREATE (the record moved on) without calling the driver', async () => {
    const h = executorHarness();
    const r = await h.given(pendingCreate(h.clock.now(), 4));

    const report = await h.run({ ...h.taskFor(r), version: 3 });

    expect(report).toMatchObject({ disposition: { kind: 'ack' }, outcome: 'stale' });
    expect(h.ops()).toEqual([]);
    expect(h.sent()).toEqual([]);
  });

  it('deletes the server it booted when the record was handed back meanwhile', async () => {
    const h = executorHarness({
      wrapDriver: (d, { store }) =>
        Object.assign(Object.create(d), {
          createServer: async (...args: Parameters<typeof d.createServer>) => {
            const server = await d.createServer(...args);
            const r = (await store.get(args[0].amphoraId))!;
            await store.update({ ...r, state: 'PENDING_DELETE', version: r.version + 1 }, r);
            return server;
          },
        }),
    });
    const r = await h.given(pendingCreate(h.clock.now()));

    const report = await h.run(h.taskFor(r));

    expect(report.outcome).toBe('stale');
    expect(await h.control.serverIds()).toEqual([]);
  });

  it('keeps the server it booted when a re-issued CREATE will adopt it', async () => {
    const h = executorHarness({
      wrapDriver: (d, { store }) =>
        Object.assign(Object.create(d), {
          createServer: async (...args: Parameters<typeof d.createServer>) => {
            const server = await d.createServer(...args);
            const r = (await store.get(args[0].amphoraId))!;
            await store.update({ ...r, version: r.version + 1 }, r);
            return server;
          },
        }),
    });
    const r = await h.given(pendingCreate(h.clock.now()));

    expect((await h.run(h.taskFor(r))).outcome).toBe('stale');
    expect(await h.control.serverIds()).toHaveLength(1);
  });
});

describe('CHECK', () => {
  async function booting(h: ReturnType<typeof executorHarness>, polls = 0) {
    const server = await h.noop.createServer(bootRequest('a-1', 'az1'));
    const now = h.clock.now();
    return h.given(
      rec('BOOTING', {
        id: 'a-1',
        zone: 'az1',
        computeId: server.id,
        bootStartedAt: now,
        stateSince: now,
        task: { type: 'CHECK', issuedAt: now, reissues: 0, polls },
      }),
    );
  }

  it('asks for a planner run when a boot becomes READY, and not while it is still booting', async () => {
    const ready = executorHarness();
    const building = executorHarness({ bootSeconds: 300 });

    const done = await ready.run(ready.taskFor(await booting(ready)));
    const polled = await building.run(building.taskFor(await booting(building)));

    expect([done.outcome, done.wakesPlanner]).toStrictEqual(['ready', true]);
    expect([polled.outcome, polled.wakesPlanner]).toStrictEqual(['still-booting', undefined]);
  });

  it('moves an ACTIVE server to READY and counts a successful create for the zone', async () => {
    const h = executorHarness();
    const r = await booting(h);

    expect((await h.run(h.taskFor(r))).outcome).toBe('ready');
    expect((await h.record(r.id)).state).toBe('READY');
    expect((await h.store.getPoolState()).zones).toEqual([
      {
        pool: 'default',
        zone: 'az1',
        consecutiveFailures: 0,
        successesSinceFailure: 1,
        everFailed: false,
      },
    ]);
  });

  it.each([
    [0, 30],
    [1, 60],
    [2, 120],
    [3, 120],
  ])(
    'polls a server still in BUILD again with a backed-off delay (poll %i → %i s)',
    async (polls, delay) => {
      const h = executorHarness({
        bootSeconds: 300,
        config: { check_initial_delay: 15, check_max_delay: 120 },
      });
      const r = await booting(h, polls);

      expect((await h.run(h.taskFor(r))).outcome).toBe('still-booting');
      const after = await h.record(r.id);
      expect(after).toMatchObject({
        state: 'BOOTING',
        version: r.version + 1,
        task: { type: 'CHECK', polls: polls + 1 },
      });
      expect(h.sent()).toEqual([
        expect.objectContaining({ type: 'CHECK', version: after.version, delaySeconds: delay }),
      ]);
    },
  );

  it('moves a server that went to ERROR to ERROR with Nova’s fault, and counts a failure', async () => {
    const h = executorHarness();
    const r = await booting(h);
    const failing = new NoopDriver(
      { state: h.cloud, clock: h.clock, newId: () => 'srv-bad' },
      'amphora-housekeeper',
      {
        bootSeconds: 0,
        bootFailureRate: 1,
      },
    );
    const bad = await failing.createServer(bootRequest(r.id, 'az1'));
    await h.store.update({ ...r, computeId: bad.id, version: r.version + 1 }, r);

    const report = await h.run({ ...h.taskFor(r), version: r.version + 1 });

    expect(report.outcome).toBe('boot-failed');
    const after = await h.record(r.id);
    expect(after.state).toBe('ERROR');
    expect(after.failure).toMatchObject({
      code: 'BOOT_FAILED',
      message: 'simulated boot failure (noop driver)',
    });
    expect((await h.store.getPoolState()).zones[0]).toMatchObject({
      consecutiveFailures: 1,
      everFailed: true,
    });
  });

  it('marks the record ERROR when the server disappeared while booting', async () => {
    const h = executorHarness();
    const r = await booting(h);
    await h.noop.deleteServer(r.computeId!);

    expect((await h.run(h.taskFor(r))).outcome).toBe('server-gone');
    expect((await h.record(r.id)).failure?.code).toBe('SERVER_GONE');
  });

  it('gives up on a boot that is still BUILD after boot_timeout', async () => {
    const h = executorHarness({ bootSeconds: 10_000, config: { boot_timeout: 600 } });
    const r = await booting(h);
    h.clock.advance(600_000);

    expect((await h.run(h.taskFor(r))).outcome).toBe('boot-timeout');
    expect(await h.record(r.id)).toMatchObject({
      state: 'ERROR',
      failure: { code: 'BOOT_TIMEOUT' },
    });
  });
});

describe('REMOVE', () => {
  it('deletes the server and marks the record DELETED with its purge time', async () => {
    const h = executorHarness({ config: { amphora_expiry_age: 3600 } });
    const server = await h.noop.createServer(bootRequest('a-1', '*'));
    const r = await h.given(
      rec('PENDING_DELETE', {
        id: 'a-1',
        computeId: server.id,
        lastSeenAliveAt: h.clock.now() - 1000,
      }),
    );

    expect((await h.run(h.taskFor(r))).outcome).toBe('removed');
    expect(await h.control.serverIds()).toEqual([]);
    expect(await h.record(r.id)).toMatchObject({
      state: 'DELETED',
      deletedAt: h.clock.now(),
      expiresAt: h.clock.now() + 3_600_000,
    });
  });

  it('succeeds when the server is already gone (a duplicate REMOVE)', async () => {
    const h = executorHarness();
    const r = await h.given(rec('PENDING_DELETE', { computeId: 'srv-gone' }));

    expect((await h.run(h.taskFor(r))).outcome).toBe('removed');
    expect((await h.record(r.id)).state).toBe('DELETED');
  });

  it('acknowledges a second delivery of the same REMOVE without calling the driver', async () => {
    const h = executorHarness();
    const r = await h.given(rec('PENDING_DELETE', { computeId: 'srv-gone' }));
    const task = h.taskFor(r);
    await h.run(task);
    h.noop.calls.length = 0;

    expect((await h.run(task)).outcome).toBe('stale');
    expect(h.ops()).toEqual([]);
  });

  it('finds and deletes servers by tag when the record never learned its server id', async () => {
    const h = executorHarness();
    const r = await h.given(rec('PENDING_DELETE', { computeId: undefined }));
    await h.noop.createServer(bootRequest(r.id, '*'));

    expect((await h.run(h.taskFor(r))).outcome).toBe('removed');
    expect(await h.control.serverIds()).toEqual([]);
  });

  it('deletes the snapshot images of an amphora preserved by snapshot', async () => {
    const h = executorHarness();
    const server = await h.noop.createServer(bootRequest('a-1', '*'));
    const recorded = await h.noop.snapshot(server.id, { amphoraId: 'a-1' });
    const unrecorded = await h.noop.snapshot(server.id, { amphoraId: 'a-1' });
    const r = await h.given(
      rec('PENDING_DELETE', {
        id: 'a-1',
        computeId: server.id,
        preservation: { method: 'snapshot', seq: 's', queuedAt: 0, imageId: recorded.imageId },
      }),
    );

    expect((await h.run(h.taskFor(r))).outcome).toBe('removed');
    expect(await h.control.imageIds()).toEqual([]);
    expect(unrecorded.imageId).not.toBe(recorded.imageId);
  });
});

describe('PRESERVE', () => {
  async function preserving(h: ReturnType<typeof executorHarness>, method: 'unplug' | 'snapshot') {
    const server = await h.noop.createServer(bootRequest('a-1', '*'));
    const now = h.clock.now();
    return h.given(
      rec('PRESERVING', {
        id: 'a-1',
        computeId: server.id,
        preservation: { method, seq: '000000000001:000000', queuedAt: now },
        task: { type: 'PRESERVE', issuedAt: now, reissues: 0, polls: 0 },
      }),
    );
  }

  it('unplug: detaches every port and marks the amphora PRESERVED', async () => {
    const h = executorHarness();
    const r = await preserving(h, 'unplug');

    expect((await h.run(h.taskFor(r))).outcome).toBe('preserved');
    expect(await h.control.portCount(r.computeId!)).toBe(0);
    expect(await h.record(r.id)).toMatchObject({
      state: 'PRESERVED',
      preservation: { preservedAt: h.clock.now() },
    });
  });

  it('snapshot: requests an image, waits for it to be active, then stops the server', async () => {
    const h = executorHarness({ snapshotSeconds: 40, config: { check_initial_delay: 15 } });
    const r = await preserving(h, 'snapshot');

    expect((await h.run(h.taskFor(r))).outcome).toBe('snapshot-requested');
    let after = await h.record(r.id);
    const imageId = after.preservation!.imageId!;
    expect(imageId).toBeDefined();
    expect(h.sent().at(-1)).toMatchObject({
      type: 'PRESERVE',
      version: after.version,
      delaySeconds: 15,
    });

    h.clock.advance(15_000);
    expect((await h.run(h.taskFor(after))).outcome).toBe('image-pending');
    after = await h.record(r.id);

    h.clock.advance(30_000);
    expect((await h.run(h.taskFor(after))).outcome).toBe('preserved');
    expect(await h.record(r.id)).toMatchObject({ state: 'PRESERVED', preservation: { imageId } });
    expect((await h.noop.getServer(r.computeId!)).status).toBe('SHUTOFF');
    expect(h.ops().filter((o) => o === 'snapshot')).toHaveLength(1);
  });

  it('snapshot: a server still busy with the upload is stopped on the next poll, not failed', async () => {
    let busy = 1;
    const h = executorHarness({
      config: { check_initial_delay: 15 },
      wrapDriver: (d) =>
        Object.assign(Object.create(d), {
          stopServer: async (id: string) => {
            if (busy-- > 0) throw new ServerBusyError(`server ${id} is busy (image_uploading)`);
            return d.stopServer(id);
          },
        }),
    });
    const r = await preserving(h, 'snapshot');
    await h.run(h.taskFor(r));
    let after = await h.record(r.id);

    expect((await h.run(h.taskFor(after))).outcome).toBe('stop-deferred');
    after = await h.record(r.id);
    expect(after.state).toBe('PRESERVING');
    expect(h.sent().at(-1)).toMatchObject({ type: 'PRESERVE', version: after.version });

    expect((await h.run(h.taskFor(after))).outcome).toBe('preserved');
    expect((await h.noop.getServer(r.computeId!)).status).toBe('SHUTOFF');
  });

  it('snapshot: a retry after a crash finds the image it already requested', async () => {
    const h = executorHarness();
    const r = await preserving(h, 'snapshot');
    const earlier = await h.noop.snapshot(r.computeId!, { amphoraId: r.id });
    h.noop.calls.length = 0;

    await h.run(h.taskFor(r));

    expect((await h.record(r.id)).preservation!.imageId).toBe(earlier.imageId);
    expect(h.ops()).not.toContain('snapshot');
  });

  it('hands the record to removal when the server is gone before it was preserved', async () => {
    const h = executorHarness();
    const r = await preserving(h, 'unplug');
    await h.noop.deleteServer(r.computeId!);

    expect((await h.run(h.taskFor(r))).outcome).toBe('server-gone');
    const after = await h.record(r.id);
    expect(after).toMatchObject({ state: 'PENDING_DELETE', failure: { code: 'SERVER_GONE' } });
    expect(h.sent()).toEqual([expect.objectContaining({ type: 'REMOVE', version: after.version })]);
  });
});

describe('SWEEP', () => {
  const sweepConfig = { orphan_grace_period: 600, orphan_sweep_interval: 600 };

  describe('counter drift, found by the sweep', () => {
    it('rebuilds the counters when the sweep lists fewer records than they count (a record deleted behind their back)', async () => {
      const h = executorHarness({ config: sweepConfig });
      for (const id of ['a-1', 'a-2']) {
        const server = await h.noop.createServer(bootRequest(id, '*'));
        await h.given(rec('READY', { id, computeId: server.id }));
      }
      h.store.dropBehindCounters('a-2');

      await h.run(h.sweepTask());

      expect((await h.store.getPoolState()).counts).toStrictEqual(h.store.recount());
      expect(h.metrics.total('CountersRepaired')).toBe(1);
    });

    it('leaves counters that agree with the records alone', async () => {
      const h = executorHarness({ config: sweepConfig });
      const server = await h.noop.createServer(bootRequest('a-1', '*'));
      await h.given(rec('READY', { id: 'a-1', computeId: server.id }));
      let repairs = 0;
      const repair = h.store.repairCounts.bind(h.store);
      h.store.repairCounts = async () => {
        repairs += 1;
        return repair();
      };

      await h.run(h.sweepTask());

      expect([repairs, h.metrics.total('CountersRepaired')]).toStrictEqual([0, 0]);
    });
  });

  describe('ghosts: records whose server is gone or broken', () => {
    /** Two sweeps one sweep interval apart: what it takes to call a missing server gone. */
    const sweepTwice = async (h: ReturnType<typeof executorHarness>) => {
      await h.run(h.sweepTask());
      h.clock.advance(600_000);
      await h.run(h.sweepTask());
    };

    it('fails a READY spare whose server was deleted behind its back, after two sweeps in a row (SERVER_MISSING)', async () => {
      const h = executorHarness({ config: sweepConfig });
      const server = await h.noop.createServer(bootRequest('a-1', '*'));
      await h.given(rec('READY', { id: 'a-1', computeId: server.id }));
      await h.control.loseServer(server.id);

      await h.run(h.sweepTask());
      expect(await h.store.get('a-1')).toMatchObject({
        state: 'READY',
        missing: { since: h.clock.now(), sweeps: 1 },
      });
      h.clock.advance(600_000);
      await h.run(h.sweepTask());

      expect(await h.store.get('a-1')).toMatchObject({
        state: 'ERROR',
        failure: { code: 'SERVER_MISSING' },
      });
      expect(h.metrics.total('GhostsFound')).toBe(1);
    });

    it('fails a READY spare whose server is in ERROR on the first sweep (SERVER_FAILED)', async () => {
      const h = executorHarness({ config: sweepConfig });
      const server = await h.noop.createServer(bootRequest('a-1', '*'));
      await h.given(rec('READY', { id: 'a-1', computeId: server.id }));
      await h.control.breakServer(server.id);

      await h.run(h.sweepTask());

      const after = await h.store.get('a-1');
      expect(after).toMatchObject({ state: 'ERROR', failure: { code: 'SERVER_FAILED' } });
      expect(after!.failure!.message).toContain('put in ERROR on command');
    });

    it('frees the slot of a PRESERVED amphora whose server is gone: PENDING_DELETE and a REMOVE sent', async () => {
      const h = executorHarness({ config: sweepConfig });
      await h.given(rec('PRESERVED', { id: 'p-1', computeId: 'long-gone' }));

      await sweepTwice(h);

      expect(await h.store.get('p-1')).toMatchObject({
        state: 'PENDING_DELETE',
        failure: { code: 'SERVER_MISSING' },
        task: { type: 'REMOVE' },
      });
      const sent = await h.queue.receive(10);
      expect(sent.map((m) => JSON.parse(m.body))).toContainEqual(
        expect.objectContaining({ type: 'REMOVE', amphoraId: 'p-1' }),
      );
    });

    it('keeps an ALLOCATED amphora whose server is gone, reports it in a metric, and never drops it', async () => {
      const h = executorHarness({ config: sweepConfig });
      await h.given(rec('ALLOCATED', { id: 'l-1', computeId: 'long-gone' }));

      await sweepTwice(h);

      expect(await h.store.get('l-1')).toMatchObject({
        state: 'ALLOCATED',
        missing: { sweeps: 2 },
      });
      expect(h.metrics.total('AllocatedServersMissing')).toBe(1);
      expect(h.metrics.total('GhostsFound')).toBe(0);
    });
  });

  it('marks an orphan on one sweep and removes it on a later one after the grace period', async () => {
    const h = executorHarness({ config: sweepConfig });
    const orphan = await h.control.plantServer(
      ['amphora-housekeeper', amphoraTag('no-such-record')],
      h.clock.now(),
    );
    const sweep = () => h.run(h.sweepTask());

    await sweep();
    expect(await h.store.listOrphanMarks()).toEqual([
      expect.objectContaining({ serverId: orphan, sightings: 1, firstSeenAt: h.clock.now() }),
    ]);
    h.clock.advance(599_000);
    await sweep();
    expect(await h.control.serverIds()).toEqual([orphan]);
    h.clock.advance(1_000);
    await sweep();
    expect(await h.control.serverIds()).toEqual([]);
    expect(await h.store.listOrphanMarks()).toEqual([]);
    expect(h.metrics.total('OrphansRemoved')).toBe(1);
  });

  it('never removes on a single observation, even past the grace period', async () => {
    const h = executorHarness({ config: sweepConfig });
    const orphan = await h.control.plantServer(
      ['amphora-housekeeper', amphoraTag('x')],
      h.clock.now(),
    );
    await h.store.putOrphanMark({
      serverId: orphan,
      firstSeenAt: h.clock.now() - 10_000_000,
      lastSeenAt: h.clock.now(),
      sightings: 1,
    });

    await h.run(h.sweepTask());

    expect(await h.control.serverIds()).toEqual([orphan]);
  });

  it('leaves servers alone that a live record owns, or that a creating record may still claim', async () => {
    const h = executorHarness({ config: sweepConfig });
    const owned = await h.noop.createServer(bootRequest('a-1', '*'));
    await h.given(rec('READY', { id: 'a-1', computeId: owned.id }));
    await h.noop.createServer(bootRequest('a-2', '*'));
    await h.given(rec('PENDING_CREATE', { id: 'a-2', computeId: undefined }));

    await h.run(h.sweepTask());

    expect(await h.store.listOrphanMarks()).toEqual([]);
  });

  it('treats a second server of one amphora as an orphan', async () => {
    const h = executorHarness({ config: sweepConfig });
    const kept = await h.noop.createServer(bootRequest('a-1', '*'));
    const duplicate = await h.noop.createServer(bootRequest('a-1', '*'));
    await h.given(rec('READY', { id: 'a-1', computeId: kept.id }));

    await h.run(h.sweepTask());

    expect((await h.store.listOrphanMarks()).map((m) => m.serverId)).toEqual([duplicate.id]);
  });

  it('drops the mark of an orphan that went away', async () => {
    const h = executorHarness({ config: sweepConfig });
    await h.store.putOrphanMark({
      serverId: 'vanished',
      firstSeenAt: 0,
      lastSeenAt: 0,
      sightings: 1,
    });

    await h.run(h.sweepTask());

    expect(await h.store.listOrphanMarks()).toEqual([]);
  });

  it('pushes back the purge of a deleted record whose server is seen alive (zombie rule)', async () => {
    const h = executorHarness({ config: { ...sweepConfig, amphora_expiry_age: 3600 } });
    const zombie = await h.noop.createServer(bootRequest('a-1', '*'));
    await h.given(
      rec('DELETED', {
        id: 'a-1',
        computeId: zombie.id,
        deletedAt: h.clock.now() - 3_000_000,
        expiresAt: h.clock.now() + 600_000,
      }),
    );

    await h.run(h.sweepTask());

    expect(await h.record('a-1')).toMatchObject({
      lastSeenAliveAt: h.clock.now(),
      expiresAt: h.clock.now() + 3_600_000,
    });
  });
});

describe('failures: one policy for retry versus acknowledge', () => {
  function failing(
    error: Error,
    operation: 'createServer' | 'getServer' | 'deleteServer' | 'unplug',
  ) {
    return executorHarness({
      wrapDriver: (d) =>
        Object.assign(Object.create(d), {
          [operation]: async () => {
            throw error;
          },
        }),
      config: { task_max_attempts: 3, delete_max_attempts: 3 },
    });
  }

  it.each([1, 7, 40])(
    'retries Unavailable with back-off on delivery %i, never giving up',
    async (receiveCount) => {
      const h = failing(new UnavailableError('503'), 'createServer');
      const r = await h.given(pendingCreate(h.clock.now()));

      const report = await h.run(h.taskFor(r), receiveCount);

      expect(report.disposition).toEqual({
        kind: 'retry',
        delaySeconds: Math.min(2 ** Math.min(receiveCount, 10), 900),
        reason: 'Unavailable: 503',
      });
      expect((await h.record(r.id)).state).toBe('PENDING_CREATE');
    },
  );

  it('acknowledges an Unauthorized CREATE without a dead letter, the record keeping its task', async () => {
    const h = failing(new UnauthorizedError('401'), 'createServer');
    const r = await h.given(pendingCreate(h.clock.now()));

    const report = await h.run(h.taskFor(r), 1);

    expect(report).toMatchObject({ disposition: { kind: 'ack' }, outcome: 'cloud-refusing' });
    expect(await h.record(r.id)).toEqual(r);
    expect(h.metrics.total('TaskDeadLettered')).toBe(0);
    expect(h.metrics.total('DriverUnauthorized')).toBe(1);
    expect((await h.store.getCloudHealth())?.state).toBe('refusing');
  });

  it('acknowledges an Unauthorized REMOVE and leaves the record for a re-issue after recovery', async () => {
    const h = failing(new UnauthorizedError('401'), 'deleteServer');
    const r = await h.given(rec('PENDING_DELETE'));

    expect((await h.run(h.taskFor(r))).disposition.kind).toBe('ack');
    expect(await h.record(r.id)).toEqual(r);
  });

  it.each([
    [1, 'retry'],
    [2, 'retry'],
    [3, 'ack'],
  ] as const)(
    'retries DeleteFailed a bounded number of times (delivery %i → %s), then shows it failed',
    async (receiveCount, kind) => {
      const h = failing(new DeleteFailedError('server stuck deleting'), 'deleteServer');
      const r = await h.given(rec('PENDING_DELETE'));

      const report = await h.run(h.taskFor(r), receiveCount);

      expect(report.disposition.kind).toBe(kind);
      const after = await h.record(r.id);
      if (kind === 'ack') {
        expect(after).toMatchObject({
          state: 'PENDING_DELETE',
          failure: { code: 'DELETE_FAILED', message: 'DeleteFailed: server stuck deleting' },
        });
        expect(h.metrics.total('DeleteFailed')).toBe(1);
      } else {
        expect(after).toEqual(r);
      }
    },
  );

  it.each([
    [1, 'retry'],
    [2, 'retry'],
    [3, 'dead-letter'],
  ] as const)(
    'retries other driver errors a bounded number of times (delivery %i → %s)',
    async (receiveCount, kind) => {
      const h = failing(new AmphoraDriverError('500 from nova', { status: 500 }), 'getServer');
      const server = await h.noop.createServer(bootRequest('a-1', '*'));
      const r = await h.given(
        rec('BOOTING', { id: 'a-1', computeId: server.id, bootStartedAt: h.clock.now() }),
      );

      expect((await h.run(h.taskFor(r), receiveCount)).disposition.kind).toBe(kind);
      expect(await h.record(r.id)).toEqual(r);
    },
  );

  it('sends NotImplemented to the DLQ at once and marks the preservation failed', async () => {
    const h = failing(new NotImplementedError('no unplug here'), 'unplug');
    const r = await h.given(
      rec('PRESERVING', { preservation: { method: 'unplug', seq: 's', queuedAt: 0 } }),
    );

    expect((await h.run(h.taskFor(r), 1)).disposition.kind).toBe('dead-letter');
    expect((await h.record(r.id)).failure?.code).toBe('PRESERVE_FAILED');
  });

  it('retries an unexpected (non-driver) error, then dead-letters it', async () => {
    const h = failing(new TypeError('bug'), 'getServer');
    const r = await h.given(rec('BOOTING', { bootStartedAt: h.clock.now() }));

    expect((await h.run(h.taskFor(r), 1)).disposition.kind).toBe('retry');
    expect((await h.run(h.taskFor(r), 3)).disposition).toEqual({
      kind: 'dead-letter',
      reason: 'Unexpected: bug',
    });
  });

  it('keeps the message when recording a give-up fails, so that nothing is lost', async () => {
    const h = failing(new AmphoraDriverError('500 from nova', { status: 500 }), 'createServer');
    const r = await h.given(pendingCreate(h.clock.now()));
    h.store.update = async () => {
      throw new Error('store down');
    };

    expect((await h.run(h.taskFor(r), 3)).disposition.kind).toBe('retry');
  });

  it.each([
    ['AmphoraDriverError', new AmphoraDriverError('500 from nova', { status: 500 })],
    ['an unexpected error', new TypeError('bug')],
  ])(
    'a REMOVE failing with %s ends in DELETE_FAILED, not in endless re-issues',
    async (_n, error) => {
      const h = failing(error, 'deleteServer');
      const r = await h.given(rec('PENDING_DELETE'));

      expect((await h.run(h.taskFor(r), 1)).disposition).toMatchObject({
        kind: 'retry',
        delaySeconds: 30,
      });
      expect((await h.run(h.taskFor(r), 2)).disposition).toMatchObject({
        kind: 'retry',
        delaySeconds: 60,
      });
      const last = await h.run(h.taskFor(r), 3);

      expect(last.disposition.kind).toBe('ack');
      expect(await h.record(r.id)).toMatchObject({
        state: 'PENDING_DELETE',
        failure: { code: 'DELETE_FAILED' },
      });
      expect(h.metrics.total('TaskDeadLettered')).toBe(0);
      expect(h.metrics.total('DeleteFailed')).toBe(1);
    },
  );

  it.each([
    ['not JSON', 'not json'],
    ['an unknown task type', JSON.stringify({ v: 1, type: 'EXPLODE', taskId: 't', issuedAt: 0 })],
    ['a future schema version', JSON.stringify({ v: 2, type: 'SWEEP', taskId: 't', issuedAt: 0 })],
  ])(
    'dead-letters a malformed message (%s) with the reason, touching nothing',
    async (_name, body) => {
      const h = executorHarness();

      const report = await h.run(body);

      expect(report.disposition.kind).toBe('dead-letter');
      expect((report.disposition as { reason: string }).reason).toMatch(/task (body|schema)/);
      expect(h.store.calls.reads).toBe(0);
      expect(h.metrics.total('MalformedTask')).toBe(1);
    },
  );
});

describe('CREATE with a pool’s launch spec', () => {
  const pools = {
    pools: [
      {
        name: 'large',
        availability_zones: [{ name: 'octavia-a', compute_zone: 'nova-a', network_ids: ['m-a'] }],
        openstack: { flavor_id: 'f-large', image_tag: 'amp', security_group_ids: ['sg'] },
      },
    ],
  };

  it('boots the image the record names, in its compute zone, with the pool’s spec, tagged with its pool', async () => {
    const h = executorHarness({ config: pools });
    const r = await h.given(
      rec('PENDING_CREATE', {
        pool: 'large',
        zone: 'octavia-a',
        computeZone: 'nova-a',
        launch: { imageId: 'img-42', flavorId: 'f-large', digest: 'planned' },
        task: { type: 'CREATE', issuedAt: h.clock.now(), reissues: 0, polls: 0 },
      }),
    );

    expect((await h.run(h.taskFor(r))).outcome).toBe('booted');

    const after = await h.record(r.id);
    const server = await h.control.server(after.computeId!);
    expect(server.spec).toStrictEqual({
      imageId: 'img-42',
      flavorId: 'f-large',
      networkIds: ['m-a'],
      securityGroupIds: ['sg'],
      configDrive: false,
    });
    expect(server.zone).toBe('nova-a');
    expect(server.tags).toContain('amphora-pool:large');
    // The record keeps what it booted with, the digest of the spec it really used.
    expect(after.launch).toMatchObject({ imageId: 'img-42', flavorId: 'f-large' });
    expect(after.launch?.digest).not.toBe('planned');
  });

  it('looks for an earlier server of this amphora alone: the lookup never lists the pool', async () => {
    const h = executorHarness();
    for (let i = 0; i < 5; i++) await h.noop.createServer(bootRequest(`other-${i}`));
    const r = await h.given(pendingCreate(h.clock.now()));

    await h.run(h.taskFor(r));

    expect(h.noop.calls.filter((c) => c.operation === 'listServers')).toEqual([
      expect.objectContaining({ target: r.id, outcome: 'ok' }),
    ]);
  });

  it('gives up a create whose pool is gone, calling no driver, as a failed create', async () => {
    const h = executorHarness();
    const r = await h.given(
      rec('PENDING_CREATE', {
        pool: 'retired',
        task: { type: 'CREATE', issuedAt: h.clock.now(), reissues: 0, polls: 0 },
      }),
    );

    const report = await h.run(h.taskFor(r));

    expect(report.outcome).toBe('not-bootable');
    expect(h.ops()).toEqual([]);
    expect(await h.record(r.id)).toMatchObject({
      state: 'ERROR',
      failure: { code: 'CREATE_FAILED', message: 'pool retired is no longer configured' },
    });
    expect((await h.store.getPoolState()).zones[0]).toMatchObject({
      pool: 'retired',
      consecutiveFailures: 1,
    });
  });
});

describe('RESOLVE_IMAGE', () => {
  const tagged = { pools: [{ name: 'large', openstack: { image_tag: 'amp' } }] };
  const task = (pool = 'large') => ({
    v: 1 as const,
    type: 'RESOLVE_IMAGE' as const,
    taskId: 't-1',
    issuedAt: 0,
    pool,
  });

  it('records the newest image with the pool’s tag', async () => {
    const h = executorHarness({ config: tagged });
    await h.control.publishImage({ tags: ['amp'] }, h.clock.now() - 2);
    const newest = await h.control.publishImage({ tags: ['amp'] }, h.clock.now() - 1);
    await h.control.publishImage({ tags: ['other'] }, h.clock.now());

    expect((await h.run(task())).outcome).toBe('resolved');

    expect((await h.store.getPoolState()).images).toStrictEqual([
      { pool: 'large', tag: 'amp', imageId: newest, resolvedAt: h.clock.now() },
    ]);
  });

  it('records why a tag no image carries cannot be resolved, and acknowledges the task', async () => {
    const h = executorHarness({ config: tagged });

    const report = await h.run(task());

    expect(report).toMatchObject({ outcome: 'no-image', disposition: { kind: 'ack' } });
    expect((await h.store.getPoolState()).images).toStrictEqual([
      {
        pool: 'large',
        tag: 'amp',
        error: 'no active image tagged amp in the simulated cloud',
        resolvedAt: h.clock.now(),
      },
    ]);
  });

  it('is stale for a pool that names no tag, or is no longer configured', async () => {
    const h = executorHarness({ config: tagged });
    expect((await h.run(task('gone'))).outcome).toBe('stale');
    expect(h.ops()).toEqual([]);
  });

  it('retries a resolution the cloud could not answer', async () => {
    const h = executorHarness({ config: tagged });
    await h.control.injectFault({ operation: 'resolveImage', error: 'Unavailable', times: 1 });
    expect((await h.run(task())).disposition.kind).toBe('retry');
  });
});

describe('the cloud breaker: no retry storms while the cloud refuses', () => {
  /** A harness whose driver refuses every call while `refusing.error` is set. */
  function flaky() {
    const refusing: { error?: Error } = {};
    const calls: string[] = [];
    const h = executorHarness({
      config: { create_backoff_initial: 30, create_backoff_max: 120 },
      wrapDriver: (d) =>
        new Proxy(d, {
          get(target, prop, receiver) {
            const value = Reflect.get(target, prop, receiver);
            if (typeof value !== 'function' || prop === 'name') return value;
            return async (...args: unknown[]) => {
              calls.push(String(prop));
              if (refusing.error) throw refusing.error;
              return value.apply(target, args);
            };
          },
        }),
    });
    return { h, refusing, calls };
  }

  it('after one Unauthorized, drops cloud work without calling the cloud until the probe is due', async () => {
    const { h, refusing, calls } = flaky();
    refusing.error = new UnauthorizedError('The request you have made requires authentication.');
    await h.run(h.sweepTask());
    expect(calls).toHaveLength(1);

    const records = await Promise.all(
      [1, 2, 3].map((i) => h.given(pendingCreate(h.clock.now(), i))),
    );
    for (const r of records) {
      const report = await h.run(h.taskFor(r));
      expect(report).toMatchObject({
        disposition: { kind: 'ack' },
        outcome: 'dropped-cloud-refusing',
      });
      expect(await h.record(r.id)).toEqual(r);
    }
    expect(calls).toHaveLength(1);
    expect(h.queue.deadLetters).toHaveLength(0);
  });

  it('lets exactly one probe through per interval, doubling while it is refused', async () => {
    const { h, refusing, calls } = flaky();
    refusing.error = new UnauthorizedError('401');
    await h.run(h.sweepTask());
    const probesAt: number[] = [];
    // Ten minutes of a task every five seconds, the cloud refusing throughout.
    for (let t = 0; t < 600; t += 5) {
      h.clock.advance(5_000);
      const before = calls.length;
      await h.run(h.sweepTask());
      if (calls.length > before) probesAt.push(t + 5);
    }
    // Opened at 0: probes at 30, then 60 and 120 (capped) apart.
    expect(probesAt).toStrictEqual([30, 90, 210, 330, 450, 570]);
    expect(h.queue.deadLetters).toHaveLength(0);
  });

  it('closes on the probe’s success, recording when, and lets work through again', async () => {
    const { h, refusing, calls } = flaky();
    refusing.error = new UnauthorizedError('401');
    await h.run(h.sweepTask());
    delete refusing.error;
    h.clock.advance(30_000);

    expect((await h.run(h.sweepTask())).outcome).toBe('swept');
    expect(await h.store.getCloudHealth()).toStrictEqual({
      state: 'ok',
      failures: 0,
      recoveredAt: h.clock.now(),
    });
    const r = await h.given(pendingCreate(h.clock.now()));
    expect((await h.run(h.taskFor(r))).outcome).toBe('booted');
    expect(calls.length).toBeGreaterThan(2);
  });

  it.each([1, 2])(
    'does not open on %i Unavailable answer(s) in a row: it retries them',
    async (n) => {
      const { h, refusing } = flaky();
      refusing.error = new UnavailableError('503');
      for (let i = 0; i < n; i++) {
        expect((await h.run(h.sweepTask())).disposition.kind).toBe('retry');
      }
      expect((await h.store.getCloudHealth())?.state).toBe('ok');
    },
  );

  it('opens on the third Unavailable in a row, acknowledging it instead of retrying', async () => {
    const { h, refusing } = flaky();
    refusing.error = new UnavailableError('503');
    await h.run(h.sweepTask());
    await h.run(h.sweepTask());
    const third = await h.run(h.sweepTask());

    expect(third).toMatchObject({ disposition: { kind: 'ack' }, outcome: 'cloud-refusing' });
    expect(await h.store.getCloudHealth()).toMatchObject({
      state: 'refusing',
      kind: 'Unavailable',
    });
    expect((await h.run(h.sweepTask())).outcome).toBe('dropped-cloud-refusing');
  });

  it('a probe that never reached the cloud (a stale task) hands the probe to the next task', async () => {
    const { h, refusing, calls } = flaky();
    refusing.error = new UnauthorizedError('401');
    await h.run(h.sweepTask());
    h.clock.advance(30_000);
    const stale = rec('PENDING_CREATE', { version: 5 });
    await h.given(stale);

    expect((await h.run({ ...h.taskFor(stale), version: 4 })).outcome).toBe('stale');
    expect(calls).toHaveLength(1);
    delete refusing.error;
    expect((await h.run(h.sweepTask())).outcome).toBe('swept');
    expect((await h.store.getCloudHealth())?.state).toBe('ok');
  });

  it('reads the cloud’s health at most once per cache age, and sees another executor’s breaker after it', async () => {
    const { h } = flaky();
    let healthReads = 0;
    const read = h.store.getCloudHealth.bind(h.store);
    h.store.getCloudHealth = () => {
      healthReads += 1;
      return read();
    };
    for (let i = 0; i < 4; i++) await h.run(h.sweepTask());
    expect(healthReads).toBe(1);
    await h.store.putCloudHealth({
      state: 'refusing',
      since: h.clock.now(),
      probeAt: h.clock.now() + 60_000,
      failures: 1,
    });
    h.clock.advance(5_000);

    expect((await h.run(h.sweepTask())).outcome).toBe('dropped-cloud-refusing');
    expect(healthReads).toBe(2);
  });

  it('reads the cloud’s health once for a batch of tasks whose cache expired together', async () => {
    const { h } = flaky();
    let healthReads = 0;
    const read = h.store.getCloudHealth.bind(h.store);
    h.store.getCloudHealth = () => {
      healthReads += 1;
      return read();
    };
    await h.run(h.sweepTask());
    h.clock.advance(5_000);

    const outcomes = await Promise.all(Array.from({ length: 10 }, () => h.run(h.sweepTask())));

    expect(outcomes.map((o) => o.outcome)).toStrictEqual(Array(10).fill('swept'));
    expect(healthReads).toBe(2);
  });
});
