/**
 * The noop driver's simulated cloud on DynamoDB, so that every executor process (Lambda or
 * local) shares one consistent cloud. It lives in the pool table under its own partition
 * (`pk = "CLOUD"`, `sk = "KEY#" + key`); see docs/dynamodb-table.md.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import type { CloudStateStore, Versioned } from '../../ports/cloud-state.ts';
import { ATTR, type Item } from './items.ts';

const PARTITION = 'CLOUD';
const KEY_PREFIX = 'KEY#';

function itemKey(key: string): Item {
  return { [ATTR.pk]: { S: PARTITION }, [ATTR.sk]: { S: `${KEY_PREFIX}${key}` } };
}

function entryFrom(item: Item): Versioned {
  return {
    key: item[ATTR.sk]!.S!.slice(KEY_PREFIX.length),
    // Values are plain JSON data (the port's contract), so JSON text keeps them exactly.
    value: JSON.parse(item.json!.S!),
    version: Number(item.version!.N),
  };
}

/** How to reach the table holding the simulated cloud. */
export interface DynamoDbCloudStateOptions {
  /** A client built with `retryMode: 'standard'`. */
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

/** The write condition: the key absent, present, or at a version. */
function condition(expected: number | 'absent' | 'present'): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, { N: string }>;
} {
  if (typeof expected === 'number') {
    return {
      ConditionExpression: '#version = :expected',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':expected': { N: String(expected) } },
    };
  }
  return {
    ConditionExpression: `attribute_${expected === 'absent' ? 'not_exists' : 'exists'}(#pk)`,
    ExpressionAttributeNames: { '#pk': ATTR.pk },
  };
}

/** A versioned key-value store in one partition of the pool table. */
export class DynamoDbCloudState implements CloudStateStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;

  constructor(options: DynamoDbCloudStateOptions) {
    this.client = options.client;
    this.table = options.tableName;
  }

  async get(key: string): Promise<Versioned | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: itemKey(key), ConsistentRead: true }),
    );
    return Item ? entryFrom(Item) : undefined;
  }

  async put(key: string, value: unknown, expected: number | 'absent'): Promise<boolean> {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`cloud state ${key}: the value is not JSON data`);
    const version = expected === 'absent' ? 1 : expected + 1;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...itemKey(key),
            json: { S: json },
            version: { N: String(version) },
          },
          // Compare-and-set: concurrent executors changing one server never both win.
          ...condition(expected === 'absent' ? 'absent' : expected),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async delete(key: string, expected?: number): Promise<Versioned | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: itemKey(key),
          // Reports whether this call deleted the entry, so two deleters never both succeed.
          ...condition(expected ?? 'present'),
          // What was deleted comes back in the same request: no read before the delete.
          ReturnValues: 'ALL_OLD',
        }),
      );
      return Attributes ? entryFrom(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<Versioned[]> {
    const entries: Versioned[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': ATTR.pk, '#sk': ATTR.sk },
          ExpressionAttributeValues: {
            ':pk': { S: PARTITION },
            ':prefix': { S: `${KEY_PREFIX}${prefix}` },
          },
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      entries.push(...(page.Items ?? []).map(entryFrom));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    // DynamoDB orders sort keys by UTF-8 bytes; the port orders keys as JavaScript does.
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
