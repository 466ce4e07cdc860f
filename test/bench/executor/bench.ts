/**
 * Benchmark of the executor's requests per task (GitHub issue 12, item 3): `consumeBatch` (the
 * local poller: receive ten, execute them concurrently, one batched delete) with the real
 * DynamoDbPoolStore on DynamoDB Local, the real SqsTaskQueue and SqsTaskConsumer on fauxqs, and
 * the noop driver's simulated cloud on DynamoDB Local (its own client, so its requests are
 * counted apart). Every SDK command is counted by a middleware, per task kind:
 *
 *   CREATE          PENDING_CREATE → BOOTING: the duplicate lookup, the boot, a CHECK follow-up
 *   CHECK booting   BOOTING, server still BUILD: the record polled again, a CHECK follow-up
 *   CHECK ready     BOOTING → READY: no follow-up
 *   REMOVE          PENDING_DELETE → DELETED: the server deleted, no follow-up
 *
 * The floor is the bare state change, issued with the SDK and no domain work, in the same
 * batches of ten: ReceiveMessage, then per task GetItem of the record, one conditional
 * UpdateItem of it, the follow-up SendMessage (for the kinds that send one), then one
 * DeleteMessageBatch. The cloud's floor is the one bare request each driver call stands for
 * (CREATE: the lookup Query and the server's PutItem; CHECK: GetItem; REMOVE: DeleteItem).
 *
 * Reported per kind: executor requests per task against the floor (GOAL: ≤ 1.5×), the same with
 * the simulated cloud's requests on both sides (≤ 1.5×), and tasks per second against the
 * floor's. Everything is measured again with CLOUD_SIZES servers already in the simulated cloud:
 * requests per task must stay the same, and tasks per second must not fall below half.
 *
 *   npm run bench            # BENCH_TASKS=100 BENCH_ROUNDS=5 BENCH_WARMUP=1 BENCH_CLOUD_SIZES=0,3000
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDbCloudState } from '../../../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { DynamoDbPoolStore } from '../../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { ATTR, recordKey } from '../../../lib/adapters/dynamodb/items.ts';
import { createTable } from '../../../lib/adapters/dynamodb/table.ts';
import { SqsTaskConsumer } from '../../../lib/adapters/sqs/sqs-task-consumer.ts';
import { SqsTaskQueue } from '../../../lib/adapters/sqs/sqs-task-queue.ts';
import { systemClock } from '../../../lib/adapters/system-clock.ts';
import { consumeBatch } from '../../../lib/app/consume-messages.ts';
import type { ExecutorDeps } from '../../../lib/app/execute-task.ts';
import { parseConfig } from '../../../lib/config/schema.ts';
import {
  type AmphoraRecord,
  newAmphora,
  pendingTask,
  transition,
} from '../../../lib/domain/amphora.ts';
import {
  encodeTask,
  type RecordTask,
  TASK_SCHEMA_VERSION,
  taskMessageFor,
} from '../../../lib/domain/tasks.ts';
import { NoopDriver } from '../../../lib/drivers/noop/noop-driver.ts';
import {
  createTaskQueues,
  type DynamoDbLocal,
  localClientConfig,
  type SqsEmulator,
  startDynamoDbLocal,
  startSqsEmulator,
} from '../../../lib/local/emulators.ts';
import type { Clock } from '../../../lib/ports/clock.ts';
import { noMetrics, silentLogger } from '../../../lib/ports/telemetry.ts';
import { EMPTY_SPEC } from '../../support/boot.ts';
import { runMain } from '../run-main.ts';

const TASKS = Number(process.env.BENCH_TASKS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const CLOUD_SIZES = (process.env.BENCH_CLOUD_SIZES ?? '0,3000').split(',').map(Number);
/** Requests per task against the floor's, at most (the goal). */
const GOAL = 1.5;
/** Tasks per second with the largest cloud against the empty cloud's, at least. */
const MIN_RATE_KEPT = 0.5;
/** Simulated boot time: a CHECK right after the CREATE sees BUILD; after it, ACTIVE. */
const BOOT_SECONDS = 300;
const BATCH = 10;
const OWNER = 'amphora-housekeeper';
const OUT = '.bench/executor.json';

type Kind = 'CREATE' | 'CHECK booting' | 'CHECK ready' | 'REMOVE';
const KINDS: readonly Kind[] = ['CREATE', 'CHECK booting', 'CHECK ready', 'REMOVE'];
/** What each kind must come out as, and the bare requests it stands for. */
const SPEC: Record<
  Kind,
  { outcome: string; sends: boolean; cloud: ReadonlyArray<'query' | 'put' | 'get' | 'delete'> }
> = {
  CREATE: { outcome: 'booted', sends: true, cloud: ['query', 'put'] },
  'CHECK booting': { outcome: 'still-booting', sends: true, cloud: ['get'] },
  'CHECK ready': { outcome: 'ready', sends: false, cloud: ['get'] },
  REMOVE: { outcome: 'removed', sends: false, cloud: ['delete'] },
};

// -- request counting ---------------------------------------------------------------------------

/** The part of an SDK middleware stack used here; the clients' own types do not unify. */
interface Stack {
  add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
}

/** Counts every command a client sends, by name (the planner bench's recorder, trimmed). */
class Counter {
  private counts = new Map<string, number>();

  constructor(...clients: Array<DynamoDBClient | SQSClient>) {
    for (const client of clients) {
      (client.middlewareStack as unknown as Stack).add(
        (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
          async (args: unknown) => {
            const name = (context.commandName ?? '?').replace(/Command$/, '');
            this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
            return next(args);
          },
        { step: 'initialize', name: `bench-count-${randomUUID()}` },
      );
    }
  }

  /** The counts since the last take, and starts again. */
  take(): Record<string, number> {
    const taken = Object.fromEntries([...this.counts].sort());
    this.counts = new Map();
    return taken;
  }
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

// -- the world ----------------------------------------------------------------------------------

/** Real time plus an offset the bench moves forward, so that boots finish without waiting. */
class OffsetClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}

interface World {
  readonly cloudSize: number;
  readonly deps: ExecutorDeps;
  readonly source: SqsTaskConsumer;
  readonly clock: OffsetClock;
  readonly executorCount: Counter;
  readonly cloudCount: Counter;
  readonly floorCount: Counter;
  readonly floorCloudCount: Counter;
  /** Unmeasured: seeding records and messages. */
  readonly seedStore: DynamoDbPoolStore;
  readonly seedQueue: SqsTaskQueue;
  readonly floor: Floor;
}

interface Floor {
  readonly ddb: DynamoDBClient;
  /** The bare cloud calls, counted apart as the noop driver's are. */
  readonly cloudDdb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly table: string;
  readonly queueUrl: string;
  readonly followUpUrl: string;
  readonly seedQueue: SqsTaskQueue;
  /** Floor records' current versions, by id. */
  readonly versions: Map<string, number>;
}

let dynamo: DynamoDbLocal | undefined;
let sqsEmulator: SqsEmulator | undefined;
const clients: Array<DynamoDBClient | SQSClient> = [];

function client<T extends DynamoDBClient | SQSClient>(c: T): T {
  clients.push(c);
  return c;
}

async function world(cloudSize: number): Promise<World> {
  const ddbConfig = localClientConfig(dynamo!.endpoint);
  const sqsConfig = localClientConfig(sqsEmulator!.endpoint);
  const seedDdb = client(new DynamoDBClient(ddbConfig));
  const seedSqs = client(new SQSClient(sqsConfig));
  const table = `bench-executor-${cloudSize}`;
  await createTable(seedDdb, table);
  const queues = async (name: string) =>
    createTaskQueues(seedSqs, {
      queueName: `${name}-${cloudSize}`,
      deadLetterQueueName: `${name}-${cloudSize}-dlq`,
      maxReceiveCount: 5,
      visibilityTimeoutSeconds: 60,
    });
  // Follow-ups go to a queue of their own, so that the measured receives see only the phase's.
  const [work, followUps, floorWork, floorFollowUps] = await Promise.all([
    queues('work'),
    queues('followups'),
    queues('floor-work'),
    queues('floor-followups'),
  ]);
  const clock = new OffsetClock();
  const config = parseConfig({});
  const storeDdb = client(new DynamoDBClient(ddbConfig));
  const cloudDdb = client(new DynamoDBClient(ddbConfig));
  const executorSqs = client(new SQSClient(sqsConfig));
  const driverFor = (c: DynamoDBClient) =>
    new NoopDriver(
      { state: new DynamoDbCloudState({ client: c, tableName: table }), clock, newId: randomUUID },
      OWNER,
      { bootSeconds: BOOT_SECONDS, bootFailureRate: 0 },
    );
  await plantServers(driverFor(seedDdb), cloudSize);
  const deps: ExecutorDeps = {
    store: new DynamoDbPoolStore({ client: storeDdb, tableName: table }),
    queue: new SqsTaskQueue({
      client: executorSqs,
      queueUrl: followUps.queueUrl,
      deadLetterQueueUrl: followUps.deadLetterQueueUrl,
    }),
    driver: driverFor(cloudDdb),
    clock,
    newId: randomUUID,
    config,
    logger: silentLogger,
    metrics: noMetrics,
  };
  const floorDdb = client(new DynamoDBClient(ddbConfig));
  const floorCloudDdb = client(new DynamoDBClient(ddbConfig));
  const floorSqs = client(new SQSClient(sqsConfig));
  return {
    cloudSize,
    deps,
    source: new SqsTaskConsumer({
      client: executorSqs,
      queueUrl: work.queueUrl,
      waitTimeSeconds: 0,
      maxMessages: BATCH,
    }),
    clock,
    executorCount: new Counter(storeDdb, executorSqs),
    cloudCount: new Counter(cloudDdb),
    floorCount: new Counter(floorDdb, floorSqs),
    floorCloudCount: new Counter(floorCloudDdb),
    seedStore: new DynamoDbPoolStore({ client: seedDdb, tableName: table }),
    seedQueue: new SqsTaskQueue({ client: seedSqs, ...work }),
    floor: {
      ddb: floorDdb,
      cloudDdb: floorCloudDdb,
      sqs: floorSqs,
      table,
      queueUrl: floorWork.queueUrl,
      followUpUrl: floorFollowUps.queueUrl,
      seedQueue: new SqsTaskQueue({ client: seedSqs, ...floorWork }),
      versions: new Map(),
    },
  };
}

/** Boots `count` servers of other amphorae into the simulated cloud, as the executors would. */
async function plantServers(driver: NoopDriver, count: number): Promise<void> {
  if (count === 0) return;
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      await driver.createServer({ amphoraId: randomUUID(), pool: 'default', spec: EMPTY_SPEC });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  process.stderr.write(
    `  planted ${count} servers in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}

// -- one round: the executor's phases, each followed by its floor -------------------------------

interface Measured {
  readonly ms: number;
  readonly requests: Record<string, number>;
  readonly cloud: Record<string, number>;
}

/** Sends the records' tasks to the work queue, then runs the poller until all are handled. */
async function executorPhase(w: World, kind: Kind, records: AmphoraRecord[]): Promise<Measured> {
  await w.seedQueue.send(records.map((r) => ({ task: taskMessageFor(r, randomUUID()) })));
  w.executorCount.take();
  w.cloudCount.take();
  const outcomes = new Map<string, number>();
  const t0 = performance.now();
  let done = 0;
  for (let empty = 0; done < records.length; ) {
    const reports = await consumeBatch(w.deps, w.source, { max: BATCH });
    for (const r of reports) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
    done += reports.length;
    empty = reports.length === 0 ? empty + 1 : 0;
    if (empty > 50) throw new Error(`${kind}: the work queue ran dry at ${done}/${records.length}`);
  }
  const ms = performance.now() - t0;
  if (outcomes.get(SPEC[kind].outcome) !== records.length) {
    throw new Error(
      `${kind}: expected ${records.length} × ${SPEC[kind].outcome}, got ${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
  }
  return { ms, requests: w.executorCount.take(), cloud: w.cloudCount.take() };
}

/** The floor's server item of a floor record (the same partition as the simulated cloud's). */
function floorServerKey(id: string) {
  return { [ATTR.pk]: { S: 'CLOUD' }, [ATTR.sk]: { S: `KEY#server/floor-${id}` } };
}

/** The bare state change for `ids`: receive ten, read, write, send, cloud call; one delete. */
async function floorPhase(w: World, kind: Kind, ids: readonly string[]): Promise<Measured> {
  const f = w.floor;
  const now = w.clock.now();
  await f.seedQueue.send(
    ids.map((id) => ({
      task: {
        v: TASK_SCHEMA_VERSION,
        type: 'CHECK',
        taskId: randomUUID(),
        issuedAt: now,
        amphoraId: id,
        version: f.versions.get(id)!,
      } satisfies RecordTask,
    })),
  );
  w.floorCount.take();
  w.floorCloudCount.take();
  const spec = SPEC[kind];
  const t0 = performance.now();
  let done = 0;
  while (done < ids.length) {
    const { Messages = [] } = await f.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: f.queueUrl,
        MaxNumberOfMessages: BATCH,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    await Promise.all(
      Messages.map(async (m) => {
        const task = JSON.parse(m.Body!) as RecordTask;
        await f.ddb.send(
          new GetItemCommand({
            TableName: f.table,
            Key: recordKey(task.amphoraId),
            ConsistentRead: true,
          }),
        );
        const server = floorServerKey(task.amphoraId);
        for (const call of spec.cloud) {
          if (call === 'query') {
            await f.cloudDdb.send(
              new QueryCommand({
                TableName: f.table,
                KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
                ExpressionAttributeNames: { '#pk': ATTR.pk, '#sk': ATTR.sk },
                ExpressionAttributeValues: {
                  ':pk': { S: 'CLOUD' },
                  ':prefix': { S: `KEY#byamphora/floor-${task.amphoraId}/` },
                },
                ConsistentRead: true,
              }),
            );
          } else if (call === 'put') {
            await f.cloudDdb.send(
              new PutItemCommand({
                TableName: f.table,
                Item: {
                  ...server,
                  json: { S: JSON.stringify({ id: task.amphoraId, tags: [OWNER] }) },
                  version: { N: '1' },
                },
              }),
            );
          } else if (call === 'get') {
            await f.cloudDdb.send(
              new GetItemCommand({ TableName: f.table, Key: server, ConsistentRead: true }),
            );
          } else {
            await f.cloudDdb.send(new DeleteItemCommand({ TableName: f.table, Key: server }));
          }
        }
        await f.ddb.send(
          new UpdateItemCommand({
            TableName: f.table,
            Key: recordKey(task.amphoraId),
            UpdateExpression: 'SET #record.#version = :next',
            ConditionExpression: '#record.#version = :version',
            ExpressionAttributeNames: { '#record': ATTR.record, '#version': 'version' },
            ExpressionAttributeValues: {
              ':version': { N: String(task.version) },
              ':next': { N: String(task.version + 1) },
            },
          }),
        );
        f.versions.set(task.amphoraId, task.version + 1);
        if (spec.sends) {
          await f.sqs.send(
            new SendMessageCommand({
              QueueUrl: f.followUpUrl,
              MessageBody: encodeTask({ ...task, taskId: randomUUID(), version: task.version + 1 }),
              DelaySeconds: 5,
            }),
          );
        }
      }),
    );
    if (Messages.length > 0) {
      await f.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: f.queueUrl,
          Entries: Messages.map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
    done += Messages.length;
  }
  return {
    ms: performance.now() - t0,
    requests: w.floorCount.take(),
    cloud: w.floorCloudCount.take(),
  };
}

type Round = Record<Kind, { executor: Measured; floor: Measured }>;

async function round(w: World): Promise<Round> {
  const now = w.clock.now();
  const fresh = () =>
    Array.from({ length: TASKS }, () =>
      newAmphora({
        id: randomUUID(),
        pool: 'default',
        zone: '*',
        now,
        task: pendingTask('CREATE', now),
      }),
    );
  const records = fresh();
  const floorRecords = fresh();
  await Promise.all([...records, ...floorRecords].map((r) => w.seedStore.create(r)));
  for (const r of floorRecords) w.floor.versions.set(r.id, r.version);
  const ids = records.map((r) => r.id);
  const floorIds = floorRecords.map((r) => r.id);
  const result = {} as Round;
  let current = records;
  for (const kind of KINDS) {
    if (kind === 'CHECK ready') w.clock.offset += (BOOT_SECONDS + 1) * 1000;
    if (kind === 'REMOVE') {
      const at = w.clock.now();
      await Promise.all(
        current.map((r) =>
          w.seedStore.update(
            transition(r, 'PENDING_DELETE', {
              now: at,
              reason: 'BENCH',
              patch: { task: pendingTask('REMOVE', at) },
            }),
            { version: r.version, state: r.state },
          ),
        ),
      );
      current = await w.seedStore.getMany(ids);
    }
    const executor = await executorPhase(w, kind, current);
    const floor = await floorPhase(w, kind, floorIds);
    result[kind] = { executor, floor };
    current = await w.seedStore.getMany(ids);
  }
  return result;
}

// -- report ---------------------------------------------------------------------------------------

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>) {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells
    .map((r, n) => {
      const line = r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)));
      return n === 0
        ? `${line.join('  ')}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`
        : line.join('  ');
    })
    .join('\n');
}

interface Summary {
  readonly cloudSize: number;
  readonly kind: Kind;
  readonly perTask: number;
  readonly cloudPerTask: number;
  readonly floorPerTask: number;
  readonly cloudFloorPerTask: number;
  readonly ratio: number;
  readonly totalRatio: number;
  readonly rate: readonly number[];
  readonly floorRate: readonly number[];
  readonly requests: Record<string, number>;
  readonly cloud: Record<string, number>;
  readonly floor: Record<string, number>;
  readonly cloudFloor: Record<string, number>;
}

function summarise(cloudSize: number, rounds: readonly Round[]): Summary[] {
  return KINDS.map((kind) => {
    const runs = rounds.map((r) => r[kind]);
    const per = (m: (x: { executor: Measured; floor: Measured }) => number) =>
      quantile(runs.map(m), 0.5) / TASKS;
    const perTask = per((r) => total(r.executor.requests));
    const cloudPerTask = per((r) => total(r.executor.cloud));
    const floorPerTask = per((r) => total(r.floor.requests));
    const cloudFloorPerTask = per((r) => total(r.floor.cloud));
    return {
      cloudSize,
      kind,
      perTask,
      cloudPerTask,
      floorPerTask,
      cloudFloorPerTask,
      ratio: perTask / floorPerTask,
      totalRatio: (perTask + cloudPerTask) / (floorPerTask + cloudFloorPerTask),
      rate: runs.map((r) => TASKS / (r.executor.ms / 1000)),
      floorRate: runs.map((r) => TASKS / (r.floor.ms / 1000)),
      requests: runs[0]!.executor.requests,
      cloud: runs[0]!.executor.cloud,
      floor: runs[0]!.floor.requests,
      cloudFloor: runs[0]!.floor.cloud,
    };
  });
}

const perTaskOf = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([name, n]) => `${name} ${fmt(n / TASKS, 2)}`)
    .join(', ');

async function main(): Promise<number> {
  const t0 = performance.now();
  process.stderr.write('starting DynamoDB Local and fauxqs\n');
  [dynamo, sqsEmulator] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
  const summaries: Summary[] = [];
  for (const cloudSize of CLOUD_SIZES) {
    const w = await world(cloudSize);
    const rounds: Round[] = [];
    for (let i = 0; i < WARMUP + ROUNDS; i++) {
      const r = await round(w);
      if (i >= WARMUP) rounds.push(r);
      process.stderr.write(`  cloud ${cloudSize}: round ${i + 1}/${WARMUP + ROUNDS}\n`);
    }
    summaries.push(...summarise(cloudSize, rounds));
  }

  const out: string[] = [
    `Executor requests per task (issue 12, item 3): ${TASKS} tasks per kind per round, ${ROUNDS} rounds (+${WARMUP} warm-up), batches of ${BATCH}; DynamoDB Local + fauxqs + the noop cloud on DynamoDB Local`,
    '',
    table(
      [
        'kind',
        'cloud servers',
        'executor req/task',
        'floor req/task',
        'ratio',
        'cloud req/task',
        'cloud floor',
        'total ratio',
        'tasks/s min/med/max',
        'floor tasks/s med',
        'floor/executor time',
      ],
      summaries.map((s) => [
        s.kind,
        s.cloudSize,
        fmt(s.perTask, 2),
        fmt(s.floorPerTask, 2),
        fmt(s.ratio, 2),
        fmt(s.cloudPerTask, 2),
        fmt(s.cloudFloorPerTask, 2),
        fmt(s.totalRatio, 2),
        `${fmt(Math.min(...s.rate), 0)}/${fmt(quantile(s.rate, 0.5), 0)}/${fmt(Math.max(...s.rate), 0)}`,
        fmt(quantile(s.floorRate, 0.5), 0),
        fmt(quantile(s.floorRate, 0.5) / quantile(s.rate, 0.5), 2),
      ]),
    ),
    '',
    'Requests per task by command (first measured round)',
    '',
    table(
      ['kind', 'cloud servers', 'executor', 'floor', 'simulated cloud', 'cloud floor'],
      summaries.map((s) => [
        s.kind,
        s.cloudSize,
        perTaskOf(s.requests),
        perTaskOf(s.floor),
        perTaskOf(s.cloud),
        perTaskOf(s.cloudFloor),
      ]),
    ),
    '',
  ];

  const checks: Array<{ check: string; ok: boolean; detail: string }> = [];
  for (const s of summaries) {
    checks.push({
      check: `${s.kind}, ${s.cloudSize} servers: executor requests ≤ ${GOAL}× floor`,
      ok: s.ratio <= GOAL,
      detail: `${fmt(s.perTask, 2)} / ${fmt(s.floorPerTask, 2)} = ${fmt(s.ratio, 2)}`,
    });
    checks.push({
      check: `${s.kind}, ${s.cloudSize} servers: with the cloud's requests ≤ ${GOAL}× floor`,
      ok: s.totalRatio <= GOAL,
      detail: `${fmt(s.perTask + s.cloudPerTask, 2)} / ${fmt(s.floorPerTask + s.cloudFloorPerTask, 2)} = ${fmt(s.totalRatio, 2)}`,
    });
  }
  const smallest = Math.min(...CLOUD_SIZES);
  const largest = Math.max(...CLOUD_SIZES);
  if (smallest !== largest) {
    for (const kind of KINDS) {
      const a = summaries.find((s) => s.kind === kind && s.cloudSize === smallest)!;
      const b = summaries.find((s) => s.kind === kind && s.cloudSize === largest)!;
      const before = a.perTask + a.cloudPerTask;
      const after = b.perTask + b.cloudPerTask;
      checks.push({
        check: `${kind}: requests per task with ${largest} servers = with ${smallest}`,
        // A cache refresh landing in one phase and not the other moves a tenth of a request.
        ok: after <= before + 0.1,
        detail: `${fmt(after, 2)} vs ${fmt(before, 2)}`,
      });
      const kept = quantile(b.rate, 0.5) / quantile(a.rate, 0.5);
      checks.push({
        check: `${kind}: tasks/s with ${largest} servers ≥ ${MIN_RATE_KEPT}× with ${smallest}`,
        ok: kept >= MIN_RATE_KEPT,
        detail: `${fmt(quantile(b.rate, 0.5), 0)} vs ${fmt(quantile(a.rate, 0.5), 0)} (${fmt(kept, 2)}×)`,
      });
    }
  }
  out.push(
    table(
      ['check', 'result', 'detail'],
      checks.map((c) => [c.check, c.ok ? 'ok' : 'FAIL', c.detail]),
    ),
  );
  const failed = checks.some((c) => !c.ok);
  const seconds = (performance.now() - t0) / 1000;
  out.push('', `total ${fmt(seconds)} s; raw figures in ${OUT}`);
  mkdirSync('.bench', { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify({ tasks: TASKS, rounds: ROUNDS, warmup: WARMUP, goal: GOAL, summaries, checks, totalSeconds: seconds }, null, 2)}\n`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
  if (failed) process.stdout.write('\nFAIL\n');
  return failed ? 1 : 0;
}

async function stopAll(): Promise<void> {
  for (const c of clients) c.destroy();
  await Promise.all([dynamo?.stop(), sqsEmulator?.stop()]);
}

runMain(main, stopAll);
