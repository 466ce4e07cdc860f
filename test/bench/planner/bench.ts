/**
 * Benchmark of one planner cycle on DynamoDB (issues 3, 9 and 12): `runPlannerCycle` with the
 * real DynamoDbPoolStore on DynamoDB Local (in memory, started here) and the real SqsTaskQueue on
 * fauxqs (in process), over one pool of 1,000, 10,000 and 100,000 records and over 10 pools of
 * 1,000 records each. It reports
 *
 *   - the cycle's wall time against the decision-only floor: the lease acquire, the reads the
 *     decisions need (the POOL partition with every counter, the expiry index, and the listings
 *     the counters call for) and the release, issued bare with the SDK, interleaved with the
 *     cycles. FAIL when a cycle's median is above 1.5x its floor's;
 *   - DynamoDB requests per cycle by command, and the index pages each Query read: they must
 *     not grow with records (FAIL when the largest pool's cycle issues > 1.2x the smallest's)
 *     nor with pools (FAIL when the 10-pool steady cycle issues more than the 1-pool one);
 *   - the steady-state invariant (SPEC §6): the only writes are the lease acquire and release
 *     (2 UpdateItem on the lease item) and no SQS send (FAIL otherwise).
 *
 * Pool shapes, each seeded in its own table (BatchWriteItem of recordItem(), 25 per call):
 *   steady  READY/ALLOCATED/DELETED + 3 PRESERVED (below the limit); target = READY per zone.
 *           SPEC §6's steady state: the cycle lists nothing, only reads the counters.
 *   quiet   the same plus a handful the planner must list but where nothing is due: 3 BOOTING
 *           (fresh), 1 PENDING_DELETE that failed for good (needs an operator), and in the
 *           first pool 2 ERROR waiting behind an in-flight PRESERVING (scheme `cycle`, preserved
 *           set full). Target = READY + BOOTING per zone. Must write nothing either.
 *   busy    the steady table with the first pool's target 10 above READY per zone and a
 *           deploying cap of 10: the cycle creates 10 amphorae and sends 10 CREATE tasks (the
 *           records and the zone items are put back after each round, untimed).
 *
 *   npm run bench   # BENCH_SIZES=1000,10000,100000 BENCH_POOLS=10 BENCH_POOL_SIZE=1000
 *                   # BENCH_ROUNDS=15 BENCH_WARMUP=2
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDbPoolStore } from '../../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import {
  ATTR,
  type Item,
  POOL_PARTITION,
  PRESERVED_QUEUE_PARTITION,
  recordItem,
  recordKey,
  SWEEP_KEY,
  zoneKey,
} from '../../../lib/adapters/dynamodb/items.ts';
import {
  BY_EXPIRY,
  BY_STATE_AGE,
  createTable,
  PRESERVED_QUEUE,
} from '../../../lib/adapters/dynamodb/table.ts';
import { SqsTaskQueue } from '../../../lib/adapters/sqs/sqs-task-queue.ts';
import { systemClock } from '../../../lib/adapters/system-clock.ts';
import { runPlannerCycle } from '../../../lib/app/run-planner-cycle.ts';
import { type HousekeeperConfig, parseConfig } from '../../../lib/config/schema.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  type HistoryEntry,
} from '../../../lib/domain/amphora.ts';
import { type ListRead, launchNow, readPlan } from '../../../lib/domain/planner.ts';
import { type PoolCounts, type PoolState, tally } from '../../../lib/domain/pool.ts';
import {
  createTaskQueues,
  type DynamoDbLocal,
  localClientConfig,
  type SqsEmulator,
  startDynamoDbLocal,
  startSqsEmulator,
} from '../../../lib/local/emulators.ts';
import { noMetrics, silentLogger } from '../../../lib/ports/telemetry.ts';
import { WRITE_COMMANDS } from '../../support/aws.ts';
import { rec } from '../../support/pool-fixtures.ts';
import { runMain } from '../run-main.ts';

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,100000').split(',').map(Number);
/** The several-pools scenario: BENCH_POOLS pools of BENCH_POOL_SIZE records each (0: none). */
const POOLS = Number(process.env.BENCH_POOLS ?? 10);
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 1000);
/** The goal: a cycle's median at most this many times its floor's (issues 9 and 12). */
const GOAL = 1.5;
/** requests(largest pool) / requests(smallest pool) above this means "grows with records". */
const MAX_REQUEST_GROWTH = 1.2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const SEED_CONCURRENCY = Number(process.env.BENCH_SEED_CONCURRENCY ?? 8);
const ZONES = ['az-1', 'az-2', 'az-3'];
const BUSY_EXTRA_PER_ZONE = 10;
const BUSY_CAP = 10;
const OUT = '.bench/planner.json';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const SQS_SENDS = ['SendMessageCommand', 'SendMessageBatchCommand'];

// -- request recording ----------------------------------------------------------------------------

/** One SDK command as seen by the recording middleware. */
interface RequestEvent {
  readonly command: string;
  readonly ms: number;
  /** Query: index name (or `table`) and the partition value asked for. */
  readonly target?: string;
  /** Query: items returned; BatchGetItem: items returned. */
  readonly items?: number;
  /** Query: whether another page follows. */
  readonly more?: boolean;
  /** UpdateItem/PutItem/DeleteItem: the item's partition key. */
  readonly pk?: string;
}

interface Recorder {
  events: RequestEvent[];
  take(): RequestEvent[];
}

/** The part of an SDK middleware stack used here; the clients' own types do not unify. */
interface Stack {
  add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
}

/** Records every command a client sends: name, duration, and what it read (same idea as countCommands). */
function record(client: DynamoDBClient | SQSClient): Recorder {
  const recorder: Recorder = {
    events: [],
    take() {
      const taken = recorder.events;
      recorder.events = [];
      return taken;
    },
  };
  (client.middlewareStack as unknown as Stack).add(
    (
      next: (args: { input: Record<string, unknown> }) => Promise<{ output: unknown }>,
      context: { commandName?: string },
    ) =>
      async (args: { input: Record<string, unknown> }) => {
        const t0 = performance.now();
        const result = await next(args);
        const command = context.commandName ?? '?';
        const event: { -readonly [K in keyof RequestEvent]: RequestEvent[K] } = {
          command,
          ms: performance.now() - t0,
        };
        const input = args.input;
        const output = result.output as Record<string, unknown>;
        if (command === 'QueryCommand') {
          const values = input.ExpressionAttributeValues as Record<string, AttributeValue>;
          const first = Object.values(values ?? {})[0];
          event.target = `${(input.IndexName as string | undefined) ?? 'table'}:${first?.S ?? '?'}`;
          event.items = (output.Items as unknown[] | undefined)?.length ?? 0;
          event.more = output.LastEvaluatedKey !== undefined;
        } else if (command === 'BatchGetItemCommand') {
          const responses = output.Responses as Record<string, unknown[]> | undefined;
          event.items = Object.values(responses ?? {}).reduce((n, r) => n + r.length, 0);
        } else if (WRITE_COMMANDS.includes(command) && command !== 'TransactWriteItemsCommand') {
          const key = (input.Key ?? input.Item) as Item | undefined;
          if (key?.pk?.S) event.pk = key.pk.S;
        }
        recorder.events.push(event);
        return result;
      },
    { step: 'initialize', name: `bench-record-${randomUUID()}` },
  );
  return recorder;
}

function countBy(events: readonly RequestEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) counts[e.command] = (counts[e.command] ?? 0) + 1;
  return counts;
}

// -- the pool ---------------------------------------------------------------------------------------

type Shape = 'steady' | 'quiet';

/** What was seeded in one table. */
interface Pool {
  /** The scenario: `1000` (one pool of 1,000 records) or `10x1000` (ten pools of 1,000). */
  readonly label: string;
  /** Records in the table, all pools together. */
  readonly size: number;
  readonly shape: Shape;
  readonly table: string;
  /** The pools' names, in configuration order. */
  readonly pools: readonly string[];
  readonly records: readonly AmphoraRecord[];
  readonly counts: PoolCounts;
}

/** A deterministic PRNG (mulberry32), so that every run seeds the same ages. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The history a record in `state` would have, ending at `at`. */
function historyTo(state: AmphoraState, at: number): HistoryEntry[] {
  const paths: Partial<Record<AmphoraState, AmphoraState[]>> = {
    READY: ['PENDING_CREATE', 'BOOTING', 'READY'],
    ALLOCATED: ['PENDING_CREATE', 'BOOTING', 'READY', 'ALLOCATED'],
    DELETED: ['PENDING_CREATE', 'BOOTING', 'READY', 'ALLOCATED', 'PENDING_DELETE', 'DELETED'],
    BOOTING: ['PENDING_CREATE', 'BOOTING'],
    ERROR: ['PENDING_CREATE', 'BOOTING', 'READY', 'ALLOCATED', 'ERROR'],
    PRESERVING: ['PENDING_CREATE', 'BOOTING', 'READY', 'ALLOCATED', 'ERROR', 'PRESERVING'],
    PRESERVED: [
      'PENDING_CREATE',
      'BOOTING',
      'READY',
      'ALLOCATED',
      'ERROR',
      'PRESERVING',
      'PRESERVED',
    ],
    PENDING_DELETE: ['PENDING_CREATE', 'BOOTING', 'READY', 'ALLOCATED', 'PENDING_DELETE'],
  };
  const path = paths[state] ?? ['PENDING_CREATE', state];
  return path.slice(1).map((to, i) => ({
    at: at - (path.length - 2 - i) * MINUTE,
    from: path[i]!,
    to,
    reason: i === 0 ? 'BOOTED' : 'BENCH',
  }));
}

/**
 * The records of one pool: ~15 % READY, ~50 % ALLOCATED, the rest DELETED, plus the handful.
 * The preserved handful (below or at the global preserved limit) is in the first pool only;
 * the quiet shape's fresh boots and failed delete are in every pool.
 */
function poolRecords(
  size: number,
  shape: Shape,
  now: number,
  pool: string,
  first: boolean,
): AmphoraRecord[] {
  const random = prng(size * 7 + (shape === 'quiet' ? 1 : 0) + pool.length * 131);
  const records: AmphoraRecord[] = [];
  let zoneIndex = 0;
  const add = (state: AmphoraState, ageMs: number, fields: Partial<AmphoraRecord> = {}) => {
    const zone = ZONES[zoneIndex++ % ZONES.length]!;
    const since = now - Math.round(ageMs);
    records.push(
      rec(state, {
        id: randomUUID(),
        pool,
        zone,
        stateSince: since,
        createdAt: since - DAY,
        updatedAt: since,
        history: historyTo(state, since),
        ...fields,
      }),
    );
  };
  const task = (type: 'CHECK' | 'PRESERVE' | 'REMOVE', at: number) => ({
    type,
    issuedAt: at,
    reissues: 0,
    polls: 0,
  });
  // The handful.
  const preservation = (seq: number, at: number, done: boolean) => ({
    method: 'unplug' as const,
    seq: `000000000001:${String(seq).padStart(6, '0')}`,
    queuedAt: at,
    ...(done ? { preservedAt: at + MINUTE } : {}),
  });
  if (shape === 'steady') {
    // Below maximum_preserved_amphora_count (5): nothing to evict, no queue to read.
    for (let i = 0; first && i < 3; i++)
      add('PRESERVED', 2 * DAY, { preservation: preservation(i, now - 3 * DAY, true) });
  } else {
    if (first) {
      // The preserved set is full (3 of 3) and its oldest is still being preserved, so the two
      // ERROR amphorae wait (scheme `cycle`, strict FIFO): the planner reads them and the queue.
      add('PRESERVING', 2 * MINUTE, {
        preservation: preservation(0, now - 2 * MINUTE, false),
        task: task('PRESERVE', now - 2 * MINUTE),
      });
      for (let i = 1; i <= 2; i++)
        add('PRESERVED', 2 * DAY, { preservation: preservation(i, now - 3 * DAY, true) });
      for (let i = 0; i < 2; i++) add('ERROR', 5 * MINUTE);
    }
    // Fresh boots, one per zone (they count toward the target).
    for (let i = 0; i < ZONES.length; i++) {
      add('BOOTING', 30 * SECOND, {
        bootStartedAt: now - 30 * SECOND,
        task: task('CHECK', now - 30 * SECOND),
      });
    }
    // A delete that failed for good: a note for the operator, no write.
    add('PENDING_DELETE', HOUR, {
      task: task('REMOVE', now - HOUR),
      failure: { code: 'DELETE_FAILED', message: 'bench: gave up', at: now - HOUR },
    });
  }
  const rest = size - records.length;
  const ready = Math.round(size * 0.15);
  const allocated = Math.round(size * 0.5);
  for (let i = 0; i < ready; i++) add('READY', HOUR + random() * 30 * DAY);
  for (let i = 0; i < allocated; i++) add('ALLOCATED', random() * 180 * DAY);
  for (let i = 0; i < rest - ready - allocated; i++) {
    const deletedAt = Math.round(now - random() * 6 * DAY);
    add('DELETED', now - deletedAt, { deletedAt, expiresAt: deletedAt + 7 * DAY });
  }
  return records;
}

/** A pool's target per zone: what it has READY or booting, the same in every zone. */
function targetOf(pool: Pool, name: string): number {
  const have = ZONES.map(
    (z) => (pool.counts[name]?.[z]?.READY ?? 0) + (pool.counts[name]?.[z]?.BOOTING ?? 0),
  );
  if (have.some((n) => n !== have[0])) {
    throw new Error(`pool ${name} of ${pool.table} is not balanced across zones: ${have}`);
  }
  return have[0]!;
}

async function batchWrite(
  client: DynamoDBClient,
  table: string,
  requests: readonly WriteRequest[],
  progress?: (done: number) => void,
): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < chunks.length) {
      let pending = chunks[next++]!;
      const size = pending.length;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
        const { UnprocessedItems } = await client.send(
          new BatchWriteItemCommand({ RequestItems: { [table]: pending } }),
        );
        pending = UnprocessedItems?.[table] ?? [];
      }
      done += size;
      progress?.(done);
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
}

/**
 * Each pool zone's item as the transitions would have kept it: its counters, healthy creation
 * statistics and a fleet known current; and a sweep that is not due. Written at seeding and
 * again after every busy cycle, which puts the pool back as it was.
 */
async function writePoolItems(
  client: DynamoDBClient,
  table: string,
  pools: readonly string[],
  counts: PoolCounts,
  now: number,
): Promise<void> {
  const specs = parseConfig({ pools: pools.map((name) => ({ name })) }).pools;
  for (const spec of specs) {
    const launch = launchNow(spec, ZONES[0]!, { counts: {}, zones: [], images: [] });
    for (const zone of ZONES) {
      const counters = Object.fromEntries(
        AMPHORA_STATES.map((st) => [
          `c_${st}`,
          { N: String(counts[spec.name]?.[zone]?.[st] ?? 0) },
        ]),
      );
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            ...zoneKey(spec.name, zone),
            pool: { S: spec.name },
            zone: { S: zone },
            ...counters,
            rev: { N: '1' },
            consecutiveFailures: { N: '0' },
            successesSinceFailure: { N: '40' },
            everFailed: { BOOL: false },
            fleet: { M: { digest: { S: launch!.digest } } },
          },
        }),
      );
    }
  }
  await client.send(
    new PutItemCommand({
      TableName: table,
      Item: { ...SWEEP_KEY, lastSweepAt: { N: String(now) } },
    }),
  );
}

async function seed(
  client: DynamoDBClient,
  poolCount: number,
  perPool: number,
  shape: Shape,
): Promise<Pool> {
  const label = poolCount === 1 ? String(perPool) : `${poolCount}x${perPool}`;
  const table = `bench-${shape}-${label}`;
  const pools =
    poolCount === 1 ? ['default'] : Array.from({ length: poolCount }, (_, i) => `p${i}`);
  await createTable(client, table);
  const now = Date.now();
  const records = pools.flatMap((p, i) => poolRecords(perPool, shape, now, p, i === 0));
  const size = records.length;
  const t0 = performance.now();
  let shown = 0;
  await batchWrite(
    client,
    table,
    records.map((r) => ({ PutRequest: { Item: recordItem(r) } })),
    (done) => {
      if (done - shown >= size / 10 || done === size) {
        shown = done;
        process.stderr.write(`  seeding ${table}: ${done}/${size}\n`);
      }
    },
  );
  const counts = tally(records);
  await writePoolItems(client, table, pools, counts, now);
  const seconds = (performance.now() - t0) / 1000;
  process.stderr.write(
    `  seeded ${table}: ${size} records in ${seconds.toFixed(1)} s (${Math.round(size / seconds)}/s)\n`,
  );
  return { label, size, shape, table, pools, records, counts };
}

// -- configuration per shape ----------------------------------------------------------------------

type Variant = 'steady' | 'quiet' | 'busy';

function configFor(pool: Pool, variant: Variant): HousekeeperConfig {
  // Every zone of a pool gets the same target, so zones are balanced (the seeding is round
  // robin); the busy variant raises the first pool's.
  return parseConfig({
    availability_zones: ZONES,
    pools: pool.pools.map((name, i) => ({
      name,
      spare_amphora_pool_size:
        targetOf(pool, name) + (variant === 'busy' && i === 0 ? BUSY_EXTRA_PER_ZONE : 0),
    })),
    maximum_deploying_amphora_count: variant === 'busy' ? BUSY_CAP : 5,
    maximum_preserved_amphora_count: variant === 'quiet' ? 3 : 5,
    preservation_scheme: variant === 'quiet' ? 'cycle' : 'keep',
    // Longer than any run of this benchmark, so that nothing becomes due while it runs.
    orphan_sweep_interval: 6 * 3600,
    boot_timeout: 6 * 3600,
    task_timeout: 6 * 3600,
  });
}

// -- the floor: the cycle's reads, bare -------------------------------------------------------------

/** The reads a cycle of this pool needs, decided once (outside the timing). */
interface FloorPlan {
  readonly lists: readonly ListRead[];
  readonly preservedQueue: boolean;
  readonly expired: number;
}

async function pagesOf(
  client: DynamoDBClient,
  input: QueryCommandInput,
  onPage?: (items: Item[]) => Promise<void>,
): Promise<number> {
  let startKey: Item | undefined;
  let n = 0;
  do {
    const page = await client.send(
      new QueryCommand({ ...input, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
    );
    n += page.Items?.length ?? 0;
    if (onPage) await onPage(page.Items ?? []);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return n;
}

async function batchGetKeys(client: DynamoDBClient, table: string, items: Item[]): Promise<void> {
  for (let i = 0; i < items.length; i += 100) {
    let keys = items
      .slice(i, i + 100)
      .map((k) => ({ [ATTR.pk]: k[ATTR.pk]!, [ATTR.sk]: k[ATTR.sk]! }));
    while (keys.length > 0) {
      const { UnprocessedKeys } = await client.send(
        new BatchGetItemCommand({
          RequestItems: { [table]: { Keys: keys, ConsistentRead: true } },
        }),
      );
      keys = (UnprocessedKeys?.[table]?.Keys ?? []) as typeof keys;
    }
  }
}

/** The floor's own lease item, beside the planner's, so that the two never contend. */
const FLOOR_LEASE_KEY: Item = { [ATTR.pk]: { S: 'LEASE' }, [ATTR.sk]: { S: 'FLOOR' } };

/**
 * The floor: what any correct cycle of this pool must ask DynamoDB, issued bare. That is the
 * lease (a conditional UpdateItem that bumps the fencing token, SPEC's single writer), then
 * the decisions' reads: the POOL partition (every counter and statistic) beside the expiry
 * index, then the listings the counters call for (index Query + consistent BatchGetItem per
 * page), together; then the lease's release. No decoding, no planning, no telemetry.
 */
async function floor(client: DynamoDBClient, table: string, fp: FloorPlan): Promise<void> {
  const now = Date.now();
  const { Attributes } = await client.send(
    new UpdateItemCommand({
      TableName: table,
      Key: FLOOR_LEASE_KEY,
      UpdateExpression: 'SET #holder = :holder, #expiresAt = :expiresAt ADD #token :one',
      ConditionExpression: 'attribute_not_exists(#token) OR #expiresAt <= :now',
      ExpressionAttributeNames: {
        '#holder': 'holder',
        '#token': 'token',
        '#expiresAt': 'expiresAt',
      },
      ExpressionAttributeValues: {
        ':holder': { S: 'bench-floor' },
        ':expiresAt': { N: String(now + 60_000) },
        ':one': { N: '1' },
        ':now': { N: String(now) },
      },
      ReturnValues: 'ALL_OLD',
    }),
  );
  const token = Number(Attributes?.token?.N ?? 0) + 1;
  await Promise.all([
    pagesOf(client, {
      TableName: table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': ATTR.pk },
      ExpressionAttributeValues: { ':pk': { S: POOL_PARTITION } },
      ConsistentRead: true,
    }),
    ...(fp.expired > 0
      ? [
          client.send(
            new QueryCommand({
              TableName: table,
              IndexName: BY_EXPIRY.indexName,
              KeyConditionExpression: '#e = :e AND #at <= :now',
              ExpressionAttributeNames: { '#e': ATTR.expiry, '#at': ATTR.expiryAt },
              ExpressionAttributeValues: {
                ':e': { S: 'DELETED' },
                ':now': { S: `${String(now).padStart(16, '0')}:~` },
              },
              Limit: fp.expired,
            }),
          ),
        ]
      : []),
  ]);
  const list = (input: Omit<QueryCommandInput, 'TableName'>) =>
    pagesOf(client, { TableName: table, ...input }, (items) => batchGetKeys(client, table, items));
  await Promise.all([
    ...fp.lists.map((l) =>
      list({
        IndexName: BY_STATE_AGE.indexName,
        KeyConditionExpression: '#state = :state',
        ExpressionAttributeNames: { '#state': ATTR.state },
        ExpressionAttributeValues: { ':state': { S: `${l.pool}#${l.state}` } },
        ...(l.limit !== undefined ? { Limit: l.limit } : {}),
      }),
    ),
    ...(fp.preservedQueue
      ? [
          list({
            IndexName: PRESERVED_QUEUE.indexName,
            KeyConditionExpression: '#queue = :queue',
            ExpressionAttributeNames: { '#queue': ATTR.queue },
            ExpressionAttributeValues: { ':queue': { S: PRESERVED_QUEUE_PARTITION } },
          }),
        ]
      : []),
  ]);
  await client.send(
    new UpdateItemCommand({
      TableName: table,
      Key: FLOOR_LEASE_KEY,
      UpdateExpression: 'SET #expiresAt = :zero',
      ConditionExpression: '#holder = :holder AND #token = :token',
      ExpressionAttributeNames: {
        '#holder': 'holder',
        '#token': 'token',
        '#expiresAt': 'expiresAt',
      },
      ExpressionAttributeValues: {
        ':holder': { S: 'bench-floor' },
        ':token': { N: String(token) },
        ':zero': { N: '0' },
      },
    }),
  );
}

// -- statistics and output --------------------------------------------------------------------------

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  if (q === 0.5) {
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(cells[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map(line),
  ].join('\n');
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

// -- main -------------------------------------------------------------------------------------------

interface Measured {
  cycleMs: number[];
  floorMs: number[];
  /** Time spent inside the lease UpdateItems during the cycle. */
  leaseMs: number[];
  cycleEvents: RequestEvent[][];
  floorEvents: RequestEvent[][];
  sqsEvents: RequestEvent[][];
  violations: string[];
}

let dynamo: DynamoDbLocal | undefined;
let sqs: SqsEmulator | undefined;
const clients: Array<{ destroy(): void }> = [];
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const c of clients) c.destroy();
    await Promise.allSettled([dynamo?.stop(), sqs?.stop()]);
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the emulators\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const t0 = performance.now();
  process.stderr.write('starting DynamoDB Local (in memory) and fauxqs\n');
  [dynamo, sqs] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
  const ddb = new DynamoDBClient(localClientConfig(dynamo.endpoint));
  const sqsClient = new SQSClient(localClientConfig(sqs.endpoint));
  const seedClient = new DynamoDBClient(localClientConfig(dynamo.endpoint));
  clients.push(ddb, sqsClient, seedClient);
  const ddbRec = record(ddb);
  const sqsRec = record(sqsClient);
  const urls = await createTaskQueues(sqsClient, {
    queueName: 'bench-tasks',
    deadLetterQueueName: 'bench-tasks-dlq',
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 30,
  });
  const queue = new SqsTaskQueue({ client: sqsClient, ...urls });

  const pools: Pool[] = [];
  for (const size of SIZES) {
    for (const shape of ['steady', 'quiet'] as const)
      pools.push(await seed(seedClient, 1, size, shape));
  }
  if (POOLS > 1) {
    for (const shape of ['steady', 'quiet'] as const)
      pools.push(await seed(seedClient, POOLS, POOL_SIZE, shape));
  }
  const LABELS = [...new Set(pools.map((p) => p.label))];
  const seedSeconds = (performance.now() - t0) / 1000;

  let ids = 0;
  const newId = () => `bench-${++ids}`;
  const depsFor = (pool: Pool, variant: Variant) => ({
    store: new DynamoDbPoolStore({ client: ddb, tableName: pool.table }),
    queue,
    clock: systemClock,
    newId,
    config: configFor(pool, variant),
    holder: 'bench-planner',
    logger: silentLogger,
    metrics: noMetrics,
  });

  const key = (label: string, variant: Variant) => `${label}/${variant}`;
  const measured = new Map<string, Measured>();
  const floorPlans = new Map<string, FloorPlan>();
  for (const pool of pools) {
    // The floor reads what the cycle's decisions need, decided once from the stored pool state.
    const state: PoolState = await new DynamoDbPoolStore({
      client: ddb,
      tableName: pool.table,
    }).getPoolState();
    const rp = readPlan(configFor(pool, pool.shape), state);
    floorPlans.set(pool.table, {
      lists: rp.lists,
      preservedQueue: rp.preservedQueue,
      expired: rp.expired,
    });
  }
  const slot = (k: string) => {
    let m = measured.get(k);
    if (!m) {
      m = {
        cycleMs: [],
        floorMs: [],
        leaseMs: [],
        cycleEvents: [],
        floorEvents: [],
        sqsEvents: [],
        violations: [],
      };
      measured.set(k, m);
    }
    return m;
  };

  const runCycle = async (pool: Pool, variant: Variant, keep: boolean) => {
    ddbRec.take();
    sqsRec.take();
    const start = performance.now();
    const report = await runPlannerCycle(depsFor(pool, variant));
    const ms = performance.now() - start;
    const events = ddbRec.take();
    const sent = sqsRec.take();
    if (report.status !== 'applied') throw new Error(`cycle on ${pool.table} was ${report.status}`);
    const created = report.plan.decisions.flatMap((d) =>
      d.changes.filter((c) => c.from === 'NEW').map((c) => c.amphoraId),
    );
    if (variant === 'busy') {
      // Back to the seeded pool for the next round (not timed, not counted): the created
      // records go, and the zone items get their seeded counters and statistics back.
      await batchWrite(
        seedClient,
        pool.table,
        created.map((id) => ({ DeleteRequest: { Key: recordKey(id) } })),
      );
      await writePoolItems(seedClient, pool.table, pool.pools, pool.counts, Date.now());
    }
    if (!keep) return;
    const m = slot(key(pool.label, variant));
    m.cycleMs.push(ms);
    m.leaseMs.push(events.filter((e) => e.pk === 'LEASE').reduce((s, e) => s + e.ms, 0));
    m.cycleEvents.push(events);
    m.sqsEvents.push(sent);
    if (variant !== 'busy') {
      const writes = events.filter((e) => WRITE_COMMANDS.includes(e.command));
      const leaseWrites = writes.filter(
        (e) => e.command === 'UpdateItemCommand' && e.pk === 'LEASE',
      );
      const sends = sent.filter((e) => SQS_SENDS.includes(e.command));
      if (
        writes.length !== 2 ||
        leaseWrites.length !== 2 ||
        sends.length > 0 ||
        report.plan.decisions.length > 0
      ) {
        m.violations.push(
          `writes ${JSON.stringify(countBy(writes))} (lease UpdateItem: ${leaseWrites.length}), SQS sends ${sends.length}, decisions ${report.plan.decisions.length}`,
        );
      }
    } else if (created.length !== BUSY_CAP) {
      m.violations.push(`busy cycle created ${created.length}, expected ${BUSY_CAP}`);
    }
  };

  const runFloor = async (pool: Pool, keep: boolean) => {
    ddbRec.take();
    const start = performance.now();
    await floor(ddb, pool.table, floorPlans.get(pool.table)!);
    const ms = performance.now() - start;
    const events = ddbRec.take();
    if (!keep) return;
    const m = slot(key(pool.label, pool.shape));
    m.floorMs.push(ms);
    m.floorEvents.push(events);
  };

  process.stderr.write(`measuring: ${WARMUP} warm-up + ${ROUNDS} rounds\n`);
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const keep = round >= WARMUP;
    for (const pool of pools) {
      // Alternate who goes first, so that neither always meets a warmer emulator.
      if (round % 2 === 0) {
        await runCycle(pool, pool.shape, keep);
        await runFloor(pool, keep);
      } else {
        await runFloor(pool, keep);
        await runCycle(pool, pool.shape, keep);
      }
      if (pool.shape === 'steady') await runCycle(pool, 'busy', keep);
    }
    process.stderr.write(`  round ${round + 1}/${WARMUP + ROUNDS}${keep ? '' : ' (warm-up)'}\n`);
  }

  // -- report ------------------------------------------------------------------------------------
  const out: string[] = [];
  const json: Record<string, unknown> = {
    when: new Date().toISOString(),
    node: process.version,
    rounds: ROUNDS,
    warmup: WARMUP,
    scenarios: LABELS,
    seedSeconds,
    results: {} as Record<string, unknown>,
  };
  const variants: Variant[] = ['steady', 'quiet', 'busy'];
  const poolName = (label: string) =>
    label.includes('x') ? `${label.replace('x', ' pools x ')} records` : `${label} records`;
  const reads = (events: readonly RequestEvent[]) =>
    events.filter((e) => !WRITE_COMMANDS.includes(e.command)).length;
  const rows = function* () {
    for (const variant of variants) {
      for (const label of LABELS) {
        const m = measured.get(key(label, variant));
        if (m) yield { variant, label, m };
      }
    }
  };

  out.push(
    `Planner cycle on DynamoDB Local (in memory) + SqsTaskQueue on fauxqs; ${ROUNDS} rounds (+${WARMUP} warm-up), times in ms`,
    'floor = the lease, the reads the decisions need and the release, issued bare (see BENCHMARKS.md)',
    '',
  );
  const timeRows: (string | number)[][] = [];
  for (const { variant, label, m } of rows()) {
    const c50 = quantile(m.cycleMs, 0.5);
    const busy = variant === 'busy';
    const f50 = busy ? Number.NaN : quantile(m.floorMs, 0.5);
    const dash = (n: number, digits = 1) => (Number.isNaN(n) ? '-' : fmt(n, digits));
    timeRows.push([
      `${variant} ${poolName(label)}`,
      `${fmt(Math.min(...m.cycleMs))} / ${fmt(c50)} / ${fmt(Math.max(...m.cycleMs))}`,
      busy ? '-' : `${fmt(Math.min(...m.floorMs))} / ${fmt(f50)} / ${fmt(Math.max(...m.floorMs))}`,
      dash(c50 / f50, 2),
      fmt(quantile(m.leaseMs, 0.5)),
    ]);
  }
  out.push(
    table(
      ['pool', 'cycle min / p50 / max', 'floor min / p50 / max', 'cycle/floor', 'lease p50'],
      timeRows,
    ),
    '',
  );

  // Requests per cycle.
  const reqRows: (string | number)[][] = [];
  const totals = new Map<string, number>();
  for (const { variant, label, m } of rows()) {
    const perCycle = m.cycleEvents.map((e) => e.length);
    const first = m.cycleEvents[0]!;
    const c = countBy(first);
    const sends = m.sqsEvents[0]!.filter((e) => SQS_SENDS.includes(e.command)).length;
    const queries = first.filter((e) => e.command === 'QueryCommand');
    const itemsRead = first.reduce((n, e) => n + (e.items ?? 0), 0);
    const floorReqs =
      variant === 'busy'
        ? '-'
        : String(
            quantile(
              m.floorEvents.map((e) => e.length),
              0.5,
            ),
          );
    const steadyCount = Math.min(...perCycle) === Math.max(...perCycle);
    totals.set(key(label, variant), quantile(perCycle, 0.5));
    reqRows.push([
      `${variant} ${poolName(label)}`,
      `${quantile(perCycle, 0.5)}${steadyCount ? '' : ` (${Math.min(...perCycle)}-${Math.max(...perCycle)})`}`,
      queries.length,
      c.BatchGetItemCommand ?? 0,
      c.UpdateItemCommand ?? 0,
      c.TransactWriteItemsCommand ?? 0,
      (c.PutItemCommand ?? 0) + (c.DeleteItemCommand ?? 0) + (c.BatchWriteItemCommand ?? 0),
      sends,
      floorReqs,
      itemsRead,
    ]);
  }
  out.push(
    'DynamoDB requests per cycle (floor = the same decisions, bare; items = index keys + records returned)',
    '',
    table(
      [
        'pool',
        'requests',
        'Query',
        'BatchGet',
        'UpdateItem',
        'TransactWrite',
        'other writes',
        'SQS sends',
        'floor reqs',
        'items read',
      ],
      reqRows,
    ),
    '',
  );

  // Pages per index query.
  const targets = new Set<string>();
  for (const variant of ['steady', 'quiet'] as const) {
    for (const label of LABELS) {
      for (const e of measured.get(key(label, variant))?.cycleEvents[0] ?? []) {
        if (e.target) targets.add(`${variant}|${e.target}`);
      }
    }
  }
  const pageRows: (string | number)[][] = [];
  for (const t of [...targets].sort()) {
    const [variant, target] = t.split('|') as [Variant, string];
    const row: (string | number)[] = [`${variant} ${target}`];
    for (const label of LABELS) {
      const qs = (measured.get(key(label, variant))?.cycleEvents[0] ?? []).filter(
        (e) => e.target === target,
      );
      row.push(
        qs.length === 0 ? '-' : `${qs.length} p / ${qs.reduce((n, e) => n + (e.items ?? 0), 0)}`,
      );
    }
    pageRows.push(row);
  }
  out.push(
    'Query pages per cycle by index:partition (pages / items returned)',
    '',
    table(['query', ...LABELS.map(poolName)], pageRows),
    '',
  );

  // Checks: every one of them fails the run when it breaks.
  const checks: Array<{ check: string; ok: boolean; detail: string }> = [];
  const small = String(Math.min(...SIZES));
  const large = String(Math.max(...SIZES));
  if (small !== large) {
    for (const variant of variants) {
      const a = totals.get(key(small, variant));
      const b = totals.get(key(large, variant));
      if (a === undefined || b === undefined) continue;
      const ratio = b / a;
      checks.push({
        check: `requests(${large})/requests(${small}) ${variant}`,
        ok: ratio <= MAX_REQUEST_GROWTH,
        detail: `${b}/${a} = ${fmt(ratio, 2)} (records x${fmt(Number(large) / Number(small), 0)}; fail above ${MAX_REQUEST_GROWTH})`,
      });
    }
  }
  if (POOLS > 1) {
    const multi = `${POOLS}x${POOL_SIZE}`;
    const one = totals.get(key(String(POOL_SIZE), 'steady'));
    const many = totals.get(key(multi, 'steady'));
    if (one !== undefined && many !== undefined) {
      checks.push({
        check: `steady: requests(${POOLS} pools) = requests(1 pool)`,
        ok: many <= one,
        detail: `${many} vs ${one}: the counters of every pool come in the same POOL pages`,
      });
    }
  }
  for (const { variant, label, m } of rows()) {
    if (variant === 'busy') continue;
    checks.push({
      check: `${variant} ${label}: writes = 2 lease UpdateItem, 0 SQS sends`,
      ok: m.violations.length === 0,
      detail:
        m.violations.length === 0
          ? `held in ${m.cycleEvents.length}/${m.cycleEvents.length} cycles`
          : `${m.violations.length} cycle(s): ${m.violations[0]}`,
    });
    const cycleReads = quantile(m.cycleEvents.map(reads), 0.5);
    const floorReads = quantile(m.floorEvents.map(reads), 0.5);
    checks.push({
      check: `${variant} ${label}: cycle reads <= floor reads`,
      ok: cycleReads <= floorReads,
      detail: `${cycleReads} vs ${floorReads}`,
    });
    const ratio = quantile(m.cycleMs, 0.5) / quantile(m.floorMs, 0.5);
    checks.push({
      check: `${variant} ${label}: cycle p50 <= ${GOAL} x floor p50`,
      ok: ratio <= GOAL,
      detail: `${fmt(ratio, 2)}`,
    });
  }
  for (const label of LABELS) {
    const m = measured.get(key(label, 'busy'));
    if (m && m.violations.length > 0) {
      checks.push({ check: `busy ${label}`, ok: false, detail: m.violations[0]! });
    }
  }
  out.push(
    table(
      ['check', 'result', 'detail'],
      checks.map((c) => [c.check, c.ok ? 'ok' : 'FAIL', c.detail]),
    ),
  );
  const failed = checks.some((c) => !c.ok);

  for (const [k, m] of measured) {
    (json.results as Record<string, unknown>)[k] = {
      cycleMs: m.cycleMs,
      floorMs: m.floorMs,
      leaseMs: m.leaseMs,
      cycleRequests: countBy(m.cycleEvents[0] ?? []),
      cycleRequestsPerRound: m.cycleEvents.map((e) => e.length),
      floorRequests: countBy(m.floorEvents[0] ?? []),
      sqsRequests: countBy(m.sqsEvents[0] ?? []),
      queries: (m.cycleEvents[0] ?? [])
        .filter((e) => e.command === 'QueryCommand')
        .map((e) => ({ target: e.target, items: e.items, more: e.more })),
      violations: m.violations,
    };
  }
  json.checks = checks;
  json.totalSeconds = (performance.now() - t0) / 1000;
  out.push(
    '',
    `seeding ${fmt(seedSeconds)} s, total ${fmt(json.totalSeconds as number)} s; raw figures in ${OUT}`,
  );
  mkdirSync('.bench', { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (failed) process.stdout.write('\nFAIL\n');
  return failed ? 1 : 0;
}

runMain(main, stopAll);
