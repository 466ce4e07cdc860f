/**
 * Two deployments on one cloud: each sweeps only the servers of its own ownership tag, so
 * neither ever removes the other's. The same run with one shared tag shows what the distinct
 * tags prevent: each deployment's sweep takes the other's servers for orphans.
 */
import { describe, expect, it } from 'vitest';
import { isLive } from '../../lib/domain/amphora.ts';
import { memoryBackend, World } from '../support/world.ts';

const OPTIONS = { seed: 7, bootSeconds: 10, bootFailureRate: 0, duplicateRate: 0 };

function config(name: string) {
  return {
    deployment_name: name,
    spare_amphora_pool_size: 3,
    maximum_deploying_amphora_count: 3,
    housekeeping_interval: 60,
    orphan_sweep_interval: 120,
    orphan_grace_period: 120,
  };
}

/** Two worlds on one clock and one simulated cloud, each with its own store and queue. */
function twoDeployments(a: string, b: string) {
  const first = new World(config(a), OPTIONS);
  const second = new World(
    config(b),
    { ...OPTIONS, seed: 8 },
    (clock, random) => ({ ...memoryBackend(clock, OPTIONS, random), cloud: first.backend.cloud }),
    first.clock,
  );
  return { first, second };
}

async function run(first: World, second: World, cycles: number) {
  for (let i = 0; i < cycles; i++) {
    await first.planner();
    await second.planner();
    await first.elapse(60_000);
    await second.drain();
  }
}

async function serversOf(world: World): Promise<string[]> {
  return (await world.all()).filter((r) => isLive(r) && r.computeId).map((r) => r.computeId!);
}

describe('two deployments on one cloud', () => {
  it('never remove each other’s servers: each keeps its pool through many sweeps', async () => {
    const { first, second } = twoDeployments('octavia-east', 'octavia-west');

    await run(first, second, 15);

    const cloud = new Set(await first.control.serverIds());
    const a = await serversOf(first);
    const b = await serversOf(second);
    expect(await first.atTarget()).toBe(true);
    expect(await second.atTarget()).toBe(true);
    expect(a.every((s) => cloud.has(s)) && b.every((s) => cloud.has(s))).toBe(true);
    expect(cloud.size).toBe(a.length + b.length);
    expect(first.orphansRemoved + second.orphansRemoved).toBe(0);
    expect([...first.violations, ...second.violations]).toEqual([]);
  });

  it('would, with one shared ownership tag: each sweep takes the other’s servers for orphans', async () => {
    const { first, second } = twoDeployments('same-name', 'same-name');

    await run(first, second, 15);

    expect(first.orphansRemoved + second.orphansRemoved).toBeGreaterThan(0);
  });
});
