/**
 * SPEC §6 invariants under random configurations and random histories: claims, hand-backs,
 * failures, preservation requests, duplicate deliveries, crashes between any two steps, two
 * planners at once, fenced-out planners, orphans and random driver faults (in memory, in
 * simulated time; the same run on the real adapters is in test/integration/).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  actionArb,
  configArb,
  type RunStats,
  runHistory,
  worldArb,
} from '../support/simulation-run.ts';
import { World } from '../support/world.ts';

let runs = 0;
const seen: RunStats = {
  plannerCycles: 0,
  crashes: 0,
  fencedOut: 0,
  deadLetters: 0,
  deleteFailed: 0,
  preserved: 0,
  orphansRemoved: 0,
  driverErrors: 0,
  rotated: 0,
  ghostsMade: 0,
  lostSends: 0,
  credentialsExpired: 0,
  preserveTimeouts: 0,
};

afterAll(() => {
  // The issue asks for at least 1,000 random planner cycles in all; the rest shows what struck.
  console.log(
    `simulation: ${runs} runs; planner cycles and faults that struck: ${JSON.stringify(seen)}`,
  );
});

describe('the pool under random histories with faults', () => {
  it('keeps every invariant at every instant, then converges, leaks nothing and goes quiet', async () => {
    // The faults below must each strike in some run; a batch of 60 random histories almost
    // always has them all, and up to two more batches are run when one did not (a rare draw).
    const covered = () =>
      seen.plannerCycles >= 1_000 &&
      seen.rotated > 0 &&
      seen.ghostsMade > 0 &&
      seen.lostSends > 0 &&
      seen.credentialsExpired > 0;
    for (let batch = 0; batch < 3 && (batch === 0 || !covered()); batch++) {
      await fc.assert(
        fc.asyncProperty(
          configArb,
          worldArb,
          fc.array(actionArb, { minLength: 5, maxLength: 40 }),
          async (config, options, actions) => {
            const stats = await runHistory(new World(config, options), options, actions);
            runs += 1;
            for (const key of Object.keys(seen) as Array<keyof RunStats>) seen[key] += stats[key];
          },
        ),
        { numRuns: 60, endOnFailure: true },
      );
    }
    expect(seen.plannerCycles).toBeGreaterThanOrEqual(1_000);
    // The runs do exercise image rotation (several pools, images published mid-run).
    expect(seen.rotated).toBeGreaterThan(0);
    // And servers lost or broken behind the service's back.
    expect(seen.ghostsMade).toBeGreaterThan(0);
    // And sends the queue accepted but never delivered.
    expect(seen.lostSends).toBeGreaterThan(0);
    // And credentials expiring (and, at the latest when the faults stop, renewed).
    expect(seen.credentialsExpired).toBeGreaterThan(0);
  }, 600_000);
});

describe('convergence with a healthy cloud', () => {
  it('fills an empty pool in exactly the fewest cycles the deploying cap allows, never more than the cap at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          spare_amphora_pool_size: fc.integer({ min: 1, max: 12 }),
          availability_zones: fc.constantFrom([], ['az1', 'az2'], ['az1', 'az2', 'az3']),
          maximum_deploying_amphora_count: fc.integer({ min: 1, max: 8 }),
          housekeeping_interval: fc.constantFrom(60, 120),
        }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer(),
        async (config, bootSeconds, seed) => {
          const world = new World(config, {
            seed,
            bootSeconds,
            bootFailureRate: 0,
            duplicateRate: 0,
          });
          const total =
            config.spare_amphora_pool_size * Math.max(1, config.availability_zones.length);
          const fewest = Math.ceil(total / config.maximum_deploying_amphora_count);
          let cycles = 0;
          while (!(await world.atTarget()) && cycles <= fewest + 1) {
            await world.cycle();
            cycles += 1;
          }
          expect({ cycles, atTarget: await world.atTarget() }).toEqual({
            cycles: fewest,
            atTarget: true,
          });
          expect(world.violations).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  });
});
