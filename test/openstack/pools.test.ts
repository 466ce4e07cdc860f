/**
 * Two pools on the loopback OpenStack, through the real planner, executors and openstack
 * driver (records and tasks in memory): pools with different flavors fill side by side, each
 * server tagged with its pool; then a new image tagged in Glance rotates one pool's READY
 * spares, make-before-break, with READY never below the target while it does.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue, memorySource } from '../../lib/adapters/memory/memory-task-queue.ts';
import { consumeBatch } from '../../lib/app/consume-messages.ts';
import type { ExecutorDeps } from '../../lib/app/execute-task.ts';
import { runPlannerCycle } from '../../lib/app/run-planner-cycle.ts';
import { type HousekeeperConfig, parseConfig } from '../../lib/config/schema.ts';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import { clearTokenCache } from '../../lib/drivers/openstack/keystone.ts';
import type { Clock } from '../../lib/ports/clock.ts';
import { noMetrics, silentLogger } from '../../lib/ports/telemetry.ts';
import { loadOsciEnv, type OsciEnv, RawCloud, realDriver, runTag } from './support.ts';

/** Real time, which the test may move forward (to make an image refresh due at once). */
class JumpingClock implements Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  jump(ms: number): void {
    this.offset += ms;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }
}

const SPARES = 2;

describe('two pools on the loopback OpenStack', () => {
  let env: OsciEnv;
  let tag: string;
  let imageTag: string;
  let raw: RawCloud;
  const clock = new JumpingClock();
  const store = new MemoryPoolStore();
  const queue = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 30 });
  let config: HousekeeperConfig;
  let executor: ExecutorDeps;
  let firstImage: string;

  beforeAll(async () => {
    env = loadOsciEnv();
    tag = runTag('osci-pools');
    imageTag = `${tag}-image`;
    raw = new RawCloud(env);
    clearTokenCache();
    firstImage = await raw.publishImage(imageTag, tag);
    config = parseConfig({
      driver: 'openstack',
      ownership_tag: tag,
      maximum_deploying_amphora_count: 4,
      check_initial_delay: 1,
      check_max_delay: 4,
      image_refresh_interval: 60,
      orphan_sweep_interval: 3_600,
      openstack: { network_ids: [env.network_id], region_name: env.region },
      pools: [
        {
          name: 'small',
          spare_amphora_pool_size: SPARES,
          openstack: { flavor_id: 'osci-tiny', image_id: env.image_id },
        },
        {
          name: 'large',
          spare_amphora_pool_size: SPARES,
          rotation_budget: 1,
          openstack: { flavor_id: env.flavor_id, image_tag: imageTag },
        },
      ],
    });
    executor = {
      store,
      queue,
      driver: realDriver({ env, ownershipTag: tag }),
      clock,
      newId: randomUUID,
      config,
      logger: silentLogger,
      metrics: noMetrics,
    };
  });

  afterAll(async () => {
    await raw?.purge(tag);
  });

  const records = () => store.all();
  const readyOf = (rs: AmphoraRecord[], pool: string) =>
    rs.filter((r) => r.pool === pool && r.state === 'READY');
  const inFlight = (rs: AmphoraRecord[]) =>
    rs.some((r) => ['PENDING_CREATE', 'BOOTING', 'PENDING_DELETE'].includes(r.state));

  /** Planner cycles with the executors between them until `done` holds; checks after each step. */
  async function until(
    done: (rs: AmphoraRecord[]) => boolean,
    check: (rs: AmphoraRecord[]) => void = () => {},
    timeoutMs = 240_000,
  ): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (let cycles = 1; ; cycles++) {
      const report = await runPlannerCycle({ ...executor, store, holder: `test-${cycles}` });
      expect(report.status).toBe('applied');
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        const handled = await consumeBatch(executor, memorySource(queue), { max: 10 });
        for (const h of handled) expect(h.disposition.kind).not.toBe('dead-letter');
        check(await records());
        if (handled.length === 0) await clock.sleep(250);
      }
      if (done(await records())) return cycles;
      if (Date.now() > deadline) throw new Error(`not converged after ${cycles} cycles`);
    }
  }

  it('fills two pools of different flavors side by side, each server tagged with its pool', async () => {
    await until(
      (rs) => readyOf(rs, 'small').length === SPARES && readyOf(rs, 'large').length === SPARES,
    );

    const rs = await records();
    for (const [pool, flavor, image] of [
      ['small', 'osci-tiny', env.image_id],
      ['large', env.flavor_id, firstImage],
    ] as const) {
      for (const r of readyOf(rs, pool)) {
        const server = await raw.server(r.computeId!);
        expect(server.status).toBe('ACTIVE');
        expect(server.tags).toEqual(expect.arrayContaining([tag, `amphora-pool:${pool}`]));
        expect(server.image.id).toBe(image);
        expect(r.launch).toMatchObject({ imageId: image, flavorId: flavor });
      }
    }
    const listed = await raw.call(
      'compute',
      'GET',
      `/servers/detail?tags=${encodeURIComponent(tag)}`,
    );
    expect(listed.body.servers).toHaveLength(2 * SPARES);
  });

  it('rotates one pool to a newly tagged image, make-before-break, leaving the other alone', async () => {
    // Prepare: a new amphora image is released, and the pool's next refresh is due at once.
    const small = readyOf(await records(), 'small').map((r) => r.id);
    const newImage = await raw.publishImage(imageTag, tag);
    clock.jump(61_000);
    let lowest = Number.POSITIVE_INFINITY;

    // Act
    const cycles = await until(
      (rs) =>
        !inFlight(rs) &&
        readyOf(rs, 'large').length === SPARES &&
        readyOf(rs, 'large').every((r) => r.launch?.imageId === newImage),
      (rs) => {
        lowest = Math.min(lowest, readyOf(rs, 'large').length);
      },
    );

    // Assess
    expect(lowest).toBeGreaterThanOrEqual(SPARES);
    const rs = await records();
    for (const r of readyOf(rs, 'large')) {
      expect((await raw.server(r.computeId!)).image.id).toBe(newImage);
    }
    expect(rs.filter((r) => r.history.some((h) => h.reason === 'ROTATE_STALE_LAUNCH')).length).toBe(
      SPARES,
    );
    expect(readyOf(rs, 'small').map((r) => r.id)).toStrictEqual(small);
    expect(cycles).toBeGreaterThan(1);
  });
});
