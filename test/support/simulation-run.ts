/**
 * The randomized history run shared by the in-memory simulation (many runs) and the run on the
 * real adapters over the emulators (a few): random actions with faults, then the SPEC §6
 * invariants, convergence, no leak and a quiet steady state.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  claimSpare,
  deactivate,
  flagFailed,
  requestPreservation,
} from '../../lib/app/operator-actions.ts';
import { DRIVER_ERROR_KINDS, type DriverErrorKind } from '../../lib/domain/errors.ts';
import { NOOP_OPERATIONS } from '../../lib/drivers/noop/noop-driver.ts';
import { amphoraTag } from '../../lib/ports/amphora-driver.ts';
import { CrashSwitch, type World } from './world.ts';

export type Action =
  | { kind: 'cycle' }
  | { kind: 'twoPlanners' }
  | { kind: 'fencedPlanner' }
  | { kind: 'crashPlanner'; at: number }
  | { kind: 'crashExecutor'; at: number }
  | { kind: 'elapse'; seconds: number }
  | { kind: 'claim' }
  | { kind: 'handBack' }
  | { kind: 'flag' }
  | { kind: 'requestPreserve' }
  | {
      kind: 'fault';
      operation: string;
      error: DriverErrorKind;
      times?: number;
      probability?: number;
    }
  | { kind: 'plantOrphan' }
  | { kind: 'loseSends'; count: number }
  | { kind: 'expireCredentials' }
  | { kind: 'recoverCredentials' }
  | { kind: 'stallSnapshots' }
  | { kind: 'loseServer' }
  | { kind: 'breakServer' }
  | { kind: 'publishImage' };

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'cycle' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'twoPlanners' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fencedPlanner' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('crashPlanner' as const), at: fc.nat(12) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('crashExecutor' as const), at: fc.nat(12) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('elapse' as const),
      seconds: fc.integer({ min: 1, max: 600 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'claim' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'handBack' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flag' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'requestPreserve' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .record(
        {
          kind: fc.constant('fault' as const),
          operation: fc.constantFrom('*', ...NOOP_OPERATIONS),
          error: fc.constantFrom(...DRIVER_ERROR_KINDS),
          times: fc.integer({ min: 1, max: 3 }),
          probability: fc.double({ min: 0.05, max: 0.5, noNaN: true }),
        },
        { requiredKeys: ['kind', 'operation', 'error'] },
      )
      .map((f) =>
        f.times !== undefined
          ? { ...f, probability: undefined }
          : f.probability !== undefined
            ? f
            : { ...f, times: 1 },
      ),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'plantOrphan' as const }) },
  // Credentials expiring (every call refused) and being renewed later; snapshots that never end.
  { weight: 1, arbitrary: fc.constant({ kind: 'expireCredentials' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'recoverCredentials' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stallSnapshots' as const }) },
  // SQS accepting a batch and then never delivering some of it.
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 3 })
      .map((count) => ({ kind: 'loseSends' as const, count })),
  },
  // Servers deleted or broken behind the service's back (issue 7's ghosts).
  { weight: 1, arbitrary: fc.constant({ kind: 'loseServer' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'breakServer' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'publishImage' as const }) },
);

const poolArb = (name: string) =>
  fc.record(
    {
      name: fc.constant(name),
      spare_amphora_pool_size: fc.integer({ min: 0, max: 4 }),
      availability_zones: fc.constantFrom([], ['az1'], ['az1', 'az2']),
      maximum_deploying_amphora_count: fc.integer({ min: 1, max: 3 }),
      maximum_preserved_amphora_count: fc.integer({ min: 0, max: 2 }),
      rotation_budget: fc.integer({ min: 1, max: 2 }),
      openstack: fc.constantFrom({}, { image_tag: `${name}-image` }),
    },
    { requiredKeys: ['name', 'spare_amphora_pool_size', 'availability_zones', 'openstack'] },
  );

export const configArb = fc
  .record({
    pools: fc.oneof(fc.tuple(poolArb('default')), fc.tuple(poolArb('small'), poolArb('large'))),
    maximum_deploying_amphora_count: fc.integer({ min: 1, max: 4 }),
    maximum_preserved_amphora_count: fc.integer({ min: 0, max: 3 }),
    preservation_scheme: fc.constantFrom('keep', 'cycle'),
    preservation_method: fc.constantFrom('unplug', 'snapshot'),
    housekeeping_interval: fc.constantFrom(60, 120, 300),
    boot_timeout: fc.integer({ min: 120, max: 600 }),
    task_timeout: fc.integer({ min: 180, max: 600 }),
    create_backoff_initial: fc.integer({ min: 10, max: 60 }),
    create_backoff_max: fc.integer({ min: 60, max: 600 }),
    sweepEvery: fc.integer({ min: 2, max: 5 }),
    orphan_grace_period: fc.integer({ min: 60, max: 900 }),
    planner_lease_ttl: fc.integer({ min: 60, max: 300 }),
  })
  .map(({ sweepEvery, ...c }) => ({
    ...c,
    // Per-pool caps sit under the global ones.
    pools: c.pools.map((p) => ({
      ...p,
      ...(p.maximum_deploying_amphora_count !== undefined
        ? {
            maximum_deploying_amphora_count: Math.min(
              p.maximum_deploying_amphora_count,
              c.maximum_deploying_amphora_count,
            ),
          }
        : {}),
      ...(p.maximum_preserved_amphora_count !== undefined
        ? {
            maximum_preserved_amphora_count: Math.min(
              p.maximum_preserved_amphora_count,
              c.maximum_preserved_amphora_count,
            ),
          }
        : {}),
    })),
    orphan_sweep_interval: c.housekeeping_interval * sweepEvery,
    image_refresh_interval: c.housekeeping_interval * sweepEvery * 3,
  }));

export const worldArb = fc.record({
  seed: fc.integer(),
  bootSeconds: fc.integer({ min: 0, max: 90 }),
  bootFailureRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
  duplicateRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
});

function pick<T>(world: World, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(world.random() * items.length)];
}

/** Applies one random action to a world. */
export async function apply(world: World, action: Action): Promise<void> {
  const ops = world.executorDeps(new CrashSwitch());
  const records = () => world.all();
  const swallow = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (error) {
      // Operator races lose cleanly (conflict, illegal move); nothing else is expected.
      const name = (error as Error).name;
      if (!['VersionConflictError', 'IllegalTransitionError'].includes(name)) throw error;
    }
  };
  switch (action.kind) {
    case 'cycle':
      return world.cycle();
    case 'twoPlanners':
      return world.twoPlanners();
    case 'fencedPlanner':
      return world.fencedPlanner();
    case 'crashPlanner': {
      const sw = new CrashSwitch();
      sw.arm(action.at);
      await world.planner(sw);
      return;
    }
    case 'crashExecutor': {
      const sw = new CrashSwitch();
      sw.arm(action.at);
      await world.executorBatch(sw);
      return;
    }
    case 'elapse':
      return world.elapse(action.seconds * 1000);
    case 'claim': {
      const pool = pick(world, world.config.pools)!.name;
      await claimSpare(ops, { pool });
      return;
    }
    case 'publishImage':
      await world.publishImages();
      return;
    case 'handBack': {
      const r = pick(
        world,
        (await records()).filter((x) => x.state === 'ALLOCATED'),
      );
      if (r) await swallow(deactivate(ops, r.id));
      return;
    }
    case 'flag': {
      const r = pick(
        world,
        (await records()).filter((x) => ['READY', 'ALLOCATED', 'BOOTING'].includes(x.state)),
      );
      if (r) await swallow(flagFailed(ops, r.id, 'load balancer reported failure'));
      return;
    }
    case 'requestPreserve': {
      const r = pick(
        world,
        (await records()).filter((x) => ['READY', 'ALLOCATED', 'ERROR'].includes(x.state)),
      );
      if (r) await swallow(requestPreservation(ops, r.id));
      return;
    }
    case 'fault':
      await world.control.injectFault({
        operation: action.operation as never,
        error: action.error,
        ...(action.times !== undefined
          ? { times: action.times }
          : { probability: action.probability! }),
      });
      return;
    case 'expireCredentials':
      await world.control.injectFault({ operation: '*', error: 'Unauthorized', probability: 1 });
      world.credentialsExpired += 1;
      return;
    case 'recoverCredentials':
      await world.control.clearFaults();
      return;
    case 'stallSnapshots':
      world.stallSnapshots(1e9);
      return;
    case 'loseSends':
      world.loseSends(action.count);
      return;
    case 'loseServer':
    case 'breakServer': {
      const states =
        action.kind === 'loseServer' ? ['READY', 'BOOTING', 'PRESERVED', 'ALLOCATED'] : ['READY'];
      const r = pick(
        world,
        (await records()).filter((x) => states.includes(x.state) && x.computeId !== undefined),
      );
      if (!r) return;
      const gone = (await world.control.serverIds()).includes(r.computeId!) === false;
      if (gone) return;
      if (action.kind === 'loseServer') await world.control.loseServer(r.computeId!);
      else await world.control.breakServer(r.computeId!);
      world.ghostsMade += 1;
      return;
    }
    case 'plantOrphan':
      await world.control.plantServer(
        [world.config.ownership_tag, amphoraTag(world.newId())],
        world.clock.now(),
      );
      return;
  }
}

/** What a run saw strike, to show that the runs exercise the faults. */
export interface RunStats {
  plannerCycles: number;
  crashes: number;
  fencedOut: number;
  deadLetters: number;
  deleteFailed: number;
  preserved: number;
  orphansRemoved: number;
  driverErrors: number;
  /** Spares replaced because their pool's image changed. */
  rotated: number;
  /** Servers deleted or broken behind the service's back. */
  ghostsMade: number;
  /** Tasks the queue accepted and never delivered. */
  lostSends: number;
  /** Times every call to the cloud started failing Unauthorized. */
  credentialsExpired: number;
  /** Preservations given up after preservation_timeout (snapshots that never finished). */
  preserveTimeouts: number;
}

/** Plays `actions`, stops the faults, then checks convergence, leaks and the steady state. */
export async function runHistory(
  world: World,
  options: { bootSeconds: number },
  actions: readonly Action[],
): Promise<RunStats> {
  // The pools' first images, for those that boot by tag.
  await world.publishImages();
  // Fault phase.
  for (const action of actions) {
    await apply(world, action);
    expect(world.violations).toEqual([]);
  }
  // Faults stop: no more injected errors, lost sends, failed boots or crashes; consumers go quiet.
  await world.control.clearFaults();
  world.loseSends(-world.pendingLostSends());
  world.setBoot({ bootSeconds: options.bootSeconds, bootFailureRate: 0 });
  const c = world.config;
  const settleMs =
    c.task_timeout +
    c.planner_lease_ttl +
    900 +
    c.boot_timeout +
    c.create_backoff_max +
    c.image_refresh_interval +
    // A snapshot that never ends is given up after preservation_timeout.
    c.preservation_timeout +
    // Two sweeps in a row find a ghost; a third may come first if one was under way.
    3 * c.orphan_sweep_interval +
    300;
  const spares = c.pools.reduce((n, p) => n + p.spare_amphora_pool_size * p.zones.length, 0);
  const slowestPool = Math.max(
    ...c.pools.map((p) =>
      Math.ceil(
        ((p.spare_amphora_pool_size + p.rotation_budget) * p.zones.length) /
          (p.maximum_deploying_amphora_count ?? c.maximum_deploying_amphora_count),
      ),
    ),
  );
  const bound =
    Math.ceil((settleMs * 1000) / (c.housekeeping_interval * 1000)) +
    Math.ceil(spares / c.maximum_deploying_amphora_count) +
    2 * slowestPool +
    Math.ceil(Math.log2(c.maximum_deploying_amphora_count + 1)) +
    5;
  let cycles = 0;
  const converged = async () =>
    (await world.atTarget()) &&
    (await quiet(world)) &&
    (await world.fleetCurrent()) &&
    (await world.ghosts()).length === 0;
  while (!(await converged()) && cycles < bound) {
    await world.cycle();
    cycles += 1;
  }
  expect(world.violations).toEqual([]);
  expect({
    atTarget: await world.atTarget(),
    quiet: await quiet(world),
    fleetCurrent: await world.fleetCurrent(),
    // After the sweeps, status READY = servers ACTIVE in the cloud: no record outlives its server.
    ghosts: await world.ghosts(),
    cycles,
    bound,
  }).toMatchObject({
    atTarget: true,
    quiet: true,
    fleetCurrent: true,
    ghosts: [],
  });
  // Refused credentials open the breaker: they never fill the DLQ (nor does anything else refused).
  expect(world.deadLetterReasons.filter((r) => r.startsWith('Unauthorized'))).toEqual([]);
  // No task is re-issued without bound: past task_max_attempts a record ends in a visible state.
  const overIssued = (await world.backend.records()).filter(
    (r) => (r.task?.reissues ?? 0) >= c.task_max_attempts,
  );
  expect(overIssued.map((r) => `${r.id}:${r.state}:${r.task?.type}:${r.task?.reissues}`)).toEqual(
    [],
  );
  // Two sweeps past the grace period remove every orphan: nothing leaks.
  const sweepCycles =
    Math.ceil((c.orphan_grace_period + 2 * c.orphan_sweep_interval) / c.housekeeping_interval) + 2;
  for (let i = 0; i < sweepCycles; i++) await world.cycle();
  expect(await world.leaks()).toEqual({ unaccounted: [], missing: [] });
  await world.checkCountersQuiet('after convergence');
  expect(world.violations).toEqual([]);
  // Steady state: a cycle with no sweep due writes nothing but the lease and sends nothing.
  let measured = 0;
  // A refresh that found a newer image makes a later cycle note the zone's fleet current: once
  // per zone and launch, never again.
  const notedCurrent = new Set<string>();
  for (let i = 0; i < c.image_refresh_interval / c.housekeeping_interval + 1; i++) {
    const before = {
      writes: world.backend.writes(),
      sent: world.backend.sent(),
      driver: world.driverCalls,
    };
    const report = await world.planner();
    // Sweeps and image refreshes have their own cadence; every other cycle must be quiet.
    const sweeping =
      report?.status === 'applied' &&
      report.plan.decisions.some(
        (d) => d.reasons.includes('SWEEP_DUE') || d.reasons.includes('RESOLVE_IMAGE'),
      );
    await world.elapse(c.housekeeping_interval * 1000);
    const fleetNotes =
      report?.status === 'applied' &&
      report.plan.decisions.length > 0 &&
      report.plan.decisions.every((d) => d.reasons.every((r) => r === 'FLEET_CURRENT'))
        ? report.plan.decisions.flatMap((d) => d.writes.map((w) => JSON.stringify(w)))
        : [];
    if (fleetNotes.length > 0 && fleetNotes.every((w) => !notedCurrent.has(w))) {
      for (const w of fleetNotes) notedCurrent.add(w);
      continue;
    }
    if (sweeping) continue;
    measured += 1;
    expect({
      // The planner's lease: one write to take it, one to give it up.
      writes: world.backend.writes() - before.writes,
      sent: world.backend.sent() - before.sent,
      driverCalls: world.driverCalls - before.driver,
      decisions: report?.status === 'applied' ? report.plan.decisions.length : -1,
    }).toEqual({ writes: 2, sent: 0, driverCalls: 0, decisions: 0 });
  }
  expect(measured).toBeGreaterThan(0);
  expect(world.violations).toEqual([]);
  const all = await world.all();
  return {
    plannerCycles: world.plannerCycles,
    crashes: world.struck.crashes,
    fencedOut: world.struck.fencedOut,
    deadLetters: world.backend.deadLettered(),
    deleteFailed: all.filter((r) => r.failure?.code === 'DELETE_FAILED').length,
    preserved: all.filter((r) => r.history.some((h) => h.to === 'PRESERVED')).length,
    orphansRemoved: world.orphansRemoved,
    ghostsMade: world.ghostsMade,
    lostSends: world.lostSends,
    credentialsExpired: world.credentialsExpired,
    preserveTimeouts: all.filter((r) => r.failure?.code === 'PRESERVE_TIMEOUT').length,
    driverErrors: world.driverErrors,
    rotated: all.filter((r) => r.history.some((h) => h.reason === 'ROTATE_STALE_LAUNCH')).length,
  };
}

/** No transient record remains except those that wait for an operator. */
export async function quiet(world: World): Promise<boolean> {
  return (await world.all()).every((r) => {
    switch (r.state) {
      case 'PENDING_CREATE':
      case 'BOOTING':
      case 'ERROR':
      case 'PRESERVE':
        return false;
      case 'PENDING_DELETE':
        return r.failure?.code === 'DELETE_FAILED';
      case 'PRESERVING':
        return r.failure?.code === 'PRESERVE_FAILED';
      default:
        return true;
    }
  });
}
