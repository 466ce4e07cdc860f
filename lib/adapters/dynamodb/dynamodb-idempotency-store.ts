/**
 * Idempotency records in the pool table (item `IDEMPOTENCY#<key>` / `REQUEST`, see
 * docs/dynamodb-table.md): one conditional write begins a request, one completes it, one
 * conditional delete abandons it. The table's TTL removes records a day after their expiry; until
 * then an expired record is treated as absent by the conditions themselves.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type {
  BeginOutcome,
  BeginRequest,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from '../../ports/idempotency-store.ts';
import { ATTR, type Item } from './items.ts';

/** The sort key of every idempotency item. */
const IDEMPOTENCY_SK = 'REQUEST';

/** The key of one idempotency record. */
export function idempotencyKey(key: string): Item {
  return { [ATTR.pk]: { S: `IDEMPOTENCY#${key}` }, [ATTR.sk]: { S: IDEMPOTENCY_SK } };
}

/** How to reach the table. */
export interface DynamoDbIdempotencyStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

const N = (n: number): AttributeValue => ({ N: String(n) });
const S = (s: string): AttributeValue => ({ S: s });

function recordOf(item: Record<string, AttributeValue>): IdempotencyRecord {
  const status = item.status?.S === 'COMPLETED' ? 'COMPLETED' : 'IN_PROGRESS';
  const response =
    item.responseStatus?.N !== undefined && item.responseBody?.S !== undefined
      ? { status: Number(item.responseStatus.N), body: item.responseBody.S }
      : undefined;
  return {
    key: item.idempotencyKey?.S ?? '',
    requestHash: item.requestHash?.S ?? '',
    status,
    token: item.token?.S ?? '',
    startedAt: Number(item.startedAt?.N ?? 0),
    expiresAt: Number(item.expiresAt?.N ?? 0),
    ...(response ? { response } : {}),
  };
}

/** The idempotency store on DynamoDB. */
export class DynamoDbIdempotencyStore implements IdempotencyStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;

  constructor(options: DynamoDbIdempotencyStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
  }

  async begin(request: BeginRequest): Promise<BeginOutcome> {
    const expiresAt = request.now + request.ttlMs;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...idempotencyKey(request.key),
            idempotencyKey: S(request.key),
            requestHash: S(request.requestHash),
            status: S('IN_PROGRESS'),
            token: S(request.token),
            startedAt: N(request.now),
            expiresAt: N(expiresAt),
            [ATTR.ttl]: N(Math.ceil(expiresAt / 1000)),
          },
          // Free key, an expired record (TTL deletes lazily), or a run presumed dead.
          ConditionExpression:
            'attribute_not_exists(#pk) OR #expiresAt <= :now OR (#status = :inProgress AND #startedAt <= :staleBefore)',
          ExpressionAttributeNames: {
            '#pk': ATTR.pk,
            '#expiresAt': 'expiresAt',
            '#status': 'status',
            '#startedAt': 'startedAt',
          },
          ExpressionAttributeValues: {
            ':now': N(request.now),
            ':inProgress': S('IN_PROGRESS'),
            ':staleBefore': N(request.now - request.staleAfterMs),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { started: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (error.Item) return { started: false, existing: recordOf(error.Item) };
      // An emulator that ignores ReturnValuesOnConditionCheckFailure: read what won.
      const { Item } = await this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: idempotencyKey(request.key),
          ConsistentRead: true,
        }),
      );
      if (!Item) return this.begin(request);
      return { started: false, existing: recordOf(Item) };
    }
  }

  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    now: number,
    ttlMs: number,
  ): Promise<boolean> {
    const expiresAt = now + ttlMs;
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: idempotencyKey(key),
          UpdateExpression:
            'SET #status = :completed, responseStatus = :rs, responseBody = :rb, #expiresAt = :exp, #ttl = :ttl',
          // Only this run's record: one taken over by a later run is that run's to complete.
          ConditionExpression: '#status = :inProgress AND #token = :token',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#token': 'token',
            '#expiresAt': 'expiresAt',
            '#ttl': ATTR.ttl,
          },
          ExpressionAttributeValues: {
            ':completed': S('COMPLETED'),
            ':inProgress': S('IN_PROGRESS'),
            ':token': S(token),
            ':rs': N(response.status),
            ':rb': S(response.body),
            ':exp': N(expiresAt),
            ':ttl': N(Math.ceil(expiresAt / 1000)),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async abandon(key: string, token: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: idempotencyKey(key),
          ConditionExpression: '#status = :inProgress AND #token = :token',
          ExpressionAttributeNames: { '#status': 'status', '#token': 'token' },
          ExpressionAttributeValues: { ':inProgress': S('IN_PROGRESS'), ':token': S(token) },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
