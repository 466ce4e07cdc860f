/**
 * The pool store on DynamoDB (one table, see docs/dynamodb-table.md). It keeps the port's
 * semantics exactly, as the shared contract suite checks against the in-memory store.
 *
 * Build the client with `retryMode: 'standard'`: throttled and transient requests are then
 * retried by the SDK with jittered back-off. This module never reads the environment.
 */
import { randomUUID } from 'node:crypto';
import {
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
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type AmphoraRecord,
  type AmphoraState,
  oldestFirst,
  PRESERVED_STATES,
} from '../../domain/amphora.ts';
import { LeaseLostError, VersionConflictError } from '../../domain/errors.ts';
import {
  type GroupResult,
  type Lease,
  MAX_GROUP_WRITES,
  type OrphanMark,
  type PoolMeta,
  type PoolStore,
  type WriteGroup,
  type WriteOp,
  type ZoneCreateStats,
  type ZoneStateCounts,
} from '../../ports/pool-store.ts';
import {
  ATTR,
  type Item,
  LEASE_KEY,
  ORPHAN_PARTITION,
  orphanKey,
  POOL_PARTITION,
  PRESERVED_QUEUE_PARTITION,
  recordFromItem,
  recordItem,
  recordKey,
  SWEEP_KEY,
  zoneOfZoneAge,
  zonePrefix,
  zoneStatsKey,
} from './items.ts';
import { BY_STATE_AGE, BY_STATE_ZONE, PRESERVED_QUEUE } from './table.ts';

// The port's MAX_GROUP_WRITES (99) leaves one of a transaction's 100 items for the lease check.
/** Most keys in one BatchGetItem call (a DynamoDB limit). */
const BATCH_GET_LIMIT = 100;
/** BatchGetItem rounds that return nothing before the read gives up (throttling that persists). */
const BATCH_GET_IDLE_ROUNDS = 6;

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

function recordId(op: WriteOp): string | undefined {
  return op.kind === 'sweep-issued' ? undefined : op.record.id;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Amphora records, planner lease, pool statistics and orphan marks in one DynamoDB table. */
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

  async listByState(
    state: AmphoraState,
    options: { readonly zone?: string; readonly limit?: number } = {},
  ): Promise<AmphoraRecord[]> {
    const { zone, limit } = options;
    const query: IndexQuery =
      zone === undefined
        ? {
            IndexName: BY_STATE_AGE.indexName,
            KeyConditionExpression: '#state = :state',
            ExpressionAttributeNames: { '#state': ATTR.state },
            ExpressionAttributeValues: { ':state': { S: state } },
          }
        : {
            IndexName: BY_STATE_ZONE.indexName,
            KeyConditionExpression: '#state = :state AND begins_with(#zoneAge, :zone)',
            ExpressionAttributeNames: { '#state': ATTR.state, '#zoneAge': ATTR.zoneAge },
            ExpressionAttributeValues: { ':state': { S: state }, ':zone': { S: zonePrefix(zone) } },
          };
    const records = await this.listFromIndex(
      query,
      limit,
      (r) => r.state === state && (zone === undefined || r.zone === zone),
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

  async countByState(states: readonly AmphoraState[]): Promise<ZoneStateCounts> {
    const counts: Record<string, Partial<Record<AmphoraState, number>>> = {};
    // Tallied from the index keys alone: the cost is one request per page of keys, whatever
    // the size of the records, and no record is ever read.
    await Promise.all(
      [...new Set(states)].map(async (state) => {
        for await (const page of this.pages({
          TableName: this.table,
          IndexName: BY_STATE_ZONE.indexName,
          KeyConditionExpression: '#state = :state',
          ProjectionExpression: '#zoneAge',
          ExpressionAttributeNames: { '#state': ATTR.state, '#zoneAge': ATTR.zoneAge },
          ExpressionAttributeValues: { ':state': { S: state } },
        })) {
          for (const item of page.items) {
            const zoneAge = item[ATTR.zoneAge]?.S;
            if (zoneAge === undefined) continue;
            const zone = zoneOfZoneAge(zoneAge);
            const forZone = counts[zone] ?? {};
            forZone[state] = (forZone[state] ?? 0) + 1;
            counts[zone] = forZone;
          }
        }
      }),
    );
    return counts;
  }

  async create(record: AmphoraRecord): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: recordItem(record),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      throw new VersionConflictError(
        record.id,
        'absent',
        error.Item ? recordFromItem(error.Item) : undefined,
        { cause: error },
      );
    }
  }

  async update(record: AmphoraRecord, expectedVersion: number): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: recordItem(record),
          ...this.versionCondition(expectedVersion),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      throw new VersionConflictError(
        record.id,
        expectedVersion,
        error.Item ? recordFromItem(error.Item) : undefined,
        { cause: error },
      );
    }
  }

  async acquireLease(holder: string, now: number, ttlMs: number): Promise<Lease | undefined> {
    const expiresAt = now + ttlMs;
    const names = { '#holder': 'holder', '#token': 'token', '#expiresAt': 'expiresAt' };
    try {
      // A new acquisition: the lease was never taken, has expired or was released. ADD makes
      // the fencing token grow by exactly one, atomically, whoever races for it.
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: LEASE_KEY,
          UpdateExpression: 'SET #holder = :holder, #expiresAt = :expiresAt ADD #token :one',
          ConditionExpression: 'attribute_not_exists(#token) OR #expiresAt <= :now',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ':holder': { S: holder },
            ':expiresAt': { N: String(expiresAt) },
            ':one': { N: '1' },
            ':now': { N: String(now) },
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return leaseFrom(Attributes);
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
          UpdateExpression: 'SET #expiresAt = :expiresAt',
          ConditionExpression: '#holder = :holder AND #expiresAt > :now',
          ExpressionAttributeNames: { '#holder': 'holder', '#expiresAt': 'expiresAt' },
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

  async releaseLease(lease: Lease): Promise<void> {
    try {
      // Only the holder of this very token may free it; the token counter stays.
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: LEASE_KEY,
          UpdateExpression: 'SET #expiresAt = :zero',
          ConditionExpression: '#holder = :holder AND #token = :token',
          ExpressionAttributeNames: {
            '#holder': 'holder',
            '#token': 'token',
            '#expiresAt': 'expiresAt',
          },
          ExpressionAttributeValues: {
            ':holder': { S: lease.holder },
            ':token': { N: String(lease.token) },
            ':zero': { N: '0' },
          },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async commit(lease: Lease, groups: readonly WriteGroup[]): Promise<GroupResult[]> {
    const prepared = groups.map((group) => this.prepareGroup(group));
    const results: GroupResult[] = [];
    for (const { ops, items } of prepared) {
      try {
        await this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { ConditionCheck: { Key: LEASE_KEY, ...this.leaseCheck(lease) } },
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
        results.push(cancelledGroup(lease, ops, error));
      }
    }
    return results;
  }

  async getPoolMeta(): Promise<PoolMeta> {
    const zones: ZoneCreateStats[] = [];
    let lastSweepAt: number | undefined;
    for await (const page of this.pages({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': ATTR.pk },
      ExpressionAttributeValues: { ':pk': { S: POOL_PARTITION } },
      ConsistentRead: true,
    })) {
      for (const item of page.items) {
        const data = unmarshall(item);
        if (item[ATTR.sk]?.S === SWEEP_KEY[ATTR.sk]?.S) {
          lastSweepAt = data.lastSweepAt as number;
          continue;
        }
        zones.push({
          zone: data.zone as string,
          consecutiveFailures: (data.consecutiveFailures as number | undefined) ?? 0,
          successesSinceFailure: (data.successesSinceFailure as number | undefined) ?? 0,
          everFailed: (data.everFailed as boolean | undefined) ?? false,
          ...(data.lastFailureAt !== undefined
            ? { lastFailureAt: data.lastFailureAt as number }
            : {}),
        });
      }
    }
    return { zones, ...(lastSweepAt !== undefined ? { lastSweepAt } : {}) };
  }

  async recordCreateOutcome(
    zone: string,
    outcome: 'success' | 'failure',
    at: number,
  ): Promise<void> {
    // One UpdateItem with ADD: concurrent executors each count once, with no read-modify-write.
    const update: Pick<
      UpdateItemCommandInput,
      'UpdateExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    > =
      outcome === 'success'
        ? {
            UpdateExpression:
              'SET #zone = :zone, #failures = :zero, #everFailed = if_not_exists(#everFailed, :false) ADD #successes :one',
            ExpressionAttributeNames: {
              '#zone': 'zone',
              '#failures': 'consecutiveFailures',
              '#everFailed': 'everFailed',
              '#successes': 'successesSinceFailure',
            },
            ExpressionAttributeValues: {
              ':zone': { S: zone },
              ':zero': { N: '0' },
              ':false': { BOOL: false },
              ':one': { N: '1' },
            },
          }
        : {
            UpdateExpression:
              'SET #zone = :zone, #successes = :zero, #lastFailureAt = :at, #everFailed = :true ADD #failures :one',
            ExpressionAttributeNames: {
              '#zone': 'zone',
              '#successes': 'successesSinceFailure',
              '#lastFailureAt': 'lastFailureAt',
              '#everFailed': 'everFailed',
              '#failures': 'consecutiveFailures',
            },
            ExpressionAttributeValues: {
              ':zone': { S: zone },
              ':zero': { N: '0' },
              ':at': { N: String(at) },
              ':true': { BOOL: true },
              ':one': { N: '1' },
            },
          };
    await this.client.send(
      new UpdateItemCommand({ TableName: this.table, Key: zoneStatsKey(zone), ...update }),
    );
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

  private versionCondition(expectedVersion: number) {
    return {
      ConditionExpression: '#record.#version = :version',
      ExpressionAttributeNames: { '#record': ATTR.record, '#version': 'version' },
      ExpressionAttributeValues: { ':version': { N: String(expectedVersion) } },
    };
  }

  private leaseCondition(lease: Lease) {
    return {
      ConditionExpression: '#holder = :holder AND #token = :token',
      ExpressionAttributeNames: { '#holder': 'holder', '#token': 'token' },
      ExpressionAttributeValues: {
        ':holder': { S: lease.holder },
        ':token': { N: String(lease.token) },
      },
    };
  }

  private leaseCheck(lease: Lease) {
    return { TableName: this.table, ...this.leaseCondition(lease) };
  }

  /**
   * Turns a group into transaction items, refusing what one transaction cannot hold, before
   * anything is written: a group is atomic, so it is never split.
   */
  private prepareGroup(group: WriteGroup): { ops: WriteOp[]; items: TransactWriteItem[] } {
    // Several sweep notes in one group write one item; the last one wins, as it would in order.
    const lastSweep = group.findLast((op) => op.kind === 'sweep-issued');
    const ops = group.filter((op) => op.kind !== 'sweep-issued' || op === lastSweep);
    if (ops.length > MAX_GROUP_WRITES) {
      throw new RangeError(
        `a write group holds ${ops.length} writes; one transaction takes at most ${MAX_GROUP_WRITES} besides the lease check`,
      );
    }
    const ids = ops.map(recordId).filter((id) => id !== undefined);
    const twice = ids.find((id, i) => ids.indexOf(id) !== i);
    if (twice !== undefined) {
      throw new RangeError(`a write group writes amphora ${twice} twice; a transaction cannot`);
    }
    return { ops, items: ops.map((op) => this.transactItem(op)) };
  }

  private transactItem(op: WriteOp): TransactWriteItem {
    switch (op.kind) {
      case 'create':
        return {
          Put: {
            TableName: this.table,
            Item: recordItem(op.record),
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': ATTR.pk },
          },
        };
      case 'update':
        return {
          Put: {
            TableName: this.table,
            Item: recordItem(op.record),
            ...this.versionCondition(op.expectedVersion),
          },
        };
      case 'sweep-issued':
        return {
          Update: {
            TableName: this.table,
            Key: SWEEP_KEY,
            UpdateExpression: 'SET #at = :at',
            ExpressionAttributeNames: { '#at': 'lastSweepAt' },
            ExpressionAttributeValues: { ':at': { N: String(op.at) } },
          },
        };
    }
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
        if (pending.length > 0 && idle > 0) await sleep(25 * 2 ** idle * Math.random());
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
  };
}

/**
 * Maps a cancelled group transaction to its result. Item 0 is the lease check: a failed
 * condition there means another planner holds the lease. A failed condition on a record, or a
 * transaction racing on one, is that record's conflict. Anything else (validation, throttling
 * that outlived the SDK's retries) is not a race and is rethrown.
 */
function cancelledGroup(
  lease: Lease,
  ops: readonly WriteOp[],
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
  const ids = ops
    .filter((_op, i) => code(0) === 'TransactionConflict' || racing(code(i + 1)))
    .map(recordId)
    .filter((id) => id !== undefined);
  return { status: 'conflict', amphoraIds: ids };
}
