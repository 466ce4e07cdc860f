/**
 * Claims over the API, and how soon a claimed spare is replaced (issue 10, item 5).
 *
 * The real local API (`startLocalApi`: the handler the function URL calls, on `node:http`) runs
 * over the real DynamoDbPoolStore and idempotency store on DynamoDB Local and the real
 * SqsTaskQueue on fauxqs, both started here. A real HTTP client (`HousekeeperApiClient`) claims.
 * Each phase starts from its own table seeded with READY spares at target, and measures:
 *
 * - claim latency: the client's call until the amphora is returned;
 * - claim → CREATE sent: the call's start until the planner's `send` of the replacement's CREATE
 *   returned (SQS accepted it);
 * - the planner cycles (lease acquisitions that got the lease) a burst of concurrent claims
 *   causes until every replacement's CREATE is sent.
 *
 * Two refill paths, in the same run:
 * - **wake**: each claim wakes the planner in-process (coalesced `requestPlannerRun`), as
 *   `npm start` does; the schedule is off, so every CREATE comes from a wake;
 * - **schedule only**: no wake; a planner cycle every INTERVAL seconds, as EventBridge would.
 *   Claims come at random moments, so claim → CREATE averages INTERVAL/2 plus a cycle.
 *
 *   npm run bench:claims    # BENCH_CLAIMS=20 BENCH_BURST=50 BENCH_CLAIMS_INTERVAL=6
 *
 * Exits with 1 when the wake's claim → CREATE p99 is above 2 s, or a burst of BURST claims
 * takes more than MAX_BURST_CYCLES planner cycles (a few, not one per claim).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDbIdempotencyStore } from '../../../lib/adapters/dynamodb/dynamodb-idempotency-store.ts';
import { DynamoDbPoolStore } from '../../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { createTable } from '../../../lib/adapters/dynamodb/table.ts';
import { SqsTaskQueue } from '../../../lib/adapters/sqs/sqs-task-queue.ts';
import { systemClock } from '../../../lib/adapters/system-clock.ts';
import { HousekeeperApiClient } from '../../../lib/api/client.ts';
import { handleApiRequest } from '../../../lib/api/handler.ts';
import { serveApi } from '../../../lib/api/node-server.ts';
import { runPlannerCycle } from '../../../lib/app/run-planner-cycle.ts';
import { type HousekeeperConfig, parseConfig } from '../../../lib/config/schema.ts';
import type { AmphoraRecord } from '../../../lib/domain/amphora.ts';
import {
  createTaskQueues,
  type DynamoDbLocal,
  localClientConfig,
  type SqsEmulator,
  startDynamoDbLocal,
  startSqsEmulator,
} from '../../../lib/local/emulators.ts';
import { startLocalApi } from '../../../lib/local/local-api.ts';
import type { PoolStore } from '../../../lib/ports/pool-store.ts';
import type { TaskQueue } from '../../../lib/ports/task-queue.ts';
import { noMetrics, silentLogger } from '../../../lib/ports/telemetry.ts';
import { runMain } from '../run-main.ts';

const CLAIMS = Number(process.env.BENCH_CLAIMS ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 50);
/**
 * Schedule-only phase: seconds between the cycles this bench's timer runs. It stands in for
 * housekeeping_interval (at least 60 s in a deployment) so the phase takes a minute, not ten:
 * the wait it measures is the time to the next tick, so it scales with the interval.
 */
const INTERVAL = Number(process.env.BENCH_CLAIMS_INTERVAL ?? 6);
/** Claims in the schedule-only phase (each waits for a tick, so they cost INTERVAL/2 each). */
const SCHEDULED_CLAIMS = Number(process.env.BENCH_SCHEDULED_CLAIMS ?? 10);
/** The goal: claim → CREATE p99 with the wake, locally. */
const GOAL_P99_MS = 2000;
/** "A few planner runs, not one per claim." */
const MAX_BURST_CYCLES = 5;
/** A replacement not sent within this is a failure of the run, not a slow figure. */
const WAIT_LIMIT_MS = 30_000;
const OUT = '.bench/claims.json';

let dynamo: DynamoDbLocal | undefined;
let sqsEmulator: SqsEmulator | undefined;

interface Phase {
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  readonly config: HousekeeperConfig;
  /** When each CREATE's send returned, in order (ms since the epoch). */
  readonly creates: number[];
  readonly dynamodb: DynamoDBClient;
  readonly tableName: string;
  /** Lease acquisitions that got the lease (one per planner cycle). */
  cycles(): number;
  close(): Promise<void>;
}

let tables = 0;

/** A fresh table with `spares` READY spares at target, and its queue, instrumented. */
async function phase(spares: number, cap: number): Promise<Phase> {
  const client = new DynamoDBClient(localClientConfig(dynamo!.endpoint));
  const sqs = new SQSClient(localClientConfig(sqsEmulator!.endpoint));
  const tableName = `claims-bench-${++tables}`;
  await createTable(client, tableName);
  const urls = await createTaskQueues(sqs, {
    queueName: `${tableName}-tasks`,
    deadLetterQueueName: `${tableName}-dlq`,
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 30,
  });
  const real = new DynamoDbPoolStore({ client, tableName });
  let acquired = 0;
  const store: PoolStore = Object.assign(Object.create(real) as PoolStore, {
    acquireLease: async (...args: Parameters<PoolStore['acquireLease']>) => {
      const lease = await real.acquireLease(...args);
      if (lease) acquired += 1;
      return lease;
    },
  });
  const creates: number[] = [];
  const sqsQueue = new SqsTaskQueue({ client: sqs, ...urls });
  const queue: TaskQueue = {
    send: async (tasks) => {
      await sqsQueue.send(tasks);
      const at = Date.now();
      for (const t of tasks) if (t.task.type === 'CREATE') creates.push(at);
    },
    deadLetter: (body, reason, count) => sqsQueue.deadLetter(body, reason, count),
  };
  const config = parseConfig({
    spare_amphora_pool_size: spares,
    maximum_deploying_amphora_count: cap,
  });
  const now = Date.now();
  const seeds: AmphoraRecord[] = Array.from({ length: spares }, (_, i) => ({
    id: `spare-${tables}-${String(i).padStart(4, '0')}`,
    pool: 'default',
    zone: '*',
    state: 'READY',
    version: 1,
    createdAt: now,
    updatedAt: now,
    stateSince: now + i,
    computeId: `srv-${tables}-${i}`,
    history: [],
  }));
  for (const record of seeds) await real.create(record);
  const p: Phase = {
    store,
    queue,
    config,
    creates,
    dynamodb: client,
    tableName,
    cycles: () => acquired,
    close: async () => {
      client.destroy();
      sqs.destroy();
    },
  };
  // A pool at target creates nothing: its first cycles only note the fleet current and send the
  // first sweep. Anything else would make the figures count other work.
  for (let n = 0; ; n++) {
    const settle = await runPlannerCycle(plannerDeps(p, `settle-${n}`));
    if (settle.status !== 'applied' || n === 3 || creates.length > 0) {
      throw new Error(`the seeded pool does not settle: ${JSON.stringify(settle)}`);
    }
    if (settle.plan.decisions.length === 0) break;
  }
  acquired = 0;
  return p;
}

function plannerDeps(p: Phase, holder: string) {
  return {
    store: p.store,
    queue: p.queue,
    clock: systemClock,
    newId: randomUUID,
    config: p.config,
    logger: silentLogger,
    metrics: noMetrics,
    holder,
  };
}

/**
 * Serves the API over a phase: as `npm start` does (the in-process wake), or, for schedule only,
 * the same handler with a wake that does nothing.
 */
async function api(p: Phase, wake: boolean) {
  const idempotency = new DynamoDbIdempotencyStore({ client: p.dynamodb, tableName: p.tableName });
  const stack = {
    config: p.config,
    store: p.store,
    queue: p.queue,
    clock: systemClock,
    newId: randomUUID,
    logger: silentLogger,
    metrics: noMetrics,
  };
  const served = wake
    ? await startLocalApi(stack, { port: 0, idempotency })
    : await serveApi(
        (request) =>
          handleApiRequest({ ...stack, idempotency, wake: { wake: async () => {} } }, request),
        { port: 0 },
      );
  return {
    served,
    client: new HousekeeperApiClient({ baseUrl: served.url, retries: 0, timeoutMs: 60_000 }),
  };
}

async function waitFor(what: string, done: () => boolean): Promise<void> {
  const limit = Date.now() + WAIT_LIMIT_MS;
  while (!done()) {
    if (Date.now() > limit)
      throw new Error(`gave up after ${WAIT_LIMIT_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

interface Sequential {
  readonly claimMs: number[];
  readonly toCreateMs: number[];
  readonly cycles: number;
}

/**
 * Claims one at a time, each after a random pause of up to `spreadMs`, and waits for its
 * replacement's CREATE before the next (so the n-th CREATE is the n-th claim's).
 */
async function sequential(p: Phase, claims: number, spreadMs: number, wake: boolean) {
  const { served, client } = await api(p, wake);
  const schedule = wake ? undefined : scheduler(p);
  const result: Sequential = { claimMs: [], toCreateMs: [], cycles: 0 };
  try {
    for (let i = 0; i < claims; i++) {
      await new Promise((r) => setTimeout(r, Math.random() * spreadMs));
      const start = Date.now();
      await client.claim();
      result.claimMs.push(Date.now() - start);
      await waitFor(`the replacement of claim ${i + 1}`, () => p.creates.length > i);
      result.toCreateMs.push(p.creates[i]! - start);
    }
  } finally {
    await schedule?.stop();
    await served.close();
  }
  return { ...result, cycles: p.cycles() };
}

/** A planner cycle every INTERVAL seconds, as the EventBridge schedule runs them. */
function scheduler(p: Phase) {
  let running = Promise.resolve();
  let n = 0;
  const timer = setInterval(() => {
    running = running.then(async () => {
      await runPlannerCycle(plannerDeps(p, `schedule-${++n}`));
    });
  }, INTERVAL * 1000);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/** BURST concurrent claims; waits until every replacement's CREATE is sent. */
async function burst(p: Phase, wake: boolean) {
  const { served, client } = await api(p, wake);
  const schedule = wake ? undefined : scheduler(p);
  try {
    const start = Date.now();
    const claimed = await Promise.all(
      Array.from({ length: BURST }, async () => {
        const t = Date.now();
        const a = await client.claim();
        return { id: a.id, ms: Date.now() - t };
      }),
    );
    const distinct = new Set(claimed.map((c) => c.id)).size;
    if (distinct !== BURST) throw new Error(`${BURST} claims got ${distinct} distinct amphorae`);
    await waitFor(`${BURST} replacements`, () => p.creates.length >= BURST);
    // Give a run still under way the time to finish, so its cycles are counted.
    await served.close();
    return {
      claimP50: percentile(
        claimed.map((c) => c.ms),
        50,
      ),
      claimP99: percentile(
        claimed.map((c) => c.ms),
        99,
      ),
      lastCreateMs: p.creates[BURST - 1]! - start,
      cycles: p.cycles(),
    };
  } finally {
    await schedule?.stop();
    await served.close();
  }
}

function line(label: string, values: readonly number[]): string {
  return `${label.padEnd(34)} p50 ${String(Math.round(percentile(values, 50))).padStart(6)} ms   p99 ${String(Math.round(percentile(values, 99))).padStart(6)} ms   mean ${String(Math.round(mean(values))).padStart(6)} ms`;
}

async function main(): Promise<number> {
  process.stdout.write('starting DynamoDB Local and fauxqs...\n');
  [dynamo, sqsEmulator] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
  process.stdout.write(
    `claims bench: ${CLAIMS} claims one at a time, a burst of ${BURST}, schedule-only at ${INTERVAL} s with ${SCHEDULED_CLAIMS} claims\n`,
  );

  // Warm-up: the first requests on a fresh emulator pay its JIT; not counted.
  const warm = await phase(5, 5);
  await sequential(warm, 3, 0, true);
  await warm.close();

  const seqPhase = await phase(CLAIMS, CLAIMS);
  const withWake = await sequential(seqPhase, CLAIMS, 200, true);
  await seqPhase.close();
  process.stdout.write(`\nwake (in-process, coalesced), ${CLAIMS} claims one at a time:\n`);
  process.stdout.write(`  ${line('claim (API call → amphora)', withWake.claimMs)}\n`);
  process.stdout.write(`  ${line('claim → replacement CREATE sent', withWake.toCreateMs)}\n`);
  process.stdout.write(`  planner cycles: ${withWake.cycles}\n`);

  const burstPhase = await phase(BURST + 10, BURST + 10);
  const burstWake = await burst(burstPhase, true);
  await burstPhase.close();
  process.stdout.write(
    `\nwake, a burst of ${BURST} concurrent claims: claim p50 ${burstWake.claimP50} ms, p99 ${burstWake.claimP99} ms; all ${BURST} CREATEs sent ${burstWake.lastCreateMs} ms after the burst began; ${burstWake.cycles} planner cycle(s)\n`,
  );

  const schedPhase = await phase(SCHEDULED_CLAIMS, SCHEDULED_CLAIMS);
  const scheduleOnly = await sequential(schedPhase, SCHEDULED_CLAIMS, INTERVAL * 1000, false);
  await schedPhase.close();
  process.stdout.write(
    `\nschedule only (a cycle every ${INTERVAL} s), ${SCHEDULED_CLAIMS} claims at random moments:\n`,
  );
  process.stdout.write(`  ${line('claim (API call → amphora)', scheduleOnly.claimMs)}\n`);
  process.stdout.write(`  ${line('claim → replacement CREATE sent', scheduleOnly.toCreateMs)}\n`);
  process.stdout.write(
    `  (interval/2 = ${(INTERVAL * 1000) / 2} ms: the expected mean wait for the next tick)\n`,
  );

  const p99 = percentile(withWake.toCreateMs, 99);
  const speedup = mean(scheduleOnly.toCreateMs) / mean(withWake.toCreateMs);
  process.stdout.write(
    `\nclaim → CREATE mean: wake ${Math.round(mean(withWake.toCreateMs))} ms vs schedule only ${Math.round(mean(scheduleOnly.toCreateMs))} ms (${speedup.toFixed(0)}× sooner)\n`,
  );

  mkdirSync('.bench', { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify({ at: new Date().toISOString(), withWake, burstWake, scheduleOnly, interval: INTERVAL }, null, 2)}\n`,
  );
  let failed = 0;
  if (p99 > GOAL_P99_MS) {
    process.stdout.write(`GOAL MISSED: claim → CREATE p99 ${p99} ms > ${GOAL_P99_MS} ms\n`);
    failed += 1;
  }
  if (burstWake.cycles > MAX_BURST_CYCLES) {
    process.stdout.write(
      `GOAL MISSED: a burst of ${BURST} claims took ${burstWake.cycles} planner cycles > ${MAX_BURST_CYCLES}\n`,
    );
    failed += 1;
  }
  if (failed === 0) {
    process.stdout.write(
      `goals met: claim → CREATE p99 ${p99} ms ≤ ${GOAL_P99_MS} ms; a burst of ${BURST} took ${burstWake.cycles} ≤ ${MAX_BURST_CYCLES} cycles\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}

runMain(main, async () => {
  await Promise.all([dynamo?.stop(), sqsEmulator?.stop()]);
});
