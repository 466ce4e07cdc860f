/**
 * A simulated deployment for property tests: planner and executors on the in-memory adapters
 * and the noop driver, on a manual clock, with crashes between any two port calls, duplicate
 * deliveries, concurrent and fenced-out planners, and the SPEC §6 invariants checked after
 * every single store write.
 */
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryCloudState } from '../../lib/adapters/memory/memory-cloud-state.ts';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue, memorySource } from '../../lib/adapters/memory/memory-task-queue.ts';
import { consumeBatch } from '../../lib/app/consume-messages.ts';
import type { ExecutorDeps } from '../../lib/app/execute-task.ts';
import { type PlannerDeps, runPlannerCycle } from '../../lib/app/run-planner-cycle.ts';
import { type HousekeeperConfig, parseConfig } from '../../lib/config/schema.ts';
import {
  type AmphoraRecord,
  DEPLOYING_STATES,
  isLive,
  PRESERVED_STATES,
} from '../../lib/domain/amphora.ts';
import { LeaseLostError } from '../../lib/domain/errors.ts';
import { allocatedGhosts } from '../../lib/domain/ghosts.ts';
import { type PoolCounts, tally, withoutZeros } from '../../lib/domain/pool.ts';
import { NoopCloudControl, NoopDriver } from '../../lib/drivers/noop/noop-driver.ts';
import { seededIds, seededRandom } from '../../lib/local/random.ts';
import type { AmphoraDriver } from '../../lib/ports/amphora-driver.ts';
import type { CloudStateStore } from '../../lib/ports/cloud-state.ts';
import type { PoolStore } from '../../lib/ports/pool-store.ts';
import type { MessageSource, TaskQueue } from '../../lib/ports/task-queue.ts';
import { noMetrics, silentLogger } from '../../lib/ports/telemetry.ts';

/** Thrown by every port call of a "process" that has crashed. */
export class SimulatedCrash extends Error {}

/** Kills a simulated process at its n-th port call; every later call fails too. */
export class CrashSwitch {
  private countdown: number | undefined;
  crashed = false;

  arm(afterCalls: number): void {
    this.countdown = afterCalls;
    this.crashed = false;
  }

  reset(): void {
    this.countdown = undefined;
    this.crashed = false;
  }

  tick(): void {
    if (this.crashed) throw new SimulatedCrash('process already crashed');
    if (this.countdown === undefined) return;
    if (this.countdown <= 0) {
      this.crashed = true;
      throw new SimulatedCrash('simulated crash between two steps');
    }
    this.countdown -= 1;
  }
}

type Hook = (method: string) => Promise<void> | void;

/** Wraps every method of a port: the crash switch before each call, hooks around it. */
function instrument<T extends object>(
  target: T,
  sw: CrashSwitch,
  hooks: { before?: Hook; after?: Hook; failed?: ErrorHook } = {},
): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await hooks.before?.(String(prop));
        sw.tick();
        let result: unknown;
        try {
          result = await (value as (...a: unknown[]) => unknown).apply(obj, args);
        } catch (error) {
          hooks.failed?.(String(prop), error);
          throw error;
        }
        await hooks.after?.(String(prop));
        return result;
      };
    },
  });
}

/** Counts with pools, zones and states in a stable order, for comparison. */
function sortedCounts(counts: PoolCounts): unknown {
  return Object.keys(counts)
    .sort()
    .map((pool) => [
      pool,
      Object.keys(counts[pool]!)
        .sort()
        .map((zone) => [zone, Object.entries(counts[pool]![zone]!).sort()]),
    ]);
}

/** A violated invariant, with when it was seen. */
export interface Violation {
  readonly at: string;
  readonly message: string;
}

/** Tunables of a simulated deployment beyond the housekeeper's own configuration. */
export interface WorldOptions {
  readonly seed: number;
  readonly bootSeconds: number;
  readonly bootFailureRate: number;
  readonly duplicateRate: number;
  readonly visibilityTimeoutSeconds?: number;
}

const WRITES = new Set(['create', 'update', 'commit', 'recordImage']);

/** Wraps a hook so that it also sees failed calls. */
type ErrorHook = (method: string, error: unknown) => void;

/**
 * What a world runs on: the in-memory adapters in simulated time, or the DynamoDB and SQS
 * adapters on their emulators (see `emulator-backend.ts`).
 */
export interface Backend {
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  readonly source: MessageSource;
  readonly cloud: CloudStateStore;
  /** Every amphora record, read around the ports (for invariant checks). */
  records(): Promise<AmphoraRecord[]>;
  /** The store's counters (read around the ports' instrumentation). */
  counts(): Promise<PoolCounts>;
  /**
   * The records and the counters at one instant, when the backend can read both atomically (in
   * memory it can; over DynamoDB the counters are compared at quiet points instead).
   */
  atomicSnapshot?(): { records: AmphoraRecord[]; counts: PoolCounts };
  /** Store write requests so far (records, lease, pool statistics, marks). */
  writes(): number;
  /** Tasks sent and messages dead-lettered so far. */
  sent(): number;
  deadLettered(): number;
  /**
   * When the next message becomes visible, in clock time (`undefined`: none waiting). Only a
   * backend in simulated time has it; without it the world drains by polling (SQS).
   */
  nextVisibleAt?(): number | undefined;
  close(): Promise<void>;
}

/** The in-memory backend on the world's manual clock. */
export function memoryBackend(
  clock: ManualClock,
  options: WorldOptions,
  random: () => number,
): Backend {
  const store = new MemoryPoolStore();
  const queue = new MemoryTaskQueue(clock, {
    duplicateRate: options.duplicateRate,
    random,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
    maxReceiveCount: 10,
  });
  return {
    store,
    queue,
    source: memorySource(queue),
    cloud: new MemoryCloudState(),
    records: async () => store.all(),
    counts: async () => (await store.getPoolState()).counts,
    atomicSnapshot: () => ({ records: store.all(), counts: store.countsNow() }),
    writes: () => store.calls.recordWrites + store.calls.metaWrites + store.calls.leaseWrites,
    sent: () => queue.sent.length,
    deadLettered: () => queue.deadLetters.length,
    nextVisibleAt: () => queue.nextVisibleAt(),
    close: async () => {},
  };
}

/** One simulated deployment. */
export class World {
  readonly clock: ManualClock;
  readonly config: HousekeeperConfig;
  readonly random: () => number;
  readonly newId: () => string;
  readonly backend: Backend;
  readonly control: NoopCloudControl;
  readonly violations: Violation[] = [];
  /** Every amphora id ever written, and those purged by TTL. */
  readonly everCreated = new Set<string>();
  readonly purged = new Set<string>();
  /** Eviction order under `cycle`, checked strictly oldest first. */
  readonly evictions: string[] = [];
  plannerCycles = 0;
  /** Driver calls made by every process so far. */
  driverCalls = 0;
  /** How often each kind of fault actually struck, to show the runs exercise them. */
  readonly struck = { crashes: 0, fencedOut: 0 };
  /** Driver calls that failed (injected faults included). */
  driverErrors = 0;
  /** Servers removed by sweeps as orphans. */
  orphansRemoved = 0;
  /** Servers the run deleted or broke behind the service's back. */
  ghostsMade = 0;
  /** Every record as of the last check: what the invariant checks read between writes. */
  records: AmphoraRecord[] = [];
  private holderSeq = 0;
  private lastPreservedQueue: AmphoraRecord[] = [];
  private readonly boot: { bootSeconds: number; bootFailureRate: number; snapshotSeconds?: number };

  constructor(
    rawConfig: Record<string, unknown>,
    options: WorldOptions,
    backend?: (clock: ManualClock, random: () => number) => Backend,
    clock = new ManualClock(),
  ) {
    this.clock = clock;
    this.config = parseConfig(rawConfig);
    this.random = seededRandom(options.seed);
    this.newId = seededIds(this.random);
    this.backend = backend
      ? backend(clock, this.random)
      : memoryBackend(clock, options, this.random);
    this.control = new NoopCloudControl(this.backend.cloud, this.newId);
    this.boot = { bootSeconds: options.bootSeconds, bootFailureRate: options.bootFailureRate };
  }

  /** Sets how simulated boots behave from now on. */
  setBoot(boot: { bootSeconds: number; bootFailureRate: number }): void {
    this.boot.bootSeconds = boot.bootSeconds;
    this.boot.bootFailureRate = boot.bootFailureRate;
    delete this.boot.snapshotSeconds;
  }

  /** Makes the snapshots requested from now on stay `saving` (for `seconds`; never, in effect). */
  stallSnapshots(seconds: number): void {
    this.boot.snapshotSeconds = seconds;
  }

  /** Why each task the executors dead-lettered went there. */
  readonly deadLetterReasons: string[] = [];

  /** Tasks the queue will accept and then never deliver (a lost send): see {@link loseSends}. */
  private sendsToLose = 0;
  /** Tasks accepted and never delivered so far. */
  lostSends = 0;
  /** Times the run expired the credentials. */
  credentialsExpired = 0;

  /** Tasks still to be lost. */
  pendingLostSends(): number {
    return this.sendsToLose;
  }

  /** Makes the queue accept the next `n` tasks sent and never deliver them. */
  loseSends(n: number): void {
    this.sendsToLose += n;
  }

  private lossyQueue(): TaskQueue {
    const real = this.backend.queue;
    return {
      send: async (tasks) => {
        const lost = Math.min(this.sendsToLose, tasks.length);
        this.sendsToLose -= lost;
        this.lostSends += lost;
        if (tasks.length > lost) await real.send(tasks.slice(lost));
      },
      deadLetter: (body, reason, receiveCount) => {
        this.deadLetterReasons.push(reason);
        return real.deadLetter(body, reason, receiveCount);
      },
    };
  }

  /** A "process": ports wrapped with its own crash switch and the invariant checks. */
  private process(sw: CrashSwitch, storeBefore?: Hook) {
    const store = instrument<PoolStore>(this.backend.store, sw, {
      ...(storeBefore ? { before: storeBefore } : {}),
      after: async (m) => {
        if (WRITES.has(m)) await this.checkInstant(`after store.${m}`);
      },
    });
    const queue = instrument<TaskQueue>(this.lossyQueue(), sw);
    const driver = instrument<AmphoraDriver>(
      new NoopDriver(
        { state: this.backend.cloud, clock: this.clock, newId: this.newId, random: this.random },
        this.config.ownership_tag,
        { ...this.boot },
      ),
      sw,
      {
        after: () => {
          this.driverCalls += 1;
        },
        failed: () => {
          this.driverCalls += 1;
          this.driverErrors += 1;
        },
      },
    );
    return { store, queue, driver };
  }

  plannerDeps(sw: CrashSwitch, storeBefore?: Hook): PlannerDeps {
    const { store, queue } = this.process(sw, storeBefore);
    return {
      store,
      queue,
      clock: this.clock,
      newId: this.newId,
      config: this.config,
      holder: `planner-${++this.holderSeq}`,
      logger: silentLogger,
      metrics: noMetrics,
    };
  }

  executorDeps(sw: CrashSwitch): ExecutorDeps & { driver: AmphoraDriver } {
    const { store, queue, driver } = this.process(sw);
    return {
      store,
      queue,
      driver,
      clock: this.clock,
      newId: this.newId,
      config: this.config,
      logger: silentLogger,
      metrics: {
        count: (name, value = 1) => {
          if (name === 'OrphansRemoved') this.orphansRemoved += value;
        },
        gauge: () => {},
      },
    };
  }

  /** One planner invocation; a crash or a lost lease ends it like a failed Lambda. */
  async planner(sw = new CrashSwitch(), storeBefore?: Hook) {
    this.plannerCycles += 1;
    try {
      return await runPlannerCycle(this.plannerDeps(sw, storeBefore));
    } catch (error) {
      if (error instanceof SimulatedCrash) this.struck.crashes += 1;
      else if (error instanceof LeaseLostError) this.struck.fencedOut += 1;
      else throw error;
      return undefined;
    }
  }

  /** Two planners started at the same instant. */
  async twoPlanners(): Promise<void> {
    await Promise.all([this.planner(), this.planner()]);
  }

  /**
   * A planner that stalls before committing until its lease expired and another planner ran a
   * whole cycle: its commit must be fenced off.
   */
  async fencedPlanner(): Promise<void> {
    let stalled = false;
    await this.planner(new CrashSwitch(), async (method) => {
      if (method !== 'commit' || stalled) return;
      stalled = true;
      this.clock.advance(this.config.planner_lease_ttl * 1000 + 1);
      await this.planner();
    });
  }

  /** One executor invocation over a batch of visible messages; how many it received. */
  async executorBatch(sw = new CrashSwitch()): Promise<number> {
    const deps = this.executorDeps(sw);
    const source = instrument<MessageSource>(this.backend.source, sw);
    try {
      return (await consumeBatch(deps, source, { max: 10 })).length;
    } catch (error) {
      if (!(error instanceof SimulatedCrash)) throw error;
      this.struck.crashes += 1;
      return 1;
    }
  }

  /**
   * Runs executors until nothing is visible now (bounded). In memory the queue says when; on
   * SQS, until a receive comes back empty twice.
   */
  async drain(maxBatches = 200): Promise<void> {
    let empty = 0;
    for (let i = 0; i < maxBatches; i++) {
      if (!this.backend.nextVisibleAt) {
        empty = (await this.executorBatch()) === 0 ? empty + 1 : 0;
        if (empty >= 2) return;
        continue;
      }
      const next = this.backend.nextVisibleAt();
      if (next === undefined || next > this.clock.now()) return;
      await this.executorBatch();
    }
  }

  /** Moves time forward in steps, draining the queue as messages become visible. */
  async elapse(ms: number, stepMs = 5_000): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      await this.drain();
      const next = this.backend.nextVisibleAt?.();
      const to = Math.min(
        end,
        Math.max(this.clock.now() + 1, Math.min(next ?? end, this.clock.now() + stepMs)),
      );
      this.clock.set(to);
    }
    await this.drain();
  }

  /** A planner cycle, then the housekeeping interval with executors running. */
  async cycle(): Promise<void> {
    await this.planner();
    await this.elapse(this.config.housekeeping_interval * 1000);
  }

  // -- invariants --------------------------------------------------------------------------------

  /** Checks the invariants that must hold at every instant. */
  async checkInstant(at: string): Promise<void> {
    const records = await this.backend.records();
    const previous = this.records;
    this.records = records;
    const deploying = records.filter((r) => DEPLOYING_STATES.includes(r.state)).length;
    if (deploying > this.config.maximum_deploying_amphora_count) {
      this.violations.push({
        at,
        message: `deploying ${deploying} > cap ${this.config.maximum_deploying_amphora_count}`,
      });
    }
    const preserved = records.filter((r) => PRESERVED_STATES.includes(r.state));
    if (preserved.length > this.config.maximum_preserved_amphora_count) {
      this.violations.push({
        at,
        message: `preserved ${preserved.length} > max ${this.config.maximum_preserved_amphora_count}`,
      });
    }
    const ids = new Set(records.map((r) => r.id));
    for (const r of records) this.everCreated.add(r.id);
    for (const id of this.everCreated) {
      if (ids.has(id) || this.purged.has(id)) continue;
      // Only a DELETED record past its expiry may go: the planner's purge.
      const last = previous.find((r) => r.id === id);
      if (
        last?.state === 'DELETED' &&
        last.expiresAt !== undefined &&
        last.expiresAt <= this.clock.now()
      ) {
        this.purged.add(id);
      } else {
        this.violations.push({ at, message: `record ${id} was lost` });
      }
    }
    const snap = this.backend.atomicSnapshot?.();
    if (snap) this.checkCounters(at, snap.counts, snap.records);
    // Strict FIFO eviction: whatever left the preserved queue by eviction was its oldest entry.
    const now = new Map(preserved.map((r) => [r.id, r]));
    const queueBefore = this.lastPreservedQueue;
    const leftByEviction = queueBefore.filter((r) => {
      const after = records.find((x) => x.id === r.id);
      return (
        !now.has(r.id) &&
        after?.history.at(-1)?.reason === 'CYCLE_EVICT_OLDEST' &&
        after.state === 'PENDING_DELETE'
      );
    });
    for (const evicted of leftByEviction) {
      this.evictions.push(evicted.id);
      // With per-pool caps an eviction may be the oldest of its own pool only.
      const perPool = this.config.pools.some(
        (p) => p.maximum_preserved_amphora_count !== undefined,
      );
      const older = queueBefore.filter(
        (r) =>
          now.has(r.id) &&
          r.preservation!.seq < evicted.preservation!.seq &&
          (!perPool || r.pool === evicted.pool),
      );
      if (older.length > 0) {
        this.violations.push({
          at,
          message: `evicted ${evicted.id} while older ${older.map((r) => r.id).join(',')} stayed`,
        });
      }
    }
    this.lastPreservedQueue = preserved;
  }

  /** Records a violation if the counters differ from a full recount of `records`. */
  checkCounters(at: string, counts: PoolCounts, records: readonly AmphoraRecord[]): void {
    const recount = withoutZeros(tally(records));
    if (JSON.stringify(sortedCounts(counts)) !== JSON.stringify(sortedCounts(recount))) {
      this.violations.push({
        at,
        message: `counters ${JSON.stringify(counts)} differ from a recount ${JSON.stringify(recount)}`,
      });
    }
  }

  /** Compares the counters with a recount at a quiet instant (no process running). */
  async checkCountersQuiet(at: string): Promise<void> {
    this.checkCounters(at, await this.backend.counts(), await this.backend.records());
  }

  /** Servers in the simulated cloud that no live record accounts for, and records whose server is missing. */
  async leaks(): Promise<{ unaccounted: string[]; missing: string[] }> {
    const servers = new Set(await this.control.serverIds());
    const records = (await this.backend.records()).filter((r) => isLive(r) && r.computeId);
    const reported = new Set(allocatedGhosts(records).map((r) => r.computeId!));
    const owned = new Set(records.map((r) => r.computeId!));
    return {
      unaccounted: [...servers].filter((s) => !owned.has(s)),
      missing: [...owned].filter((s) => !servers.has(s) && !reported.has(s)),
    };
  }

  /**
   * The cloud is the truth: live records whose server is gone, and READY spares whose server is
   * broken. ALLOCATED ones a sweep reported to the operator are not ours to fix, so not counted.
   */
  async ghosts(): Promise<string[]> {
    const servers = new Set(await this.control.serverIds());
    const broken = new Set(await this.control.brokenServerIds());
    const reported = new Set(allocatedGhosts(await this.backend.records()).map((r) => r.id));
    return (await this.backend.records())
      .filter((r) => isLive(r) && r.computeId && !reported.has(r.id))
      .filter(
        (r) =>
          (!servers.has(r.computeId!) && r.state !== 'PENDING_DELETE') ||
          (r.state === 'READY' && broken.has(r.computeId!)),
      )
      .map((r) => `${r.id}:${r.state}`);
  }

  /** READY amphorae per configured pool zone (`pool/zone`). */
  async readyByZone(): Promise<Map<string, number>> {
    const ready = new Map<string, number>();
    for (const p of this.config.pools) for (const z of p.zones) ready.set(`${p.name}/${z.name}`, 0);
    for (const r of await this.backend.records()) {
      const k = `${r.pool}/${r.zone}`;
      if (r.state === 'READY' && ready.has(k)) ready.set(k, ready.get(k)! + 1);
    }
    return ready;
  }

  /** Whether every configured pool zone holds exactly its target of READY spares. */
  async atTarget(): Promise<boolean> {
    const ready = await this.readyByZone();
    return this.config.pools.every((p) =>
      p.zones.every((z) => ready.get(`${p.name}/${z.name}`) === p.spare_amphora_pool_size),
    );
  }

  /** Whether every READY spare of a pool that boots by tag was booted from its newest image. */
  async fleetCurrent(): Promise<boolean> {
    const records = await this.backend.records();
    for (const p of this.config.pools) {
      const tag = p.launch.image_tag;
      if (tag === undefined) continue;
      const newest = await this.control.newestImage(tag);
      const stale = records.some(
        (r) => r.pool === p.name && r.state === 'READY' && r.launch?.imageId !== newest,
      );
      if (stale) return false;
    }
    return true;
  }

  /** Publishes a new image for every pool that boots by tag (a new amphora image release). */
  async publishImages(): Promise<void> {
    for (const p of this.config.pools) {
      if (p.launch.image_tag !== undefined) {
        await this.control.publishImage({ tags: [p.launch.image_tag] }, this.clock.now());
      }
    }
  }

  /** Every record now. */
  all(): Promise<AmphoraRecord[]> {
    return this.backend.records();
  }
}
