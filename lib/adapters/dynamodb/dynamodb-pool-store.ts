/**
 * The pool store on DynamoDB (one table, see docs/dynamodb-table.md). It keeps the port's
 * semantics exactly, as the shared contract suites check against the in-memory store.
 *
 * Counters: every (pool, zone) has one item holding its record count per state and its creation
 * statistics. A write that moves a record between states moves the counters in the same
 * transaction, so a cycle reads every count in one query instead of paging through records.
 *
 * Build the client with `retryMode: 'standard'`: throttled and transient requests are then
 * retried by the SDK with jittered back-off. This module never reads the environment.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  BY_EXPIRY,
  BY_ID,
  BY_STATE_AGE,
  BY_STATE_ZONE,
  PRESERVED_QUEUE,
} from '../../config/deployment.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  oldestFirst,
  PRESERVED_STATES,
} from '../../domain/amphora.ts';
import { cappedExponential } from '../../domain/backoff.ts';
import { LeaseLostError, VersionConflictError } from '../../domain/errors.ts';
import {
  addCount,
  type CloudHealth,
  type CountsBuilder,
  type CreateOutcome,
  type CycleSummary,
  counterDeltas,
  type PoolCounts,
  type PoolImage,
  type PoolState,
  tally,
  withoutZeros,
  type ZoneCreateStats,
} from '../../domain/pool.ts';
import {
  type Expected,
  type GroupResult,
  type Lease,
  type LeaseRelease,
  MAX_GROUP_WRITES,
  type OrphanMark,
  type PoolStore,
  type WriteGroup,
  type WriteOp,
} from '../../ports/pool-store.ts';
import {
  ATTR,
  CLOUD_KEY,
  countAttr,
  countsOfItem,
  EXPIRY_PARTITION,
  ID_SHARDS,
  IMAGE_PREFIX,
  type Item,
  idShard,
  imageKey,
  LEASE_KEY,
  ORPHAN_PARTITION,
  orphanKey,
  POOL_PARTITION,
  PRESERVED_QUEUE_PARTITION,
  poolOfImageKey,
  recordFromItem,
  recordItem,
  recordKey,
  SWEEP_KEY,
  sortableTime,
  statePartition,
  ZONE_PREFIX,
  zoneKey,
  zoneOfKey,
  zonePrefix,
} from './items.ts';

/** Most keys in one BatchGetItem call (a DynamoDB limit). */
const BATCH_GET_LIMIT = 100;
/** BatchGetItem rounds that return nothing before the read gives up (throttling that persists). */
const BATCH_GET_IDLE_ROUNDS = 6;
/** Attempts of an executor's transaction that races another one on the same counter item. */
const TRANSACTION_CONFLICT_ATTEMPTS = 6;
/** Rounds of a counter repair that found the counters moving under it, before it gives up. */
const REPAIR_ROUNDS = 5;

/** How to reach the table. */
export interface DynamoDbPoolStoreOptions {
  /** A client built with `retryMode: 'standard'`. */
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Index entries per Query page; unset means DynamoDB's 1 MB pages. Small values exercise paging in tests. */
  readonly pageSize?: number;
}

/** The part of a Query that selects index entries. */
type IndexQuery = Pick<
  QueryCommandInput,
  'IndexName' | 'KeyConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
>;

type UpdateInput = {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
};

/** Builds one UpdateItem's expression from SET, SET-if-absent, ADD and REMOVE actions. */
class UpdateBuilder {
  private readonly sets = new Map<string, AttributeValue>();
  private readonly absentSets = new Map<string, AttributeValue>();
  private readonly adds = new Map<string, number>();
  private readonly removes = new Set<string>();

  set(attr: string, value: AttributeValue): this {
    this.sets.set(attr, value);
    return this;
  }

  setIfAbsent(attr: string, value: AttributeValue): this {
    this.absentSets.set(attr, value);
    return this;
  }

  add(attr: string, n: number): this {
    this.adds.set(attr, (this.adds.get(attr) ?? 0) + n);
    return this;
  }

  remove(attr: string): this {
    this.removes.add(attr);
    return this;
  }

  build(): UpdateInput {
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    let n = 0;
    const name = (attr: string) => {
      const key = `#a${n++}`;
      names[key] = attr;
      return key;
    };
    const value = (v: AttributeValue) => {
      const key = `:v${n++}`;
      values[key] = v;
      return key;
    };
    const setParts = [
      ...[...this.sets].map(([a, v]) => `${name(a)} = ${value(v)}`),
      ...[...this.absentSets].map(([a, v]) => {
        const k = name(a);
        return `${k} = if_not_exists(${k}, ${value(v)})`;
      }),
    ];
    const addParts = [...this.adds]
      .filter(([, d]) => d !== 0)
      .map(([a, d]) => `${name(a)} ${value({ N: String(d) })}`);
    const removeParts = [...this.removes].map(name);
    const clauses = [
      setParts.length > 0 ? `SET ${setParts.join(', ')}` : '',
      addParts.length > 0 ? `ADD ${addParts.join(', ')}` : '',
      removeParts.length > 0 ? `REMOVE ${removeParts.join(', ')}` : '',
    ].filter((c) => c !== '');
    return {
      UpdateExpression: clauses.join(' '),
      ExpressionAttributeNames: names,
      ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The zone item's update for counter deltas and, optionally, a create's end. */
function zoneUpdate(pool: string, zone: string): UpdateBuilder {
  return new UpdateBuilder().set('pool', { S: pool }).set('zone', { S: zone }).add(ATTR.rev, 1);
}

function withOutcome(u: UpdateBuilder, outcome: CreateOutcome, at: number): UpdateBuilder {
  if (outcome === 'success') {
    return u
      .set('consecutiveFailures', { N: '0' })
      .setIfAbsent('everFailed', { BOOL: false })
      .add('successesSinceFailure', 1);
  }
  return u
    .set('successesSinceFailure', { N: '0' })
    .set('lastFailureAt', { N: String(at) })
    .set('everFailed', { BOOL: true })
    .add('consecutiveFailures', 1);
}

/** Amphora records, counters, planner lease, pool state and orphan marks in one DynamoDB table. */
export class DynamoDbPoolStore implements PoolStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly pageSize: number | undefined;

  constructor(options: DynamoDbPoolStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.pageSize = options.pageSize;
  }

  async get(amphoraId: string): Promise<AmphoraRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: recordKey(amphoraId),
        ConsistentRead: true,
      }),
    );
    return Item ? recordFromItem(Item) : undefined;
  }

  async getMany(amphoraIds: readonly string[]): Promise<AmphoraRecord[]> {
    const keys = [...new Set(amphoraIds)].map(recordKey);
    return (await this.batchGet(keys)).map(recordFromItem);
  }

  async findByIdPrefix(prefix: string, limit: number): Promise<AmphoraRecord[]> {
    if (prefix === '') throw new RangeError('an id prefix needs at least one character');
    const records = await this.listFromIndex(
      {
        IndexName: BY_ID.indexName,
        KeyConditionExpression: '#shard = :shard AND begins_with(#id, :prefix)',
        ExpressionAttributeNames: { '#shard': ATTR.idShard, '#id': ATTR.id },
        ExpressionAttributeValues: { ':shard': { S: idShard(prefix) }, ':prefix': { S: prefix } },
      },
      limit,
      (r) => r.id.startsWith(prefix),
    );
    return records.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async listByState(
    pool: string,
    state: AmphoraState,
    options: { readonly zone?: string; readonly limit?: number } = {},
  ): Promise<AmphoraRecord[]> {
    const { zone, limit } = options;
    const partition = { S: statePartition(pool, state) };
    const query: IndexQuery =
      zone === undefined
        ? {
            IndexName: BY_STATE_AGE.indexName,
            KeyConditionExpression: '#state = :state',
            ExpressionAttributeNames: { '#state': ATTR.state },
            ExpressionAttributeValues: { ':state': partition },
          }
        : {
            IndexName: BY_STATE_ZONE.indexName,
            KeyConditionExpression: '#state = :state AND begins_with(#zoneAge, :zone)',
            ExpressionAttributeNames: { '#state': ATTR.state, '#zoneAge': ATTR.zoneAge },
            ExpressionAttributeValues: { ':state': partition, ':zone': { S: zonePrefix(zone) } },
          };
    const records = await this.listFromIndex(
      query,
      limit,
      (r) => r.pool === pool && r.state === state && (zone === undefined || r.zone === zone),
    );
    return records.sort(oldestFirst);
  }

  async listPreservedQueue(options: { readonly limit?: number } = {}): Promise<AmphoraRecord[]> {
    const records = await this.listFromIndex(
      {
        IndexName: PRESERVED_QUEUE.indexName,
        KeyConditionExpression: '#queue = :queue',
        ExpressionAttributeNames: { '#queue': ATTR.queue },
        ExpressionAttributeValues: { ':queue': { S: PRESERVED_QUEUE_PARTITION } },
      },
      options.limit,
      (r) => PRESERVED_STATES.includes(r.state) && r.preservation !== undefined,
    );
    return records.sort((a, b) => (a.preservation!.seq < b.preservation!.seq ? -1 : 1));
  }

  async listExpired(now: number, limit: number): Promise<AmphoraRecord[]> {
    // "~" sorts after every id character, so the bound includes every record expiring at `now`.
    const records = await this.listFromIndex(
      {
        IndexName: BY_EXPIRY.indexName,
        KeyConditionExpression: '#expiry = :expiry AND #at <= :now',
        ExpressionAttributeNames: { '#expiry': ATTR.expiry, '#at': ATTR.expiryAt },
        ExpressionAttributeValues: {
          ':expiry': { S: EXPIRY_PARTITION },
          ':now': { S: `${sortableTime(now)}:~` },
        },
      },
      limit,
      (r) => r.state === 'DELETED' && r.expiresAt !== undefined && r.expiresAt <= now,
    );
    return records.sort((a, b) => a.expiresAt! - b.expiresAt! || (a.id < b.id ? -1 : 1));
  }

  async create(record: AmphoraRecord): Promise<void> {
    await this.writeRecord({ kind: 'create', record }, undefined);
  }

  async update(
    record: AmphoraRecord,
    expected: Expected,
    effects: { readonly createOutcome?: CreateOutcome } = {},
  ): Promise<void> {
    await this.writeRecord(
      {
        kind: 'update',
        record,
        expectedVersion: expected.version,
        expectedState: expected.state,
      },
      effects.createOutcome,
    );
  }

  async acquireLease(holder: string, now: number, ttlMs: number): Promise<Lease | undefined> {
    const expiresAt = now + ttlMs;
    const names = {
      '#holder': 'holder',
      '#token': 'token',
      '#expiresAt': 'expiresAt',
      '#requested': 'runRequestedAt',
    };
    try {
      // A new acquisition: the lease was never taken, has expired or was released. ADD makes
      // the fencing token grow by exactly one, atomically, whoever races for it.
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: LEASE_KEY,
          // The same write clears a pending run request: this cycle's reads serve it.
          UpdateExpression:
            'SET #holder = :holder, #expiresAt = :expiresAt ADD #token :one REMOVE #requested',
          ConditionExpression: 'attribute_not_exists(#token) OR #expiresAt <= :now',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ':holder': { S: holder },
            ':expiresAt': { N: String(expiresAt) },
            ':one': { N: '1' },
            ':now': { N: String(now) },
          },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      // The new token is the old one plus one (ADD is atomic; the condition made this ours).
      const old = unmarshall(Attributes ?? {});
      const sent = old.sentThrough === undefined ? {} : { sentThrough: old.sentThrough as number };
      return { holder, token: ((old.token as number | undefined) ?? 0) + 1, expiresAt, ...sent };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (error.Item?.holder?.S !== holder) return undefined;
    }
    try {
      // A renewal by the live holder keeps its token: its earlier writes stay valid.
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: LEASE_KEY,
          UpdateExpression: 'SET #expiresAt = :expiresAt REMOVE #requested',
          ConditionExpression: '#holder = :holder AND #expiresAt > :now',
          ExpressionAttributeNames: {
            '#holder': 'holder',
            '#expiresAt': 'expiresAt',
            '#requested': 'runRequestedAt',
          },
          ExpressionAttributeValues: {
            ':holder': { S: holder },
            ':expiresAt': { N: String(expiresAt) },
            ':now': { N: String(now) },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return leaseFrom(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async releaseLease(lease: Lease, sent = false, summary?: CycleSummary): Promise<LeaseRelease> {
    const sets = [
      '#expiresAt = :zero',
      ...(sent ? ['#sentThrough = :token'] : []),
      ...(summary ? ['#lastCycle = :summary'] : []),
    ];
    try {
      // Only the holder of this very token may free it; the token counter stays. The same write
      // confirms the cycle's sends, so a steady-state cycle still writes only its lease.
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: LEASE_KEY,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '#holder = :holder AND #token = :token',
          ExpressionAttributeNames: {
            '#holder': 'holder',
            '#token': 'token',
            '#expiresAt': 'expiresAt',
            ...(sent ? { '#sentThrough': 'sentThrough' } : {}),
            ...(summary ? { '#lastCycle': 'lastCycle' } : {}),
          },
          ExpressionAttributeValues: {
            ':holder': { S: lease.holder },
            ':token': { N: String(lease.token) },
            ':zero': { N: '0' },
            ...(summary
              ? { ':summary': { M: marshall(summary, { removeUndefinedValues: true }) } }
              : {}),
          },
          // What it returns tells the holder whether a run was requested during its cycle.
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { requested: Attributes?.runRequestedAt !== undefined };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { requested: false };
    }
  }

  async lastCycle(): Promise<CycleSummary | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: LEASE_KEY,
        ConsistentRead: true,
        ProjectionExpression: 'lastCycle',
      }),
    );
    const last = Item?.lastCycle?.M;
    return last ? (unmarshall(last) as CycleSummary) : undefined;
  }

  async requestRun(now: number, staleBefore?: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: LEASE_KEY,
          UpdateExpression: 'SET #requested = :now',
          ConditionExpression:
            staleBefore === undefined
              ? 'attribute_not_exists(#requested)'
              : 'attribute_not_exists(#requested) OR #requested < :stale',
          ExpressionAttributeNames: { '#requested': 'runRequestedAt' },
          ExpressionAttributeValues: {
            ':now': { N: String(now) },
            ...(staleBefore === undefined ? {} : { ':stale': { N: String(staleBefore) } }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async commit(lease: Lease, groups: readonly WriteGroup[]): Promise<GroupResult[]> {
    const prepared = groups.map((group) => this.prepareGroup(group));
    const results: GroupResult[] = [];
    for (const { recordOps, items } of prepared) {
      try {
        await this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.table,
                  Key: LEASE_KEY,
                  ConditionExpression: '#holder = :holder AND #token = :token',
                  ExpressionAttributeNames: { '#holder': 'holder', '#token': 'token' },
                  ExpressionAttributeValues: {
                    ':holder': { S: lease.holder },
                    ':token': { N: String(lease.token) },
                  },
                },
              },
              ...items,
            ],
            // The SDK resends the same token when it retries, so a transaction that did
            // commit before its response was lost is not applied (or reported) twice.
            ClientRequestToken: randomUUID(),
          }),
        );
        results.push({ status: 'applied' });
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        results.push(cancelledGroup(lease, recordOps, error));
      }
    }
    return results;
  }

  async getPoolState(): Promise<PoolState> {
    const counts: CountsBuilder = {};
    const zones: ZoneCreateStats[] = [];
    const images: PoolImage[] = [];
    let lastSweepAt: number | undefined;
    let cloud: CloudHealth | undefined;
    for (const item of await this.poolItems()) {
      const sk = item[ATTR.sk]?.S ?? '';
      const data = unmarshall(item);
      if (sk === SWEEP_KEY[ATTR.sk]?.S) {
        lastSweepAt = data.lastSweepAt as number;
      } else if (sk === CLOUD_KEY[ATTR.sk]?.S) {
        cloud = cloudHealthFrom(data);
      } else if (sk.startsWith(IMAGE_PREFIX)) {
        images.push(imageFrom(poolOfImageKey(sk), data));
      } else if (sk.startsWith(ZONE_PREFIX)) {
        const { pool, zone } = zoneOfKey(sk);
        for (const [state, n] of Object.entries(countsOfItem(data))) {
          addCount(counts, { pool, zone, state: state as AmphoraState }, n);
        }
        zones.push(statsFrom(pool, zone, data));
      }
    }
    return {
      counts: withoutZeros(counts),
      zones,
      images,
      ...(lastSweepAt !== undefined ? { lastSweepAt } : {}),
      ...(cloud !== undefined ? { cloud } : {}),
    };
  }

  async getCloudHealth(): Promise<CloudHealth | undefined> {
    const res = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: CLOUD_KEY, ConsistentRead: true }),
    );
    return res.Item ? cloudHealthFrom(unmarshall(res.Item)) : undefined;
  }

  async putCloudHealth(health: CloudHealth, ifProbeAt?: number | null): Promise<boolean> {
    const condition =
      ifProbeAt === undefined
        ? {}
        : ifProbeAt === null
          ? {
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': ATTR.pk },
            }
          : {
              ConditionExpression: 'probeAt = :probeAt',
              ExpressionAttributeValues: { ':probeAt': { N: String(ifProbeAt) } },
            };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...CLOUD_KEY,
            health: { S: JSON.stringify(health) },
            ...(health.probeAt !== undefined ? { probeAt: { N: String(health.probeAt) } } : {}),
          },
          ...condition,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async recordImage(image: PoolImage): Promise<void> {
    const u = new UpdateBuilder().set('pool', { S: image.pool });
    for (const attr of ['tag', 'ownerId', 'imageId', 'error'] as const) {
      const v = image[attr];
      if (v === undefined) u.remove(attr);
      else u.set(attr, { S: v });
    }
    if (image.resolvedAt === undefined) u.remove('resolvedAt');
    else u.set('resolvedAt', { N: String(image.resolvedAt) });
    await this.client.send(
      new UpdateItemCommand({ TableName: this.table, Key: imageKey(image.pool), ...u.build() }),
    );
  }

  async repairCounts(): Promise<PoolCounts> {
    for (let round = 1; ; round++) {
      const before = await this.zoneRevisions();
      const recount = tally(await this.allRecords());
      const after = await this.zoneRevisions();
      const moved =
        [...after].some(([k, z]) => before.get(k)?.rev !== z.rev) || before.size !== after.size;
      if (!moved) {
        // Every counter item is rewritten, each only if no transition touched it meanwhile.
        const zones = new Map<string, { pool: string; zone: string; rev?: number }>();
        for (const z of after.values()) zones.set(`${z.pool}\u0000${z.zone}`, z);
        for (const [pool, byZone] of Object.entries(recount)) {
          for (const zone of Object.keys(byZone)) {
            const k = `${pool}\u0000${zone}`;
            if (!zones.has(k)) zones.set(k, { pool, zone });
          }
        }
        let raced = false;
        for (const z of zones.values()) {
          const u = new UpdateBuilder().set('pool', { S: z.pool }).set('zone', { S: z.zone });
          for (const state of AMPHORA_STATES) {
            u.set(countAttr(state), { N: String(recount[z.pool]?.[z.zone]?.[state] ?? 0) });
          }
          u.set(ATTR.rev, { N: String((z.rev ?? 0) + 1) });
          const built = u.build();
          try {
            await this.client.send(
              new UpdateItemCommand({
                TableName: this.table,
                Key: zoneKey(z.pool, z.zone),
                ...built,
                ConditionExpression:
                  z.rev === undefined ? 'attribute_not_exists(#rv)' : '#rv = :rv',
                ExpressionAttributeNames: { ...built.ExpressionAttributeNames, '#rv': ATTR.rev },
                ExpressionAttributeValues: {
                  ...built.ExpressionAttributeValues,
                  ...(z.rev === undefined ? {} : { ':rv': { N: String(z.rev) } }),
                },
              }),
            );
          } catch (error) {
            if (!(error instanceof ConditionalCheckFailedException)) throw error;
            raced = true;
          }
        }
        if (!raced) return (await this.getPoolState()).counts;
      }
      if (round >= REPAIR_ROUNDS) {
        throw new Error(
          `the counters kept changing during ${round} repair rounds; run the repair again when the pool is quieter`,
        );
      }
      await sleep(100 * round);
    }
  }

  async listOrphanMarks(): Promise<OrphanMark[]> {
    const marks: OrphanMark[] = [];
    for await (const page of this.pages({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': ATTR.pk },
      ExpressionAttributeValues: { ':pk': { S: ORPHAN_PARTITION } },
      ConsistentRead: true,
    })) {
      for (const item of page.items) {
        if (item.mark?.M) marks.push(unmarshall(item.mark.M) as OrphanMark);
      }
    }
    return marks;
  }

  async putOrphanMark(mark: OrphanMark): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          ...orphanKey(mark.serverId),
          mark: { M: marshall(mark, { removeUndefinedValues: true }) },
        },
      }),
    );
  }

  async deleteOrphanMark(serverId: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({ TableName: this.table, Key: orphanKey(serverId) }),
    );
  }

  // -- internals ---------------------------------------------------------------------------------

  /**
   * One record write outside a planner commit: a plain conditional Put when no counter moves,
   * else a transaction of the Put and the zone item's update. A transaction that races another
   * on the same zone item (`TransactionConflict`) is tried again, a bounded number of times.
   */
  private async writeRecord(
    op: Extract<WriteOp, { kind: 'create' | 'update' }>,
    outcome: CreateOutcome | undefined,
  ): Promise<void> {
    const put = this.recordPut(op);
    const deltas = counterDeltas(op);
    const expected = op.kind === 'create' ? 'absent' : op.expectedVersion;
    const conflict = (stored: Item | undefined, cause: unknown) =>
      new VersionConflictError(
        op.record.id,
        expected,
        stored ? recordFromItem(stored) : undefined,
        { cause },
      );
    if (deltas.length === 0 && outcome === undefined) {
      try {
        await this.client.send(
          new PutItemCommand({ ...put, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
        );
        return;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw conflict(error.Item, error);
        throw error;
      }
    }
    const u = zoneUpdate(op.record.pool, op.record.zone);
    for (const d of deltas) u.add(countAttr(d.state), d.delta);
    if (outcome) withOutcome(u, outcome, op.record.updatedAt);
    const items: TransactWriteItem[] = [
      { Put: { ...put, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
      {
        Update: {
          TableName: this.table,
          Key: zoneKey(op.record.pool, op.record.zone),
          ...u.build(),
        },
      },
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: randomUUID() }),
        );
        return;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed') throw conflict(reasons[0].Item, error);
        const racing = reasons.some((r) => r.Code === 'TransactionConflict');
        if (!racing || attempt >= TRANSACTION_CONFLICT_ATTEMPTS) throw error;
        await sleep(cappedExponential(20, attempt, 5_000) * Math.random());
      }
    }
  }

  private recordPut(op: Extract<WriteOp, { kind: 'create' | 'update' }>) {
    return op.kind === 'create'
      ? {
          TableName: this.table,
          Item: recordItem(op.record),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
        }
      : {
          TableName: this.table,
          Item: recordItem(op.record),
          ...this.versionCondition(op.expectedVersion, op.expectedState, op.record.pool),
        };
  }

  /** The version and state a record must be at: its version alone decides, its state agrees. */
  private versionCondition(version: number, state: AmphoraState, pool: string) {
    return {
      ConditionExpression: '#record.#version = :version AND #state = :state',
      ExpressionAttributeNames: {
        '#record': ATTR.record,
        '#version': 'version',
        '#state': ATTR.state,
      },
      ExpressionAttributeValues: {
        ':version': { N: String(version) },
        ':state': { S: statePartition(pool, state) },
      },
    };
  }

  /**
   * Turns a group into transaction items, refusing what one transaction cannot hold, before
   * anything is written: a group is atomic, so it is never split. The counter changes and notes
   * that touch the same pool item are merged into one update of it.
   */
  private prepareGroup(group: WriteGroup): { recordOps: WriteOp[]; items: TransactWriteItem[] } {
    const recordOps = group.filter((op) => 'record' in op);
    if (recordOps.length > MAX_GROUP_WRITES) {
      throw new RangeError(
        `a write group holds ${recordOps.length} record writes; one transaction takes at most ${MAX_GROUP_WRITES}`,
      );
    }
    const ids = recordOps.map((op) => (op as { record: AmphoraRecord }).record.id);
    const twice = ids.find((id, i) => ids.indexOf(id) !== i);
    if (twice !== undefined) {
      throw new RangeError(`a write group writes amphora ${twice} twice; a transaction cannot`);
    }
    const updates = new Map<string, { key: Item; u: UpdateBuilder }>();
    const updateOf = (key: Item, make: () => UpdateBuilder) => {
      const k = key[ATTR.sk]!.S!;
      if (!updates.has(k)) updates.set(k, { key, u: make() });
      return updates.get(k)!.u;
    };
    const items: TransactWriteItem[] = [];
    for (const op of group) {
      for (const d of counterDeltas(op)) {
        updateOf(zoneKey(d.pool, d.zone), () => zoneUpdate(d.pool, d.zone)).add(
          countAttr(d.state),
          d.delta,
        );
      }
      switch (op.kind) {
        case 'create':
        case 'update':
          items.push({ Put: this.recordPut(op) });
          break;
        case 'purge':
          items.push({
            Delete: {
              TableName: this.table,
              Key: recordKey(op.record.id),
              ConditionExpression: '#record.#version = :version',
              ExpressionAttributeNames: { '#record': ATTR.record, '#version': 'version' },
              ExpressionAttributeValues: { ':version': { N: String(op.record.version) } },
            },
          });
          break;
        case 'sweep-issued':
          updateOf(SWEEP_KEY, () => new UpdateBuilder()).set('lastSweepAt', {
            N: String(op.at),
          });
          break;
        case 'image-resolve-issued':
          updateOf(imageKey(op.pool), () => new UpdateBuilder().set('pool', { S: op.pool })).set(
            'issuedAt',
            { N: String(op.at) },
          );
          break;
        case 'fleet-current':
          updateOf(zoneKey(op.pool, op.zone), () => zoneUpdate(op.pool, op.zone)).set('fleet', {
            M: marshall(op.launch, { removeUndefinedValues: true }),
          });
          break;
      }
    }
    for (const { key, u } of updates.values()) {
      items.push({ Update: { TableName: this.table, Key: key, ...u.build() } });
    }
    if (items.length + 1 > 100) {
      throw new RangeError(
        `a write group needs ${items.length + 1} transaction items; DynamoDB takes at most 100`,
      );
    }
    return { recordOps, items };
  }

  private async poolItems(): Promise<Item[]> {
    const items: Item[] = [];
    for await (const page of this.pages({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': ATTR.pk },
      ExpressionAttributeValues: { ':pk': { S: POOL_PARTITION } },
      ConsistentRead: true,
    })) {
      items.push(...page.items);
    }
    return items;
  }

  /** Each zone item's pool, zone and revision, by sort key. */
  private async zoneRevisions() {
    const revs = new Map<string, { pool: string; zone: string; rev?: number }>();
    for (const item of await this.poolItems()) {
      const sk = item[ATTR.sk]?.S ?? '';
      if (!sk.startsWith(ZONE_PREFIX)) continue;
      const rev = item[ATTR.rev]?.N;
      revs.set(sk, {
        ...zoneOfKey(sk),
        ...(rev !== undefined ? { rev: Number(rev) } : {}),
      });
    }
    return revs;
  }

  /** Every record, through the id index's shards and consistent reads. */
  private async allRecords(): Promise<AmphoraRecord[]> {
    const found: AmphoraRecord[] = [];
    for (const shard of ID_SHARDS) {
      found.push(
        ...(await this.listFromIndex(
          {
            IndexName: BY_ID.indexName,
            KeyConditionExpression: '#shard = :shard',
            ExpressionAttributeNames: { '#shard': ATTR.idShard },
            ExpressionAttributeValues: { ':shard': { S: shard } },
          },
          undefined,
          () => true,
        )),
      );
    }
    return found;
  }

  /** Pages of a query, each read only when the caller asks for it. */
  private async *pages(
    input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
    limit?: () => number | undefined,
  ): AsyncGenerator<{ items: Item[] }> {
    let startKey: Item | undefined;
    do {
      const wanted = limit?.();
      const pageLimit =
        wanted === undefined ? this.pageSize : Math.min(wanted, this.pageSize ?? wanted);
      const page = await this.client.send(
        new QueryCommand({
          ...input,
          ...(pageLimit !== undefined ? { Limit: pageLimit } : {}),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      startKey = page.LastEvaluatedKey;
      yield { items: page.Items ?? [] };
    } while (startKey);
  }

  /**
   * Records from a KEYS_ONLY index, in index order: a page of keys, then the records themselves
   * with a consistent read. A record that left the state since the index was read is skipped,
   * and further pages are read only while fewer than `limit` were found.
   */
  private async listFromIndex(
    query: IndexQuery,
    limit: number | undefined,
    keep: (record: AmphoraRecord) => boolean,
  ): Promise<AmphoraRecord[]> {
    const found: AmphoraRecord[] = [];
    if (limit !== undefined && limit <= 0) return found;
    const remaining = () => (limit === undefined ? undefined : limit - found.length);
    for await (const page of this.pages({ TableName: this.table, ...query }, remaining)) {
      const keys = page.items.map((i) => ({ [ATTR.pk]: i[ATTR.pk]!, [ATTR.sk]: i[ATTR.sk]! }));
      const byKey = new Map((await this.batchGet(keys)).map((i) => [i[ATTR.pk]?.S, i]));
      for (const key of keys) {
        const item = byKey.get(key[ATTR.pk]?.S);
        if (!item) continue;
        const record = recordFromItem(item);
        if (keep(record)) found.push(record);
      }
      if (limit !== undefined && found.length >= limit) return found.slice(0, limit);
    }
    return found;
  }

  /**
   * Reads items by key, 100 per call, consistently. Keys DynamoDB leaves unprocessed (response
   * size, throttling) are asked again; only rounds that make no progress back off, and enough
   * of them in a row give up.
   */
  private async batchGet(keys: readonly Item[]): Promise<Item[]> {
    const items: Item[] = [];
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      let pending = keys.slice(start, start + BATCH_GET_LIMIT);
      let idle = 0;
      while (pending.length > 0) {
        const { Responses, UnprocessedKeys } = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        const got = Responses?.[this.table] ?? [];
        items.push(...got);
        pending = UnprocessedKeys?.[this.table]?.Keys ?? [];
        idle = got.length > 0 ? 0 : idle + 1;
        if (pending.length > 0 && idle >= BATCH_GET_IDLE_ROUNDS) {
          throw new Error(
            `BatchGetItem on ${this.table} left ${pending.length} key(s) unprocessed after ${idle} rounds without progress`,
          );
        }
        if (pending.length > 0 && idle > 0)
          await sleep(cappedExponential(25, idle, 5_000) * Math.random());
      }
    }
    return items;
  }
}

function leaseFrom(attributes: Item | undefined): Lease {
  const data = unmarshall(attributes ?? {});
  return {
    holder: data.holder as string,
    token: data.token as number,
    expiresAt: data.expiresAt as number,
    ...(data.sentThrough !== undefined ? { sentThrough: data.sentThrough as number } : {}),
  };
}

function statsFrom(pool: string, zone: string, data: Record<string, unknown>): ZoneCreateStats {
  return {
    pool,
    zone,
    consecutiveFailures: (data.consecutiveFailures as number | undefined) ?? 0,
    successesSinceFailure: (data.successesSinceFailure as number | undefined) ?? 0,
    everFailed: (data.everFailed as boolean | undefined) ?? false,
    ...(data.lastFailureAt !== undefined ? { lastFailureAt: data.lastFailureAt as number } : {}),
    ...(data.fleet !== undefined ? { fleet: data.fleet as ZoneCreateStats['fleet'] } : {}),
  };
}

function imageFrom(pool: string, data: Record<string, unknown>): PoolImage {
  const image: Record<string, unknown> = { pool };
  for (const k of ['tag', 'ownerId', 'imageId', 'error', 'resolvedAt', 'issuedAt']) {
    if (data[k] !== undefined) image[k] = data[k];
  }
  return image as unknown as PoolImage;
}

/**
 * Maps a cancelled group transaction to its result. Item 0 is the lease check: a failed
 * condition there means another planner holds the lease. A failed condition on a record, or a
 * transaction racing on one, is that record's conflict; a race on a pool item (a counter an
 * executor moved at that instant) makes the whole group a conflict, tried again next cycle.
 * Anything else (validation, throttling that outlived the SDK's retries) is rethrown.
 */
function cancelledGroup(
  lease: Lease,
  recordOps: readonly WriteOp[],
  error: TransactionCanceledException,
): GroupResult {
  const reasons = error.CancellationReasons ?? [];
  const code = (i: number) => reasons[i]?.Code ?? 'None';
  if (code(0) === 'ConditionalCheckFailed') {
    throw new LeaseLostError(lease.token, undefined, { cause: error });
  }
  const racing = (c: string) => c === 'ConditionalCheckFailed' || c === 'TransactionConflict';
  const unexpected = reasons.some(
    (r) => r.Code !== undefined && r.Code !== 'None' && !racing(r.Code),
  );
  if (unexpected || !reasons.some((r) => racing(r.Code ?? 'None'))) throw error;
  const ids = (op: WriteOp) => (op as { record: AmphoraRecord }).record.id;
  const poolItemRaced = reasons.slice(recordOps.length + 1).some((r) => racing(r.Code ?? 'None'));
  const whole = code(0) === 'TransactionConflict' || poolItemRaced;
  return {
    status: 'conflict',
    amphoraIds: recordOps.filter((_op, i) => whole || racing(code(i + 1))).map(ids),
  };
}

function cloudHealthFrom(data: Record<string, unknown>): CloudHealth | undefined {
  return typeof data.health === 'string' ? (JSON.parse(data.health) as CloudHealth) : undefined;
}
